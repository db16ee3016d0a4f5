import { SKIPPED_BY_SETTING } from '../interfaces.ts';
import { type Kysely, type Transaction, sql } from 'kysely';
import type { Database } from '../db/types.ts';
import { type PathCategory, accessPaths, pathCategories, permissionRankSql } from '../access/paths.ts';
import type { PermissionModel } from '../interfaces.ts';

type Tx = Transaction<Database> | Kysely<Database>;

/**
 * Replaces the materialized effective access of an integration with the state at the end of `runId`:
 * every path by which a user holds a permission on a resource of the model's leaf kind (implicit
 * access such as a public repository's is not a user's and stays out).
 */
export async function rebuildEffectiveAccess(trx: Tx, model: PermissionModel, integrationId: string, runId: string): Promise<number> {
  await sql`delete from effective_access where integration_id = ${integrationId}`.execute(trx);
  const result = await sql`
    insert into effective_access (integration_id, run_id, user_id, repository_id, path_kind, via_group_id, via_project_id, permission)
    select ${integrationId}, ${runId}, principal_id, resource_id, path_kind, via_group_id, via_resource_id, permission
    from (${accessPaths(model, integrationId, null, { kinds: [model.leaf], holders: 'users', implicit: false })}) paths`.execute(trx);
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
  'root-roles-listed': "the source also lists the access root roles give (Bitbucket: workspace owners' implicit admin)",
  'inheritance-not-listed': 'the source leaves out inherited access (Bitbucket: from project permissions)',
  'root-roles-listed-inheritance-not-listed': 'the source lists root roles and leaves out inherited access',
} as const;
export type ReconcileClass = keyof typeof RECONCILE_CLASSES;

export interface ReconcileOutcome {
  /** False when the source lists no effective permissions of its own (a connector without an `effectiveAnswer` stream): nothing to reconcile with. */
  available: boolean;
  /** False when the source's effective permissions were not read cleanly in this run. */
  reconciled: boolean;
  /** (user, repository) pairs either side has. */
  compared: number;
  /** Pairs on which both agree under the expected reading (explicit paths, project inheritance included, owners left out). */
  agree: number;
  /** Pairs that differ only in a way a reading of Bitbucket's listing explains, by class. */
  explained: Partial<Record<ReconcileClass, number>>;
  /** Pairs nothing explains: each one is a finding. */
  findings: number;
  /** Not reconciled because a setting skipped the source's answer (reconcile: weekly or off): why. */
  skipped?: string;
}

/**
 * Compares Roster's derivation with the permissions Bitbucket itself reports
 * (`/workspaces/{ws}/permissions/repositories`). Each disagreement is classified by the path that
 * explains it (see RECONCILE_CLASSES): an explained class is one summary count, and only what no
 * reading explains becomes a finding — so an undocumented detail of Bitbucket's listing cannot turn
 * one reading into thousands of findings, and a real disagreement is never hidden among them.
 */
