/**
 * The public contract between Roster's parts: what a connector yields, what the engine records,
 * and the access-governance vocabulary both speak. Types that cross folders live here and only here.
 *
 *   source ──connector──▶ Batch (normalized records, per scope) ──loader──▶ tables with history
 *                                                                    └──▶ effective access ──▶ reports
 *
 * Over 400 lines on purpose: it is the whole contract (graphile-worker's one `interfaces.ts`), types
 * only — vocabulary, records, streams, the connector definition, remediation — so a new source reads
 * one file to learn everything it must provide.
 */

import type { ZodType } from 'zod';
import type { Logger } from './log.ts';
import type { Secret } from './secrets/index.ts';

// ─── Vocabulary ──────────────────────────────────────────────────────────────────────────────

export const PRINCIPAL_KINDS = ['user', 'group', 'deploy_key', 'access_token'] as const;
export type PrincipalKind = (typeof PRINCIPAL_KINDS)[number];

/**
 * Resource kinds and permissions are the connector's vocabulary, declared in its permission model
 * (Bitbucket Cloud: `workspace`, `project`, `repository`; `read` < `write` < `admin` …). The engine
 * treats them as names and takes their meaning from the model.
 */
export type ResourceKind = string;
export type Permission = string;

/**
 * How access works in a source, declared by its connector (`connectors/<kind>/model.ts`): which
 * resources exist under which, each kind's permission ladder, how a permission on a resource reaches
 * the resources below it, which roles on a root resource reach everything, and access held without
 * any grant. Effective access — every path by which a principal holds a permission — is derived from
 * this declaration in one place (`src/access/`), for the sync's materialization and every report.
 */
export interface PermissionModel {
  /** Resource kinds, roots first. */
  resources: Record<ResourceKind, ResourceKindModel>;
  /** The kind effective access is materialized for and reconciled on (Bitbucket: repositories). */
  leaf: ResourceKind;
  /** A grant on a `from` resource reaches every `to` resource directly below it, as `map[permission]`. */
  inheritance: readonly InheritanceRule[];
  /** A role on a root resource that reaches every resource of the kinds in `gives` in the integration. */
  rootRoles: readonly RootRole[];
  /** Access without a grant: a resource whose `attribute` equals `equals` is readable by anyone. */
  implicit: readonly ImplicitAccess[];
}

export interface ResourceKindModel {
  /** Permissions lowest first: the index is the rank; an effective permission is the highest over paths. */
  ladder: readonly Permission[];
  /** Permissions that make their holder an administrator of the resource (reports' `admin` flag, privileged-access). */
  privileged: readonly Permission[];
  /** Kinds a resource of this kind can sit directly under (none: a root, like the workspace). */
  parents: readonly ResourceKind[];
  /** The path kind of a grant to the principal itself on this kind. Default `direct` (roots: e.g. `workspace-role`). */
  directPath?: string;
}

export interface InheritanceRule {
  from: ResourceKind;
  to: ResourceKind;
  /** Path kind of the inherited grant (`project`); through a group it is `${path}-group` (`project-group`). */
  path: string;
  /** Permission on `from` → permission on `to` (Bitbucket: project `create-repo` is `write` on its repositories). */
  map: Readonly<Record<Permission, Permission>>;
}

export interface RootRole {
  on: ResourceKind;
  permission: Permission;
  /** Resource kind → the permission the role gives on every resource of that kind. */
  gives: Readonly<Record<ResourceKind, Permission>>;
  /** Path kind (`workspace-owner`). */
  path: string;
}

export interface ImplicitAccess {
  resource: ResourceKind;
  /** Key in the resource's attributes and the value that grants it (`isPrivate` = false). */
  attribute: string;
  equals: string | number | boolean;
  permission: Permission;
  /** Path kind (`public`); also the reports' flag. */
  path: string;
  /** What turns it off, for offboarding lists; `{resource}` is the resource's handle. E.g. `make {resource} private`. */
  undo: string;
}

