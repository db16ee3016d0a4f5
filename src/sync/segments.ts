import type { Kysely } from 'kysely';
import type { Database, RunSegment, SyncRun } from '../db/types.ts';
import { HOLDER } from '../db/lock.ts';

/**
 * A run's segments of work. A run paused for the rate limit, interrupted, or whose process died, is
 * continued later — often by another process — so its time is the sum of its segments, and "from
 * first start to finish" is longer still. Kept on the run row (`sync_runs.segments`) by the process
 * that holds the integration's lock, so no two processes ever write one run's segments.
 */

/** The segments a run had before this one: from the row, or reconstructed for a run older than the column. */
function previousSegments(previous: SyncRun): RunSegment[] {
  const stored = Array.isArray(previous.segments) ? previous.segments.map((s) => ({ ...s })) : [];
  if (stored.length === 0) {
    // A run started before segments were kept: one segment, from its start to its last sign of life.
    return [{ startedAt: previous.started_at.toISOString(), endedAt: previous.heartbeat_at.toISOString(), holder: previous.holder, outcome: outcomeOfOpenRun(previous) }];
  }
  const last = stored[stored.length - 1];
  if (last && last.endedAt === null) {
    // Its process died without a word (kill -9, power loss): it stopped at its last heartbeat.
    last.endedAt = previous.heartbeat_at.toISOString();
    last.outcome = outcomeOfOpenRun(previous);
  }
  return stored;
}

function outcomeOfOpenRun(run: SyncRun): RunSegment['outcome'] {
  if (run.status === 'paused') return run.error_code === 'budget_exhausted' ? 'paused' : 'interrupted';
  return 'died';
}

/**
 * Opens a segment for the run this process is about to work on. `previous` is the run row as it was
 * before this process took it over (null for a new run).
 */
export async function beginSegment(db: Kysely<Database>, runId: string, previous: SyncRun | null, now = new Date()): Promise<RunSegment[]> {
  const segments = previous ? previousSegments(previous) : [];
  segments.push({ startedAt: now.toISOString(), endedAt: null, holder: HOLDER, outcome: 'running' });
  await db.updateTable('sync_runs').set({ segments: JSON.stringify(segments) }).where('id', '=', runId).execute();
  return segments;
}

/** Closes the running segment of a run with how it ended. */
export async function endSegment(db: Kysely<Database>, runId: string, outcome: Exclude<RunSegment['outcome'], 'running' | 'died'>, now = new Date()): Promise<RunSegment[]> {
  const row = await db.selectFrom('sync_runs').select('segments').where('id', '=', runId).executeTakeFirst();
  const segments = Array.isArray(row?.segments) ? row.segments : [];
  const last = segments[segments.length - 1];
  if (last && last.endedAt === null) {
    last.endedAt = now.toISOString();
    last.outcome = outcome;
    await db.updateTable('sync_runs').set({ segments: JSON.stringify(segments) }).where('id', '=', runId).execute();
  }
  return segments;
}
