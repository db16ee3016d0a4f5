import { type Kysely, sql } from 'kysely';
import { type AccessRules, type PathJson, accessQuery, toAccessRow } from '../../reports/access.ts';
import { pathText } from '../../reports/effective-access-changes.ts';
import { finishedRuns } from '../../reports/context.ts';
import type { RunInfo } from '../../reports/types.ts';
import type { Database, Integration } from '../db/types.ts';
import { presentAt, principalsAt, resourcesAt } from '../access/history.ts';
import { anyImplicit } from '../access/paths.ts';
import { permissionModelOf } from '../connectors.ts';
import { type ItemView, reviewerLabel } from './columns.ts';
import { findCampaign } from './sql/campaigns.ts';
import { loadItemViews } from './sql/items.ts';
import { campaignReviewers } from './sql/reviewers.ts';
import { contextAt, rulesOf } from './snapshot.ts';
import type { RemediationStatus } from './types.ts';
import { plural } from '../text.ts';

type Db = Kysely<Database>;

/** One thing to change in Bitbucket for one path of an item's access. */
export interface RemediationChange {
  /** The path it takes away, as the reports print it. */
  path: string;
  change: string;
  /** Where in Bitbucket's web UI. */
  ui: string;
  /** The REST call, or null where Bitbucket has none. */
  api: string | null;
  /** Who or what else the change touches (a group's other members, a project's other repositories). */
  alsoAffects: string | null;
  /** Another way to the same end, with its own side effects (e.g. remove the user from the group instead). */
  alternative: string | null;
}

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

export interface GroupFacts {
  /** Display names of the other members (everyone but the item's principal), at the campaign's run. */
  members: Array<{ externalId: string; name: string }>;
  /** Grants the group holds at that run. */
  grants: number;
}


/**
 * What to change in Bitbucket so that `item` loses its access (revoke) or keeps at most `target`
 * (reduce): one change per path that gives more than that, naming the grant or membership, the UI
 * page and the API call. Pure.
 */
