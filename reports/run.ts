import { type Kysely, type Transaction, sql } from 'kysely';
import type { Database, Integration } from '../src/db/types.ts';
import { RosterError } from '../src/errors.ts';
import { logger } from '../src/log.ts';
import { DEFAULT_MAX_AGE_MS, chooseRun, coverageGaps, ensurePlannerStatistics, finishedRuns, resolveIntegration, stateWarnings } from './context.ts';
import { createWriter } from './format.ts';
import {
  type BaseContext,
  type CoverageGapInfo,
  REPORT_FORMATS,
  type ReportContext,
  type ReportDefinition,
  type ReportOptionName,
  type ReportOptions,
  type ReportResult,
  type RunInfo,
} from './types.ts';

/** Rows per FETCH: large enough to amortize round trips, small enough to keep memory flat. */
export const PAGE_SIZE = 2000;

export const OPTION_FLAGS: Record<ReportOptionName, string> = {
  asOf: '--as-of',
  since: '--since',
  until: '--until',
  user: '--user',
  includeKeyBody: '--include-key-body',
  dormantDays: '--dormant-days',
  domains: '--domains',
};

/** Rejects options the report does not take, so a typo'd command does not silently mean something else. */
export function checkOptions(def: ReportDefinition<unknown>, options: ReportOptions): void {
  if (!(REPORT_FORMATS as readonly string[]).includes(options.format)) {
    throw new RosterError('input_invalid', `Unknown format "${String(options.format)}": use ${REPORT_FORMATS.join(', ')}.`);
  }
  if (options.bom && options.format !== 'csv') throw new RosterError('input_invalid', 'A byte order mark (--bom) applies to CSV only.');
  const given: Record<ReportOptionName, boolean> = {
    asOf: options.asOf !== undefined,
    since: options.since !== undefined,
    until: options.until !== undefined,
    user: options.user !== undefined,
    includeKeyBody: options.includeKeyBody === true,
    dormantDays: options.dormantDays !== undefined,
    domains: options.domains !== undefined,
  };
  for (const [name, isGiven] of Object.entries(given) as Array<[ReportOptionName, boolean]>) {
    if (isGiven && !def.options.includes(name)) {
      throw new RosterError('input_invalid', `${def.name} does not take ${OPTION_FLAGS[name]}${def.options.length > 0 ? ` (it takes ${def.options.map((o) => OPTION_FLAGS[o]).join(', ')})` : ''}.`);
    }
  }
  if (options.asOf !== undefined && Number.isNaN(options.asOf.getTime())) throw new RosterError('input_invalid', '--as-of is not a valid date.');
  if (options.dormantDays !== undefined && !(Number.isInteger(options.dormantDays) && options.dormantDays >= 1 && options.dormantDays <= 3650)) {
    throw new RosterError('input_invalid', `--dormant-days must be a whole number of days from 1 to 3650 (got ${String(options.dormantDays)}); the default is 90.`);
  }
  for (const d of options.domains ?? []) {
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/.test(d)) throw new RosterError('input_invalid', `--domains: "${d}" is not a domain name (e.g. acme.example,acme-corp.example).`);
  }
}

/** The integration, the run a report reflects, and what a reader must be warned about. */
export interface SyncedState {
  integration: Integration;
  runs: Map<string, RunInfo>;
  run: RunInfo;
  gaps: CoverageGapInfo[];
  warnings: string[];
}

export async function loadSyncedState(db: Kysely<Database>, options: ReportOptions, now: Date): Promise<SyncedState> {
  const integration = await resolveIntegration(db, options.integration);
  const list = await finishedRuns(db, integration.id);
  const run = chooseRun(list, integration, options.asOf);
  const gaps = await coverageGaps(db, integration, run);
  const warnings = stateWarnings({ integration, run, gaps, now, asOf: options.asOf, maxAgeMs: options.maxAgeMs ?? DEFAULT_MAX_AGE_MS });
  return { integration, runs: new Map(list.map((r) => [r.id, r])), run, gaps, warnings };
}

/**
 * Reads every report of a call in one REPEATABLE READ, READ ONLY transaction: one snapshot, so a
 * sync committing meanwhile cannot make pages (or the files of an evidence bundle) disagree.
 */
export async function inSnapshot<T>(db: Kysely<Database>, body: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      // JIT compiles the derivation's hundreds of expressions for seconds (4 s of a 9 s query on the
      // large profile) and never wins it back; sorts of a few hundred thousand rows fit in 32 MB.
      await sql`set local jit = off`.execute(trx);
      await sql`set local work_mem = '32MB'`.execute(trx);
      // A report reads every row of its cursor: plan for all of them, not for the first tenth (the
      // default cursor_tuple_fraction favours fast-start plans that are slower over the whole result).
      await sql`set local cursor_tuple_fraction = 1`.execute(trx);
      return body(trx);
    });
}

/** Streams one report into `out` (which it never ends). */
export async function streamReport(
  trx: Kysely<Database>,
  def: ReportDefinition<unknown>,
  options: ReportOptions,
  state: SyncedState | null,
  now: Date,
  out: NodeJS.WritableStream,
): Promise<{ rows: number; warnings: string[]; notes: string[] }> {
  const started = Date.now();
  const warnings: string[] = [];
  const notes: string[] = [];
  const base: BaseContext = { db: trx, options, now, pageSize: PAGE_SIZE, warnings, notes };
  const writer = createWriter(options.format, def.columns(options), out, { bom: options.bom });
  let rows = 0;
  let pages: AsyncIterable<readonly unknown[]>;
  if (def.readsSyncedState) {
    if (!state) throw new RosterError('internal', `${def.name} needs a synced state`);
    const ctx: ReportContext = { ...base, integration: state.integration, run: state.run, runs: state.runs };
    pages = def.pages(ctx);
  } else {
    pages = def.pages(base);
  }
  for await (const page of pages) {
    rows += page.length;
    await writer.write(page);
  }
  await writer.finish();
  logger.debug({ report: def.name, rows, ms: Date.now() - started, run_id: state?.run.id }, 'report written');
  return { rows, warnings, notes };
}

export async function runReportWith(db: Kysely<Database>, def: ReportDefinition<unknown>, options: ReportOptions, out: NodeJS.WritableStream): Promise<ReportResult> {
  checkOptions(def, options);
  const now = options.now ?? new Date();
  await ensurePlannerStatistics(db);
  const state = def.readsSyncedState ? await loadSyncedState(db, options, now) : null;
  const { rows, warnings, notes } = await inSnapshot(db, (trx) => streamReport(trx, def, options, state, now, out));
  return {
    report: def.name,
    rows,
    runId: state?.run.id ?? null,
    warnings: [...(state?.warnings ?? []), ...warnings],
    notes: [...(state && def.notes ? def.notes(state.integration) : []), ...notes],
    coverageGaps: state?.gaps ?? [],
  };
}