/** A credential kind's name, declared by its connector's definition (`api-token`, `personal-access-token`). */
export type CredentialKind = string;

/** An integration kind's name: a connector's `kind` in the registry (`src/connectors.ts`). */
export type IntegrationKind = string;

/** Error code stored on `not_covered` scope rows that the credential kind explains (expected, not a failure). */
export const CREDENTIAL_GAP = 'credential_gap';
/**
 * The error code of a scope left unread on purpose by a setting (`reconcile: weekly|off` skips the
 * source's own effective answer): neither a failure nor a credential gap — coverage says so, and it
 * never makes a run partial or an integration degraded.
 */
export const SKIPPED_BY_SETTING = 'skipped_by_setting';

/** How often a run reads the source's own effective answer to cross-check the derivation (see src/sync/reconcile-cadence.ts). */
export const RECONCILE_SETTINGS = ['always', 'weekly', 'off'] as const;
export type ReconcileSetting = (typeof RECONCILE_SETTINGS)[number];

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
  /** On the resource kind's ladder in the connector's permission model. */
  permission: Permission;
}

/** An effective permission the source itself reports (Bitbucket `/workspaces/{ws}/permissions/repositories`). */
export interface ReportedAccessRecord {
  user: PrincipalRef;
  resource: ResourceRef;
  permission: Permission;
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
  /**
   * The resource kind this stream lists in full when its scope is read unfiltered (Bitbucket's
   * `repositories` stream lists `repository`): later streams then plan scopes for just what it listed.
   */
  lists?: ResourceKind;
  /** This stream reads the source's own answer of effective access, which the engine reconciles against its derivation. */
  effectiveAnswer?: boolean;
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
  /** What the run summary must say about the connector itself (a credential that left its pool). */
  notices?: string[];
}

export interface Connector {
  kind: IntegrationKind;
  streams: readonly StreamDeclaration[];
  detectCapabilities(signal: AbortSignal): Promise<Capabilities>;
  /**
   * What a sync would cost in requests, from a cheap probe of the source's counts (a few requests):
   * `roster sync --plan` before an integration's first run. Optional: without it, a plan needs a run.
   */
  estimateRequests?(signal: AbortSignal): Promise<RequestEstimate>;
  stats(): ConnectorStats;
  close(): Promise<void>;
}

/** A connector's estimate of a sync's requests (`Connector.estimateRequests`). */
export interface RequestEstimate {
  /** Requests the probe itself made (detection included). */
  probeRequests: number;
  /** Requests per stream of a full and of an incremental run; `stream` null for requests outside any stream (detection, tokens). */
  streams: Array<{ stream: string | null; full: number; incremental: number }>;
  /** What the estimate assumes, for the plan's reader ("each repository's permissions fit one page"). */
  assumptions: string[];
}

/** Events a connector and the engine emit for progress display and logs. */
export type ProgressEvent =
  | { type: 'request'; method: string; path: string; status: number; ms: number }
  | { type: 'rate-limit-wait'; ms: number; until: Date; reason: string }
  | { type: 'retry'; path: string; attempt: number; reason: string; delayMs: number }
  | { type: 'scope-start'; scope: Scope }
  | { type: 'scope-end'; scope: Scope; status: ScopeStatus; items: number; pages: number };

// ─── Connector definition (how a source plugs in) ─────────────────────────────────────────

/**
 * Everything the engine knows of a source, exported by `connectors/<kind>/definition.ts` and
 * registered by one line in `src/connectors.ts`: the CLI, the config file, `db/integrations.ts`,
 * `roster status`, `roster sim` / `roster demo` and run start-up read kinds, credential kinds,
 * options, defaults and warnings from here, so a new source touches no other engine file.
 */
