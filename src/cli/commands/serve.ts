import { isIP } from 'node:net';
import { connectIdentitySource, syncOrganization } from '../../identity/org-sync.ts';
import type { Command } from 'commander';
import { RosterError } from '../../errors.ts';
import { MAX_CONCURRENT_SYNCS_LIMIT, parseDuration, parseIntegerOption } from '../../config/index.ts';
import { CONNECTIONS_BESIDES_SYNCS, CONNECTIONS_PER_SYNC, DEFAULT_MAX_CONCURRENT_SYNCS, poolSizeFor } from '../../db/index.ts';
import { logger, useServiceLogLevel } from '../../log.ts';
import { Scheduler } from '../../scheduler/index.ts';
import { startStatusServer } from '../../server/index.ts';
import { RosterMetrics } from '../../server/metrics.ts';
import { connectIntegration } from '../../sync/connect.ts';
import { activeSeconds } from '../../access/run-time.ts';
import type { CliContext } from '../context.ts';
import type { CliHost } from '../host.ts';
import { applyConfiguredIntegrations } from './configured.ts';
import { linkKeyOf } from './review.ts';

/** How often `serve` on the embedded database re-reads the facts into its status file when idle. */
const STATUS_FILE_REFRESH_MS = 60_000;

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\./.test(host);
}

/**
 * The server pool this replica opens: what the operator set, else just enough for its syncs. A set
 * size too small for `maxConcurrentSyncs` is refused: each running sync keeps its lock on a
 * connection of its own and writes on others, and syncs that fill the pool with locks wait for a
 * connection to write with until they time out. Undefined on the embedded database (no pool).
 */
function serverPoolSize(ctx: CliContext, maxConcurrentSyncs: number): number | undefined {
  if (!ctx.env.DATABASE_URL?.trim()) return undefined;
  const needed = poolSizeFor(maxConcurrentSyncs);
  const configured = ctx.configuredPoolSize();
  if (!configured) return needed;
  if (configured.size < needed) {
    const fits = Math.floor((configured.size - CONNECTIONS_BESIDES_SYNCS) / CONNECTIONS_PER_SYNC);
    throw new RosterError(
      'config_invalid',
      `${configured.setBy} is ${configured.size}, too small for ${maxConcurrentSyncs} concurrent syncs: each running sync holds up to ${CONNECTIONS_PER_SYNC} connections (its lock, its writes, its heartbeat) and the status server needs ${CONNECTIONS_BESIDES_SYNCS}, so ${needed} at least. Raise ${configured.setBy} to ${needed}${fits >= 1 ? `, or lower --max-concurrent-syncs (server.maxConcurrentSyncs) to ${fits}` : ''}.`,
    );
  }
  return configured.size;
}

