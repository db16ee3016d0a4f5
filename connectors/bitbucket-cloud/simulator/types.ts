/**
 * The simulator's whole public contract: options, credentials, ground truth, mutations, faults.
 * Everything another part of Roster may touch is declared here and re-exported by `index.ts`.
 */

export const SIM_PROFILES = ['small', 'medium', 'large', 'enterprise'] as const;
export type SimProfile = (typeof SIM_PROFILES)[number];

/**
 * A user's standing in the workspace. `owner` and `member` are workspace members. `collaborator` is
 * the internal name (kept for scripts that call `setRole`) of a user **outside the workspace** who
 * holds access to some repositories: Bitbucket removed the collaborator role from its API on
 * 1 June 2022, so such users appear only in the grants (repository and project user permissions,
 * reported effective permissions), never in `/members` or `/permissions`. See `SimUser.member`.
 */
export type WorkspaceRole = 'owner' | 'collaborator' | 'member';
export type RepoPermission = 'read' | 'write' | 'admin';
export type ProjectPermission = 'read' | 'write' | 'create-repo' | 'admin';

export interface SimClock {
  /** Milliseconds since the epoch, in simulated time. */
  now(): number;
  /** Resolves after `ms` of simulated time (so `ms / speed` real milliseconds), or when `advance` passes it. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** 1 = real time, 3600 = an hour per second, 0 = frozen (moves only with `advance`). */
  speed: number;
}

/** A clock made by `createClock`: a `SimClock` that tests can also push forward by hand. */
export interface ControllableClock extends SimClock {
  /** Jumps simulated time forward by `ms` and wakes every sleeper whose deadline passed. */
  advance(ms: number): void;
  /** The earliest deadline anyone is sleeping until, or null when nobody sleeps. */
  nextDeadline(): number | null;
}

export interface SimulatorOptions {
  /** Accounts per page of the organization simulator's users listing. Default 50. */
  orgPageSize?: number;
  /** Size of the generated workspace. Default `small`. */
  profile?: SimProfile;
  /** Seed of the generator: same seed, same workspace, same ids. Default 1. */
  seed?: number;
  /** TCP port on 127.0.0.1. Default 0 (ephemeral). */
  port?: number;
  /** Faults to inject from the start: the `--faults` string (see README) or objects. Default none. */
  faults?: string | FaultSpec[];
  /**
   * Per-credential budget over a rolling hour. Default `{ perHour: 1000 }`. `false` disables limiting.
   * `scaled: true` applies Bitbucket's scaled limits to access tokens on `/2.0/repositories/*`
   * (1,000 + 10 per paid seat above 100, at most 10,000). `retryAfter: true` adds a `Retry-After`
   * header to 429s, which the real API does not send (default false). `anonymousPerHour`: the
   * budget of requests without credentials (all anonymous callers share it; Bitbucket counts them
   * per IP address and documents 60 an hour). Default 60.
   */
  rateLimit?: { perHour: number; scaled?: boolean; retryAfter?: boolean; anonymousPerHour?: number } | false;
  /** Time source for token expiry and rate-limit windows. Default: real time. */
  clock?: SimClock;
  /** Atlassian switched app passwords off in July 2026: `disabled` (default) answers 401 saying so. */
  appPasswords?: 'disabled' | 'enabled';
  /** Lifetime of OAuth access tokens issued by the token endpoint. Default 7200 (what Bitbucket sends). */
  oauthAccessTokenTtlSeconds?: number;
  /**
   * How `/workspaces/{ws}/permissions/repositories` reads (Bitbucket does not document it in detail).
   * Default `{ includeOwners: false, includeProjectInherited: true }`. Changeable at run time with
   * `setReportedPermissionsReading` or `POST /__sim/reported-permissions`.
   */
  reportedPermissions?: Partial<ReportedPermissionsReading>;
}

/**
 * A reading of Bitbucket's own effective permissions listing. Its documentation says "effective
 * permissions: the highest level of permission the user has" without saying which paths count.
 */
export interface ReportedPermissionsReading {
  /** Workspace owners' implicit admin is listed on every repository. Default false. */
  includeOwners: boolean;
  /** Access inherited from project permissions (project user and project group grants) counts. Default true. */
  includeProjectInherited: boolean;
}

// ─── Credentials ───────────────────────────────────────────────────────────────────────────

