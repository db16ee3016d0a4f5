import { type Kysely, sql } from 'kysely';
import { type AccessRules, type PathJson, accessRowsOf, toAccessRow } from '../../reports/access.ts';
import { pathText } from '../../reports/effective-access-changes.ts';
import { finishedRuns } from '../../reports/context.ts';
import type { RunInfo } from '../../reports/types.ts';
import type { Database, Integration } from '../db/types.ts';
import { presentAt, principalsAt, resourcesAt } from '../access/history.ts';
import { anyImplicit } from '../access/paths.ts';
import { connectorOf, permissionModelOf } from '../connectors.ts';
import type { RemediationChange, RemediationGroup, RemediationRequest } from '../interfaces.ts';
import { type ItemView, reviewerLabel } from './columns.ts';
import { findCampaign } from './sql/campaigns.ts';
import { loadItemViews } from './sql/items.ts';
import { campaignReviewers } from './sql/reviewers.ts';
import { contextAt, rulesOf } from './snapshot.ts';
import type { RemediationStatus } from './types.ts';

export type { RemediationChange } from '../interfaces.ts';

type Db = Kysely<Database>;

export interface RemediationTask {
  item: ItemView;
  action: 'revoke' | 'reduce';
  target: string | null;
  changes: RemediationChange[];
  status: RemediationStatus;
  /** The run that shows the task done (the first of the runs since which it has held) or moot. */
  verifiedRun: string | null;
  verifiedAt: string | null;
  /** Effective permission at the latest run, when still present. */
  permissionNow: string | null;
  note: string;
}

/** A group at the item's run: the other members and the grants it holds (what a change to its grant also touches). */
export type GroupFacts = RemediationGroup;

/**
 * What to change in the source so that `item` loses its access (revoke) or keeps at most `target`
 * (reduce): one change per path that gives more than that. The wording, UI pages and API calls are the
 * connector's (`ConnectorDefinition.remediation`); a connector without one gets what its model says
 * (the path's `undo`) and where to look. Pure.
 */
export function remediationChanges(item: ItemView, target: string | null, ctx: { kind: string; workspace: string | null; apiBase: string; groups: ReadonlyMap<string, GroupFacts>; rank: AccessRules['rank'] }): RemediationChange[] {
  const paths = item.paths
    .filter((p: PathJson) => target === null || ctx.rank(item.resource_kind, p.permission) > ctx.rank(item.resource_kind, target))
    .map((p) => ({ kind: p.kind, label: pathText(p), granted: p.granted, group: p.group, via: p.project, undo: p.undo ?? null }));
  const request: RemediationRequest = {
    principal: { kind: item.principal_kind, externalId: item.principal_external_id, name: item.principal_name },
    resource: { kind: item.resource_kind, externalId: item.resource_external_id, handle: item.resource_handle, parentHandle: item.project_handle },
    target,
    paths,
    integration: { workspace: ctx.workspace, baseUrl: ctx.apiBase },
    groups: ctx.groups,
  };
  const definition = connectorOf(ctx.kind);
  if (definition.remediation) return definition.remediation(request);
  const where = `${definition.title}: the ${item.resource_kind} settings of ${item.resource_handle ?? item.resource_external_id}`;
  return paths.map((p) => ({ path: p.label, change: p.undo ?? `remove the ${p.kind} access (${p.label})`, ui: where, api: null, alsoAffects: null, alternative: null }));
}

/** Whether the access at a run satisfies the decision: gone (revoke), or at most the target (reduce), by the kind's ladder. */
export function satisfied(action: 'revoke' | 'reduce', target: string | null, permissionAtRun: string | null, rank: (permission: string) => number): boolean {
  if (permissionAtRun === null) return true;
  return action === 'reduce' && target !== null && rank(permissionAtRun) <= rank(target);
}

/**
 * Every revoke and reduce of a campaign, with what to change and how far later syncs show it done.
 * Verification asks the reports' derivation, as of each later run, whether the principal still holds
 * the access on the resource: done (gone, or lowered far enough; with the first run of the streak that
 * shows it), still present (with the permission now), moot (the principal or the resource is gone),
 * or open (no finished sync after the campaign's run yet).
 */
