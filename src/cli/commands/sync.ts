import type { Command } from 'commander';
import { findIntegration, listIntegrations } from '../../db/integrations.ts';
import type { Integration } from '../../db/types.ts';
import { RosterError } from '../../errors.ts';
import { logger } from '../../log.ts';
import { isIdentitySource } from '../../connectors.ts';
import { connectIdentitySource, syncOrganization } from '../../identity/org-sync.ts';
import { connectIntegration } from '../../sync/connect.ts';
import { runSync } from '../../sync/runner.ts';
import type { CliContext } from '../context.ts';
import type { CliHost } from '../host.ts';
import { ProgressLine } from '../progress.ts';
import { applyConfiguredIntegrations } from './configured.ts';

export function registerSync(program: Command, host: CliHost): void {
  program
    .command('sync')
    .description('pull access data from Bitbucket now (all integrations, or one)')
    .option('--integration <name>', 'only this integration')
    .option('--full', 're-read everything instead of only what changed since the last good run')
    .option('--wait', 'if another process is syncing this integration, wait for it instead of exiting')
    .action(
      host.run(async (ctx, options: { integration?: string; full?: boolean; wait?: boolean }) => {
        const handle = await ctx.database();
        await applyConfiguredIntegrations(ctx, handle);
        const targets: Integration[] = options.integration
          ? [await findIntegration(handle.db, options.integration)]
          : (await listIntegrations(handle.db)).filter((i) => i.status !== 'disabled');
        if (targets.length === 0) throw new RosterError('integration_not_found', 'No integrations to sync. Add one with `roster integration add`, or try `roster demo`.');
        const controller = new AbortController();
        const onSignal = () => {
          ctx.err('\nroster: interrupted — finishing the scopes in flight and keeping a checkpoint (press Ctrl-C again to quit at once)');
          if (controller.signal.aborted) process.exit(130);
          controller.abort();
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        let exit = 0;
        try {
          for (const integration of targets) {
            const code = await syncOne(ctx, integration, { full: options.full === true, wait: options.wait === true, signal: controller.signal });
            exit = Math.max(exit, code);
            if (controller.signal.aborted) break;
          }
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
        return exit;
      }),
    );
}

export async function syncOne(ctx: CliContext, integration: Integration, options: { full: boolean; wait: boolean; signal?: AbortSignal; trigger?: 'manual' | 'demo' }): Promise<number> {
  const handle = await ctx.database();
  const keyring = ctx.keyring();
  if (isIdentitySource(integration.kind)) {
    // An identity source: its own small run (accounts and domains), on the same run rows and lock.
    const reader = await connectIdentitySource(handle, keyring, integration, { logger, signal: options.signal });
    const outcome = await syncOrganization(handle, integration, reader, { trigger: options.trigger ?? 'manual', logger });
    ctx.out(outcome.summary);
    return outcome.status === 'succeeded' ? 0 : 1;
  }
  const progress = new ProgressLine(ctx.stderr, `syncing ${integration.name}`, { intervalSeconds: ctx.config.env.ROSTER_PROGRESS_INTERVAL });
  // On the embedded database, `roster status` reads this process's status file while it syncs.
  const track = ctx.statusFile?.track();
  let runId: string | null = null;
  try {
    const outcome = await runSync(handle, {
      integration,
      mode: options.full ? 'full' : 'incremental',
      trigger: options.trigger ?? 'manual',
      wait: options.wait,
      signal: options.signal,
      onProgress: (event) => {
        if (event.type === 'run-start') runId = event.runId;
        progress.onEvent(event);
        track?.(event);
      },
      logger,
      connect: (hooks) => connectIntegration(handle, keyring, integration, hooks),
    });
    progress.done();
    ctx.out(outcome.summary);
    return outcome.status === 'succeeded' ? 0 : 1;
  } catch (error) {
    progress.done();
    throw error;
  } finally {
    if (runId) await ctx.statusFile?.runEnded(runId);
  }
}
