import { type Kysely, sql } from 'kysely';
import type { Database } from '../../db/types.ts';
import { type ChainEntry, chainHash } from '../decisions.ts';

type Db = Kysely<Database>;

export type LogAction = 'create' | 'decide' | 'reassign' | 'carry-forward' | 'policy' | 'close';

export interface NewLogEntry {
  itemId: string | null;
  action: LogAction;
  /** Fields after `campaign`, `seq`, `at`, `action` and `item`, in the order they are written. */
  fields: Record<string, string | number | boolean | null | string[] | Record<string, string | null>>;
}

export interface LogEntry extends ChainEntry {
  item_id: string | null;
  action: LogAction;
  at: string;
}

/**
 * Appends entries to a campaign's decision log, each hashing the one before (the first one the
 * campaign definition's hash). The caller holds the campaign row's lock (`findCampaign(…, { forUpdate })`),
 * so two writers never fork the chain; the primary key (campaign, seq) would refuse it anyway.
 */
export async function appendLog(db: Db, campaignId: string, genesis: string, at: Date, entries: readonly NewLogEntry[]): Promise<LogEntry[]> {
  if (entries.length === 0) return [];
  const last = await sql<{ seq: number; sha256: string }>`
    select seq, sha256 from review_decision_log where campaign_id = ${campaignId} order by seq desc limit 1`.execute(db);
  let seq = last.rows[0]?.seq ?? 0;
  let previous = last.rows[0]?.sha256 ?? genesis;
  const iso = at.toISOString();
  const written: LogEntry[] = entries.map((e) => {
    seq += 1;
    const body = JSON.stringify({ campaign: campaignId, seq, at: iso, action: e.action, item: e.itemId, ...e.fields });
    const sha256 = chainHash(previous, body);
    const entry: LogEntry = { seq, prev_sha256: previous, sha256, body, item_id: e.itemId, action: e.action, at: iso };
    previous = sha256;
    return entry;
  });
  for (let i = 0; i < written.length; i += 5000) {
    const part = written.slice(i, i + 5000);
    await sql`
      insert into review_decision_log (campaign_id, seq, item_id, action, at, body, prev_sha256, sha256)
      select ${campaignId}, t.seq, t.item_id::bigint, t.action, ${iso}::timestamptz, t.body, t.prev_sha256, t.sha256
        from unnest(${part.map((e) => e.seq)}::int[], ${part.map((e) => e.item_id)}::text[], ${part.map((e) => e.action)}::text[],
                    ${part.map((e) => e.body)}::text[], ${part.map((e) => e.prev_sha256)}::text[], ${part.map((e) => e.sha256)}::text[])
          as t(seq, item_id, action, body, prev_sha256, sha256)`.execute(db);
  }
  return written;
}

export async function readLog(db: Db, campaignId: string): Promise<LogEntry[]> {
  const rows = await sql<{ seq: number; item_id: string | null; action: LogAction; at: Date; body: string; prev_sha256: string; sha256: string }>`
    select seq, item_id::text as item_id, action, at, body, prev_sha256, sha256 from review_decision_log where campaign_id = ${campaignId} order by seq`.execute(db);
  return rows.rows.map((r) => ({ ...r, at: new Date(r.at).toISOString() }));
}
