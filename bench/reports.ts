/**
 * Report throughput and memory on a generated workspace: node --import tsx bench/reports.ts
 *   [--profile small|medium|large|enterprise] [--db embedded|server] [--seed N] [--reports a,b] [--format csv|json|ndjson]
 *
 * Loads the simulator's workspace (its ground truth, through an in-memory connector: this measures
 * reports, not HTTP), then writes each report to a sink that counts bytes, sampling memory as it goes.
 * `--db server` makes a scratch database next to DATABASE_URL's and drops it afterwards. With
 * `node --expose-gc`, it also reports the live heap (after full collections): what a report holds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { REPORTS, type ReportFormat, runReport } from '../reports/index.ts';
import { type RosterDatabase, openDatabase } from '../src/db/index.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { createScratchServerDatabase } from '../src/db/scratch.ts';
import { truthConnector } from '../connectors/bitbucket-cloud/simulator/truth-connector.ts';
import { runSync } from '../src/sync/runner.ts';
import { measureFloor } from './floor.ts';
import { generateWorkspace } from '../connectors/bitbucket-cloud/simulator/generate.ts';
import type { SimProfile } from '../connectors/bitbucket-cloud/simulator/types.ts';

export interface ReportBench {
  report: string;
  rows: number;
  ms: number;
  rowsPerSecond: number;
  bytes: number;
  /** JS heap in use at the start and at its highest while the report ran. */
  heapStartMb: number;
  heapPeakMb: number;
  /** Highest heap still in use right after a full collection (node --expose-gc only): what the report holds on to. */
  liveHeapPeakMb: number | null;
  /** Whole process (with PGlite, the database lives in it too). */
  rssPeakMb: number;
}

export interface ReportBenchOptions {
  profile: SimProfile;
  seed?: number;
  db?: 'embedded' | 'server';
  reports?: string[];
  format?: ReportFormat;
  log?: (line: string) => void;
}

const mb = (n: number): number => Math.round(n / 1048576);

async function scratchDatabase(kind: 'embedded' | 'server'): Promise<RosterDatabase> {
  if (kind === 'embedded') {
    // A data directory (not memory), so the floor can open it on its own between reports.
    const dataDir = mkdtempSync(path.join(tmpdir(), 'roster-bench-reports-'));
    const handle = await openDatabase({ kind: 'embedded', dataDir });
    return { ...handle, close: async () => (await handle.close(), rmSync(dataDir, { recursive: true, force: true })) };
  }
  const scratch = await createScratchServerDatabase(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', 'roster_bench');
  const handle = await openDatabase({ kind: 'server', url: scratch.url });
  return {
    ...handle,
    target: { kind: 'server', url: scratch.url },
    close: async () => {
      await handle.close();
      await scratch.drop();
    },
  };
}

export async function benchReports(options: ReportBenchOptions): Promise<ReportBench[]> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  let handle = await scratchDatabase(options.db ?? 'embedded');
  try {
    await migrateToLatest(handle.db);
    const truth = generateWorkspace(options.profile, options.seed ?? 1, () => Date.now()).workspace.truth();
    const integration = await handle.db
      .insertInto('integrations')
      .values({ name: `bench-${options.profile}`, kind: 'bitbucket-cloud', workspace: 'acme', base_url: 'http://127.0.0.1:1', credential_kind: 'api-token', schedule: null, options: '{}' })
      .returningAll()
      .executeTakeFirstOrThrow();
    let started = Date.now();
    const outcome = await runSync(handle, { integration, mode: 'full', trigger: 'test', connect: async () => truthConnector(truth) });
    log(`loaded ${options.profile} (${outcome.status}) in ${((Date.now() - started) / 1000).toFixed(1)} s: ${outcome.summary}`);
    const results: ReportBench[] = [];
    for (const def of REPORTS) {
      if (options.reports && !options.reports.includes(def.name)) continue;
      let bytes = 0;
      let heapPeak = 0;
      let rssPeak = 0;
      let livePeak: number | null = null;
      let writes = 0;
      const gc = (globalThis as { gc?: () => void }).gc;
      const sample = (): void => {
        const m = process.memoryUsage();
        heapPeak = Math.max(heapPeak, m.heapUsed);
        rssPeak = Math.max(rssPeak, m.rss);
      };
      const sink = new Writable({
        write(chunk: Buffer, _encoding, callback) {
          bytes += chunk.length;
          sample();
          if (gc && ++writes % 10 === 0) {
            gc();
            livePeak = Math.max(livePeak ?? 0, process.memoryUsage().heapUsed);
          }
          callback();
        },
      });
      gc?.();
      const heapStart = process.memoryUsage().heapUsed;
      const timer = setInterval(sample, 20);
      started = Date.now();
      const result = await runReport(handle.db, def.name, { format: options.format ?? 'csv', maxAgeMs: Number.MAX_SAFE_INTEGER }, sink);
      const ms = Date.now() - started;
      clearInterval(timer);
      sample();
      const row: ReportBench = {
        report: def.name,
        rows: result.rows,
        ms,
        rowsPerSecond: Math.round(result.rows / Math.max(ms / 1000, 0.001)),
        bytes,
        heapStartMb: mb(heapStart),
        heapPeakMb: mb(heapPeak),
        liveHeapPeakMb: livePeak === null ? null : mb(livePeak),
        rssPeakMb: mb(rssPeak),
      };
      results.push(row);
      if ((def.name === 'access-review' || def.name === 'user-access') && (options.format ?? 'csv') === 'csv') {
        let floor;
        if (handle.target.kind === 'server') floor = await measureFloor({ kind: 'server', url: handle.target.url }, def.name);
        else {
          // PGlite is single-process: the floor opens the data directory itself while this handle is closed.
          const target = handle.target;
          const dataDir = target.dataDir as string;
          await handle.db.destroy();
          floor = await measureFloor({ kind: 'embedded', dataDir }, def.name);
          const reopened = await openDatabase(target);
          handle = { ...reopened, close: async () => (await reopened.close(), rmSync(dataDir, { recursive: true, force: true })) };
        }
        log(`${def.name.padEnd(20)} floor (COPY … TO STDOUT, same rows/columns/order) ${(floor.wallMs / 1000).toFixed(1)} s, ${mb(floor.bytes)} MB; Roster ÷ floor = ${(ms / floor.wallMs).toFixed(2)}`);
      }
      log(`${def.name.padEnd(20)} ${String(row.rows).padStart(9)} rows ${(ms / 1000).toFixed(1).padStart(7)} s ${String(row.rowsPerSecond).padStart(7)} rows/s ${String(mb(bytes)).padStart(5)} MB out   heap ${row.heapStartMb} → peak ${row.heapPeakMb} MB${row.liveHeapPeakMb === null ? '' : ` (live ${row.liveHeapPeakMb} MB)`}   rss peak ${row.rssPeakMb} MB`);
    }
    return results;
  } finally {
    await handle.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      profile: { type: 'string', default: 'large' },
      seed: { type: 'string', default: '1' },
      db: { type: 'string', default: 'embedded' },
      reports: { type: 'string' },
      format: { type: 'string', default: 'csv' },
    },
  });
  const results = await benchReports({
    profile: values.profile as SimProfile,
    seed: Number(values.seed),
    db: values.db === 'server' ? 'server' : 'embedded',
    reports: values.reports?.split(','),
    format: values.format as ReportFormat,
  });
  process.stdout.write(`${JSON.stringify({ bench: 'reports', profile: values.profile, db: values.db, results })}\n`);
}
