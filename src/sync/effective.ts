import { type Kysely, type Transaction, sql } from 'kysely';
import type { Database } from '../db/types.ts';
import { accessPathsQuery, repositoryPermissionRank } from '../access/paths.ts';

type Tx = Transaction<Database> | Kysely<Database>;

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
