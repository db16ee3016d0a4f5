import { type Kysely, sql } from 'kysely';
import type { PathJson } from '../../../reports/access.ts';
import type { Database } from '../../db/types.ts';
import type { ItemIdentity, ItemView } from '../columns.ts';
import type { ReviewerInfo } from '../types.ts';

type Db = Kysely<Database>;

export interface NewItem {
  integrationId: string;
  runId: string;
  /** Null on a resource's implicit-access item (a public repository: anyone). */
  principal_id: string | null;
  principal_kind: string;
  principal_external_id: string | null;
  principal_name: string | null;
  principal_handle: string | null;
  account_id: string | null;
  workspace_role: string | null;
  resource_id: string;
  resource_kind: string;
  resource_external_id: string;
  resource_handle: string | null;
  resource_name: string;
  project_handle: string | null;
  permission: string;
  paths: PathJson[];
  first_seen_run: string;
  first_seen_at: string | null;
  flags: string[];
  reviewerId: string;
  rule: string;
  note: string | null;
  change: string | null;
  causes: string[] | null;
  baseItemId: string | null;
  carriedForward: boolean;
  /** Who is behind the account at creation (users); null when nothing is known. */
  identity: ItemIdentity | null;
}

/** Inserts items in one statement per 2,000; returns their ids by `principal_id resource_id`. */
export async function insertItems(db: Db, campaignId: string, items: readonly NewItem[]): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (let i = 0; i < items.length; i += 2000) {
    const part = items.slice(i, i + 2000);
    const col = (pick: (r: NewItem) => string | null) => part.map(pick);
    const result = await sql<{ id: string; principal_id: string; resource_id: string }>`
      insert into review_items (campaign_id, integration_id, run_id, principal_id, principal_kind, principal_external_id, principal_name, principal_handle,
                                account_id, workspace_role, resource_id, resource_kind, resource_external_id, resource_handle, resource_name, project_handle,
                                permission, paths, first_seen_run, first_seen_at, flags, reviewer_id, reviewer_rule, reviewer_note, change, change_causes,
                                base_item_id, carried_forward, identity)
      select ${campaignId}, t.integration_id::bigint, t.run_id::bigint, t.principal_id::bigint, t.principal_kind, t.principal_external_id, t.principal_name, t.principal_handle,
             t.account_id, t.workspace_role, t.resource_id::bigint, t.resource_kind, t.resource_external_id, t.resource_handle, t.resource_name, t.project_handle,
             t.permission, t.paths::jsonb, t.first_seen_run::bigint, t.first_seen_at::timestamptz, t.flags::jsonb, t.reviewer_id::bigint, t.rule, t.note, t.change,
             t.causes::jsonb, t.base_item_id::bigint, t.carried::boolean, t.identity::jsonb
        from unnest(${col((r) => r.integrationId)}::text[], ${col((r) => r.runId)}::text[], ${col((r) => r.principal_id)}::text[], ${col((r) => r.principal_kind)}::text[],
                    ${col((r) => r.principal_external_id)}::text[], ${col((r) => r.principal_name)}::text[], ${col((r) => r.principal_handle)}::text[],
                    ${col((r) => r.account_id)}::text[], ${col((r) => r.workspace_role)}::text[], ${col((r) => r.resource_id)}::text[], ${col((r) => r.resource_kind)}::text[],
                    ${col((r) => r.resource_external_id)}::text[], ${col((r) => r.resource_handle)}::text[], ${col((r) => r.resource_name)}::text[],
                    ${col((r) => r.project_handle)}::text[], ${col((r) => r.permission)}::text[], ${col((r) => JSON.stringify(r.paths))}::text[],
                    ${col((r) => r.first_seen_run)}::text[], ${col((r) => r.first_seen_at)}::text[], ${col((r) => JSON.stringify(r.flags))}::text[],
                    ${col((r) => r.reviewerId)}::text[], ${col((r) => r.rule)}::text[], ${col((r) => r.note)}::text[], ${col((r) => r.change)}::text[],
                    ${col((r) => (r.causes ? JSON.stringify(r.causes) : null))}::text[], ${col((r) => r.baseItemId)}::text[], ${col((r) => String(r.carriedForward))}::text[],
                    ${col((r) => (r.identity ? JSON.stringify(r.identity) : null))}::text[])
          with ordinality as t(integration_id, run_id, principal_id, principal_kind, principal_external_id, principal_name, principal_handle, account_id, workspace_role,
                               resource_id, resource_kind, resource_external_id, resource_handle, resource_name, project_handle, permission, paths, first_seen_run,
                               first_seen_at, flags, reviewer_id, rule, note, change, causes, base_item_id, carried, identity, ord)
       order by t.ord
      returning id::text as id, principal_id::text as principal_id, resource_id::text as resource_id`.execute(db);
    for (const r of result.rows) ids.set(`${r.principal_id} ${r.resource_id}`, r.id);
  }
  return ids;
}

