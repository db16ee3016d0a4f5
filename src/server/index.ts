import http from 'node:http';
import { sql } from 'kysely';
import type { RosterDatabase } from '../db/index.ts';
import { errorMessage } from '../errors.ts';
import { scrubSecrets } from '../log.ts';
import { integrationHealth } from '../sync/health.ts';

export interface StatusServerOptions {
  handle: RosterDatabase;
  host: string;
  port: number;
  maxAgeMs: number;
}

/**
 * `GET /healthz`: the process is up and its database answers (200, else 503).
 * `GET /status`: per integration last run, status, coverage and freshness as JSON; 200 when every
 * integration is healthy, 503 otherwise, so a plain HTTP check can alert on it.
 */
export async function startStatusServer(options: StatusServerOptions): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      res.end(`${JSON.stringify(body, null, 2)}\n`);
    };
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') return send(405, { error: 'only GET is supported' });
    if (path === '/healthz') {
      sql`select 1`
        .execute(options.handle.db)
        .then(() => send(200, { ok: true, database: options.handle.target.kind }))
        .catch((error: unknown) => send(503, { ok: false, error: scrubSecrets(errorMessage(error)) }));
      return;
    }
    if (path === '/status') {
      integrationHealth(options.handle.db, { maxAgeMs: options.maxAgeMs })
        .then((integrations) => {
          const healthy = integrations.length > 0 && integrations.every((i) => i.health === 'healthy');
          send(healthy ? 200 : 503, { health: healthy ? 'healthy' : 'unhealthy', generatedAt: new Date().toISOString(), integrations });
        })
        .catch((error: unknown) => send(503, { health: 'unknown', error: scrubSecrets(errorMessage(error)) }));
      return;
    }
    send(404, { error: 'not found; try /healthz or /status' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    url: `http://${options.host}:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
