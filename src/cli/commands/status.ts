import os from 'node:os';
import { type Command, CommanderError } from 'commander';
import { parseDuration } from '../../config/index.ts';
import { isAlive } from '../../db/index.ts';
import { RosterError, errorMessage } from '../../errors.ts';
import { scrubSecrets } from '../../log.ts';
import { readStatusFile } from '../../server/status-file.ts';
import { type IntegrationHealth, type StatusDocument, cannotTellDocument, formatAge, integrationHealth, judgeIntegration, statusDocument } from '../../access/health.ts';
import type { CliContext } from '../context.ts';
import type { CliHost, Io } from '../host.ts';
import { formatTable } from '../table.ts';

interface StatusOptions {
  maxAge?: string;
  integration?: string;
  allowPartialCoverage?: boolean;
  json?: boolean;
}

/**
 * The monitoring contract (README "Status and monitoring"): exit 0 healthy, 1 degraded (0 with
 * --allow-partial-coverage), stale or failing, 2 cannot tell — and under --json exactly one JSON
 * document on stdout for every outcome, "cannot tell" included (docs/status.schema.json).
 */
export function registerStatus(program: Command, host: CliHost): void {
  program
    .command('status')
    .description('did the last syncs work? exit 0 healthy; 1 degraded, stale or failing; 2 cannot tell (README "Status and monitoring")')
    .option('--max-age <duration>', 'data older than this is stale (e.g. 26h, 90m, 2d; default: maxAge from the config file, else 26h)')
    .option('--integration <name>', 'only this integration')
    .option('--allow-partial-coverage', 'exit 0 also when degraded: scopes not covered by a limited credential are expected (default: exit 1, or allowPartialCoverage from the config file)')
    .option('--json', 'one JSON document on stdout, whatever the outcome (shape: docs/status.schema.json)')
    .exitOverride((error) => {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.help' || error.exitCode === 0) throw error;
      throw new StatusUsageError(error);
    })
    .action(
      host.run(
        async (ctx, options: StatusOptions) => {
          const maxAgeMs = parseDuration(options.maxAge ?? ctx.config.file.maxAge);
          const allowPartialCoverage = options.allowPartialCoverage === true || ctx.config.file.allowPartialCoverage;
          const document = await readStatus(ctx, { maxAgeMs, allowPartialCoverage, integration: options.integration });
          if (options.json) ctx.out(JSON.stringify(document, null, 2));
          else printStatus(ctx, document);
          return document.exitCode;
        },
        (error, io, options: StatusOptions) => {
          const message = scrubSecrets(errorMessage(error));
          if (options.json) io.stdout.write(`${JSON.stringify(cannotTellDocument(message, { allowPartialCoverage: options.allowPartialCoverage === true }), null, 2)}\n`);
          io.stderr.write(`roster: cannot tell: ${message}\n`);
          return 2;
        },
      ),
    );
}

/** A usage error of `roster status` (unknown option, missing value): "cannot tell", exit 2. */
export class StatusUsageError extends Error {
  readonly commanderError: CommanderError;
  constructor(error: CommanderError) {
    super(error.message);
    this.commanderError = error;
  }
}

export function statusUsageError(error: StatusUsageError, argv: string[], io: Io): number {
  // Commander has already printed what was wrong, on stderr.
  if (argv.includes('--json')) io.stdout.write(`${JSON.stringify(cannotTellDocument(error.message.replace(/^error: /, '')), null, 2)}\n`);
  return 2;
}

/**
 * Reads the status from the database; on the embedded database while another process holds it (a
 * sync, `roster serve`), from the status file that process keeps current.
 */
async function readStatus(ctx: CliContext, options: { maxAgeMs: number; allowPartialCoverage: boolean; integration?: string }): Promise<StatusDocument> {
  const now = new Date();
  let integrations: IntegrationHealth[];
  let source: StatusDocument['source'] = 'database';
  let statusFile: StatusDocument['statusFile'] = null;
  try {
    // Never wait for the database: a check that hangs during a sync is as bad as one that fails.
    const handle = await ctx.database({ lock: { purpose: 'status' } });
    integrations = await integrationHealth(handle.db, { maxAgeMs: options.maxAgeMs, now, integration: options.integration });
  } catch (error) {
    if (!(error instanceof RosterError) || error.code !== 'db_locked') throw error;
    const file = readStatusFile(ctx.dataDir);
    if (!file.content) throw new RosterError('db_locked', `${error.message.replace(/ Wait for it.*$/, '')} and ${file.problem}.`, { cause: error });
    const { content } = file;
    source = 'status-file';
    statusFile = { path: file.path, writtenAt: content.writtenAt, writerPid: content.writer.pid };
    const facts = content.integrations.filter((f) => options.integration === undefined || f.integration.name === options.integration);
    // The file's writer holds the database; a run's own process may be another one, dead or alive.
    const alive = (run: { holder: string | null }): boolean => {
      const [host, pid] = splitHolder(run.holder);
      return host === os.hostname() && pid !== null && isAlive(pid);
    };
    integrations = facts.map((f) => judgeIntegration(f, { maxAgeMs: options.maxAgeMs, now, alive, progress: content.progress }));
  }
  if (options.integration !== undefined && integrations.length === 0) throw new RosterError('integration_not_found', `No integration named "${options.integration}".`);
  return statusDocument(integrations, { maxAgeMs: options.maxAgeMs, allowPartialCoverage: options.allowPartialCoverage, now, source, statusFile });
}