export interface ConnectorDefinition {
  kind: IntegrationKind;
  /** The source's name in messages ("Bitbucket Cloud's own effective permissions"). */
  title: string;
  /** How access works in the source: resources, ladders, inheritance, root roles, implicit access. */
  permissionModel: PermissionModel;
  /** What gives access in this source that its API cannot list with any credential. */
  apiLimits: readonly ApiLimit[];
  /** What an integration of this kind is given besides its credential (`roster integration add`, the config file). */
  settings: IntegrationSettings;
  /** The credentials the source accepts, by kind. */
  credentials: readonly CredentialKindDefinition[];
  /**
   * Options an operator may set, with their limits: the one table config, CLI and `create()` read
   * (an integration's stored options are checked against it before the connector is built).
   */
  options: readonly OptionDefinition[];
  /**
   * Fills what the operator left out from what they gave, when the integration is added (Bitbucket
   * Cloud: the OAuth token URL from the base URL), and says what it derived. Default: nothing to add.
   */
  resolveOptions?(input: ResolveInput): { options: Record<string, unknown>; notes: string[] };
  /** Builds the connector for one integration; it opens its sealed credential itself. */
  create(integration: IntegrationSpec, credential: SealedCredential, deps: ConnectorDeps): Promise<Connector>;
  /**
   * What to change in the source to take away (or lower) one principal's access, path by path: the
   * change, the UI page, the API call (review remediation). Default: the model's `undo` of each path.
   */
  remediation?(request: RemediationRequest): RemediationChange[];
  /** The source's simulator, for `roster sim --source KIND` and `roster demo --source KIND`. Loaded only when asked for. */
  simulator?: () => Promise<SimulatorOffer>;
}

export interface IntegrationSettings {
  /** The integration's workspace (`--workspace`, config `workspace`): checked, or null when the source has none (one server). */
  workspace: { description: string; check(value: string): string | null } | null;
  /** The API root (`--base-url`, config `baseUrl`): its default, or null when the operator must give it (a server's URL). */
  baseUrl: { description: string; default: string | null };
}

/** What `resolveOptions` sees: the settings and options as given, after their checks. */
export interface ResolveInput {
  baseUrl: string;
  credentialKind: CredentialKind;
  options: Readonly<Record<string, unknown>>;
}

/**
 * One credential kind: what its parts are, where `roster integration add` and the config file take
 * each from, where each is stored (sealed), and a zod schema the opened parts must satisfy — checked
 * when the credential is added and again before the connector uses it.
 */
export interface CredentialKindDefinition {
  kind: CredentialKind;
  /** One line for `--help` and messages: `Atlassian API token of a workspace admin (with --username: its account e-mail)`. */
  description: string;
  /** The credential's parts by name. Exactly one is the secret (`from: 'secret'`). */
  fields: Readonly<Record<string, CredentialField>>;
  /** The opened parts (each a `Secret`, which never prints): checks them, and says what is wrong. */
  schema: ZodType<Record<string, Secret>>;
  /** A standing warning about every credential of this kind (end-of-life), shown by `integration add`/`list` and `status`. */
  warning?: string;
}

export interface CredentialField {
  /**
   * Where the operator gives it: `secret` is read from `--secret-env VAR` or standard input (config:
   * `secretEnv`), never from the command line; `username` is `--username` (config: `username`).
   */
  from: 'secret' | 'username';
  /** The stored slot (`credentials.name`), sealed with the integration's id. */
  slot: string;
  /** What it is, for `--help` and messages: `the Atlassian account e-mail`. */
  description: string;
}

/** An option of an integration with its limits and default: the one table config, CLI and connector read. */
export type OptionDefinition =
  | { name: string; type: 'integer'; flag: string; description: string; min: number; max: number; default: number }
  | { name: string; type: 'url'; flag: string; description: string }
  /** A required identifier (an organization id): checked against `pattern`; `example` shows the shape in messages. */
  | { name: string; type: 'text'; flag: string; description: string; pattern: RegExp; example: string }
  /** One of a few words; unset means the engine's default, which the description states. */
  | { name: string; type: 'choice'; flag: string; description: string; choices: readonly string[] };

