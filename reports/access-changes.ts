import { sql } from 'kysely';
import { RosterError } from '../src/errors.ts';
import { permissionModelOf } from '../src/connectors.ts';
import { PRINCIPAL_KIND_RANK, resourceKindRank, runTime } from './access.ts';
import { resolveBound } from './context.ts';
import { cursorPages } from './cursor.ts';
import type { Column, ReportContext, ReportDefinition } from './types.ts';

interface ChangeDbRow {
  run_id: string;
  change: 'granted' | 'revoked' | 'changed' | 'joined-group' | 'left-group';
  principal_kind: string;
  principal_external_id: string;
  principal_name: string | null;
  principal_handle: string | null;
  account_id: string | null;
  resource_kind: string;
  resource_handle: string | null;
  resource_name: string | null;
  resource_external_id: string;
  permission_before: string | null;
  permission_after: string | null;
  principal_removed: boolean;
  resource_removed: boolean;
}

export interface ChangeRow extends ChangeDbRow {
  changedAt: string | null;
  note: string | null;
}

/** Joins as `alias` the version of an entity current at `run`, or, if none is, the last one before it. */
function versionAt(table: 'principal_versions' | 'resource_versions', alias: string, key: string, entityId: string, run: string) {
  return sql`left join lateral (
    select v.* from ${sql.table(table)} v where ${sql.ref(`v.${key}`)} = ${sql.ref(entityId)} and v.first_seen_run <= ${sql.ref(run)}
     order by v.first_seen_run desc limit 1) ${sql.raw(alias)} on true`;
}

/** The run window of a report: changes made by runs after `since` up to and including `until`. */
export function changeWindow(ctx: ReportContext): { sinceRun: string; untilRun: string } {
  const runs = [...ctx.runs.values()];
  const sinceRun = ctx.options.since === undefined ? '0' : resolveBound(runs, ctx.options.since, '--since');
  const untilRun = ctx.options.until === undefined ? ctx.run.id : resolveBound(runs, ctx.options.until, '--until');
  if (BigInt(untilRun) < BigInt(sinceRun)) {
    throw new RosterError('input_invalid', `--until (run ${untilRun}) is before --since (run ${sinceRun}).`);
  }
  return { sinceRun, untilRun };
}

const columns: Column<ChangeRow>[] = [
  { name: 'run_id', description: 'The sync run that saw the change', value: (r) => r.run_id },
  { name: 'changed_at', description: 'When that run finished: the change happened between the previous run and this time', value: (r) => r.changedAt },
  { name: 'change', description: 'granted, revoked, changed (permission changed), joined-group, left-group', value: (r) => r.change },
  { name: 'principal_kind', description: 'user, group, deploy_key or access_token', value: (r) => r.principal_kind },
  { name: 'principal_id', description: "Bitbucket's uuid (groups: slug; deploy keys: key id)", value: (r) => r.principal_external_id },
  { name: 'principal_name', description: 'Display name', value: (r) => r.principal_name },
  { name: 'principal_handle', description: 'Nickname', value: (r) => r.principal_handle },
  { name: 'account_id', description: 'Atlassian account id', value: (r) => r.account_id },
  { name: 'resource_kind', description: 'workspace, project, repository, or group (for memberships)', value: (r) => r.resource_kind },
  { name: 'resource', description: 'Workspace slug, project key, repository slug or group slug', value: (r) => r.resource_handle },
  { name: 'resource_name', description: 'Name as Bitbucket shows it', value: (r) => r.resource_name },
  { name: 'resource_id', description: "Bitbucket's uuid of the resource (groups: slug)", value: (r) => r.resource_external_id },
  { name: 'permission_before', description: 'Permission before the change (empty when granted)', value: (r) => r.permission_before },
  { name: 'permission_after', description: 'Permission after the change (empty when revoked)', value: (r) => r.permission_after },
  { name: 'note', description: 'Why a revocation happened when Roster knows: the principal or the resource itself was removed', value: (r) => r.note },
];

