import { type Kysely, sql } from 'kysely';
import type { Database } from '../../db/types.ts';
import { RosterError } from '../../errors.ts';

/** Figures for a finished run's counts and summary, read inside its final transaction. */

type Db = Kysely<Database>;

export interface LiveCounts {
  users: number;
  groups: number;
  deploy_keys: number;
  projects: number;
  repositories: number;
  grants: number;
  memberships: number;
  effective_access_paths: number;
  findings: number;
}

/**
 * Fresh planner statistics for the tables the end of a run derives from: this run may have grown them
 * tenfold, and PGlite has no autovacuum to notice (nested loops made `large` 60x slower without this).
 */
export async function analyzeAccessTables(db: Db): Promise<void> {
  await sql`analyze principals, resources, principal_versions, resource_versions, memberships, grants, reported_access`.execute(db);
}

/** JIT compilation costs seconds on one-off set-based statements and saves nothing: off for this transaction. */
export async function disableJit(trx: Db): Promise<void> {
  await sql`set local jit = off`.execute(trx);
}

/** What the integration holds now, after this run's removals. */
export async function liveCounts(db: Db, integrationId: string, runId: string): Promise<LiveCounts> {
  const result = await sql<LiveCounts>`
    select
      (select count(*) from principals where integration_id = ${integrationId} and kind = 'user' and removed_run is null)::int as users,
      (select count(*) from principals where integration_id = ${integrationId} and kind = 'group' and removed_run is null)::int as groups,
      (select count(*) from principals where integration_id = ${integrationId} and kind = 'deploy_key' and removed_run is null)::int as deploy_keys,
      (select count(*) from resources where integration_id = ${integrationId} and kind = 'project' and removed_run is null)::int as projects,
      (select count(*) from resources where integration_id = ${integrationId} and kind = 'repository' and removed_run is null)::int as repositories,
      (select count(*) from grants where integration_id = ${integrationId} and removed_run is null)::int as grants,
      (select count(*) from memberships where integration_id = ${integrationId} and removed_run is null)::int as memberships,
      (select count(*) from effective_access where integration_id = ${integrationId})::int as effective_access_paths,
      -- This run's findings: the latest run that had any may be an older one.
      (select count(*) from findings f where f.integration_id = ${integrationId} and f.run_id = ${runId})::int as findings`.execute(db);
  const row = result.rows[0];
  if (!row) throw new RosterError('internal', 'count query returned nothing');
  return row;
}

/** What this run saw for the first time, per table. */
export async function changeCounts(db: Db, integrationId: string, runId: string): Promise<Record<string, number>> {
  const result = await sql<Record<string, number>>`
    select
      (select count(*) from principals where integration_id = ${integrationId} and first_seen_run = ${runId})::int as principals,
      (select count(*) from resources where integration_id = ${integrationId} and first_seen_run = ${runId})::int as resources,
      (select count(*) from memberships where integration_id = ${integrationId} and first_seen_run = ${runId})::int as memberships,
      (select count(*) from grants where integration_id = ${integrationId} and first_seen_run = ${runId})::int as grants`.execute(db);
  return result.rows[0] ?? {};
}

/** Records the loader stored with characters replaced, in the order it met them. */
export function sanitizedNotices(db: Db, runId: string): Promise<Array<{ record_kind: string; record_id: string; detail: string }>> {
  return db.selectFrom('sync_notices').select(['record_kind', 'record_id', 'detail']).where('run_id', '=', runId).where('kind', '=', 'sanitized').orderBy('id').execute();
}
