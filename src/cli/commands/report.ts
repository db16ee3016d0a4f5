import fs from 'node:fs';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { type Command, Option } from 'commander';
import { parseDuration } from '../../config/index.ts';
import { RosterError } from '../../errors.ts';
import type { CliHost } from '../host.ts';
import { plural } from '../table.ts';

interface ReportCliOptions {
  list?: boolean;
  integration?: string;
  format: 'csv' | 'json' | 'ndjson';
  out?: string;
  asOf?: string;
  since?: string;
  until?: string;
  user?: string;
  bom?: boolean;
  includeKeyBody?: boolean;
  maxAge?: string;
  effective?: boolean;
}

/** A date (ISO 8601, or YYYY-MM-DD meaning the end of that day UTC) or, where allowed, a run id. */
function parsePoint(value: string, flag: string, allowRun: boolean): Date | string {
  if (allowRun && /^\d+$/.test(value)) return value;
  const day = /^\d{4}-\d{2}-\d{2}$/.test(value);
  // Only ISO 8601 dates: \`new Date("1")\` would read a run number given to --as-of as the year 2001.
  const date = /^\d{4}-\d{2}-\d{2}/.test(value) ? new Date(day ? `${value}T23:59:59.999Z` : value) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) {
    throw new RosterError('input_invalid', `${flag} "${value}" is not a date${allowRun ? ' or a run id' : ''}: use e.g. 2026-11-01, 2026-11-01T12:00:00Z${allowRun ? ' or a run number from `roster status`' : ''}.`);
  }
  return date;
}

export function registerReport(program: Command, host: CliHost): void {
  program
    .command('report')
    .description('access-review, user-access, privileged-access, machine-credentials, groups, access-changes, effective-access-changes, coverage, sync-status, evidence')
    .argument('[name]', 'the report (see --list)')
    .option('--list', 'describe every report and its columns')
    .option('--integration <name>', 'which integration (default: the only one)')
    .addOption(new Option('--format <format>', 'output format').choices(['csv', 'json', 'ndjson']).default('csv'))
    .option('--out <path>', 'write to this file (for evidence: this directory) instead of stdout')
    .option('--as-of <date>', 'the state as it was at this date')
    .option('--since <date|run>', 'access-changes: from this date or run')
    .option('--until <date|run>', 'access-changes: up to this date or run (default: now)')
    .option('--user <who>', 'user-access: one person (uuid, account id, nickname or display name)')
    .option('--bom', 'CSV: start with a UTF-8 byte order mark, for Excel')
    .option('--include-key-body', 'machine-credentials: include the public key body')
    .option('--effective', 'access-changes: changes of effective access with their causes (the effective-access-changes report)')
    .option('--max-age <duration>', 'warn when the data is older than this (default from config, else 26h)')
    .action(
      host.run(async (ctx, reportName: string | undefined, options: ReportCliOptions) => {
        let name = reportName;
        const reports = await import('../../../reports/index.ts');
        if (options.list || !name) {
          ctx.out(reports.listReports());
          return options.list ? 0 : 1;
        }
        if (options.effective) {
          if (name !== 'access-changes' && name !== 'effective-access-changes') throw new RosterError('input_invalid', `--effective applies to access-changes only (roster report access-changes --effective).`);
          name = 'effective-access-changes';
        }
        const handle = await ctx.database();
        const reportOptions = {
          integration: options.integration,
          format: options.format,
          bom: options.bom === true,
          asOf: options.asOf ? (parsePoint(options.asOf, '--as-of', false) as Date) : undefined,
          since: options.since ? parsePoint(options.since, '--since', true) : undefined,
          until: options.until ? parsePoint(options.until, '--until', true) : undefined,
          user: options.user,
          includeKeyBody: options.includeKeyBody === true,
          maxAgeMs: parseDuration(options.maxAge ?? ctx.config.file.maxAge),
        };
        if (name === 'evidence') {
          if (!options.out) throw new RosterError('input_invalid', '`roster report evidence` needs --out DIR: the directory to write the bundle into.');
          const manifest = await reports.writeEvidence(handle.db, { ...reportOptions, outDir: path.resolve(options.out) });
          ctx.out(`Wrote evidence bundle to ${path.resolve(options.out)}: ${manifest.files.length} files and manifest.json (verify with sha256sum).`);
          for (const warning of manifest.warnings) ctx.err(`roster: warning: ${warning}`);
          for (const limit of manifest.apiLimits) ctx.err(`roster: note: ${limit.statement}`);
          return 0;
        }
        const out = options.out ? fs.createWriteStream(options.out) : ctx.stdout;
        const result = await reports.runReport(handle.db, name, reportOptions, out);
        if (options.out) {
          (out as fs.WriteStream).end();
          await finished(out as fs.WriteStream);
          ctx.err(`roster: wrote ${plural(result.rows, 'row')} to ${options.out}`);
        }
        for (const warning of result.warnings) ctx.err(`roster: warning: ${warning}`);
        for (const note of result.notes) ctx.err(`roster: note: ${note}`);
        return 0;
      }),
    );
}