// ─── Identity sources (who is behind the accounts) ──────────────────────────────────────────

/**
 * What every integration has, whatever the source gives: the part of a definition `roster integration
 * add`, the config file and credential storage read. Access connectors and identity sources share it.
 */
export type SourceSettingsDefinition = Pick<ConnectorDefinition, 'kind' | 'title' | 'settings' | 'credentials' | 'options' | 'resolveOptions'>;

/**
 * A source that says who is behind the accounts (the Atlassian organization: e-mail, account status,
 * activity) rather than who holds what. It has no permission model and no access of its own: the
 * engine stores what its reader lists as versioned identity records over the integration's runs, and
 * reports join them to every access source's accounts by account id and e-mail.
 */
export interface IdentitySourceDefinition extends SourceSettingsDefinition {
  role: 'identity';
  /** Builds the reader for one integration; it opens its sealed credential itself. */
  createReader(integration: IntegrationSpec, credential: SealedCredential, deps: ConnectorDeps & { signal?: AbortSignal }): Promise<IdentityReader>;
}

/** An account as an identity source knows it, keyed by the Atlassian account id. */
export interface IdentityAccount {
  accountId: string;
  /** `atlassian` (a person), `app`, `customer`. */
  accountType: string;
  /** `active`, `inactive` or `closed`. */
  accountStatus: string;
  name: string | null;
  email: string | null;
  lastActive: string | null;
  /** One entry per product (and site or workspace) the account reaches, with its last activity there. */
  productAccess: Array<{ key: string; name: string | null; url: string | null; last_active: string | null }>;
  addedToOrg: string | null;
}

export interface IdentityDomain {
  domain: string;
  verified: boolean;
}

/** A group of an organization's directory (centralized user management), with its members' account ids. */
export interface IdentityDirectoryGroup {
  directoryId: string;
  directoryName: string | null;
  groupId: string;
  name: string;
  description: string | null;
  memberAccountIds: string[];
}

/**
 * Reads one identity source whole. Each listing either completes or throws: a partial listing is
 * never returned, so "not listed" can be trusted to mean "no longer there".
 */
export interface IdentityReader {
  listAccounts(): Promise<IdentityAccount[]>;
  listDomains(): Promise<IdentityDomain[]>;
  /** The directory groups and their members, when the source has them. */
  listDirectoryGroups?(): Promise<IdentityDirectoryGroup[]>;
  stats(): ConnectorStats;
  close(): Promise<void>;
}

/** An integration as its connector sees it: its identity, settings and checked options (defaults filled in). */
export interface IntegrationSpec {
  id: string;
  name: string;
  kind: IntegrationKind;
  workspace: string | null;
  baseUrl: string;
  credentialKind: CredentialKind;
  options: Readonly<Record<string, unknown>>;
}

/**
 * An integration's stored credential, still sealed: the connector opens what it needs when it needs
 * it, and seals what it must keep (rotated OAuth tokens) before it uses them.
 */
export interface SealedCredential {
  kind: CredentialKind;
  /** The parts of the credential kind, opened and checked against its schema. */
  open(): Promise<Record<string, Secret>>;
  /**
   * More credentials of the same kind for this integration (the credential pool, `roster integration
   * credential add`), each opened and checked like the first, in the order they were added.
   */
  openPool(): Promise<Array<Record<string, Secret>>>;
  /** A slot the connector keeps itself (an OAuth access or refresh token), opened; null when none is stored. */
  openState(slot: string): Promise<{ value: Secret; expiresAt: Date | null } | null>;
  /** Seals and stores slots of the connector's own, in one transaction. */
  saveState(values: ReadonlyArray<{ slot: string; value: string; expiresAt: Date | null }>): Promise<void>;
}