export function registerServe(program: Command, host: CliHost): void {
  program
    .command('serve')
    .description('sync every integration on its cron schedule and serve GET /healthz, GET /status, GET /metrics and the reviewer page (/review)')
    .option('--port <n>', 'HTTP port (default: server.port from the config file, ROSTER_PORT, else 8080)')
    .option('--host <addr>', 'HTTP bind address (default 127.0.0.1; 0.0.0.0 in containers, with ROSTER_STATUS_TOKEN set)')
    .option('--allow-partial-coverage', 'GET /status answers 200 also when degraded (default: 503, or allowPartialCoverage from the config file)')
    .option('--trust-proxy-header <name>', 'reviewer page: believe this header (e.g. X-Forwarded-Email from oauth2-proxy) as the signed-in reviewer\'s e-mail, from --trusted-proxy addresses only (default: server.trustProxyHeader)')
    .option('--trusted-proxy <addrs>', 'comma-separated proxy addresses whose identity header is believed (default: server.trustedProxies)')
    .option('--max-concurrent-syncs <n>', `syncs this process runs at once; more that fire together wait their turn (1 to ${MAX_CONCURRENT_SYNCS_LIMIT}; default: server.maxConcurrentSyncs, else ${DEFAULT_MAX_CONCURRENT_SYNCS})`)
    .action(
      host.run(async (ctx, options: { port?: string; host?: string; allowPartialCoverage?: boolean; trustProxyHeader?: string; trustedProxy?: string; maxConcurrentSyncs?: string }) => {
        useServiceLogLevel();
        const trustProxyHeader = options.trustProxyHeader ?? ctx.config.file.server.trustProxyHeader;
        const trustedProxies = options.trustedProxy !== undefined ? options.trustedProxy.split(',').map((a) => a.trim()).filter(Boolean) : ctx.config.file.server.trustedProxies;
        if (trustProxyHeader !== undefined && !/^[A-Za-z0-9-]+$/.test(trustProxyHeader)) throw new RosterError('input_invalid', `--trust-proxy-header "${trustProxyHeader}" is not a header name: give one such as X-Forwarded-Email.`);
        if (trustProxyHeader !== undefined && trustedProxies.length === 0) {
          throw new RosterError('input_invalid', `--trust-proxy-header ${trustProxyHeader} needs --trusted-proxy ADDR[,ADDR…] (or server.trustedProxies): the header is believed only from the proxy's own address, else anyone could claim to be any reviewer.`);
        }
        for (const a of trustedProxies) if (isIP(a.replace(/^::ffff:/, '')) === 0) throw new RosterError('input_invalid', `--trusted-proxy "${a}" is not an IP address: give the proxy's address as the server sees it, e.g. 10.0.0.1 or 127.0.0.1.`);
        const port = options.port !== undefined ? parseIntegerOption('--port', options.port, 0, 65535) : (ctx.config.env.ROSTER_PORT ?? ctx.config.file.server.port);
        const bind = options.host ?? ctx.config.file.server.host;
        const maxConcurrentSyncs = options.maxConcurrentSyncs !== undefined ? parseIntegerOption('--max-concurrent-syncs', options.maxConcurrentSyncs, 1, MAX_CONCURRENT_SYNCS_LIMIT) : ctx.config.file.server.maxConcurrentSyncs;
        const handle = await ctx.database({ poolSize: serverPoolSize(ctx, maxConcurrentSyncs) });
        await applyConfiguredIntegrations(ctx, handle);
        const keyring = ctx.keyring();
        const metrics = new RosterMetrics();
        const statusFile = ctx.statusFile;
        await statusFile?.refresh();
        const scheduler = new Scheduler({
          handle,
          logger,
          maxConcurrentSyncs,
          connect: (integration, hooks) => connectIntegration(handle, keyring, integration, hooks),
          syncIdentity: async (integration) => syncOrganization(handle, integration, await connectIdentitySource(handle, keyring, integration, { logger }), { trigger: 'schedule', logger }),
          observe: (integration) => {
            const count = metrics.track(integration.name);
            const track = statusFile?.track();
            let runId: string | null = null;
            return {
              onEvent: (event) => {
                if (event.type === 'run-start') runId = event.runId;
                count(event);
                track?.(event);
              },
              onEnd: async (outcome) => {
                if (runId) await statusFile?.runEnded(runId);
                if (!outcome || outcome.status === 'paused' || outcome.status === 'running') return;
                const run = await handle.db.selectFrom('sync_runs').select(['segments', 'started_at', 'finished_at']).where('id', '=', outcome.runId).executeTakeFirst();
                if (!run) return;
                const seconds = Array.isArray(run.segments) && run.segments.length > 0 ? activeSeconds(run.segments) : ((run.finished_at ?? new Date()).getTime() - run.started_at.getTime()) / 1000;
                metrics.runFinished(integration.name, outcome.status, seconds);
              },
            };
          },
        });
        const token = ctx.config.env.ROSTER_STATUS_TOKEN;
        const server = await startStatusServer({
          handle,
          host: bind,
          port,
          maxAgeMs: parseDuration(ctx.config.file.maxAge),
          allowPartialCoverage: options.allowPartialCoverage === true || ctx.config.file.allowPartialCoverage,
          token,
          metrics,
          review: { linkKey: await linkKeyOf(ctx), trustProxyHeader, trustedProxies, secureCookies: ctx.config.file.server.publicUrl?.startsWith('https:') ?? false },
        });
        if (!token && !isLoopback(bind)) {
          ctx.err(`roster serve: warning: /status and /metrics are open to anyone who can reach ${bind}:${port}, and they name integrations, workspaces, error texts and hosts. Set ROSTER_STATUS_TOKEN to require a bearer token.`);
        }
        metrics.watchScheduler(() => scheduler.load());
        await scheduler.start();
        const refresher = statusFile ? setInterval(() => void statusFile.refresh(), STATUS_FILE_REFRESH_MS) : null;
        refresher?.unref();
        ctx.out(`roster serve: status at ${server.url}/status, metrics at ${server.url}/metrics, health at ${server.url}/healthz${token ? ' (status and metrics need the bearer token)' : ''}, reviewer pages at ${server.url}/review/CAMPAIGN (roster review link prints them)${trustProxyHeader ? `, trusting ${trustProxyHeader} from ${trustedProxies.join(', ')}` : ''}; syncing on schedule (Ctrl-C to stop).`);
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        ctx.err('roster serve: stopping — running syncs keep their checkpoints.');
        if (refresher) clearInterval(refresher);
        await scheduler.stop();
        await server.close();
        return 0;
      }),
    );
}
