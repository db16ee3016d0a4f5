import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { CredentialKind, IntegrationKind, PrincipalKind, ResourceKind, RunStatus, ScopeStatus } from '../interfaces.ts';

/**
 * Bigint ids arrive as strings from `pg` and as numbers or strings from PGlite; the code treats
 * them as strings everywhere (cast in SQL where a number is needed).
 */
type Id = ColumnType<string, string | number | bigint, string | number | bigint>;
type GeneratedId = ColumnType<string, never, never>;
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type Json<T = Record<string, unknown>> = ColumnType<T, string | undefined, string>;

export interface IntegrationsTable {
  id: GeneratedId;
  name: string;
  kind: IntegrationKind;
  /** The source's workspace (Bitbucket Cloud: its slug); null for sources without one. */
  workspace: string | null;
  base_url: string;
  credential_kind: CredentialKind;
  schedule: string | null;
  timezone: Generated<string>;
  options: Json;
  status: Generated<'active' | 'revoked' | 'disabled'>;
  status_message: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** A slot of a stored credential, declared by the connector (`CredentialField.slot`): `secret`, `username`, `client_id`, `access_token`, … */
export type CredentialName = string;

export interface CredentialsTable {
  integration_id: Id;
  name: CredentialName;
  key_id: string;
  iv: Buffer | Uint8Array;
  auth_tag: Buffer | Uint8Array;
  ciphertext: Buffer | Uint8Array;
  expires_at: NullableTimestamp;
  updated_at: Timestamp;
}

export interface SyncRunsTable {
  id: GeneratedId;
  integration_id: Id;
  trigger: 'manual' | 'schedule' | 'demo' | 'test';
  mode: 'full' | 'incremental';
  since: NullableTimestamp;
  slot: NullableTimestamp;
  status: RunStatus;
  started_at: Timestamp;
  finished_at: NullableTimestamp;
  heartbeat_at: Timestamp;
  resume_after: NullableTimestamp;
  holder: string | null;
  capabilities: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  counts: Json;
  api_requests: Generated<number>;
  api_retries: Generated<number>;
  rate_limit_waits: Generated<number>;
  rate_limit_wait_ms: ColumnType<string, number | undefined, number>;
  responses_429: Generated<number>;
  error_code: string | null;
  error_message: string | null;
  summary: string | null;
  /** The run's segments of work (see migration 2026-12-01T1100 and `src/sync/segments.ts`). */
  segments: Json<RunSegment[]>;
}

/** One stretch of work on a run by one process: a run paused or killed and resumed has several. */
export interface RunSegment {
  startedAt: string;
  /** Null while the segment runs, or when its process died (the next segment fills it in). */
  endedAt: string | null;
  holder: string | null;
  /** How it ended: still running, finished the run, paused for the rate limit, interrupted (Ctrl-C, shutdown), or its process died. */
  outcome: 'running' | 'finished' | 'paused' | 'interrupted' | 'died';
}

export interface SyncScopesTable {
  run_id: Id;
  scope: string;
  stream: string;
  label: string;
  status: ScopeStatus;
  filtered: Generated<boolean>;
  endpoint: string | null;
  http_status: number | null;
  error_code: string | null;
  message: string | null;
  advice: string | null;
  items: Generated<number>;
  pages: Generated<number>;
  finished_at: Timestamp;
}

interface HistoryColumns {
  scope: string;
  first_seen_run: Id;
  last_seen_run: Id;
  removed_run: ColumnType<string | null, string | number | null | undefined, string | number | null>;
}

export interface PrincipalsTable extends HistoryColumns {
  id: GeneratedId;
  integration_id: Id;
  kind: PrincipalKind;
  external_id: string;
  display_name: string | null;
  handle: string | null;
  account_id: string | null;
  attributes: Json;
}

export interface ResourcesTable extends HistoryColumns {
  id: GeneratedId;
  integration_id: Id;
  kind: ResourceKind;
  external_id: string;
  name: string;
  handle: string | null;
  parent_id: ColumnType<string | null, string | number | null | undefined, string | number | null>;
  attributes: Json;
}

/** One interval of runs over which a principal was present with these values (see the 2026-12-01 migration). */
export interface PrincipalVersionsTable {
  id: GeneratedId;
  integration_id: Id;
  principal_id: Id;
  kind: PrincipalKind;
  external_id: string;
  display_name: string | null;
  handle: string | null;
  account_id: string | null;
  attributes: Json;
  present_since_run: Id;
  first_seen_run: Id;
  last_seen_run: Id;
  removed_run: ColumnType<string | null, string | number | null | undefined, string | number | null>;
}

export interface ResourceVersionsTable {
  id: GeneratedId;
  integration_id: Id;
  resource_id: Id;
  kind: ResourceKind;
  external_id: string;
  name: string;
  handle: string | null;
  parent_id: ColumnType<string | null, string | number | null | undefined, string | number | null>;
  attributes: Json;
  present_since_run: Id;
  first_seen_run: Id;
  last_seen_run: Id;
  removed_run: ColumnType<string | null, string | number | null | undefined, string | number | null>;
}

export interface SyncNoticesTable {
  id: GeneratedId;
  run_id: Id;
  scope: string;
  kind: 'sanitized' | 'rejected' | 'gone';
  /** The record: a principal or resource kind (`user`, `repository`, …) or `grant`, `membership`, … */
  record_kind: string;
  /** The source's id of the record. */
  record_id: string;
  detail: string;
  created_at: Generated<Date>;
}

export interface MembershipsTable extends HistoryColumns {
  id: GeneratedId;
  integration_id: Id;
  group_id: Id;
  group_kind: Generated<'group'>;
  member_id: Id;
}

export interface GrantsTable extends HistoryColumns {
  id: GeneratedId;
  integration_id: Id;
  principal_id: Id;
  resource_id: Id;
  resource_kind: ResourceKind;
  permission: string;
}

export interface ReportedAccessTable extends HistoryColumns {
  id: GeneratedId;
  integration_id: Id;
  user_id: Id;
  user_kind: Generated<'user'>;
  resource_id: Id;
  resource_kind: Generated<'repository'>;
  permission: string;
}

export interface EffectiveAccessTable {
  integration_id: Id;
  run_id: Id;
  user_id: Id;
  repository_id: Id;
  path_kind: 'direct' | 'group' | 'project' | 'project-group' | 'workspace-owner';
  via_group_id: string | null;
  via_project_id: string | null;
  permission: 'read' | 'write' | 'admin';
}

export interface FindingsTable {
  id: GeneratedId;
  integration_id: Id;
  run_id: Id;
  kind: 'missing_in_source' | 'missing_in_roster' | 'permission_mismatch';
  user_id: Id;
  repository_id: Id;
  roster_permission: string | null;
  source_permission: string | null;
  detail: string;
}

// ─── Review campaigns (migration 2026-12-01T1200_review_campaigns) ───────────────────────────

export interface ReviewCampaignsTable {
  id: GeneratedId;
  name: string;
  status: Generated<'open' | 'closed'>;
  reviewer_rule: 'reviewer' | 'resource-admins' | 'reviewers-file' | 'manager';
  undecided_policy: Generated<'flag' | 'keep' | 'revoke'>;
  /** A date (no time), as `YYYY-MM-DD` text. */
  due_on: ColumnType<string | null, string | null | undefined, string | null>;
  base_campaign_id: ColumnType<string | null, string | number | null | undefined, string | number | null>;
  base_run_id: ColumnType<string | null, string | number | null | undefined, string | number | null>;
  definition: string;
  definition_sha256: string;
  created_at: Timestamp;
  closed_at: NullableTimestamp;
  close_forced: boolean | null;
  evidence_manifest_sha256: string | null;
}

export interface ReviewCampaignRunsTable {
  campaign_id: Id;
  integration_id: Id;
  run_id: Id;
  snapshot_sha256: string;
  access_rows: number;
  items: number;
}

export interface ReviewReviewersTable {
  id: GeneratedId;
  campaign_id: Id;
  kind: 'user' | 'email';
  key: string;
  principal_id: ColumnType<string | null, string | number | null | undefined, string | number | null>;
  external_id: string | null;
  account_id: string | null;
  display_name: string | null;
  handle: string | null;
  email: string | null;
}

export interface ReviewItemsTable {
  id: GeneratedId;
  campaign_id: Id;
  integration_id: Id;
  run_id: Id;
  principal_id: Id;
  principal_kind: PrincipalKind;
  principal_external_id: string;
  principal_name: string | null;
  principal_handle: string | null;
  account_id: string | null;
  workspace_role: string | null;
  resource_id: Id;
  resource_kind: ResourceKind;
  resource_external_id: string;
  resource_handle: string | null;
  resource_name: string;
  project_handle: string | null;
  permission: string;
  paths: Json<unknown[]>;
  first_seen_run: Id;
  first_seen_at: NullableTimestamp;
  flags: Json<string[]>;
  reviewer_id: Id;
  reviewer_rule: string;
  reviewer_note: string | null;
  change: string | null;
  change_causes: ColumnType<string[] | null, string | null | undefined, string | null>;
  base_item_id: ColumnType<string | null, string | number | null | undefined, string | number | null>;
  carried_forward: Generated<boolean>;
  /** Who is behind the account at creation (migration 2026-12-01T1320); null on older items. */
  identity: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
}

export interface ReviewItemStatesTable {
  item_id: Id;
  campaign_id: Id;
  reviewer_id: Id;
  decision: 'keep' | 'revoke' | 'reduce' | null;
  reduce_to: string | null;
  comment: string | null;
  decided_by: ColumnType<string | null, string | number | null | undefined, string | number | null>;
  decided_at: NullableTimestamp;
  decided_via: 'reviewer' | 'carried-forward' | 'policy' | null;
  log_seq: number;
}

export interface ReviewDecisionLogTable {
  campaign_id: Id;
  seq: number;
  item_id: ColumnType<string | null, string | number | null | undefined, never>;
  action: 'create' | 'decide' | 'reassign' | 'carry-forward' | 'policy' | 'close';
  at: Timestamp;
  body: string;
  prev_sha256: string;
  sha256: string;
}

export interface Database {
  integrations: IntegrationsTable;
  credentials: CredentialsTable;
  sync_runs: SyncRunsTable;
  sync_scopes: SyncScopesTable;
  principals: PrincipalsTable;
  resources: ResourcesTable;
  principal_versions: PrincipalVersionsTable;
  resource_versions: ResourceVersionsTable;
  sync_notices: SyncNoticesTable;
  memberships: MembershipsTable;
  grants: GrantsTable;
  reported_access: ReportedAccessTable;
  effective_access: EffectiveAccessTable;
  findings: FindingsTable;
  review_campaigns: ReviewCampaignsTable;
  review_campaign_runs: ReviewCampaignRunsTable;
  review_reviewers: ReviewReviewersTable;
  review_items: ReviewItemsTable;
  review_item_states: ReviewItemStatesTable;
  review_decision_log: ReviewDecisionLogTable;
  people_imports: PeopleImportsTable;
  people: PeopleTable;
  org_accounts: OrgAccountsTable;
  org_domains: OrgDomainsTable;
  org_groups: OrgGroupsTable;
}

// ─── Identity (migration 2026-12-01T1320) ───────────────────────────────────────────────────

/** One `roster people import`: a snapshot of one people source. */
export interface PeopleImportsTable {
  id: GeneratedId;
  source: string;
  file_name: string;
  file_sha256: string;
  preset: string;
  mapping: Json<Record<string, string>>;
  rows: number;
  imported_at: Timestamp;
}

export type PersonStatus = 'active' | 'terminated' | 'leave';
export type PersonType = 'employee' | 'contractor' | 'service';

/** A version of one person of a source, valid from `first_seen_import` until `removed_import`. */
export interface PeopleTable {
  id: GeneratedId;
  source: string;
  email: string;
  email_key: string;
  account_id: string | null;
  name: string | null;
  employee_id: string | null;
  status: PersonStatus;
  termination_date: string | null;
  manager_email: string | null;
  department: string | null;
  type: PersonType | null;
  line: number;
  first_seen_import: Id;
  last_seen_import: Id;
  removed_import: ColumnType<string | null, string | number | null | undefined, string | number | null>;
}

/** One product an organization account can reach, with its last activity there. */
export interface ProductAccess {
  key: string;
  name: string | null;
  url: string | null;
  last_active: string | null;
}

/** A version of one managed account of an organization integration, over its sync runs. */
export interface OrgAccountsTable {
  id: GeneratedId;
  integration_id: Id;
  account_id: string;
  email: string | null;
  email_key: string | null;
  name: string | null;
  account_type: string;
  account_status: string;
  last_active: NullableTimestamp;
  product_access: Json<ProductAccess[]>;
  added_to_org: NullableTimestamp;
  first_seen_run: Id;
  last_seen_run: Id;
  removed_run: ColumnType<string | null, string | number | null | undefined, string | number | null>;
}

export interface OrgDomainsTable {
  id: GeneratedId;
  integration_id: Id;
  domain: string;
  verified: boolean;
  first_seen_run: Id;
  last_seen_run: Id;
  removed_run: ColumnType<string | null, string | number | null | undefined, string | number | null>;
}

/** One version of a directory group of an organization (migration 2026-12-01T1330). */
export interface OrgGroupsTable {
  id: GeneratedId;
  integration_id: Id;
  directory_id: string;
  directory_name: string | null;
  group_id: string;
  name: string;
  description: string | null;
  /** Members' account ids, sorted. */
  member_account_ids: Json<string[]>;
  first_seen_run: Id;
  last_seen_run: Id;
  removed_run: ColumnType<string | null, string | number | null | undefined, string | number | null>;
}

export type Integration = Selectable<IntegrationsTable>;
export type NewIntegration = Insertable<IntegrationsTable>;
export type IntegrationUpdate = Updateable<IntegrationsTable>;
export type SyncRun = Selectable<SyncRunsTable>;
export type SyncScope = Selectable<SyncScopesTable>;
export type Principal = Selectable<PrincipalsTable>;
export type Resource = Selectable<ResourcesTable>;
export type Grant = Selectable<GrantsTable>;
export type Membership = Selectable<MembershipsTable>;
