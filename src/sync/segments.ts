import type { Kysely } from 'kysely';
import type { Database, RunSegment, SyncRun } from '../db/types.ts';
import { HOLDER } from './lock.ts';

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

function segmentSeconds(segment: RunSegment, now: Date): number {
  const end = segment.endedAt ? Date.parse(segment.endedAt) : now.getTime();
  return Math.max(0, (end - Date.parse(segment.startedAt)) / 1000);
}

/** Seconds of work over all segments (a running segment counts up to `now`). */
export function activeSeconds(segments: readonly RunSegment[], now = new Date()): number {
  return segments.reduce((sum, s) => sum + segmentSeconds(s, now), 0);
}

const ENDINGS: Record<RunSegment['outcome'], string> = {
  running: 'running',
  finished: 'finished',
  paused: 'paused for the API rate limit',
  interrupted: 'interrupted',
  died: 'its process stopped',
};

/**
 * "in 37.9 s" for a run of one segment; for a resumed run its whole time and every segment:
 * "in 95.3 s over 3 segments (40.1 s from 10:00:00Z, paused for the API rate limit; …), 2.2h after it first started".
 */
export function describeDuration(segments: readonly RunSegment[], fallbackSeconds: number, now = new Date()): string {
  if (segments.length <= 1) return `in ${(segments.length === 1 ? segmentSeconds(segments[0] as RunSegment, now) : fallbackSeconds).toFixed(1)} s`;
  const parts = segments.map((s) => {
    const ending = s.endedAt === null || s.outcome === 'running' || s.outcome === 'finished' ? '' : `, ${ENDINGS[s.outcome]}`;
    return `${segmentSeconds(s, now).toFixed(1)} s from ${clock(s.startedAt)}${ending}`;
  });
  const first = segments[0] as RunSegment;
  const wallSeconds = (now.getTime() - Date.parse(first.startedAt)) / 1000;
  return `in ${activeSeconds(segments, now).toFixed(1)} s over ${segments.length} segments (${parts.join('; ')}), ${formatAge(wallSeconds)} after it first started`;
}

/** "10:02:11Z" for today's times, the full ISO time for others. */
function clock(iso: string): string {
  const date = new Date(iso);
  const sameDay = new Date().toISOString().slice(0, 10) === iso.slice(0, 10);
  return sameDay ? `${date.toISOString().slice(11, 19)}Z` : `${date.toISOString().slice(0, 19)}Z`;
}

/** A duration for people: "45s", "12m", "3.5h", "2d". */
export function formatAge(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)}s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)}m`;
  if (seconds < 48 * 3600) return `${(seconds / 3600).toFixed(1).replace(/\.0$/, '')}h`;
  return `${(seconds / 86400).toFixed(1).replace(/\.0$/, '')}d`;
}
