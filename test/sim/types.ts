/**
 * The simulator's whole public contract: options, credentials, ground truth, mutations, faults.
 * Everything another part of Roster may touch is declared here and re-exported by `index.ts`.
 */

export const SIM_PROFILES = ['small', 'medium', 'large', 'enterprise'] as const;
export type SimProfile = (typeof SIM_PROFILES)[number];

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
}

export interface SimulatorOptions {
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
   * header to 429s, which the real API does not send (default false).
   */
  rateLimit?: { perHour: number; scaled?: boolean; retryAfter?: boolean } | false;
  /** Time source for token expiry and rate-limit windows. Default: real time. */
  clock?: SimClock;
  /** Atlassian switched app passwords off in July 2026: `disabled` (default) answers 401 saying so. */
  appPasswords?: 'disabled' | 'enabled';
  /** Lifetime of OAuth access tokens issued by the token endpoint. Default 7200 (what Bitbucket sends). */
  oauthAccessTokenTtlSeconds?: number;
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
}
export interface SimRepo {
  uuid: string;
  slug: string;
  name: string;
  projectKey: string;
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
  /** Every user × repository with any access, with every path that gives it (owners included). */
  effectiveAccess(): EffectiveAccess[];
  /**
   * What `/workspaces/{ws}/permissions/repositories` lists: the highest permission from explicit
   * paths only (direct, group, project, project-group), never the implicit workspace-owner path.
   */
  reportedRepositoryPermissions(): Array<{ userUuid: string; repoUuid: string; permission: RepoPermission }>;
  /** Counts, for logs and the bench. */
  summary(): TruthSummary;
}

export interface TruthSummary {
  users: number;
  owners: number;
  collaborators: number;
  groups: number;
  emptyGroups: number;
  projects: number;
  repositories: number;
  deployKeys: number;
  projectUserGrants: number;
  projectGroupGrants: number;
  repoUserGrants: number;
  repoGroupGrants: number;
  effectiveAccessRows: number;
}

// ─── Mutations (test-only; also over HTTP under /__sim/mutate) ────────────────────────────

export interface SimMutations {
  addMember(input?: { displayName?: string; nickname?: string; role?: WorkspaceRole }): SimUser;
  /** Removes the user from the workspace, every group and every explicit grant. */
  removeMember(userUuid: string): void;
  setRole(userUuid: string, role: WorkspaceRole): void;
  addGroup(input: { name: string; slug?: string }): SimGroup;
  removeGroup(slug: string): void;
  addGroupMember(groupSlug: string, userUuid: string): void;
  removeGroupMember(groupSlug: string, userUuid: string): void;
  /** `null` removes the grant. Repositories by slug or `{uuid}`. */
  setRepoUserPermission(repo: string, userUuid: string, permission: RepoPermission | null): void;
  setRepoGroupPermission(repo: string, groupSlug: string, permission: RepoPermission | null): void;
  setProjectUserPermission(projectKey: string, userUuid: string, permission: ProjectPermission | null): void;
  setProjectGroupPermission(projectKey: string, groupSlug: string, permission: ProjectPermission | null): void;
  addRepository(input: { name: string; slug?: string; projectKey: string }): SimRepo;
  deleteRepository(repo: string): void;
  /** Renames (new slug from the name): the uuid stays, the slug and name change. */
  renameRepository(repo: string, newName: string): SimRepo;
  moveRepository(repo: string, projectKey: string): void;
  /** Bumps `updated_on` (permission changes do not, as on Bitbucket). */
  touchRepository(repo: string): void;
  addDeployKey(input: { repository?: string; projectKey?: string; label: string; key?: string; comment?: string }): SimDeployKey;
  removeDeployKey(id: number): void;
  /** Revokes one credential: API requests with it answer 401 from now on (OAuth: the consumer). */
  revokeCredential(name: SimCredentialName): void;
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
  /** `forbid`: repository slug whose permission listings answer 403. */
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