export interface ApiTokenCredential {
  kind: 'api-token';
  email: string;
  token: string;
  accountId: string;
  /** Granular `…:bitbucket` scopes the token was created with. */
  scopes: string[];
}

export interface OAuthClientCredential {
  kind: 'oauth-client-credentials';
  clientId: string;
  clientSecret: string;
}

export interface AccessTokenCredential {
  kind: 'workspace-access-token' | 'project-access-token' | 'repository-access-token';
  token: string;
  /** Classic OAuth scopes (`repository`, `repository:admin`, …). */
  scopes: string[];
  /** What the token is bound to: the project key / repository slug (null for workspace tokens). */
  projectKey?: string;
  repositorySlug?: string;
}

export interface AppPasswordCredential {
  kind: 'app-password';
  username: string;
  password: string;
}

export type SimCredential = ApiTokenCredential | OAuthClientCredential | AccessTokenCredential | AppPasswordCredential;

/** One credential of each kind, keyed by a stable name that `stats().perCredential` also uses. */
export interface SimCredentials {
  adminApiToken: ApiTokenCredential;
  memberApiToken: ApiTokenCredential;
  oauth: OAuthClientCredential;
  workspaceAccessToken: AccessTokenCredential & { kind: 'workspace-access-token' };
  projectAccessToken: AccessTokenCredential & { kind: 'project-access-token'; projectKey: string };
  repositoryAccessToken: AccessTokenCredential & { kind: 'repository-access-token'; repositorySlug: string };
  appPassword: AppPasswordCredential;
}
export type SimCredentialName = keyof SimCredentials;

// ─── Ground truth ──────────────────────────────────────────────────────────────────────────

export interface SimUser {
  uuid: string;
  accountId: string;
  displayName: string;
  nickname: string;
  role: WorkspaceRole;
  /**
   * A workspace member (`owner` or `member`): listed by `/members` and `/permissions`. False for a
   * user outside the workspace (role `collaborator`), who appears only in the grants.
   */
  member: boolean;
}
export interface SimGroup {
  slug: string;
  name: string;
  memberUuids: string[];
}
export interface SimProject {
  uuid: string;
  key: string;
  name: string;
  /** Private projects can only contain private repositories (Bitbucket's rule). */
  isPrivate: boolean;
}
export interface SimRepo {
  uuid: string;
  slug: string;
  name: string;
  projectKey: string;
  /** False: a public repository, readable by anyone (anonymous requests included); not a grant. */
  isPrivate: boolean;
  /** `updated_on` as served. */
  updatedOn: string;
}
/** A planted override of one row of the reported effective permissions (a test lever, not Bitbucket). */
export interface PlantedReportedPermission {
  repoUuid: string;
  userUuid: string;
  /** What the listing reports for the pair; `null`: the pair is left out. */
  permission: RepoPermission | null;
}
export interface SimDeployKey {
  id: number;
  label: string;
  key: string;
  comment: string;
  repositoryUuid: string | null;
  projectKey: string | null;
  createdOn: string;
  lastUsed: string | null;
}

export interface ProjectUserGrant { projectKey: string; userUuid: string; permission: ProjectPermission }
export interface ProjectGroupGrant { projectKey: string; groupSlug: string; permission: ProjectPermission }
export interface RepoUserGrant { repoUuid: string; userUuid: string; permission: RepoPermission }
export interface RepoGroupGrant { repoUuid: string; groupSlug: string; permission: RepoPermission }

export type AccessPathKind = 'direct' | 'group' | 'project' | 'project-group' | 'workspace-owner';
export interface AccessPath {
  kind: AccessPathKind;
  /** The repository-level permission this path gives (`create-repo` on a project counts as `write`). */
  permission: RepoPermission;
  group?: string;
  projectKey?: string;
}
export interface EffectiveAccess {
  userUuid: string;
  repoUuid: string;
  permission: RepoPermission;
  paths: AccessPath[];
}

