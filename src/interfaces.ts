/**
 * The public contract between Roster's parts: what a connector yields, what the engine records,
 * and the access-governance vocabulary both speak. Types that cross folders live here and only here.
 *
 *   source ──connector──▶ Batch (normalized records, per scope) ──loader──▶ tables with history
 *                                                                    └──▶ effective access ──▶ reports
 */

// ─── Vocabulary ──────────────────────────────────────────────────────────────────────────────

export const PRINCIPAL_KINDS = ['user', 'group', 'deploy_key', 'access_token'] as const;
export type PrincipalKind = (typeof PRINCIPAL_KINDS)[number];

export const RESOURCE_KINDS = ['workspace', 'project', 'repository'] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

/** Permission ladders, lowest first. The index in the array is the rank. */
export const PERMISSION_LADDERS = {
  workspace: ['member', 'collaborator', 'owner'],
  project: ['read', 'write', 'create-repo', 'admin'],
  repository: ['read', 'write', 'admin'],
} as const satisfies Record<ResourceKind, readonly string[]>;

export type WorkspacePermission = (typeof PERMISSION_LADDERS.workspace)[number];
export type ProjectPermission = (typeof PERMISSION_LADDERS.project)[number];
export type RepositoryPermission = (typeof PERMISSION_LADDERS.repository)[number];
export type Permission = WorkspacePermission | ProjectPermission | RepositoryPermission;

export function permissionRank(kind: ResourceKind, permission: string): number {
  return (PERMISSION_LADDERS[kind] as readonly string[]).indexOf(permission);
}

/**
 * What a project permission means for the repositories inside the project. Bitbucket Cloud: a project
 * permission applies to every repository in it; `create-repo` is write on repositories plus the right
 * to create new ones.
 */
export const PROJECT_TO_REPOSITORY_PERMISSION: Record<ProjectPermission, RepositoryPermission> = {
  read: 'read',
  write: 'write',
  'create-repo': 'write',
  admin: 'admin',
};

/** Every way a user can come to hold a permission on a repository. */
export const ACCESS_PATH_KINDS = ['direct', 'group', 'project', 'project-group', 'workspace-owner'] as const;
export type AccessPathKind = (typeof ACCESS_PATH_KINDS)[number];

export const CREDENTIAL_KINDS = [
  'workspace-access-token',
  'project-access-token',
  'repository-access-token',
  'oauth-client-credentials',
  'api-token',
  'app-password',
] as const;
export type CredentialKind = (typeof CREDENTIAL_KINDS)[number];

export const INTEGRATION_KINDS = ['bitbucket-cloud'] as const;
export type IntegrationKind = (typeof INTEGRATION_KINDS)[number];