export async function remediationTasks(db: Db, ref: string, options: { now?: Date } = {}): Promise<RemediationTask[]> {
  const now = options.now ?? new Date();
  const campaign = await findCampaign(db, ref);
  const reviewers = await campaignReviewers(db, campaign.id);
  const items = await loadItemViews(db, campaign.id, new Map(reviewers.map((r) => [r.id, r])), { remediation: true });
  if (items.length === 0) return [];
  const integrations = await sql<Integration>`
    select i.* from integrations i join review_campaign_runs cr on cr.integration_id = i.id where cr.campaign_id = ${campaign.id}`.execute(db);
  const byName = new Map(integrations.rows.map((i) => [i.name, i]));
  const runsOf = new Map<string, RunInfo[]>();
  for (const i of integrations.rows) runsOf.set(i.id, await finishedRuns(db, i.id));

  const groups = await groupFacts(db, items);
  const present = presenceAt(db, items);
  const accessCache = new Map<string, Map<string, string>>();
  /** What a principal holds at a run, by resource; for anyone (implicit access), the resources it still applies to. */
  const accessAt = async (integration: Integration, run: RunInfo, item: ItemView): Promise<Map<string, string>> => {
    const key = `${run.id} ${item.principal_id ?? `anyone ${item.resource_id}`}`;
    let found = accessCache.get(key);
    if (!found) {
      if (item.principal_id === null) {
        const model = permissionModelOf(integration.kind);
        const rows = await sql<{ id: string }>`
          select r.id::text as id from ${resourcesAt(integration.id, run.id)} r where r.id = ${item.resource_id} and ${anyImplicit(model, 'r')}`.execute(db);
        found = new Map(rows.rows.map((r) => [r.id, item.permission]));
      } else {
        const runs = new Map((runsOf.get(integration.id) ?? []).map((r) => [r.id, r]));
        const ctx = contextAt(db, integration, run, runs, now);
        const rules = rulesOf(integration.kind);
        const rows = await accessRowsOf(ctx, { order: 'principal', usersOnly: false, principalId: item.principal_id });
        found = new Map(rows.map((r) => toAccessRow(r, rules)).map((r) => [r.resource_id, r.permission]));
      }
      accessCache.set(key, found);
    }
    return found;
  };

  const tasks: RemediationTask[] = [];
  for (const item of items) {
    const integration = byName.get(item.integration) as Integration;
    const rules = rulesOf(integration.kind);
    const rank = (permission: string): number => rules.rank(item.resource_kind, permission);
    const action = item.decision as 'revoke' | 'reduce';
    const target = action === 'reduce' ? item.reduce_to : null;
    const changes = remediationChanges(item, target, { kind: integration.kind, workspace: integration.workspace, apiBase: integration.base_url, groups: groups.get(item.run_id) ?? new Map(), rank: rules.rank });
    const later = (runsOf.get(integration.id) ?? []).filter((r) => BigInt(r.id) > BigInt(item.run_id));
    const task: RemediationTask = { item, action, target, changes, status: 'open', verifiedRun: null, verifiedAt: null, permissionNow: null, note: `no finished sync since run ${item.run_id}: run roster sync to verify` };
    const latest = later[later.length - 1];
    if (latest) {
      const goneAt = async (run: RunInfo): Promise<string | null> => {
        const p = await present(integration.id, run.id);
        if (item.principal_id !== null && !p.principals.has(item.principal_id)) return item.principal_kind === 'user' ? 'user' : item.principal_kind.replace('_', ' ');
        if (!p.resources.has(item.resource_id)) return item.resource_kind;
        return null;
      };
      const gone = await goneAt(latest);
      if (gone) {
        // The first run of the absence that lasts to the latest one.
        let first = latest;
        for (let i = later.length - 2; i >= 0; i--) {
          const run = later[i] as RunInfo;
          if ((await goneAt(run)) === null) break;
          first = run;
        }
        task.status = 'moot';
        task.verifiedRun = first.id;
        task.verifiedAt = first.finishedAt.toISOString();
        task.note = `the ${gone} is gone since run ${first.id}: nothing left to change`;
      } else {
        const held = (await accessAt(integration, latest, item)).get(item.resource_id) ?? null;
        if (satisfied(action, target, held, rank)) {
          let first = latest;
          for (let i = later.length - 2; i >= 0; i--) {
            const run = later[i] as RunInfo;
            if ((await goneAt(run)) !== null || !satisfied(action, target, (await accessAt(integration, run, item)).get(item.resource_id) ?? null, rank)) break;
            first = run;
          }
          task.status = 'done';
          task.verifiedRun = first.id;
          task.verifiedAt = first.finishedAt.toISOString();
          task.permissionNow = held;
          task.note = held === null ? `the access is gone since run ${first.id}` : `lowered to ${held} since run ${first.id}`;
        } else {
          task.status = 'still_present';
          task.permissionNow = held;
          task.note = `still ${held} at run ${latest.id} (${latest.finishedAt.toISOString()})`;
        }
      }
    }
    tasks.push(task);
  }
  return tasks;
}