/** What the engine gives `create()` besides the integration and its credential. */
export interface ConnectorDeps {
  logger: Logger;
  onProgress: (event: ProgressEvent) => void;
  /**
   * Requests this integration's runs made in the last hour in other processes, as counts at times in
   * ms: a fresh process fills its budget window with them so pacing starts from the truth.
   */
  priorRequests: ReadonlyArray<{ at: number; count: number }>;
  /** Knobs tests and the benchmark set (a fast clock, a budget, waits); never credentials, never from an operator. */
  tuning: ConnectorTuning;
}

export interface ConnectorTuning {
  clock?: { now(): number; sleep(ms: number, signal?: AbortSignal): Promise<void> };
  budgetPerHour?: number;
  concurrency?: number;
  maxRateLimitWaitMs?: number;
  timeoutMs?: number;
  maxRetries?: number;
  retryBaseMs?: number;
}

/** A source's simulator, as `roster sim` and `roster demo` reach it through the registry. */
export interface SimulatorOffer {
  /** Profiles `roster sim --profile` accepts, smallest first; the demo takes the first two. */
  profiles: readonly string[];
  /**
   * Runs `roster sim`: prints one JSON line `{baseUrl, workspace, tokenUrl, credentials}`, then serves
   * until stopped. `flags` are the command's own as given (strings); a bad one throws `input_invalid`.
   */
  serve(flags: SimFlags): Promise<void>;
  /** Starts one for `roster demo`, and says how to connect an integration to it with its admin credential. */
  start(options: { profile: string; seed: number }): Promise<RunningSimulator>;
}

export interface SimFlags {
  port: number;
  profile: string;
  seed: number;
  faults?: string;
  rateLimit?: string;
  reportedPermissions?: string;
}

export interface RunningSimulator {
  baseUrl: string;
  /** The simulated workspace, when the source has workspaces. */
  workspace: string | null;
  /** A name for messages: `workspace "acme"`, `server at http://…`. */
  label: string;
  /** The integration to add for it: its settings, an admin credential's parts and the options it needs. */
  integration: { credentialKind: CredentialKind; credential: { secret: Secret; username: string | null }; options: Record<string, unknown> };
  close(): Promise<void>;
}

/** What a review asks a connector to remediate: the paths of one access that give more than `target` (null: revoke). */
export interface RemediationRequest {
  /** `anyone` for implicit access. */
  principal: { kind: string; externalId: string | null; name: string | null };
  /** `parentHandle`: the handle of the resource it inherits through (Bitbucket: the repository's project key). */
  resource: { kind: ResourceKind; externalId: string; handle: string | null; parentHandle: string | null };
  target: Permission | null;
  paths: ReadonlyArray<RemediationPath>;
  integration: { workspace: string | null; baseUrl: string };
  /** Groups at the item's run, by handle. */
  groups: ReadonlyMap<string, RemediationGroup>;
}

export interface RemediationPath {
  /** The path kind (`project-group`), and the path as the reports print it. */
  kind: string;
  label: string;
  /** The permission of the grant the path rests on. */
  granted: Permission;
  group: string | null;
  /** The handle of the resource the path inherits through. */
  via: string | null;
  /** What turns it off, from the model's implicit access. */
  undo: string | null;
}

export interface RemediationGroup {
  /** The members at the item's run (the item's principal among them). */
  members: ReadonlyArray<{ externalId: string; name: string }>;
  /** Grants the group holds at that run. */
  grants: number;
}

/** One thing to change in the source for one path of an access. */
export interface RemediationChange {
  /** The path it takes away, as the reports print it. */
  path: string;
  change: string;
  /** Where in the source's web UI. */
  ui: string;
  /** The REST call, or null where the source has none. */
  api: string | null;
  /** Who or what else the change touches (a group's other members, a project's other repositories). */
  alsoAffects: string | null;
  /** Another way to the same end, with its own side effects (e.g. remove the user from the group instead). */
  alternative: string | null;
}
