import { expect, it } from 'vitest';
import { type RosterDatabase, openDatabase } from '../../src/db/index.ts';
import type { Integration } from '../../src/db/types.ts';
import { logger } from '../../src/log.ts';
import { Scheduler } from '../../src/scheduler/index.ts';
import { startStatusServer } from '../../src/server/index.ts';
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
});
