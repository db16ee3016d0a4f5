import type { Kysely } from 'kysely';
import type { Database, SyncRun } from '../../db/types.ts';
import type { Capabilities } from '../../interfaces.ts';
import { HOLDER } from '../../db/lock.ts';

/** Statements on `sync_runs`: one row per run, from start (or resume) to its final status. */

type Db = Kysely<Database>;

/** The integration's unfinished run (running or paused), if any: the one to resume, or the lock holder's. */
export function findOpenRun(db: Db, integrationId: string): Promise<SyncRun | undefined> {
  return db.selectFrom('sync_runs').selectAll().where('integration_id', '=', integrationId).where('status', 'in', ['running', 'paused']).executeTakeFirst();
}

/** A run of the integration that already served this schedule slot or a later one. */
export function findRunServingSlot(db: Db, integrationId: string, slot: Date): Promise<{ id: string; holder: string | null } | undefined> {
  return db.selectFrom('sync_runs').select(['id', 'holder']).where('integration_id', '=', integrationId).where('slot', '>=', slot).executeTakeFirst();
}

/** Takes over an unfinished run for this process: running again, no resume time. */
export function reopenRun(db: Db, runId: string): Promise<SyncRun> {
  return db
    .updateTable('sync_runs')
    .set({ status: 'running', holder: HOLDER, heartbeat_at: new Date(), resume_after: null })
    .where('id', '=', runId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export function insertRun(db: Db, values: { integrationId: string; trigger: SyncRun['trigger']; since: Date | null; slot: Date | null }): Promise<SyncRun> {
  return db
    .insertInto('sync_runs')
    .values({ integration_id: values.integrationId, trigger: values.trigger, mode: values.since ? 'incremental' : 'full', since: values.since, slot: values.slot, status: 'running', holder: HOLDER, counts: '{}' })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The start of the integration's latest successful run (of the given mode, or any). */
export async function lastSucceededStart(db: Db, integrationId: string, mode?: SyncRun['mode']): Promise<Date | null> {
  const row = await db
    .selectFrom('sync_runs')
    .select('started_at')
    .where('integration_id', '=', integrationId)
    .where('status', '=', 'succeeded')
    .$if(mode !== undefined, (qb) => qb.where('mode', '=', mode as SyncRun['mode']))
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.started_at ?? null;
}

export async function saveCapabilities(db: Db, runId: string, capabilities: Capabilities): Promise<void> {
  await db.updateTable('sync_runs').set({ capabilities: JSON.stringify(capabilities) }).where('id', '=', runId).execute();
}

/** Request figures of the run so far and a heartbeat; optionally when it expects to go on after a budget wait. */
export interface RunStatsUpdate {
  api_requests: number;
  api_retries: number;
  rate_limit_waits: number;
  rate_limit_wait_ms: number;
  responses_429: number;
  resume_after?: Date | null;
}

export async function updateRunStats(db: Db, runId: string, stats: RunStatsUpdate): Promise<void> {
  await db
    .updateTable('sync_runs')
    .set({ heartbeat_at: new Date(), ...stats })
    .where('id', '=', runId)
    .execute();
}

/** Leaves the run open at its checkpoint: paused for the budget, or interrupted (`error_code` tells which). */
export async function pauseRun(db: Db, runId: string, stop: { resumeAfter: Date | null; code: string; message: string }): Promise<void> {
  await db
    .updateTable('sync_runs')
    .set({ status: 'paused', resume_after: stop.resumeAfter, error_code: stop.code, error_message: stop.message, heartbeat_at: new Date() })
    .where('id', '=', runId)
    .execute();
}

export function readRunStats(db: Db, runId: string): Promise<{ api_requests: number; api_retries: number; rate_limit_waits: number; responses_429: number }> {
  return db.selectFrom('sync_runs').select(['api_requests', 'api_retries', 'rate_limit_waits', 'responses_429']).where('id', '=', runId).executeTakeFirstOrThrow();
}

/** Closes the run with its final status, counts and summary. */
export async function completeRun(db: Db, runId: string, end: { status: SyncRun['status']; counts: unknown; errorCode: string | null; errorMessage: string | null; summary: string }): Promise<void> {
  await db
    .updateTable('sync_runs')
    .set({
      status: end.status,
      finished_at: new Date(),
      heartbeat_at: new Date(),
      resume_after: null,
      counts: JSON.stringify(end.counts),
      error_code: end.errorCode,
      error_message: end.errorMessage,
      summary: end.summary,
    })
    .where('id', '=', runId)
    .execute();
}