export interface StateWrite {
  itemId: string;
  reviewerId: string;
  decision: 'keep' | 'revoke' | 'reduce' | null;
  reduceTo: string | null;
  comment: string | null;
  decidedBy: string | null;
  decidedAt: string | null;
  decidedVia: 'reviewer' | 'carried-forward' | 'policy' | null;
  logSeq: number;
}

/** Writes item states (insert or replace): the fold of the log entries just appended. */
export async function writeStates(db: Db, campaignId: string, states: readonly StateWrite[]): Promise<void> {
  for (let i = 0; i < states.length; i += 5000) {
    const part = states.slice(i, i + 5000);
    const col = (pick: (r: StateWrite) => string | null) => part.map(pick);
    await sql`
      insert into review_item_states (item_id, campaign_id, reviewer_id, decision, reduce_to, comment, decided_by, decided_at, decided_via, log_seq)
      select t.item_id::bigint, ${campaignId}, t.reviewer_id::bigint, t.decision, t.reduce_to, t.comment, t.decided_by::bigint, t.decided_at::timestamptz, t.decided_via, t.log_seq::int
        from unnest(${col((s) => s.itemId)}::text[], ${col((s) => s.reviewerId)}::text[], ${col((s) => s.decision)}::text[], ${col((s) => s.reduceTo)}::text[],
                    ${col((s) => s.comment)}::text[], ${col((s) => s.decidedBy)}::text[], ${col((s) => s.decidedAt)}::text[], ${col((s) => s.decidedVia)}::text[],
                    ${col((s) => String(s.logSeq))}::text[])
          as t(item_id, reviewer_id, decision, reduce_to, comment, decided_by, decided_at, decided_via, log_seq)
      on conflict (item_id) do update set reviewer_id = excluded.reviewer_id, decision = excluded.decision, reduce_to = excluded.reduce_to,
        comment = excluded.comment, decided_by = excluded.decided_by, decided_at = excluded.decided_at, decided_via = excluded.decided_via, log_seq = excluded.log_seq`.execute(db);
  }
}

interface ViewRow {
  id: string;
  campaign_id: string;
  integration: string;
  integration_kind: string;
  run_id: string;
  principal_id: string | null;
  principal_kind: string;
  principal_external_id: string | null;
  principal_name: string | null;
  principal_handle: string | null;
  account_id: string | null;
  workspace_role: string | null;
  resource_id: string;
  resource_kind: string;
  resource_external_id: string;
  resource_handle: string | null;
  resource_name: string;
  project_handle: string | null;
  permission: string;
  paths: PathJson[] | string;
  first_seen_run: string;
  first_seen_at: Date | null;
  flags: string[] | string;
  reviewer_rule: string;
  reviewer_note: string | null;
  change: string | null;
  change_causes: string[] | string | null;
  base_item_id: string | null;
  carried_forward: boolean;
  identity: ItemIdentity | string | null;
  assigned_id: string;
  reviewer_id: string;
  decision: 'keep' | 'revoke' | 'reduce' | null;
  reduce_to: string | null;
  comment: string | null;
  decided_by: string | null;
  decided_at: Date | null;
  decided_via: 'reviewer' | 'carried-forward' | 'policy' | null;
}

