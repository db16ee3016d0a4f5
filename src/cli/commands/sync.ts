import { type Command, Option } from 'commander';
import { findIntegration, listIntegrations, poolMembers } from '../../db/integrations.ts';
import type { Integration } from '../../db/types.ts';
import { RosterError } from '../../errors.ts';
import { RECONCILE_SETTINGS, type ReconcileSetting } from '../../interfaces.ts';
import { logger } from '../../log.ts';
import { isIdentitySource } from '../../connectors.ts';
import { connectIdentitySource, syncOrganization } from '../../identity/org-sync.ts';
import { connectIntegration } from '../../sync/connect.ts';
import { formatPlan, planSync } from '../../sync/plan.ts';
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
    .addOption(new Option('--reconcile <when>', "this run only: read the source's own effective permissions to cross-check (always), only if no run did in the last week (weekly), or not (off); default: the integration's reconcile option").choices([...RECONCILE_SETTINGS]))
    .option('--plan', 'do not sync: print the requests a full and an incremental sync will take, the hours at the budget, and which settings change them (from the last run, or a probe of a few requests when never synced)')
    .option('--json', 'with --plan: print the plan as JSON')
    .action(
      host.run(async (ctx, options: { integration?: string; full?: boolean; wait?: boolean; plan?: boolean; json?: boolean; reconcile?: ReconcileSetting }) => {
        if (options.json && !options.plan) throw new RosterError('input_invalid', '--json applies to --plan only (roster sync --integration NAME --plan --json).');
        if (options.plan && (options.full || options.wait)) throw new RosterError('input_invalid', `--plan does not sync, so ${options.full ? '--full' : '--wait'} has nothing to do: drop it (the plan shows both a full and an incremental sync).`);
        const handle = await ctx.database();
        await applyConfiguredIntegrations(ctx, handle);
        const targets: Integration[] = options.integration
          ? [await findIntegration(handle.db, options.integration)]
          : (await listIntegrations(handle.db)).filter((i) => i.status !== 'disabled');
        if (targets.length === 0) throw new RosterError('integration_not_found', 'No integrations to sync. Add one with `roster integration add`, or try `roster demo`.');
        if (options.plan) {
          const keyring = ctx.keyring();
          const plans = [];
          for (const integration of targets) {
            plans.push(await planSync(handle.db, integration, () => connectIntegration(handle, keyring, integration, { onProgress: () => {}, logger }), { reconcile: options.reconcile, credentials: 1 + (await poolMembers(handle.db, String(integration.id))).length }));
          }
          if (options.json) ctx.out(JSON.stringify(options.integration ? plans[0] : plans, null, 2));
          else for (const plan of plans) ctx.out(formatPlan(plan).trimEnd());
          return 0;
        }
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
            const code = await syncOne(ctx, integration, { full: options.full === true, wait: options.wait === true, signal: controller.signal, reconcile: options.reconcile });
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

export async function syncOne(ctx: CliContext, integration: Integration, options: { full: boolean; wait: boolean; signal?: AbortSignal; trigger?: 'manual' | 'demo'; reconcile?: ReconcileSetting }): Promise<number> {
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
      reconcile: options.reconcile,
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