export const accessChanges: ReportDefinition<ChangeRow> = {
  name: 'access-changes',
  title: 'Access changes',
  description:
    'Explicit grants given, revoked and changed, and group memberships added and removed, between two points (--since DATE|RUN, exclusive; --until DATE|RUN, inclusive), from the history of every grant and membership.',
  sort: 'run, then resource (the workspace, projects, repositories, then groups; each by key/slug), then principal (display name, then uuid)',
  options: ['asOf', 'since', 'until'],
  readsSyncedState: true,
  columns: () => columns,
  pages: async function* (ctx) {
    const I = ctx.integration.id;
    const { sinceRun: A, untilRun: B } = changeWindow(ctx);
    const query = sql<ChangeDbRow>`
      with
      added as (select * from grants where integration_id = ${I} and first_seen_run > ${A} and first_seen_run <= ${B}),
      removed as (select * from grants where integration_id = ${I} and removed_run > ${A} and removed_run <= ${B}),
      -- A permission change closes one row and opens another in the same run: report it once.
      changed as (
        select o.id as old_id, n.id as new_id from removed o join added n
          on n.principal_id = o.principal_id and n.resource_id = o.resource_id and n.first_seen_run = o.removed_run
      ),
      grant_events as (
        select n.first_seen_run as run_id, 'changed' as change, n.principal_id, n.resource_id, o.permission as permission_before, n.permission as permission_after
          from changed c join grants o on o.id = c.old_id join grants n on n.id = c.new_id
        union all
        select a.first_seen_run, 'granted', a.principal_id, a.resource_id, null, a.permission
          from added a where not exists (select 1 from changed c where c.new_id = a.id)
        union all
        select r.removed_run, 'revoked', r.principal_id, r.resource_id, r.permission, null
          from removed r where not exists (select 1 from changed c where c.old_id = r.id)
      ),
      -- Names as they were at the change: the version current at that run, or for something removed
      -- in that run the last one before. Its end tells whether the principal or resource went then.
      events as (
        select e.run_id, e.change, p.kind as principal_kind, p.external_id as principal_external_id, pv.display_name as principal_name,
               pv.handle as principal_handle, pv.account_id, res.kind as resource_kind, rv.handle as resource_handle, rv.name as resource_name,
               res.external_id as resource_external_id, e.permission_before, e.permission_after,
               (e.change = 'revoked' and pv.removed_run is not distinct from e.run_id) as principal_removed,
               (e.change = 'revoked' and rv.removed_run is not distinct from e.run_id) as resource_removed,
               ${resourceKindRank(permissionModelOf(ctx.integration.kind), sql.ref('res.kind'))} as resource_rank, res.id as rid, p.id as pid
          from grant_events e join principals p on p.id = e.principal_id join resources res on res.id = e.resource_id
          ${versionAt('principal_versions', 'pv', 'principal_id', 'p.id', 'e.run_id')}
          ${versionAt('resource_versions', 'rv', 'resource_id', 'res.id', 'e.run_id')}
        union all
        select m.first_seen_run, 'joined-group', u.kind, u.external_id, uv.display_name, uv.handle, uv.account_id,
               'group', gv.handle, gv.display_name, gp.external_id, null, 'member', false, false, 4, gp.id, u.id
          from memberships m join principals u on u.id = m.member_id join principals gp on gp.id = m.group_id
          ${versionAt('principal_versions', 'uv', 'principal_id', 'u.id', 'm.first_seen_run')}
          ${versionAt('principal_versions', 'gv', 'principal_id', 'gp.id', 'm.first_seen_run')}
         where m.integration_id = ${I} and m.first_seen_run > ${A} and m.first_seen_run <= ${B}
        union all
        select m.removed_run, 'left-group', u.kind, u.external_id, uv.display_name, uv.handle, uv.account_id,
               'group', gv.handle, gv.display_name, gp.external_id, 'member', null,
               uv.removed_run is not distinct from m.removed_run, gv.removed_run is not distinct from m.removed_run, 4, gp.id, u.id
          from memberships m join principals u on u.id = m.member_id join principals gp on gp.id = m.group_id
          ${versionAt('principal_versions', 'uv', 'principal_id', 'u.id', 'm.removed_run')}
          ${versionAt('principal_versions', 'gv', 'principal_id', 'gp.id', 'm.removed_run')}
         where m.integration_id = ${I} and m.removed_run > ${A} and m.removed_run <= ${B}
      )
      select run_id::text as run_id, change, principal_kind, principal_external_id, principal_name, principal_handle, account_id,
             resource_kind, resource_handle, resource_name, resource_external_id, permission_before, permission_after,
             principal_removed, resource_removed
        from events
       order by events.run_id, resource_rank, resource_handle collate "C", rid, ${PRINCIPAL_KIND_RANK(sql.ref('principal_kind'))},
                principal_name collate "C", principal_external_id collate "C", pid, change collate "C"`;
    for await (const page of cursorPages(ctx.db, query, ctx.pageSize)) {
      yield page.map((r) => {
        const notes: string[] = [];
        if (r.principal_removed) notes.push(`${r.principal_kind === 'user' ? 'user' : r.principal_kind.replace('_', ' ')} removed`);
        if (r.resource_removed) notes.push(`${r.resource_kind} removed`);
        return { ...r, changedAt: runTime(ctx, r.run_id), note: notes.length > 0 ? notes.join('; ') : null };
      });
    }
  },
};
