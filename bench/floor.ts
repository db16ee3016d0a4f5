/**
 * The floor of an access report: a plain `COPY (…) TO STDOUT (FORMAT csv)` of the same rows, columns
 * and order (`accessFloorQuery`), in the same database, under the settings a report runs with. What
 * the database alone costs to produce the report's rows; the bench prints Roster's time ÷ this.
 *
 * The server streams the COPY through a `pg` query that only counts bytes (no dependency on
 * pg-copy-streams: a `Query` whose copy-data handler counts). PGlite has no COPY TO STDOUT for a
 * client; its `COPY … TO '/dev/blob'` is the same work into one blob (held once, then dropped).
 */
import path from 'node:path';
import { Kysely, type RawBuilder } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import { accessFloorQuery } from '../reports/access.ts';
import { loadSyncedState } from '../reports/run.ts';
import type { ReportContext } from '../reports/types.ts';
import { openDatabase } from '../src/db/index.ts';
import type { Database } from '../src/db/types.ts';
import type { BenchDbTarget } from './types.ts';

export type FloorReport = 'access-review' | 'user-access';

export interface FloorResult {
  report: FloorReport;
  wallMs: number;
  bytes: number;
}

/** Same session settings as a report's snapshot (reports/run.ts `inSnapshot`). */
const SETTINGS = ['set jit = off', "set work_mem = '32MB'"];

/** COPY takes no bind parameters: the compiled query with its parameters written in as literals. */
export function inlineParameters(text: string, parameters: readonly unknown[]): string {
  return text.replace(/\$(\d+)/g, (_, n: string) => literal(parameters[Number(n) - 1]));
}

function literal(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return `'${String(value).replaceAll("'", "''")}'`;
}

/** The floor's SQL for `report` on the latest finished run of the only integration. */
export async function floorSql(db: Kysely<Database>, report: FloorReport): Promise<string> {
  const options = { format: 'csv' as const, maxAgeMs: Number.MAX_SAFE_INTEGER };
  const now = new Date();
  const state = await loadSyncedState(db, options, now);
  const ctx: ReportContext = { db, options, now, pageSize: 0, warnings: [], integration: state.integration, run: state.run, runs: state.runs };
  const compiled = (accessFloorQuery(ctx, report) as RawBuilder<unknown>).compile(db);
  return inlineParameters(compiled.sql, compiled.parameters);
}

class CountingCopy extends pg.Query {
  bytes = 0;
  handleCopyData(message: { chunk: Buffer }): void {
    this.bytes += message.chunk.length;
  }
}

/**
 * Runs the floor on `target` (best of `rounds`), on connections of its own: nothing else may have an
 * embedded data directory open meanwhile (PGlite is single-process), so run it in a worker of its own.
 */
export async function measureFloor(target: BenchDbTarget, report: FloorReport, rounds = 1): Promise<FloorResult> {
  if (target.kind === 'server') {
    const handle = await openDatabase(target);
    let text: string;
    try {
      text = await floorSql(handle.db, report);
    } finally {
      await handle.close();
    }
    return best(rounds, () => copyOnServer(target.url, text, report));
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const client = await PGlite.create(path.join(target.dataDir, 'db'));
  const db = new Kysely<Database>({ dialect: new PGliteDialect(client) });
  try {
    const text = await floorSql(db, report);
    for (const s of SETTINGS) await client.exec(s);
    return await best(rounds, async () => {
      const started = performance.now();
      const result = await client.query(`copy (${text}) to '/dev/blob' (format csv)`);
      return { report, wallMs: Math.round(performance.now() - started), bytes: result.blob?.size ?? 0 };
    });
  } finally {
    await db.destroy();
  }
}

async function best(rounds: number, once: () => Promise<FloorResult>): Promise<FloorResult> {
  let found: FloorResult | null = null;
  for (let i = 0; i < Math.max(1, rounds); i++) {
    const result = await once();
    if (!found || result.wallMs < found.wallMs) found = result;
  }
  return found as FloorResult;
}

async function copyOnServer(url: string, text: string, report: FloorReport): Promise<FloorResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const s of SETTINGS) await client.query(s);
    const started = performance.now();
    const query = new CountingCopy(`copy (${text}) to stdout (format csv)`);
    await new Promise<void>((resolve, reject) => {
      query.on('end', () => resolve());
      query.on('error', reject);
      void client.query(query);
    });
    return { report, wallMs: Math.round(performance.now() - started), bytes: query.bytes };
  } finally {
    await client.end();
  }
}
