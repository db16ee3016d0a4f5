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

/**
 * Ways Roster's derivation and Bitbucket's own listing can differ that a documented reading of the
 * listing explains. Bitbucket does not document whether `/workspaces/{ws}/permissions/repositories`
 * includes the implicit admin of workspace owners, or access inherited from project permissions; each
 * reading is tried, and a pair is explained when one of them gives exactly the permission Bitbucket
 * lists. Only pairs no reading explains are findings.
 */
export const RECONCILE_CLASSES = {
  'owner-implicit-admin': "Bitbucket lists workspace owners' implicit admin",
  'project-inheritance-not-listed': 'Bitbucket leaves out access inherited from project permissions',
  'owner-admin-and-no-project-inheritance': "Bitbucket lists owners' implicit admin and leaves out project-inherited access",
} as const;
export type ReconcileClass = keyof typeof RECONCILE_CLASSES;

export interface ReconcileOutcome {
  /** False when Bitbucket's effective permissions were not read cleanly in this run. */
  reconciled: boolean;
  /** (user, repository) pairs either side has. */
  compared: number;
  /** Pairs on which both agree under the expected reading (explicit paths, project inheritance included, owners left out). */
  agree: number;
  /** Pairs that differ only in a way a reading of Bitbucket's listing explains, by class. */
  explained: Partial<Record<ReconcileClass, number>>;
  /** Pairs nothing explains: each one is a finding. */
  findings: number;
}

/**
 * Compares Roster's derivation with the permissions Bitbucket itself reports
 * (`/workspaces/{ws}/permissions/repositories`). Each disagreement is classified by the path that
 * explains it (see RECONCILE_CLASSES): an explained class is one summary count, and only what no
 * reading explains becomes a finding — so an undocumented detail of Bitbucket's listing cannot turn
 * one reading into thousands of findings, and a real disagreement is never hidden among them.
 */
export async function reconcileReportedAccess(trx: Tx, integrationId: string, runId: string): Promise<ReconcileOutcome> {
  await sql`delete from findings where integration_id = ${integrationId} and run_id = ${runId}`.execute(trx);
  const read = await sql<{ n: number }>`
    select count(*)::int as n from sync_scopes where run_id = ${runId} and scope = 'reported-access' and status = 'complete'`.execute(trx);
  if ((read.rows[0]?.n ?? 0) === 0) return { reconciled: false, compared: 0, agree: 0, explained: {}, findings: 0 };
  const rank = repositoryPermissionRank(sql`permission`);
  const result = await sql<{ class: string; n: number }>`
    with derived as (
      select user_id::bigint as user_id, repository_id::bigint as repository_id,
             max(${rank}) filter (where path_kind <> 'workspace-owner') as explicit_rank,
             max(${rank}) as all_rank,
             max(${rank}) filter (where path_kind in ('direct', 'group')) as direct_rank,
             max(${rank}) filter (where path_kind in ('direct', 'group', 'workspace-owner')) as direct_owner_rank
        from effective_access where integration_id = ${integrationId}
       group by user_id, repository_id
    ), reported as (
      select user_id, resource_id as repository_id, max(${rank}) as rank
        from reported_access where integration_id = ${integrationId} and removed_run is null
       group by user_id, resource_id
    ), classified as (
      select coalesce(d.user_id, r.user_id) as user_id, coalesce(d.repository_id, r.repository_id) as repository_id,
             d.explicit_rank as roster_rank, r.rank as source_rank,
             case when r.rank is not distinct from d.explicit_rank then 'agree'
                  when r.rank is not distinct from d.all_rank then 'owner-implicit-admin'
                  when r.rank is not distinct from d.direct_rank then 'project-inheritance-not-listed'
                  when r.rank is not distinct from d.direct_owner_rank then 'owner-admin-and-no-project-inheritance'
                  else 'unexplained' end as class
        from derived d full outer join reported r on r.user_id = d.user_id and r.repository_id = d.repository_id
    ), inserted as (
      insert into findings (integration_id, run_id, kind, user_id, repository_id, roster_permission, source_permission, detail)
      select ${integrationId}, ${runId},
             case when source_rank is null then 'missing_in_source' when roster_rank is null then 'missing_in_roster' else 'permission_mismatch' end,
             user_id, repository_id,
             (array['read', 'write', 'admin'])[roster_rank], (array['read', 'write', 'admin'])[source_rank],
             case when source_rank is null then 'Roster derives access from explicit grants that Bitbucket does not report as effective'
                  when roster_rank is null then 'Bitbucket reports effective access that no grant Roster read explains (a scope may not have been covered)'
                  else 'Roster and Bitbucket disagree on the effective permission, and no reading of Bitbucket''s listing explains it' end
        from classified where class = 'unexplained'
      returning 1
    )
    select class, count(*)::int as n from classified group by class`.execute(trx);
  const outcome: ReconcileOutcome = { reconciled: true, compared: 0, agree: 0, explained: {}, findings: 0 };
  for (const { class: cls, n } of result.rows) {
    outcome.compared += n;
    if (cls === 'agree') outcome.agree = n;
    else if (cls === 'unexplained') outcome.findings = n;
    else outcome.explained[cls as ReconcileClass] = n;
  }
  return outcome;
}

/** The reconciliation in words, for the run summary: one line per explained class, then the findings. */
export function describeReconciliation(outcome: ReconcileOutcome): string {
  if (!outcome.reconciled) return "Bitbucket's effective permissions were not read in this run, so no reconciliation.";
  const n = (k: number) => k.toLocaleString('en-US');
  const parts = [`Reconciliation with Bitbucket's effective permissions: ${n(outcome.agree)} of ${n(outcome.compared)} user-repository pairs agree`];
  for (const [cls, count] of Object.entries(outcome.explained) as Array<[ReconcileClass, number]>) {
    parts.push(`${n(count)} differ only because ${RECONCILE_CLASSES[cls].replace(/^B/, 'b')}`);
  }
  parts.push(`${n(outcome.findings)} ${outcome.findings === 1 ? 'disagreement' : 'disagreements'} nothing explains${outcome.findings > 0 ? ' (see the findings of this run)' : ''}`);
  return `${parts.join('; ')}.`;
}