export const RUN_STATUSES = ['running', 'paused', 'succeeded', 'partial', 'failed'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const SCOPE_STATUSES = ['complete', 'failed', 'not_covered'] as const;
export type ScopeStatus = (typeof SCOPE_STATUSES)[number];

// ─── Normalized records (what a connector yields) ──────────────────────────────────────────

/** A reference by the source's stable id (Bitbucket uuid / account_id / group slug / key id). */
export interface PrincipalRef {
  kind: PrincipalKind;
  externalId: string;
}

export interface ResourceRef {
  kind: ResourceKind;
  externalId: string;
}

export interface PrincipalRecord extends PrincipalRef {
  /** Human name as the source shows it (display_name, group name, deploy key label). */
  displayName: string | null;
  /** Secondary handle: nickname for users, slug for groups, null otherwise. */
  handle: string | null;
  /** Atlassian account_id for users, when the source sends it. */
  accountId?: string | null;
  /** Kind-specific facts: deploy key fingerprint, comment, created/last-used dates; user account type. */
  attributes?: Record<string, unknown>;
}

export interface ResourceRecord extends ResourceRef {
  name: string;
  /** Slug for repositories and workspaces, key for projects. */
  handle: string | null;
  parent: ResourceRef | null;
  attributes?: Record<string, unknown>;
}

export interface MembershipRecord {
  group: PrincipalRef;
  member: PrincipalRef;
}

/** An explicit grant as the source states it. */
export interface GrantRecord {
  principal: PrincipalRef;
  resource: ResourceRef;
  permission: Permission;
}

/** An effective permission the source itself reports (Bitbucket `/workspaces/{ws}/permissions/repositories`). */
export interface ReportedAccessRecord {
  user: PrincipalRef;
  resource: ResourceRef;
  permission: RepositoryPermission;
}

/**
 * One page of normalized records from one scope. Rows in `principals`, `resources`, `memberships`,
 * `grants` and `reportedAccess` are *listed* by the scope: when the scope is read completely and
 * cleanly, rows it listed before and did not list now are marked removed. `referenced*` rows were
 * merely seen (a user embedded in a grant, a project embedded in a repository): they are upserted so
 * references resolve, but this scope never removes them.
 */
export interface Batch {
  principals?: PrincipalRecord[];
  referencedPrincipals?: PrincipalRecord[];
  resources?: ResourceRecord[];
  referencedResources?: ResourceRecord[];
  memberships?: MembershipRecord[];
  grants?: GrantRecord[];
  reportedAccess?: ReportedAccessRecord[];
  /**
   * Resources the source confirmed no longer exist (a repository whose uuid answers 404), found
   * outside a complete listing — e.g. by an incremental run, whose filtered listing cannot show
   * deletions. The end of the run removes them, with what they held, as if a listing had dropped them.
   */
  goneResources?: GoneRecord[];
}

export interface GoneRecord extends ResourceRef {
  /** How the source confirmed it, for the run's notices: e.g. `GET /2.0/repositories/acme/{…} answered 404`. */
  evidence: string;
}

// ─── Connector contract ────────────────────────────────────────────────────────────────────

/**
 * A scope is the unit of coverage, checkpointing and deletion inference: one listing that is either
 * read completely (and may then remove what it no longer lists) or not (and removes nothing).
 * `id` is stable across runs, e.g. `repository-user-permissions:{repo uuid}`.
 */
export interface Scope {
  id: string;
  stream: string;
  /** The resource this scope is about, when it is per-resource. */
  resource: ResourceRef | null;
  /** Human label for progress and coverage output, e.g. `acme/api`. */
  label: string;
  /**
   * True when the listing is deliberately filtered (an incremental read such as `updated_on>…`): it
   * refreshes what it lists but the engine never infers removals from it.
   */
  filtered?: boolean;
}

/** What a run learned about its credential before reading anything. */
export interface Capabilities {
  credentialKind: CredentialKind;
  /** Who the credential acts as (user account, or the access token's bot user), when known. */
  actor: { externalId: string; displayName: string | null } | null;
  /** OAuth scopes the credential holds (`X-OAuth-Scopes`), when the source says. */
  oauthScopes: string[] | null;
  isWorkspaceAdmin: boolean | null;
  /** Things the operator should know (e.g. app passwords are end-of-life). */
  warnings: string[];
}

/**
 * Something that gives access which the source's API cannot list with any credential: a standing
 * limit of what Roster can know, the same for every integration of the kind. Reports and evidence say
 * so; it never lowers an integration's health or coverage verdict (no credential would do better).
 */
export interface ApiLimit {
  /** Stable id, e.g. `workspace-ssh-keys`. */
  id: string;
  /** What cannot be listed, e.g. `workspace SSH keys (read and write on every repository)`. */
  what: string;
  /** The statement for readers: what exists, what it grants, and where to look instead. */
  statement: string;
  /** The source's documentation this rests on. */
  source: string;
}

/** Why a stream cannot be read with this credential, and what would cover it. */
export interface CoverageGap {
  reason: string;
  advice: string;
}

/** What the engine gives a stream: its run context, and what earlier streams put in the database. */
export interface StreamContext {
  capabilities: Capabilities;
  /** Full sync, or incremental since the given time (the last successful run's start). */
  since: Date | null;
  signal: AbortSignal;
  /** Live resources of a kind, as committed so far (this run's listings included). */
  resources(kind: ResourceKind): Promise<ResourceRecord[]>;
  /** Live principals of a kind, as committed so far. */
  principals(kind: PrincipalKind): Promise<PrincipalRecord[]>;
}

export interface StreamDeclaration {
  name: string;
  description: string;
  /** Streams that must have committed before this one's scopes can be enumerated. */
  dependsOn: readonly string[];
  /** Null when the credential can read this stream; otherwise the gap to record. */
  coverage(capabilities: Capabilities): CoverageGap | null;
  /** The scopes to read in this run. */
  scopes(ctx: StreamContext): Promise<Scope[]>;
  /** Reads one scope, yielding normalized pages. Throws `ConnectorError` on failure. */
  read(scope: Scope, ctx: StreamContext): AsyncIterable<Batch>;
}

/** Figures a connector reports for the run row and the progress display. */
export interface ConnectorStats {
  requests: number;
  retries: number;
  rateLimitWaits: number;
  rateLimitWaitMs: number;
  responses429: number;
}

export interface Connector {
  kind: IntegrationKind;
  streams: readonly StreamDeclaration[];
  detectCapabilities(signal: AbortSignal): Promise<Capabilities>;
  stats(): ConnectorStats;
  close(): Promise<void>;
}

/** Events a connector and the engine emit for progress display and logs. */
export type ProgressEvent =
  | { type: 'request'; method: string; path: string; status: number; ms: number }
  | { type: 'rate-limit-wait'; ms: number; until: Date; reason: string }
  | { type: 'retry'; path: string; attempt: number; reason: string; delayMs: number }
  | { type: 'scope-start'; scope: Scope }
  | { type: 'scope-end'; scope: Scope; status: ScopeStatus; items: number; pages: number };