export function remediationChanges(item: ItemView, target: string | null, ctx: { workspace: string; apiBase: string; groups: ReadonlyMap<string, GroupFacts>; rank: AccessRules['rank'] }): RemediationChange[] {
  const ws = ctx.workspace;
  const api = ctx.apiBase.replace(/\/+$/, '');
  const who = item.principal_name ?? item.principal_external_id ?? 'anyone';
  const uuid = encodeURIComponent(item.principal_external_id ?? '');
  const keyId = item.principal_external_id ?? '';
  const rank = (p: string): number => ctx.rank(item.resource_kind, p);
  const web = 'https://bitbucket.org';
  const slug = item.resource_handle ?? item.resource_external_id;
  const userCall = (base: string): string => (target === null ? `DELETE ${base}` : `PUT ${base} {"permission":"${target}"}`);
  const otherMembers = (group: string | null): string | null => {
    const facts = group === null ? undefined : ctx.groups.get(group);
    if (!facts) return null;
    const others = facts.members.filter((m) => m.externalId !== item.principal_external_id);
    if (others.length === 0) return `group ${group} has no other member`;
    const names = others.slice(0, 10).map((m) => m.name);
    return `changing the grant of group ${group} also changes it for its ${plural(others.length, 'other member')}: ${names.join(', ')}${others.length > 10 ? ', …' : ''}`;
  };
  const membership = (group: string | null): string => {
    const facts = group === null ? undefined : ctx.groups.get(group);
    const g = group ?? '?';
    return `or remove ${who} from group ${g} (Workspace settings → User groups → ${g}, ${web}/${ws}/workspace/settings/groups; API: DELETE ${api}/1.0/groups/${ws}/${encodeURIComponent(g)}/members/${uuid}/), which affects only them but takes away everything the group gives them${facts ? ` (${plural(facts.grants, 'grant')})` : ''}`;
  };
  const changes: RemediationChange[] = [];
  const paths = item.paths.filter((p: PathJson) => target === null || rank(p.permission) > rank(target));
  const machine = item.principal_kind === 'deploy_key' || item.principal_kind === 'access_token';
  for (const p of paths) {
    const label = pathText(p);
    /** `remove the write permission of X on Y`, or `lower the write permission of X on Y to read`. */
    const grantChange = (holder: string, on: string): string => (target === null ? `remove the ${p.granted} permission of ${holder} on ${on}` : `lower the ${p.granted} permission of ${holder} on ${on} to ${target}`);
    const projectKey = p.project ?? item.project_handle ?? '?';
    const entry = (change: string, ui: string, call: string | null, alsoAffects: string | null = null, alternative: string | null = null): void => {
      changes.push({ path: label, change, ui, api: call, alsoAffects, alternative });
    };
    if (machine && item.principal_kind === 'access_token') {
      entry(`revoke the access token ${who}`, `the ${item.resource_kind} settings → Access tokens`, null, 'every use of the token stops');
      continue;
    }
    switch (p.kind) {
      case 'direct':
        if (item.principal_kind === 'deploy_key') {
          if (item.resource_kind === 'project') entry(`delete the deploy key ${who} from project ${slug}`, `Project settings → Access keys (${web}/${ws}/workspace/projects/${slug}/settings/access-keys)`, `DELETE ${api}/2.0/workspaces/${ws}/projects/${slug}/deploy-keys/${keyId}`);
          else entry(`delete the deploy key ${who} from repository ${slug}`, `Repository settings → Access keys (${web}/${ws}/${slug}/admin/access-keys/)`, `DELETE ${api}/2.0/repositories/${ws}/${slug}/deploy-keys/${keyId}`);
        } else if (item.resource_kind === 'project') {
          entry(grantChange(who, `project ${slug}`), `Project settings → Project permissions (${web}/${ws}/workspace/projects/${slug}/settings/permissions)`, userCall(`${api}/2.0/workspaces/${ws}/projects/${slug}/permissions-config/users/${uuid}`), `it applies to every repository in project ${slug}`);
        } else {
          entry(grantChange(who, `repository ${slug}`), `Repository settings → Repository permissions (${web}/${ws}/${slug}/admin/permissions)`, userCall(`${api}/2.0/repositories/${ws}/${slug}/permissions-config/users/${uuid}`));
        }
        break;
      case 'group': {
        const g = p.group ?? '?';
        const base = item.resource_kind === 'project' ? `${api}/2.0/workspaces/${ws}/projects/${slug}/permissions-config/groups/${encodeURIComponent(g)}` : `${api}/2.0/repositories/${ws}/${slug}/permissions-config/groups/${encodeURIComponent(g)}`;
        const ui = item.resource_kind === 'project' ? `Project settings → Project permissions (${web}/${ws}/workspace/projects/${slug}/settings/permissions)` : `Repository settings → Repository permissions (${web}/${ws}/${slug}/admin/permissions)`;
        entry(grantChange(`group ${g}`, `${item.resource_kind} ${slug}`), ui, userCall(base), otherMembers(p.group), membership(p.group));
        break;
      }
      case 'project':
        if (item.principal_kind === 'deploy_key') {
          entry(`delete the deploy key ${who} from project ${projectKey}`, `Project settings → Access keys (${web}/${ws}/workspace/projects/${projectKey}/settings/access-keys)`, `DELETE ${api}/2.0/workspaces/${ws}/projects/${projectKey}/deploy-keys/${keyId}`, `the key loses every repository of project ${projectKey}`);
        } else {
          entry(grantChange(who, `project ${projectKey}`), `Project settings → Project permissions (${web}/${ws}/workspace/projects/${projectKey}/settings/permissions)`, userCall(`${api}/2.0/workspaces/${ws}/projects/${projectKey}/permissions-config/users/${uuid}`), `it applies to every repository in project ${projectKey}, not only ${slug}`);
        }
        break;
      case 'project-group': {
        const g = p.group ?? '?';
        entry(
          grantChange(`group ${g}`, `project ${projectKey}`),
          `Project settings → Project permissions (${web}/${ws}/workspace/projects/${projectKey}/settings/permissions)`,
          userCall(`${api}/2.0/workspaces/${ws}/projects/${projectKey}/permissions-config/groups/${encodeURIComponent(g)}`),
          [otherMembers(p.group), `it applies to every repository in project ${projectKey}`].filter((x) => x !== null).join('; '),
          membership(p.group),
        );
        break;
      }
      case 'workspace-owner':
        entry(`take away ${who}'s workspace admin role (owners administer every project and repository)`, `Workspace settings → User directory (${web}/${ws}/workspace/settings/user-directory), or the user groups that administer the workspace`, null, 'they lose admin on every project and repository of the workspace');
        break;
      case 'workspace-role':
        if (target === null) entry(`remove ${who} from workspace ${ws}`, `Workspace settings → User directory (${web}/${ws}/workspace/settings/user-directory)`, null, 'they lose every access in the workspace (Bitbucket\'s REST API has no call to remove a member)');
        else entry(`change ${who}'s workspace role from ${p.granted} to ${target}`, `Workspace settings → User directory (${web}/${ws}/workspace/settings/user-directory), or the user groups that administer the workspace`, null, null);
        break;
      case 'public':
        entry(p.undo ?? `make ${slug} private`, `Repository settings → Repository details: "This is a private repository" (${web}/${ws}/${slug}/admin)`, `PUT ${api}/2.0/repositories/${ws}/${slug} {"is_private":true}`, 'anyone who is not given access by a grant, a group or the workspace loses read access (forks made while it was public stay)');
        break;
      case 'workspace-owner-group':
        entry(`take ${who} out of group ${p.group ?? '?'}, which gives the workspace admin role`, `Workspace settings → User groups → ${p.group ?? '?'} (${web}/${ws}/workspace/settings/groups)`, `DELETE ${api}/1.0/groups/${ws}/${encodeURIComponent(p.group ?? '?')}/members/${uuid}/`, 'they lose everything the group gives them, and admin on every project and repository of the workspace');
        break;
      default:
        // A path kind this version does not know: name it, what turns it off if the model says, and where to look.
        entry(p.undo ?? `remove the ${p.kind} access (${label})`, `${item.resource_kind} settings in Bitbucket (${web}/${ws}${item.resource_kind === 'repository' ? `/${slug}/admin` : '/workspace/settings'})`, null);
    }
  }
  return changes;
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
        const rows = await accessQuery(ctx, { order: 'principal', usersOnly: false, principalId: item.principal_id }).execute(db);
        found = new Map(rows.rows.map((r) => toAccessRow(r, rules)).map((r) => [r.resource_id, r.permission]));
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
    const changes = remediationChanges(item, target, { workspace: integration.workspace ?? '', apiBase: integration.base_url, groups: groups.get(item.run_id) ?? new Map(), rank: rules.rank });
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
    const map = new Map<string, GroupFacts>();
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
