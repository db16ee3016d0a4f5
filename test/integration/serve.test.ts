import { expect, it } from 'vitest';
import { type RosterDatabase, openDatabase } from '../../src/db/index.ts';
import type { Integration } from '../../src/db/types.ts';
import { logger } from '../../src/log.ts';
import { Scheduler } from '../../src/scheduler/index.ts';
import { startStatusServer } from '../../src/server/index.ts';
import { RosterMetrics } from '../../src/server/metrics.ts';
import { describeWithDb } from '../helpers/db.ts';
import { fakeConnector, smallWorld } from '../helpers/fake-connector.ts';

describeWithDb('roster serve: scheduler and status endpoints', (get) => {
  let integration: Integration;

  it('GET /healthz answers while the database does; GET /status is 503 until every integration is healthy', async () => {
    const handle = get();
    integration = await handle.db
      .insertInto('integrations')
      .values({ name: 'scheduled', kind: 'bitbucket-cloud', workspace: 'acme', base_url: 'http://127.0.0.1:1', credential_kind: 'api-token', schedule: '*/5 * * * *', options: '{}' })
      .returningAll()
      .executeTakeFirstOrThrow();
    const server = await startStatusServer({ handle, host: '127.0.0.1', port: 0, maxAgeMs: 26 * 3_600_000 });
    try {
      const health = await fetch(`${server.url}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ ok: true });
      const before = await fetch(`${server.url}/status`);
      expect(before.status).toBe(503);
      expect(await before.json()).toMatchObject({ verdict: 'stale', exitCode: 1, integrations: [{ integration: 'scheduled', verdict: 'stale', lastRun: null }] });

      const scheduler = new Scheduler({ handle, logger, connect: async () => fakeConnector(smallWorld()) });
      const triggeredAt = Date.now();
      const outcome = await scheduler.trigger('scheduled', new Date());
      expect(outcome?.status).toBe('succeeded');
      const after = await fetch(`${server.url}/status`);
      expect(after.status).toBe(200);
      const body = (await after.json()) as { verdict: string; integrations: Array<{ verdict: string; lastRun: { status: string }; coverageGaps: unknown[]; dataAgeSeconds: number }> };
      expect(body.verdict).toBe('healthy');
      expect(body.integrations[0]).toMatchObject({ verdict: 'healthy', lastRun: { status: 'succeeded' }, coverageGaps: [] });
      // The data is the run's: no older than the time since the run was triggered (rounded to seconds).
      expect(body.integrations[0]?.dataAgeSeconds).toBeLessThanOrEqual(Math.ceil((Date.now() - triggeredAt) / 1000));
      expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('two schedulers firing the same slot run the integration once', async () => {
    const main = get();
    // A second process: its own connection pool on the server; the same handle on the embedded database.
    const other: RosterDatabase = main.url ? await openDatabase({ kind: 'server', url: main.url }) : main;
    try {
      const slow = async () => {
        await new Promise((resolve) => setTimeout(resolve, 200));
        return fakeConnector(smallWorld());
      };
      const a = new Scheduler({ handle: main, logger, connect: slow });
      const b = new Scheduler({ handle: other, logger, connect: slow });
      await new Promise((resolve) => setTimeout(resolve, 20));
      const slot = new Date();
      const runsBefore = await main.db.selectFrom('sync_runs').select('id').where('integration_id', '=', integration.id).execute();
      const [ra, rb] = await Promise.all([a.trigger('scheduled', slot), b.trigger('scheduled', slot)]);
      // One of them ran; the other found the lock taken or the slot served.
      expect([ra, rb].filter((r) => r !== null)).toHaveLength(1);
      // Firing late for the same slot, after the first finished, does not run it again either.
      expect(await b.trigger('scheduled', slot)).toBeNull();
      const runsAfter = await main.db.selectFrom('sync_runs').select('id').where('integration_id', '=', integration.id).execute();
      expect(runsAfter.length - runsBefore.length).toBe(1);
      await a.stop();
      await b.stop();
    } finally {
      if (other !== main) await other.close();
    }
  });

  it('GET /metrics speaks Prometheus; with a status token, /status and /metrics need it and /healthz does not', async () => {
    const handle = get();
    const metrics = new RosterMetrics();
    const token = 'a-status-token-of-32-characters!';
    const server = await startStatusServer({ handle, host: '127.0.0.1', port: 0, maxAgeMs: 26 * 3_600_000, token, metrics });
    try {
      const scheduler = new Scheduler({
        handle,
        logger,
        connect: async () => fakeConnector(smallWorld()),
        observe: (i) => {
          const count = metrics.track(i.name);
          return { onEvent: count, onEnd: async (outcome) => void (outcome && metrics.runFinished(i.name, outcome.status, 1)) };
        },
      });
      expect((await scheduler.trigger('scheduled', null))?.status).toBe('succeeded');
      await scheduler.stop();

      for (const path of ['/status', '/metrics']) {
        const anonymous = await fetch(`${server.url}${path}`);
        expect(anonymous.status, path).toBe(401);
        expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="roster"');
        expect(await anonymous.text()).not.toContain('scheduled');
        expect((await fetch(`${server.url}${path}`, { headers: { authorization: 'Bearer wrong-token' } })).status).toBe(401);
      }
      const healthz = await fetch(`${server.url}/healthz`);
      expect(healthz.status).toBe(200);
      expect(await healthz.json()).toEqual({ ok: true });

      const auth = { authorization: `Bearer ${token}` };
      expect((await fetch(`${server.url}/status`, { headers: auth })).status).toBe(200);
      const scraped = await fetch(`${server.url}/metrics`, { headers: auth });
      expect(scraped.status).toBe(200);
      expect(scraped.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      const text = await scraped.text();
      expect(text).toContain('roster_integration_verdict{integration="scheduled",verdict="healthy"} 1');
      expect(text).toContain('roster_last_run_status{integration="scheduled",status="succeeded"} 1');
      expect(text).toContain('roster_scopes_not_covered{integration="scheduled"} 0');
      expect(text).toContain('roster_sync_run_duration_seconds_count{integration="scheduled",status="succeeded"} 1');
      expect(text).toMatch(/^roster_data_age_seconds\{integration="scheduled"\} [\d.]+$/m);
      expect(text).toMatch(/^process_cpu_user_seconds_total [\d.]+$/m);
    } finally {
      await server.close();
    }
  });
});