function splitHolder(holder: string | null): [string | null, number | null] {
  if (!holder) return [null, null];
  const at = holder.lastIndexOf(':');
  const pid = Number.parseInt(holder.slice(at + 1), 10);
  return [holder.slice(0, at), Number.isInteger(pid) ? pid : null];
}

function describeOpenRun(run: NonNullable<IntegrationHealth['openRun']>, now: Date): string {
  const ago = (iso: string) => formatAge(Math.max(0, (now.getTime() - Date.parse(iso)) / 1000));
  const p = run.progress;
  const figures = p ? ` (${p.scopesDone.toLocaleString('en-US')}/${p.scopesTotal.toLocaleString('en-US')} scopes, ${p.requests.toLocaleString('en-US')} API requests${p.waitingUntil ? `, waiting for the API budget until ${p.waitingUntil}` : ''})` : '';
  const segments = run.segments > 1 ? `, segment ${run.segments}` : '';
  switch (run.state) {
    case 'in-progress':
      return `run ${run.id} in progress since ${run.startedAt}${run.holder ? ` by ${run.holder}` : ''}${segments}${figures}; last progress ${ago(run.lastProgressAt)} ago`;
    case 'paused':
      return `run ${run.id} paused for the API rate limit${run.resumeAfter ? ` until ${run.resumeAfter}` : ''}; it continues from its checkpoint`;
    case 'interrupted':
      return `run ${run.id} interrupted: it stopped making progress at ${run.lastProgressAt} (${ago(run.lastProgressAt)} ago); the next sync continues it from its checkpoint`;
  }
}

function printStatus(ctx: CliContext, document: StatusDocument): void {
  const now = new Date(document.generatedAt);
  const report = document.integrations;
  if (report.length === 0) {
    ctx.out(document.reason);
    return;
  }
  const openRunCell = (r: IntegrationHealth): string => (r.openRun ? `run ${r.openRun.id} ${r.openRun.state}` : '-');
  ctx.out(
    formatTable(
      ['INTEGRATION', 'WORKSPACE', 'VERDICT', 'LAST RUN', 'DATA AGE', 'REQUESTS', 'NOW'],
      report.map((r) => [r.integration, r.workspace ?? '-', r.verdict, r.lastRun ? `${r.lastRun.id} ${r.lastRun.status}` : '-', r.dataAgeSeconds === null ? '-' : formatAge(r.dataAgeSeconds), r.lastRun ? String(r.lastRun.apiRequests) : '-', openRunCell(r)]),
    ),
  );
  for (const r of report) {
    ctx.out(`\n${r.integration}: ${r.verdict} — ${r.reason}`);
    if (r.openRun) ctx.out(`  ${describeOpenRun(r.openRun, now)}`);
    for (const s of r.failedScopes.slice(0, 10)) ctx.out(`  not read: ${s.label}${s.httpStatus ? ` (HTTP ${s.httpStatus})` : ''}: ${s.message ?? ''}${s.advice ? ` — ${s.advice}` : ''}`);
    if (r.failedScopes.length > 10) ctx.out(`  … and ${r.failedScopes.length - 10} more (roster report coverage)`);
    for (const g of r.coverageGaps) ctx.out(`  not covered: ${g.label}: ${g.message ?? ''}${g.advice ? ` — ${g.advice}` : ''}`);
    for (const w of r.warnings.filter((w) => !(r.openRun && w.startsWith(`run ${r.openRun.id} `)))) ctx.out(`  warning: ${w}`);
  }
  if (document.statusFile) ctx.out(`\n(The embedded database is in use by pid ${document.statusFile.writerPid ?? '?'}: answered from the status file it keeps, written ${formatAge(Math.max(0, (now.getTime() - Date.parse(document.statusFile.writtenAt)) / 1000))} ago.)`);
  if (document.verdict === 'degraded' && !document.allowPartialCoverage) ctx.out('\nDegraded exits 1; if this credential is the one you mean to use, pass --allow-partial-coverage (or set allowPartialCoverage: true in the config file) to exit 0.');
}
