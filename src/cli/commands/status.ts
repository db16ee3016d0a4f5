import type { Command } from 'commander';
import { parseDuration } from '../../config/index.ts';
import { RosterError, errorMessage } from '../../errors.ts';
import { scrubSecrets } from '../../log.ts';
import { formatAge, integrationHealth } from '../../sync/health.ts';
import type { CliHost } from '../main.ts';
import { formatTable } from '../table.ts';

/**
 * Exit codes are the contract for monitoring: 0 every integration is healthy; 1 one is stale, failing
 * or never synced (or none is configured); 2 Roster cannot tell (database unreachable, bad config).
 */
export function registerStatus(program: Command, host: CliHost): void {
  program
    .command('status')
    .description('did the last syncs work? exit 0 healthy, 1 stale/failing/never synced, 2 cannot tell')
    .option('--max-age <duration>', 'data older than this is stale (e.g. 26h, 90m, 2d; default from config, else 26h)')
    .option('--integration <name>', 'only this integration')
    .option('--json', 'machine-readable output')
    .action(
      host.run(async (ctx, options: { maxAge?: string; integration?: string; json?: boolean }) => {
        let report;
        try {
          const maxAgeMs = parseDuration(options.maxAge ?? ctx.config.file.maxAge);
          const handle = await ctx.database();
          report = await integrationHealth(handle.db, { maxAgeMs, integration: options.integration });
          if (options.integration && report.length === 0) throw new RosterError('integration_not_found', `No integration named "${options.integration}".`);
        } catch (error) {
          const message = scrubSecrets(errorMessage(error));
          if (options.json) ctx.out(JSON.stringify({ health: 'unknown', error: message }));
          ctx.err(`roster: cannot tell: ${message}`);
          return 2;
        }
        const healthy = report.length > 0 && report.every((r) => r.health === 'healthy');
        if (options.json) {
          ctx.out(JSON.stringify({ health: healthy ? 'healthy' : 'unhealthy', integrations: report }, null, 2));
          return healthy ? 0 : 1;
        }
        if (report.length === 0) {
          ctx.out('No integrations configured: nothing is being synced. Add one with `roster integration add`, or try `roster demo`.');
          return 1;
        }
        ctx.out(
          formatTable(
            ['INTEGRATION', 'WORKSPACE', 'HEALTH', 'LAST RUN', 'DATA AGE', 'REQUESTS'],
            report.map((r) => [r.integration, r.workspace ?? '-', r.health, r.lastRun ? `${r.lastRun.id} ${r.lastRun.status}` : '-', r.dataAgeSeconds === null ? '-' : formatAge(r.dataAgeSeconds), r.lastRun ? String(r.lastRun.apiRequests) : '-']),
          ),
        );
        for (const r of report) {
          ctx.out(`\n${r.integration}: ${r.health} — ${r.reason}`);
          if (r.openRun) ctx.out(`  run ${r.openRun.id} is ${r.openRun.status} (started ${r.openRun.startedAt}${r.openRun.holder ? ` by ${r.openRun.holder}` : ''}${r.openRun.resumeAfter ? `, resumes after ${r.openRun.resumeAfter}` : ''})`);
          for (const s of r.failedScopes.slice(0, 10)) ctx.out(`  not read: ${s.label}${s.httpStatus ? ` (HTTP ${s.httpStatus})` : ''}: ${s.message ?? ''}${s.advice ? ` — ${s.advice}` : ''}`);
          if (r.failedScopes.length > 10) ctx.out(`  … and ${r.failedScopes.length - 10} more (roster report coverage)`);
          for (const g of r.coverageGaps) ctx.out(`  not covered: ${g.label}: ${g.message ?? ''}${g.advice ? ` — ${g.advice}` : ''}`);
          for (const w of r.warnings.filter((w) => !w.includes('not covered by this credential'))) ctx.out(`  warning: ${w}`);
        }
        return healthy ? 0 : 1;
      }),
    );
}