export async function reconcileReportedAccess(trx: Tx, model: PermissionModel, integrationId: string, runId: string, answerStream: string | null): Promise<ReconcileOutcome> {
  await sql`delete from findings where integration_id = ${integrationId} and run_id = ${runId}`.execute(trx);
  const none: ReconcileOutcome = { available: true, reconciled: false, compared: 0, agree: 0, explained: {}, findings: 0 };
  if (answerStream === null) return { ...none, available: false };
  // Only a complete, unfiltered read of the source's own answer can be compared.
  const read = await sql<{ n: number; incomplete: number; skipped: string | null }>`
    select count(*) filter (where status = 'complete' and not filtered)::int as n, count(*) filter (where status <> 'complete' or filtered)::int as incomplete,
           max(message) filter (where error_code = ${SKIPPED_BY_SETTING}) as skipped
      from sync_scopes where run_id = ${runId} and stream = ${answerStream}`.execute(trx);
  const skipped = read.rows[0]?.skipped;
  if (skipped) return { ...none, skipped };
  if ((read.rows[0]?.n ?? 0) === 0 || (read.rows[0]?.incomplete ?? 0) > 0) return none;
  const rank = permissionRankSql(model, model.leaf, sql`permission`);
  const categories = pathCategories(model);
  const kindsIn = (wanted: PathCategory[]) => sql.join([...categories].filter(([, c]) => wanted.includes(c)).map(([k]) => sql`${k}`));
  const rootRoles: PathCategory[] = ['root-role', 'root-role-group'];
  const direct: PathCategory[] = ['direct', 'root-direct', 'group'];
  const result = await sql<{ class: string; n: number }>`
    with derived as (
      select user_id::bigint as user_id, repository_id::bigint as repository_id,
             max(${rank}) filter (where path_kind not in (${kindsIn(rootRoles)})) as explicit_rank,
             max(${rank}) as all_rank,
             max(${rank}) filter (where path_kind in (${kindsIn(direct)})) as direct_rank,
             max(${rank}) filter (where path_kind in (${kindsIn([...direct, ...rootRoles])})) as direct_owner_rank
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
                  when r.rank is not distinct from d.all_rank then 'root-roles-listed'
                  when r.rank is not distinct from d.direct_rank then 'inheritance-not-listed'
                  when r.rank is not distinct from d.direct_owner_rank then 'root-roles-listed-inheritance-not-listed'
                  else 'unexplained' end as class
        from derived d full outer join reported r on r.user_id = d.user_id and r.repository_id = d.repository_id
    ), inserted as (
      insert into findings (integration_id, run_id, kind, user_id, repository_id, roster_permission, source_permission, detail)
      select ${integrationId}, ${runId},
             case when source_rank is null then 'missing_in_source' when roster_rank is null then 'missing_in_roster' else 'permission_mismatch' end,
             user_id, repository_id,
             ${ladderAt(model, 'roster_rank')}, ${ladderAt(model, 'source_rank')},
             case when source_rank is null then 'Roster derives access from explicit grants that the source does not report as effective'
                  when roster_rank is null then 'The source reports effective access that no grant Roster read explains (a scope may not have been covered)'
                  else 'Roster and the source disagree on the effective permission, and no reading of the source''s listing explains it' end
        from classified where class = 'unexplained'
      returning 1
    )
    select class, count(*)::int as n from classified group by class`.execute(trx);
  const outcome: ReconcileOutcome = { available: true, reconciled: true, compared: 0, agree: 0, explained: {}, findings: 0 };
  for (const { class: cls, n } of result.rows) {
    outcome.compared += n;
    if (cls === 'agree') outcome.agree = n;
    else if (cls === 'unexplained') outcome.findings = n;
    else outcome.explained[cls as ReconcileClass] = n;
  }
  return outcome;
}

/** The reconciliation in words, for the run summary: one line per explained class, then the findings. */
export function describeReconciliation(outcome: ReconcileOutcome, source: string, leafKind: string): string | null {
  if (!outcome.available) return null;
  if (outcome.skipped) return `${source}'s own effective permissions were not read: ${outcome.skipped.replace(/^Skipped/, 'skipped')}`;
  if (!outcome.reconciled) return `${source}'s own effective permissions were not read completely in this run, so no reconciliation.`;
  const n = (k: number) => k.toLocaleString('en-US');
  const parts = [`Reconciliation with ${source}'s own effective permissions: ${n(outcome.agree)} of ${n(outcome.compared)} user-${leafKind} pairs agree`];
  for (const [cls, count] of Object.entries(outcome.explained) as Array<[ReconcileClass, number]>) {
    parts.push(`${n(count)} differ only because ${RECONCILE_CLASSES[cls]}`);
  }
  parts.push(`${n(outcome.findings)} ${outcome.findings === 1 ? 'disagreement' : 'disagreements'} nothing explains${outcome.findings > 0 ? ' (see the findings of this run)' : ''}`);
  return `${parts.join('; ')}.`;
}

/** The permission at a ladder rank (1 = lowest) of the leaf kind, in SQL. */
function ladderAt(model: PermissionModel, rankColumn: string) {
  const ladder = model.resources[model.leaf]?.ladder ?? [];
  return sql`(array[${sql.join(ladder.map((p) => sql`${p}`))}]::text[])[${sql.ref(rankColumn)}]`;
}
