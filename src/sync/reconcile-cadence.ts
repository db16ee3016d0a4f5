import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/types.ts';
import { RECONCILE_SETTINGS, type ReconcileSetting } from '../interfaces.ts';

/**
 * Whether a run reads the source's own effective answer (Bitbucket: `/workspaces/{ws}/permissions/
 * repositories`), which is read only to cross-check Roster's derivation: every grant behind effective
 * access is read either way, so skipping it never hides access — it postpones the cross-check.
 *
 * - `always`: every run reads it.
 * - `weekly`: a run reads it when no run of the integration reconciled in the last seven days.
 * - `off`: never.
 * - unset (the default): `always` while the listing took at most one hour's budget (1,000 requests)
 *   the last time it was read — a small or medium workspace pays little for it (medium: 72 of 727
 *   requests) — and `weekly` beyond that: on a large workspace it is 28–33 % of every run (4,142 of
 *   14,517 requests on `large`, about 25,000 on `enterprise`: a day of one credential's budget), and a
 *   disagreement the cross-check exists to catch still surfaces within a week.
 */

/** Past this many requests for the listing, the default cadence is weekly. */
export const RECONCILE_DEFAULT_WEEKLY_ABOVE = 1000;
const WEEK_MS = 7 * 24 * 3600_000;
/** A daily run drifts by minutes: "a week ago" allows an hour, so a weekly cadence does not slip to eight days. */
const SLACK_MS = 3600_000;

export interface ReconcileDecision {
  read: boolean;
  /** The cadence in force, and where it came from. */
  setting: ReconcileSetting;
  from: 'sync flag' | 'integration option' | 'default';
  /** One sentence for coverage and the summary when the listing is skipped. */
  reason: string;
}

export function isReconcileSetting(value: unknown): value is ReconcileSetting {
  return typeof value === 'string' && (RECONCILE_SETTINGS as readonly string[]).includes(value);
}

export async function decideReconcile(
  db: Kysely<Database>,
  args: { integrationId: string; answerStream: string | null; flag?: ReconcileSetting; option?: unknown; now?: Date },
): Promise<ReconcileDecision> {
  const now = args.now ?? new Date();
  let setting: ReconcileSetting;
  let from: ReconcileDecision['from'];
  let why = '';
  if (args.flag) {
    setting = args.flag;
    from = 'sync flag';
  } else if (isReconcileSetting(args.option)) {
    setting = args.option;
    from = 'integration option';
  } else {
    from = 'default';
    const pages = args.answerStream === null ? null : await lastAnswerPages(db, args.integrationId, args.answerStream);
    setting = pages !== null && pages > RECONCILE_DEFAULT_WEEKLY_ABOVE ? 'weekly' : 'always';
    if (setting === 'weekly') why = ` (the default for a workspace whose effective-permission listing takes more than ${RECONCILE_DEFAULT_WEEKLY_ABOVE.toLocaleString('en-US')} requests; it took ${pages?.toLocaleString('en-US')} last time)`;
  }
  const label = `reconcile: ${setting}, from the ${from}${why}`;
  if (setting === 'always') return { read: true, setting, from, reason: label };
  if (setting === 'off') return { read: false, setting, from, reason: `Skipped by setting (${label}): this run did not cross-check Roster's derivation against the source's own effective permissions.` };
  const last = await lastReconciled(db, args.integrationId);
  if (last && now.getTime() - last.finishedAt.getTime() < WEEK_MS - SLACK_MS) {
    return {
      read: false,
      setting,
      from,
      reason: `Skipped by setting (${label}): run ${last.runId} reconciled on ${last.finishedAt.toISOString()}; the next run from ${new Date(last.finishedAt.getTime() + WEEK_MS - SLACK_MS).toISOString()} reads it again.`,
    };
  }
  return { read: true, setting, from, reason: label };
}

/** Pages of the answer stream the last time it was read completely; null when never. */
async function lastAnswerPages(db: Kysely<Database>, integrationId: string, stream: string): Promise<number | null> {
  const rows = await sql<{ pages: number }>`
    select sum(s.pages)::int as pages from sync_scopes s
     where s.run_id = (select max(c.run_id) from sync_scopes c join sync_runs r on r.id = c.run_id
                        where r.integration_id = ${integrationId} and c.stream = ${stream} and c.status = 'complete')
       and s.stream = ${stream}`.execute(db);
  const pages = rows.rows[0]?.pages;
  return pages === null || pages === undefined ? null : Number(pages);
}

async function lastReconciled(db: Kysely<Database>, integrationId: string): Promise<{ runId: string; finishedAt: Date } | null> {
  const rows = await sql<{ id: string; finished_at: Date }>`
    select id::text as id, finished_at from sync_runs
     where integration_id = ${integrationId} and finished_at is not null and (counts->>'reconciled') = 'true'
     order by id desc limit 1`.execute(db);
  const row = rows.rows[0];
  return row ? { runId: row.id, finishedAt: new Date(row.finished_at) } : null;
}