const json = <T>(v: T | string): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);

export interface ItemFilter {
  itemIds?: readonly string[];
  /** Items currently assigned to this reviewer. */
  reviewerId?: string;
  /** Only items whose final decision is revoke or reduce. */
  remediation?: boolean;
}

/** Items of a campaign with their state and reviewers, in item order (the order of the access review). */
export async function loadItemViews(db: Db, campaignId: string, reviewers: ReadonlyMap<string, ReviewerInfo>, filter: ItemFilter = {}): Promise<ItemView[]> {
  const rows = await sql<ViewRow>`
    select i.id::text as id, i.campaign_id::text as campaign_id, ig.name as integration, ig.kind as integration_kind, i.run_id::text as run_id, i.principal_id::text as principal_id,
           i.principal_kind, i.principal_external_id, i.principal_name, i.principal_handle, i.account_id, i.workspace_role, i.resource_id::text as resource_id,
           i.resource_kind, i.resource_external_id, i.resource_handle, i.resource_name, i.project_handle, i.permission, i.paths, i.first_seen_run::text as first_seen_run,
           i.first_seen_at, i.flags, i.reviewer_rule, i.reviewer_note, i.change, i.change_causes, i.base_item_id::text as base_item_id, i.carried_forward, i.identity,
           i.reviewer_id::text as assigned_id, s.reviewer_id::text as reviewer_id, s.decision, s.reduce_to, s.comment, s.decided_by::text as decided_by, s.decided_at, s.decided_via
      from review_items i
      join review_item_states s on s.item_id = i.id
      join integrations ig on ig.id = i.integration_id
     where i.campaign_id = ${campaignId}
       and ${filter.itemIds ? sql`i.id = any(${filter.itemIds}::bigint[])` : sql`true`}
       and ${filter.reviewerId ? sql`s.reviewer_id = ${filter.reviewerId}` : sql`true`}
       and ${filter.remediation ? sql`s.decision in ('revoke', 'reduce')` : sql`true`}
     order by i.id`.execute(db);
  const reviewer = (id: string): ReviewerInfo => {
    const r = reviewers.get(id);
    if (!r) throw new Error(`reviewer ${id} of campaign ${campaignId} not loaded`);
    return r;
  };
  return rows.rows.map((r) => ({
    id: r.id,
    campaign_id: r.campaign_id,
    integration: r.integration,
    integration_kind: r.integration_kind,
    run_id: r.run_id,
    principal_id: r.principal_id,
    principal_kind: r.principal_kind,
    principal_external_id: r.principal_external_id,
    principal_name: r.principal_name,
    principal_handle: r.principal_handle,
    account_id: r.account_id,
    workspace_role: r.workspace_role,
    resource_id: r.resource_id,
    resource_kind: r.resource_kind,
    resource_external_id: r.resource_external_id,
    resource_handle: r.resource_handle,
    resource_name: r.resource_name,
    project_handle: r.project_handle,
    permission: r.permission,
    paths: json(r.paths),
    first_seen_run: r.first_seen_run,
    first_seen_at: r.first_seen_at ? new Date(r.first_seen_at).toISOString() : null,
    flags: json(r.flags),
    assigned: reviewer(r.assigned_id),
    reviewer_rule: r.reviewer_rule,
    reviewer_note: r.reviewer_note,
    change: r.change,
    change_causes: r.change_causes === null ? null : json(r.change_causes),
    base_item_id: r.base_item_id,
    carried_forward: r.carried_forward,
    identity: r.identity === null ? null : json(r.identity),
    reviewer: reviewer(r.reviewer_id),
    decision: r.decision,
    reduce_to: r.reduce_to,
    comment: r.comment,
    decided_by: r.decided_by ? reviewer(r.decided_by) : null,
    decided_at: r.decided_at ? new Date(r.decided_at).toISOString() : null,
    decided_via: r.decided_via,
  }));
}