export interface GroundTruth {
  workspace: { uuid: string; slug: string; name: string };
  users(): SimUser[];
  groups(): SimGroup[];
  projects(): SimProject[];
  repositories(): SimRepo[];
  deployKeys(): SimDeployKey[];
  projectUserGrants(): ProjectUserGrant[];
  projectGroupGrants(): ProjectGroupGrant[];
  repoUserGrants(): RepoUserGrant[];
  repoGroupGrants(): RepoGroupGrant[];
  /**
   * Every user × repository with any explicit or owner access, with every path that gives it
   * (owners included). Public readability is not a path here: see `publicRepositories()`.
   */
  effectiveAccess(): EffectiveAccess[];
  /** The public repositories: readable by anyone, members, outsiders and anonymous requests alike. */
  publicRepositories(): SimRepo[];
  /**
   * What `/workspaces/{ws}/permissions/repositories` lists under the current reading (by default
   * the highest permission over direct, group, project and project-group paths, owners' implicit
   * admin not listed), with the planted overrides applied.
   */
  reportedRepositoryPermissions(): Array<{ userUuid: string; repoUuid: string; permission: RepoPermission }>;
  /** The reading `reportedRepositoryPermissions()` follows. */
  reportedPermissionsReading(): ReportedPermissionsReading;
  /** Overrides planted with `plantReportedPermission` (not Bitbucket behaviour). */
  plantedReportedPermissions(): PlantedReportedPermission[];
  /** Counts, for logs and the bench. */
  summary(): TruthSummary;
}

export interface TruthSummary {
  /** Everyone: workspace members and users outside the workspace. */
  users: number;
  /** Workspace members (owners included): what `/members` lists. */
  members: number;
  owners: number;
  /** Users outside the workspace (internal role `collaborator`). */
  collaborators: number;
  groups: number;
  emptyGroups: number;
  projects: number;
  repositories: number;
  publicRepositories: number;
  deployKeys: number;
  projectUserGrants: number;
  projectGroupGrants: number;
  repoUserGrants: number;
  repoGroupGrants: number;
  effectiveAccessRows: number;
}

// ─── Mutations (test-only; also over HTTP under /__sim/mutate) ────────────────────────────

export interface SimMutations {
  /**
   * Adds a user. `role: 'collaborator'` adds a user outside the workspace (no group, not listed as
   * a member) who can then be given repository or project grants.
   */
  addMember(input?: { displayName?: string; nickname?: string; role?: WorkspaceRole }): SimUser;
  /** Removes the user (member or outsider) from the workspace, every group and every explicit grant. */
  removeMember(userUuid: string): void;
  /**
   * The same account (same uuid and account id, same names) back after `removeMember`, with no
   * group and no grant; `role` defaults to `member`.
   */
  rejoinMember(userUuid: string, role?: WorkspaceRole): SimUser;
  /**
   * `collaborator` moves the user outside the workspace: they leave every group (a group member
   * is a workspace member) and keep their direct grants.
   */
  setRole(userUuid: string, role: WorkspaceRole): void;
  /** Changes the display name (and the nickname when given). Any string, NUL characters included. */
  setDisplayName(userUuid: string, displayName: string, nickname?: string): SimUser;
  addGroup(input: { name: string; slug?: string }): SimGroup;
  removeGroup(slug: string): void;
  /** Changes a group's name; its slug (the group's key) stays. */
  renameGroup(slug: string, name: string): SimGroup;
  /** Adding a user outside the workspace to a group makes them a workspace member (role `member`). */
  addGroupMember(groupSlug: string, userUuid: string): void;
  removeGroupMember(groupSlug: string, userUuid: string): void;
  /** `null` removes the grant. Repositories by slug or `{uuid}`. */
  setRepoUserPermission(repo: string, userUuid: string, permission: RepoPermission | null): void;
  setRepoGroupPermission(repo: string, groupSlug: string, permission: RepoPermission | null): void;
  setProjectUserPermission(projectKey: string, userUuid: string, permission: ProjectPermission | null): void;
  setProjectGroupPermission(projectKey: string, groupSlug: string, permission: ProjectPermission | null): void;
  /** A private project (default) or a public one (`isPrivate: false`). */
  addProject(input: { key: string; name: string; isPrivate?: boolean }): SimProject;
  /** Refuses to make a project private while it holds public repositories. Bumps the project's `updated_on`. */
  setProjectPrivate(projectKey: string, isPrivate: boolean): SimProject;
  /**
   * A new repository (new uuid), private unless `isPrivate: false`. `slug` may be a deleted
   * repository's slug: the new one is a different repository.
   */
  addRepository(input: { name: string; slug?: string; projectKey: string; isPrivate?: boolean }): SimRepo;
  /** Afterwards its old slug and its `{uuid}` answer 404. */
  deleteRepository(repo: string): void;
  /** Renames (new slug from the name): the uuid stays, the slug and name change; bumps `updated_on`. */
  renameRepository(repo: string, newName: string): SimRepo;
  /** Bumps `updated_on`. A public repository cannot move into a private project. */
  moveRepository(repo: string, projectKey: string): void;
  /**
   * Makes a repository private or public (public only inside a public project); bumps `updated_on`.
   * A public repository allows forks (`fork_policy: allow_forks`).
   */
  setRepositoryPrivate(repo: string, isPrivate: boolean): SimRepo;
  /** Bumps `updated_on` (permission changes do not, as on Bitbucket). */
  touchRepository(repo: string): void;
  addDeployKey(input: { repository?: string; projectKey?: string; label: string; key?: string; comment?: string }): SimDeployKey;
  removeDeployKey(id: number): void;
  /** Records a use of a deploy key: its `last_used` becomes `at` (default: now, on the simulator's clock). */
  useDeployKey(id: number, at?: string): SimDeployKey;
  /** Revokes one credential: API requests with it answer 401 from now on (OAuth: the consumer). */
  revokeCredential(name: SimCredentialName): void;
  /**
   * Test lever, not Bitbucket behaviour: the reported effective permissions listing reports
   * `permission` for this repository and user (a row is added or changed), or leaves the pair out
   * (`null`), whatever the grants say — so a test can expect exactly that reconciliation finding.
   */
  plantReportedPermission(repo: string, userUuid: string, permission: RepoPermission | null): void;
  /** Removes every planted override. */
  clearPlantedReportedPermissions(): void;
  /** Changes the reading of the reported effective permissions (see `ReportedPermissionsReading`). */
  setReportedPermissionsReading(reading: Partial<ReportedPermissionsReading>): ReportedPermissionsReading;
}

