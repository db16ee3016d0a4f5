import { type Kysely, type Transaction, sql } from 'kysely';
import type { Database } from '../db/types.ts';

type Tx = Transaction<Database> | Kysely<Database>;

export interface RemovalCounts {
  principals: number;
  resources: number;
  memberships: number;
  grants: number;
  reportedAccess: number;
}

/**
 * Deletion inference, the one place where Roster decides that something is gone.
 *
 * A row is marked removed in run R only when the scope that lists it was read completely and
 * cleanly in R (a `complete`, unfiltered `sync_scopes` row) and R did not see the row. A scope that
 * failed, was not covered, or was filtered (incremental) removes nothing. Then removal cascades
 * along references: a grant on a repository that is gone is gone, a membership of a user who left
 * is gone. Runs inside the run's final transaction.
 */
export async function inferRemovals(trx: Tx, integrationId: string, runId: string): Promise<RemovalCounts> {
  const cleanScopes = sql`(select scope from sync_scopes where run_id = ${runId} and status = 'complete' and not filtered)`;
  const removeUnseen = async (table: 'resources' | 'memberships' | 'grants' | 'reported_access'): Promise<number> => {
    const result = await sql`
      update ${sql.table(table)} set removed_run = ${runId}
      where integration_id = ${integrationId} and removed_run is null
        and last_seen_run < ${runId}
        and scope in ${cleanScopes}`.execute(trx);
    return Number(result.numAffectedRows ?? 0);
  };

  // A principal no clean listing saw is still not gone while a grant or membership of theirs sits in
  // a listing that was not read cleanly in this run: that row stays (nothing read says it ended), so
  // its principal stays — removing it would cascade to the row and revoke access nobody saw end
  // (a user who left the member list while the repository listing of their grant failed).
  const principals = Number(
    (
      await sql`
      update principals p set removed_run = ${runId}
      where p.integration_id = ${integrationId} and p.removed_run is null
        and p.last_seen_run < ${runId}
        and p.scope in ${cleanScopes}
        and not exists (select 1 from grants g where g.principal_id = p.id and g.removed_run is null and g.scope not in ${cleanScopes})
        and not exists (select 1 from memberships m where p.id in (m.member_id, m.group_id) and m.removed_run is null and m.scope not in ${cleanScopes})`.execute(trx)
    ).numAffectedRows ?? 0,
  );
  let resources = await removeUnseen('resources');
  // Confirmed gone by the source itself (a repository whose uuid no longer resolves), though no clean
  // listing dropped it: an incremental run's listing is filtered and cannot show deletions. Not when
  // this run also saw the resource: then the source contradicted itself, and nothing is removed.
  const gone = await sql`
    update resources r set removed_run = ${runId}
      from sync_notices n
     where n.run_id = ${runId} and n.kind = 'gone' and r.integration_id = ${integrationId}
       and r.kind = n.record_kind and r.external_id = n.record_id
       and r.removed_run is null and r.last_seen_run < ${runId}`.execute(trx);
  resources += Number(gone.numAffectedRows ?? 0);
  let memberships = await removeUnseen('memberships');
  let grants = await removeUnseen('grants');
  let reportedAccess = await removeUnseen('reported_access');

  // Cascades: what a removed principal or resource held, or what was held on it, went with it.
  const cascade = async (table: 'memberships' | 'grants' | 'reported_access', condition: ReturnType<typeof sql>): Promise<number> => {
    const result = await sql`
      update ${sql.table(table)} t set removed_run = ${runId}
      where t.integration_id = ${integrationId} and t.removed_run is null and t.last_seen_run < ${runId} and ${condition}`.execute(trx);
    return Number(result.numAffectedRows ?? 0);
  };
  const removedPrincipal = (column: string) =>
    sql`exists (select 1 from principals p where p.id = ${sql.ref(`t.${column}`)} and p.removed_run = ${runId})`;
  const removedResource = (column: string) =>
    sql`exists (select 1 from resources r where r.id = ${sql.ref(`t.${column}`)} and r.removed_run = ${runId})`;
  memberships += await cascade('memberships', sql`(${removedPrincipal('group_id')} or ${removedPrincipal('member_id')})`);
  grants += await cascade('grants', sql`(${removedPrincipal('principal_id')} or ${removedResource('resource_id')})`);
  reportedAccess += await cascade('reported_access', sql`(${removedPrincipal('user_id')} or ${removedResource('resource_id')})`);

  return { principals, resources, memberships, grants, reportedAccess };
}
