import { type Kysely, type RawBuilder, type Transaction, sql } from 'kysely';
import type { Database } from '../db/types.ts';
import { presentAt } from './history.ts';

type Tx = Transaction<Database> | Kysely<Database>;

export interface AccessPathRow {
  user_id: string;
  repository_id: string;
  path_kind: 'direct' | 'group' | 'project' | 'project-group' | 'workspace-owner';
  via_group_id: string | null;
  via_project_id: string | null;
  permission: 'read' | 'write' | 'admin';
  /** The grant this path rests on (its own permission may be `create-repo` or `owner`). */
  grant_id: string;
  /** The group membership this path goes through (`group` and `project-group` paths), else null. */
  membership_id: string | null;
}

/** SQL rank of a repository permission, for max() across paths. */
export const repositoryPermissionRank = (column: RawBuilder<unknown>) =>
  sql`(case ${column} when 'read' then 1 when 'write' then 2 when 'admin' then 3 end)`;

/**
 * Every path by which a user holds a permission on a repository, derived from the explicit grants
 * and memberships present at the end of `runId` (or now when null). This single query is what the
 * post-sync materialization and every `--as-of` report use, so they can never disagree.
 *
 * Bitbucket Cloud semantics: a project permission applies to every repository in the project
 * (`create-repo` is write on repositories); group grants reach the group's members; workspace owners
 * are admin on every repository. The highest permission over a user's paths is their access.
 */
export function accessPathsQuery(integrationId: string, runId: string | null): RawBuilder<AccessPathRow> {
  return sql<AccessPathRow>`
    with
      users as (select p.id from principals p where p.integration_id = ${integrationId} and p.kind = 'user' and ${presentAt('p', runId)}),
      groups as (select p.id from principals p where p.integration_id = ${integrationId} and p.kind = 'group' and ${presentAt('p', runId)}),
      repos as (select r.id, r.parent_id as project_id from resources r where r.integration_id = ${integrationId} and r.kind = 'repository' and ${presentAt('r', runId)}),
      projects as (select r.id from resources r where r.integration_id = ${integrationId} and r.kind = 'project' and ${presentAt('r', runId)}),
      g as (select g.id, g.principal_id, g.resource_id, g.resource_kind, g.permission from grants g where g.integration_id = ${integrationId} and ${presentAt('g', runId)}),
      m as (select m.id, m.group_id, m.member_id from memberships m where m.integration_id = ${integrationId} and ${presentAt('m', runId)})
    select g.principal_id::text as user_id, g.resource_id::text as repository_id, 'direct' as path_kind,
           null::text as via_group_id, null::text as via_project_id, g.permission,
           g.id::text as grant_id, null::text as membership_id
      from g join users u on u.id = g.principal_id join repos on repos.id = g.resource_id
     where g.resource_kind = 'repository'
    union all
    select m.member_id::text, g.resource_id::text, 'group', g.principal_id::text, null::text, g.permission, g.id::text, m.id::text
      from g join groups gr on gr.id = g.principal_id join m on m.group_id = g.principal_id
      join users u on u.id = m.member_id join repos on repos.id = g.resource_id
     where g.resource_kind = 'repository'
    union all
    select g.principal_id::text, repos.id::text, 'project', null::text, g.resource_id::text,
           case g.permission when 'create-repo' then 'write' else g.permission end, g.id::text, null::text
      from g join users u on u.id = g.principal_id join projects pr on pr.id = g.resource_id
      join repos on repos.project_id = g.resource_id
     where g.resource_kind = 'project'
    union all
    select m.member_id::text, repos.id::text, 'project-group', g.principal_id::text, g.resource_id::text,
           case g.permission when 'create-repo' then 'write' else g.permission end, g.id::text, m.id::text
      from g join groups gr on gr.id = g.principal_id join m on m.group_id = g.principal_id
      join users u on u.id = m.member_id join projects pr on pr.id = g.resource_id
      join repos on repos.project_id = g.resource_id
     where g.resource_kind = 'project'
    union all
    select g.principal_id::text, repos.id::text, 'workspace-owner', null::text, null::text, 'admin', g.id::text, null::text
      from g join users u on u.id = g.principal_id cross join repos
     where g.resource_kind = 'workspace' and g.permission = 'owner'`;
}

/** Replaces the materialized effective access of an integration with the state at the end of `runId`. */
export async function rebuildEffectiveAccess(trx: Tx, integrationId: string, runId: string): Promise<number> {
  await sql`delete from effective_access where integration_id = ${integrationId}`.execute(trx);
  const result = await sql`
    insert into effective_access (integration_id, run_id, user_id, repository_id, path_kind, via_group_id, via_project_id, permission)
    select ${integrationId}, ${runId}, user_id::bigint, repository_id::bigint, path_kind, via_group_id::bigint, via_project_id::bigint, permission
    from (${accessPathsQuery(integrationId, null)}) paths`.execute(trx);
  return Number(result.numAffectedRows ?? 0);
}

export interface ReconcileOutcome {
  /** False when Bitbucket's effective permissions were not read cleanly in this run. */
  reconciled: boolean;
  findings: number;
}

/**
 * Compares Roster's derivation with the permissions Bitbucket itself reports
 * (`/workspaces/{ws}/permissions/repositories`), which lists explicit privileges only: the implicit
 * admin of workspace owners is left out on both sides. Every disagreement becomes a finding.
 */
export async function reconcileReportedAccess(trx: Tx, integrationId: string, runId: string): Promise<ReconcileOutcome> {
  await sql`delete from findings where integration_id = ${integrationId} and run_id = ${runId}`.execute(trx);
  const read = await sql<{ n: number }>`
    select count(*)::int as n from sync_scopes where run_id = ${runId} and scope = 'reported-access' and status = 'complete'`.execute(trx);
  if ((read.rows[0]?.n ?? 0) === 0) return { reconciled: false, findings: 0 };
  const result = await sql`
    insert into findings (integration_id, run_id, kind, user_id, repository_id, roster_permission, source_permission, detail)
    with derived as (
      select user_id::bigint as user_id, repository_id::bigint as repository_id, max(${repositoryPermissionRank(sql`permission`)}) as rank
        from effective_access where integration_id = ${integrationId} and path_kind <> 'workspace-owner'
       group by user_id, repository_id
    ), reported as (
      select user_id, resource_id as repository_id, max(${repositoryPermissionRank(sql`permission`)}) as rank
        from reported_access where integration_id = ${integrationId} and removed_run is null
       group by user_id, resource_id
    ), compared as (
      select coalesce(d.user_id, r.user_id) as user_id, coalesce(d.repository_id, r.repository_id) as repository_id,
             d.rank as roster_rank, r.rank as source_rank
        from derived d full outer join reported r on r.user_id = d.user_id and r.repository_id = d.repository_id
       where d.rank is distinct from r.rank
    )
    select ${integrationId}, ${runId},
           case when source_rank is null then 'missing_in_source' when roster_rank is null then 'missing_in_roster' else 'permission_mismatch' end,
           user_id, repository_id,
           (array['read', 'write', 'admin'])[roster_rank], (array['read', 'write', 'admin'])[source_rank],
           case when source_rank is null then 'Roster derives access from explicit grants that Bitbucket does not report as effective'
                when roster_rank is null then 'Bitbucket reports effective access that no grant Roster read explains (a scope may not have been covered)'
                else 'Roster and Bitbucket disagree on the effective permission' end
      from compared`.execute(trx);
  return { reconciled: true, findings: Number(result.numAffectedRows ?? 0) };
}