// ─── Faults ────────────────────────────────────────────────────────────────────────────────

export const FAULT_KINDS = ['5xx', 'reset', 'slow', 'malformed', 'truncate', 'loop', 'repeat', 'forbid', 'revoke'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultSpec {
  kind: FaultKind;
  /** Glob over the request path (no query): `*` = within one segment, `**` = anything. */
  path?: string;
  /** Fire on the Nth matching request only (1-based). */
  nth?: number;
  /** Fire at most this many times. */
  count?: number;
  /** Skip the first N matching requests. */
  after?: number;
  /** Only for requests made with this credential (a `SimCredentials` key). */
  credential?: SimCredentialName;
  /** `5xx`: status to answer (default 500; any 4xx/5xx is accepted, e.g. 429 or 503). */
  status?: number;
  /** `slow`: real milliseconds to wait before answering (not scaled by the clock). */
  ms?: number;
  /** `forbid`: the repository (slug or `{uuid}`) whose permission listings answer 403, however a request addresses it. */
  repo?: string;
}

export interface ActiveFault extends FaultSpec {
  id: number;
  /** Matching requests seen so far. */
  seen: number;
  /** Times the fault fired. */
  fired: number;
}

export interface SimFaults {
  /** Adds faults (spec string or objects); returns their ids. */
  add(spec: string | FaultSpec | FaultSpec[]): number[];
  /** Removes one fault, or all when no id is given. */
  clear(id?: number): void;
  list(): ActiveFault[];
}

export interface SimStats {
  requests: number;
  /** Keyed by route, e.g. `GET /2.0/repositories/{workspace}/{repo_slug}/permissions-config/users`. */
  byPath: Record<string, number>;
  responses429: number;
  /** Keyed by credential name (`adminApiToken`, …), `anonymous` or `unknown`. */
  perCredential: Record<string, number>;
  byStatus: Record<string, number>;
  /** Query parameters sent that the endpoint does not take (Bitbucket ignores them): `route?param`. */
  ignoredParams: Record<string, number>;
  faultsFired: number;
}

export interface Simulator {
  /** `http://127.0.0.1:PORT`; API 2.0 under `/2.0`, 1.0 under `/1.0`, OAuth at `/site/oauth2/access_token`. */
  baseUrl: string;
  workspace: string;
  credentials: SimCredentials;
  truth: GroundTruth;
  mutate: SimMutations;
  faults: SimFaults;
  clock: SimClock;
  stats(): SimStats;
  resetStats(): void;
  close(): Promise<void>;
}
