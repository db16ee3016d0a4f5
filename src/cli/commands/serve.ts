import type { Command } from 'commander';
import { parseDuration } from '../../config/index.ts';
import { logger, useServiceLogLevel } from '../../log.ts';
import { Scheduler } from '../../scheduler/index.ts';
import { startStatusServer } from '../../server/index.ts';
import { connectIntegration } from '../../sync/connect.ts';
import type { CliHost } from '../main.ts';
import { applyConfiguredIntegrations } from './configured.ts';

export function registerServe(program: Command, host: CliHost): void {
  program
    .command('serve')
    .description('sync every integration on its cron schedule and serve GET /healthz and GET /status')
    .option('--port <n>', 'HTTP port (default from config, ROSTER_PORT, else 8080)')
    .option('--host <addr>', 'HTTP bind address (default 127.0.0.1; 0.0.0.0 in containers)')
    .action(
      host.run(async (ctx, options: { port?: string; host?: string }) => {
        useServiceLogLevel();
        const handle = await ctx.database();
        await applyConfiguredIntegrations(ctx, handle);
        const keyring = ctx.keyring();
        const scheduler = new Scheduler({ handle, logger, connect: (integration, hooks) => connectIntegration(handle, keyring, integration, hooks) });
        const server = await startStatusServer({
          handle,
          host: options.host ?? ctx.config.file.server.host,
          port: Number(options.port ?? ctx.env.ROSTER_PORT ?? ctx.config.file.server.port),
          maxAgeMs: parseDuration(ctx.config.file.maxAge),
        });
        await scheduler.start();
        ctx.out(`roster serve: status at ${server.url}/status, health at ${server.url}/healthz; syncing on schedule (Ctrl-C to stop).`);
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        ctx.err('roster serve: stopping — running syncs keep their checkpoints.');
        await scheduler.stop();
        await server.close();
        return 0;
      }),
    );
}
