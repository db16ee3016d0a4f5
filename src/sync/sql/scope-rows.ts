import type { Insertable, Kysely } from 'kysely';
import type { Database, SyncScope } from '../../db/types.ts';

/** Statements on `sync_scopes`: one row per scope of a run, the run's checkpoint and its coverage record. */

type Db = Kysely<Database>;

export type ScopeRow = Insertable<Database['sync_scopes']>;

/** Ids of the run's scopes already read completely: the checkpoint a resumed run skips. */
export async function completedScopeIds(db: Db, runId: string): Promise<Set<string>> {
  const rows = await db.selectFrom('sync_scopes').select('scope').where('run_id', '=', runId).where('status', '=', 'complete').execute();
  return new Set(rows.map((r) => r.scope));
}

/** Forgets the run's failed and not-covered scopes, so a resumed run tries them again. */
export async function clearUnfinishedScopes(db: Db, runId: string): Promise<void> {
  await db.deleteFrom('sync_scopes').where('run_id', '=', runId).where('status', '<>', 'complete').execute();
}

/** Whether this run read the stream's listing completely and unfiltered (so it shows everything there is). */
export async function isListingComplete(db: Db, runId: string, stream: string): Promise<boolean> {
  const row = await db.selectFrom('sync_scopes').select('filtered').where('run_id', '=', runId).where('stream', '=', stream).where('status', '=', 'complete').executeTakeFirst();
  return row !== undefined && !row.filtered;
}

/** Writes scope rows; a scope written before (a resumed run's retry) takes the new status and figures. */
export async function upsertScopeRows(db: Db, rows: ScopeRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db
    .insertInto('sync_scopes')
    .values(rows)
    .onConflict((oc) => oc.columns(['run_id', 'scope']).doUpdateSet((eb) => ({ status: eb.ref('excluded.status'), message: eb.ref('excluded.message'), items: eb.ref('excluded.items'), pages: eb.ref('excluded.pages') })))
    .execute();
}

/** The run's scope rows, for its summary and counts. */
export function runScopeRows(db: Db, runId: string): Promise<Array<Pick<SyncScope, 'scope' | 'stream' | 'label' | 'status' | 'error_code' | 'message' | 'http_status' | 'advice'>>> {
  return db.selectFrom('sync_scopes').select(['scope', 'stream', 'label', 'status', 'error_code', 'message', 'http_status', 'advice']).where('run_id', '=', runId).execute();
}