/** The groups named by the tasks' paths, with their members and grant counts at each campaign run. */
async function groupFacts(db: Db, items: readonly ItemView[]): Promise<Map<string, Map<string, GroupFacts>>> {
  const out = new Map<string, Map<string, GroupFacts>>();
  const wanted = new Map<string, { groups: Set<string> }>();
  for (const item of items) {
    const groups = item.paths.map((p) => p.group).filter((g): g is string => g !== null);
    if (groups.length === 0) continue;
    const entry = wanted.get(item.run_id) ?? { groups: new Set<string>() };
    for (const g of groups) entry.groups.add(g);
    wanted.set(item.run_id, entry);
  }
  for (const [runId, w] of wanted) {
    const rows = await sql<{ group: string; member: string | null; name: string | null; grants: number }>`
      select gp.handle as group, u.external_id as member, coalesce(u.display_name, u.external_id) as name,
             (select count(*) from grants g where g.principal_id = gp.id and ${presentAt('g', runId)})::int as grants
        from principals gp
        left join memberships m on m.group_id = gp.id and ${presentAt('m', runId)}
        left join principals u on u.id = m.member_id and ${presentAt('u', runId)}
       where gp.kind = 'group' and gp.handle = any(${[...w.groups]}::text[])
         and gp.integration_id = (select integration_id from sync_runs where id = ${runId})
       order by gp.handle, u.display_name, u.external_id`.execute(db);
    const map = new Map<string, { members: Array<{ externalId: string; name: string }>; grants: number }>();
    for (const r of rows.rows) {
      const facts = map.get(r.group) ?? { members: [], grants: r.grants };
      if (r.member !== null) facts.members.push({ externalId: r.member, name: r.name ?? r.member });
      map.set(r.group, facts);
    }
    out.set(runId, map);
  }
  return out;
}

/**
 * Which of the items' principals and resources are present at the end of a run, read through their
 * versions (a user who left and came back has a gap), cached per run.
 */
function presenceAt(db: Db, items: readonly ItemView[]): (integrationId: string, runId: string) => Promise<{ principals: Set<string>; resources: Set<string> }> {
  const cache = new Map<string, Promise<{ principals: Set<string>; resources: Set<string> }>>();
  const principalIds = [...new Set(items.map((i) => i.principal_id).filter((id): id is string => id !== null))];
  const resourceIds = [...new Set(items.map((i) => i.resource_id))];
  return (integrationId, runId) => {
    let found = cache.get(runId);
    if (!found) {
      found = (async () => {
        const rows = await sql<{ t: string; id: string }>`
          select 'p' as t, p.id::text as id from ${principalsAt(integrationId, runId)} p where p.id = any(${principalIds}::bigint[])
          union all
          select 'r', r.id::text from ${resourcesAt(integrationId, runId)} r where r.id = any(${resourceIds}::bigint[])`.execute(db);
        return { principals: new Set(rows.rows.filter((r) => r.t === 'p').map((r) => r.id)), resources: new Set(rows.rows.filter((r) => r.t === 'r').map((r) => r.id)) };
      })();
      cache.set(runId, found);
    }
    return found;
  };
}

export function remediationCounts(tasks: readonly RemediationTask[]): Record<RemediationStatus, number> {
  const counts: Record<RemediationStatus, number> = { open: 0, done: 0, still_present: 0, moot: 0 };
  for (const t of tasks) counts[t.status] += 1;
  return counts;
}

/** Flat rows for CSV (and the evidence bundle): one per task, its changes joined. */
export function remediationRow(t: RemediationTask): Record<string, string> {
  const i = t.item;
  return {
    item_id: i.id,
    integration: i.integration,
    principal_kind: i.principal_kind,
    principal_id: i.principal_external_id ?? '',
    principal_name: i.principal_name ?? '',
    resource_kind: i.resource_kind,
    resource: i.resource_handle ?? '',
    resource_name: i.resource_name,
    project: i.project_handle ?? '',
    permission: i.permission,
    action: t.action === 'reduce' ? `reduce:${t.target ?? ''}` : 'revoke',
    decided_by: i.decided_by ? reviewerLabel(i.decided_by) : i.decided_via === 'policy' ? 'undecided policy' : '',
    decided_at: i.decided_at ?? '',
    comment: i.comment ?? '',
    changes: t.changes.map((c) => c.change).join(' | '),
    ui: t.changes.map((c) => c.ui).join(' | '),
    api: t.changes.map((c) => c.api ?? '(no API: use the UI)').join(' | '),
    also_affects: t.changes.map((c) => c.alsoAffects).filter((x) => x).join(' | '),
    alternative: t.changes.map((c) => c.alternative).filter((x) => x).join(' | '),
    status: t.status,
    verified_run: t.verifiedRun ?? '',
    verified_at: t.verifiedAt ?? '',
    permission_now: t.permissionNow ?? '',
    note: t.note,
  };
}

export const REMEDIATION_COLUMNS = [
  'item_id', 'integration', 'principal_kind', 'principal_id', 'principal_name', 'resource_kind', 'resource', 'resource_name', 'project', 'permission', 'action',
  'decided_by', 'decided_at', 'comment', 'changes', 'ui', 'api', 'also_affects', 'alternative', 'status', 'verified_run', 'verified_at', 'permission_now', 'note',
] as const;
