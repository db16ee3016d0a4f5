import type { RunSegment } from '../db/types.ts';

/**
 * How long a run took, for people: a run continued over several segments (paused for the rate limit,
 * interrupted, its process gone) took the sum of its segments. Pure, for the sync's summary and for
 * status alike; the segments themselves are kept by `src/sync/segments.ts`.
 */

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
