import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { sql } from 'kysely';
import type { RosterDatabase } from '../db/index.ts';
import { errorMessage } from '../errors.ts';
import { scrubSecrets } from '../log.ts';
import { cannotTellDocument, integrationHealth, statusDocument } from '../access/health.ts';
import type { RosterMetrics } from './metrics.ts';
import { type ReviewServerOptions, reviewRoutes } from './review/routes.ts';

export interface StatusServerOptions {
  handle: RosterDatabase;
  host: string;
  port: number;
  maxAgeMs: number;
  /** `degraded` answers 200 instead of 503 (as `roster status --allow-partial-coverage` exits 0). */
  allowPartialCoverage?: boolean;
  /** When set, `/status` and `/metrics` need `Authorization: Bearer <token>` (ROSTER_STATUS_TOKEN). */
  token?: string;
  /** Serves `/metrics` when given. */
  metrics?: RosterMetrics;
  /** Serves the reviewer web page under `/review` when given (see `review/routes.ts`). */
  review?: ReviewServerOptions;
}

/** Constant-time comparison of the presented bearer token with the configured one. */
function authorized(header: string | undefined, token: string): boolean {
  const presented = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1] ?? '';
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(presented), digest(token));
}

/**
 * `GET /healthz`: the process is up and its database answers (200, else 503); says nothing else.
 * `GET /status`: the document `roster status --json` prints (docs/status.schema.json); 200 exactly
 * when `roster status` would exit 0, else 503, so a plain HTTP check can alert on it.
 * `GET /metrics`: Prometheus text format (see `metrics.ts`).
 * `/review/…`: the reviewer web page (see `review/routes.ts`), when `review` is given.
 * `/status` and `/metrics` name integrations, workspaces, error texts and hosts: with
 * ROSTER_STATUS_TOKEN set they need it as a bearer token.
 */
export async function startStatusServer(options: StatusServerOptions): Promise<{ url: string; close(): Promise<void> }> {
  const allowPartialCoverage = options.allowPartialCoverage ?? false;
  const review = options.review ? reviewRoutes(options.handle.db, options.review) : null;
  const server = http.createServer((req, res) => {
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
      res.end(`${JSON.stringify(body, null, 2)}\n`);
    };
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (review && (path === '/review' || path.startsWith('/review/'))) {
      void review(req, res);
      return;
    }
    if (req.method !== 'GET') return send(405, { error: 'only GET is supported' }, { allow: 'GET' });
    if (path === '/healthz') {
      sql`select 1`
        .execute(options.handle.db)
        .then(() => send(200, { ok: true }))
        .catch(() => send(503, { ok: false }));
      return;
    }
    if (path !== '/status' && path !== '/metrics') return send(404, { error: 'not found; try /healthz, /status or /metrics' });
    if (options.token !== undefined && !authorized(req.headers.authorization, options.token)) {
      return send(401, { error: 'this endpoint needs Authorization: Bearer <ROSTER_STATUS_TOKEN>' }, { 'www-authenticate': 'Bearer realm="roster"' });
    }
    const now = new Date();
    if (path === '/status') {
      integrationHealth(options.handle.db, { maxAgeMs: options.maxAgeMs, now })
        .then((integrations) => {
          const document = statusDocument(integrations, { maxAgeMs: options.maxAgeMs, allowPartialCoverage, now, source: 'database' });
          send(document.exitCode === 0 ? 200 : 503, document);
        })
        .catch((error: unknown) => send(503, cannotTellDocument(scrubSecrets(errorMessage(error)), { maxAgeMs: options.maxAgeMs, allowPartialCoverage, now })));
      return;
    }
    const metrics = options.metrics;
    if (!metrics) return send(404, { error: 'metrics are not enabled in this server' });
    integrationHealth(options.handle.db, { maxAgeMs: options.maxAgeMs, now })
      .then(async (integrations) => {
        metrics.update(integrations, now);
        const text = await metrics.metrics();
        res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
        res.end(text);
      })
      // No figures at all is what Prometheus expects of a target that cannot answer: `up` goes to 0.
      .catch((error: unknown) => send(503, { error: scrubSecrets(errorMessage(error)) }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
