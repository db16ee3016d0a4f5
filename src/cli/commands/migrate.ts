import type { Command } from 'commander';
import { migrateToLatest } from '../../db/migrate.ts';
import type { CliHost } from '../host.ts';
import { plural } from '../table.ts';

export function registerMigrate(program: Command, host: CliHost): void {
  program
    .command('migrate')
    .description('create or update the database schema (safe to run twice, or from two processes at once)')
    .action(
      host.run(async (ctx) => {
        const handle = await ctx.database({ schema: 'skip' });
        const outcome = await migrateToLatest(handle.db);
        ctx.out(
          outcome.applied.length > 0
            ? `Applied ${plural(outcome.applied.length, 'migration')} to ${handle.description}: ${outcome.applied.join(', ')}`
            : `${handle.description} is up to date (${plural(outcome.alreadyApplied, 'migration')} applied earlier).`,
        );
        return 0;
      }),
    );
}
