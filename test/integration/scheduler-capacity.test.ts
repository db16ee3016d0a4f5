import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { expect, it } from 'vitest';
import { applyConfiguredIntegrations } from '../../src/cli/commands/configured.ts';
import { CliContext } from '../../src/cli/context.ts';
import { type RosterDatabase, openDatabase, poolSizeFor } from '../../src/db/index.ts';
import type { Integration } from '../../src/db/types.ts';
import { logger } from '../../src/log.ts';
import { Scheduler, type SchedulerOptions } from '../../src/scheduler/index.ts';
import { CliHarness } from '../helpers/cli.ts';
import { describeWithDb } from '../helpers/db.ts';
import { fakeConnector, smallWorld } from '../helpers/fake-connector.ts';

/** Integrations that all fire at the same minute: more of them than a pool of 8 has connections. */
const COUNT = 12;

async function addIntegrations(handle: RosterDatabase, prefix: string, count: number): Promise<string[]> {
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(2, '0')}`);
  await handle.db
    .insertInto('integrations')
    .values(names.map((name) => ({ name, kind: 'bitbucket-cloud', workspace: name, base_url: 'http://127.0.0.1:1', credential_kind: 'api-token', schedule: '0 3 * * *', options: '{}' })))
    .execute();
  return names;
}

async function runsOfSlot(handle: RosterDatabase, names: string[], slot: Date): Promise<Array<{ name: string; status: string; holder: string | null }>> {
  return handle.db
    .selectFrom('sync_runs')
    .innerJoin('integrations', 'integrations.id', 'sync_runs.integration_id')
    .select(['integrations.name', 'sync_runs.status', 'sync_runs.holder'])
    .where('integrations.name', 'in', names)
    .where('sync_runs.slot', '=', slot)
    .execute();
}

/** A connector that takes a moment to connect, so the runs of one slot overlap. */
const slowConnect = async () => {
  await new Promise((resolve) => setTimeout(resolve, 100));
  return fakeConnector(smallWorld());
};

/** Watches which integrations ran, in which order, and how many at once. */
function watcher(): { observe: NonNullable<SchedulerOptions['observe']>; started: string[]; maxAtOnce: () => number } {
  const started: string[] = [];
  let now = 0;
  let max = 0;
  return {
    started,
    maxAtOnce: () => max,
    observe: (integration: Integration) => ({
      onEvent: (event) => {
        if (event.type !== 'run-start') return;
        started.push(integration.name);
        max = Math.max(max, ++now);
      },
      onEnd: async (outcome) => {
        if (outcome) now--;
      },
    }),
  };
}

/** A second replica: its own connection pool on the server; the same handle on the embedded database (one process). */
async function replicaOf(main: RosterDatabase & { url: string | null }): Promise<RosterDatabase> {
  return main.url ? openDatabase({ kind: 'server', url: main.url }) : main;
}

describeWithDb('scheduler: many integrations at one slot', (get) => {
  it('syncs every integration of a slot when more fire at once than the database pool has connections', async () => {
    const handle = get();
    // A replica's own pool of 8, as `roster serve` opened it before the pool size was configurable.
    const replica: RosterDatabase = get().url ? await openDatabase({ kind: 'server', url: get().url as string, poolSize: 8 }) : handle;
    const names = await addIntegrations(handle, 'crowd', COUNT);
    const scheduler = new Scheduler({ handle: replica, logger, connect: slowConnect, maxConcurrentSyncs: 3 });
    try {
      const slot = new Date(Date.UTC(2026, 0, 1, 3));
      const outcomes = await Promise.all(names.map((name) => scheduler.trigger(name, slot)));
      expect(outcomes.map((o) => o?.status)).toEqual(names.map(() => 'succeeded'));
      const runs = await runsOfSlot(handle, names, slot);
      expect(runs.map((r) => r.name).sort()).toEqual(names);
      expect(runs.every((r) => r.status === 'succeeded')).toBe(true);
    } finally {
      await scheduler.stop();
      if (replica !== handle) await replica.close();
    }
  });

  it('runs at most maxConcurrentSyncs at once; the rest wait in the queue by slot, earliest first', async () => {
    const handle = get();
    const names = await addIntegrations(handle, 'queue', 4);
    const watch = watcher();
    const scheduler = new Scheduler({ handle, logger, connect: slowConnect, maxConcurrentSyncs: 1, observe: watch.observe });
    try {
      const at = (hour: number): Date => new Date(Date.UTC(2026, 0, 2, hour));
      const [first, late, early, middle] = names as [string, string, string, string];
      const running = [scheduler.trigger(first, at(5)), scheduler.trigger(late, at(9)), scheduler.trigger(early, at(1)), scheduler.trigger(middle, at(7))];
      expect(scheduler.load()).toEqual({ running: 1, queued: 3, capacity: 1 });
      // Triggered again while queued: joins the trigger that waits, no second place in the queue.
      expect(scheduler.trigger(late, at(9))).toBe(running[1]);
      expect(scheduler.load().queued).toBe(3);
      const outcomes = await Promise.all(running);
      expect(outcomes.map((o) => o?.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
      expect(watch.started).toEqual([first, early, middle, late]);
      expect(watch.maxAtOnce()).toBe(1);
      expect(scheduler.load()).toEqual({ running: 0, queued: 0, capacity: 1 });
    } finally {
      await scheduler.stop();
    }
  });

  it('stop() drops what waits in the queue without starting it, and interrupts what runs', async () => {
    const handle = get();
    const [running, waiting] = (await addIntegrations(handle, 'stopping', 2)) as [string, string];
    let connecting!: () => void;
    const connected = new Promise<void>((resolve) => (connecting = resolve));
    const scheduler = new Scheduler({
      handle,
      logger,
      maxConcurrentSyncs: 1,
      connect: async () => {
        connecting();
        await new Promise((resolve) => setTimeout(resolve, 300));
        return fakeConnector(smallWorld());
      },
    });
    const slot = new Date(Date.UTC(2026, 0, 3, 3));
    const first = scheduler.trigger(running, slot);
    const second = scheduler.trigger(waiting, slot);
    await connected;
    expect(scheduler.load().queued).toBe(1);
    await scheduler.stop();
    expect((await first)?.status).toBe('paused');
    expect(await second).toBeNull();
    const runs = await runsOfSlot(handle, [running, waiting], slot);
    expect(runs.map((r) => r.name)).toEqual([running]);
    // Stopped: a late trigger does not start anything either.
    expect(await scheduler.trigger(waiting, slot)).toBeNull();
  });

  it('two replicas of maxConcurrentSyncs 2 share the integrations of a slot: each slot served once, by one or the other', async () => {
    const main = get();
    const other = await replicaOf(main);
    const names = await addIntegrations(main, 'shared', 8);
    const watchA = watcher();
    const watchB = watcher();
    const a = new Scheduler({ handle: main, logger, connect: slowConnect, maxConcurrentSyncs: 2, observe: watchA.observe });
    const b = new Scheduler({ handle: other, logger, connect: slowConnect, maxConcurrentSyncs: 2, observe: watchB.observe });
    try {
      const slot = new Date(Date.UTC(2026, 0, 4, 3));
      const outcomes = await Promise.all(names.flatMap((name) => [a.trigger(name, slot), b.trigger(name, slot)]));
      // Each integration ran on exactly one of them; the other found it locked or its slot served.
      expect(outcomes.filter((o) => o !== null)).toHaveLength(names.length);
      expect(outcomes.every((o) => o === null || o.status === 'succeeded')).toBe(true);
      const runs = await runsOfSlot(main, names, slot);
      expect(runs.map((r) => r.name).sort()).toEqual(names);
      expect([...watchA.started, ...watchB.started].sort()).toEqual(names);
      // Neither took more than its cap, and neither took them all: four at a time need both.
      expect(watchA.maxAtOnce()).toBeLessThanOrEqual(2);
      expect(watchB.maxAtOnce()).toBeLessThanOrEqual(2);
      expect(watchA.started.length).toBeGreaterThan(0);
      expect(watchB.started.length).toBeGreaterThan(0);
    } finally {
      await a.stop();
      await b.stop();
      if (other !== main) await other.close();
    }
  });

  it('a trigger queued on a saturated replica, whose slot another replica served meanwhile, is skipped', async () => {
    const main = get();
    const other = await replicaOf(main);
    const [busy, queued] = (await addIntegrations(main, 'served', 2)) as [string, string];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const watchA = watcher();
    const a = new Scheduler({
      handle: main,
      logger,
      maxConcurrentSyncs: 1,
      observe: watchA.observe,
      connect: async (integration) => {
        if (integration.name === busy) await released;
        return fakeConnector(smallWorld());
      },
    });
    const b = new Scheduler({ handle: other, logger, connect: slowConnect, maxConcurrentSyncs: 1 });
    try {
      const slot = new Date(Date.UTC(2026, 0, 5, 3));
      const onA = [a.trigger(busy, slot), a.trigger(queued, slot)];
      expect(a.load()).toEqual({ running: 1, queued: 1, capacity: 1 });
      // Replica A holds no lock for what waits in its queue: B takes the integration and serves the slot.
      expect((await b.trigger(queued, slot))?.status).toBe('succeeded');
      release();
      const [busyOutcome, queuedOutcome] = await Promise.all(onA);
      expect(busyOutcome?.status).toBe('succeeded');
      expect(queuedOutcome).toBeNull();
      expect(watchA.started).toEqual([busy]);
      expect((await runsOfSlot(main, [queued], slot)).length).toBe(1);
    } finally {
      release();
      await a.stop();
      await b.stop();
      if (other !== main) await other.close();
    }
  });
});

describeWithDb('roster serve: pool size against --max-concurrent-syncs', () => {
  // Refused before any connection is made: the address needs no server behind it.
  const env = { DATABASE_URL: 'postgres://roster@127.0.0.1:1/roster', ROSTER_ENCRYPTION_KEY: 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=' };

  it('refuses a pool too small for its syncs, naming both settings and the numbers that fit', async () => {
    const cli = new CliHarness(null);
    try {
      const small = await cli.run(['serve', '--port', '0', '--max-concurrent-syncs', '4'], { env: { ...env, ROSTER_DB_POOL_SIZE: '9' } });
      expect(small.code).toBe(1);
      expect(small.stderr).toContain(`ROSTER_DB_POOL_SIZE is 9, too small for 4 concurrent syncs`);
      expect(small.stderr).toContain(`Raise ROSTER_DB_POOL_SIZE to ${poolSizeFor(4)}, or lower --max-concurrent-syncs (server.maxConcurrentSyncs) to 2.`);
      const none = await cli.run(['serve', '--port', '0', '--max-concurrent-syncs', '1'], { env: { ...env, ROSTER_DB_POOL_SIZE: '3' } });
      expect(none.stderr).toContain(`ROSTER_DB_POOL_SIZE is 3, too small for 1 concurrent syncs`);
      expect(none.stderr).not.toContain('or lower');
      const word = await cli.run(['serve', '--max-concurrent-syncs', 'many'], { env });
      expect(word.stderr).toBe('roster: --max-concurrent-syncs must be a whole number from 1 to 64 (got "many").\n');
      const badPool = await cli.run(['serve'], { env: { ...env, ROSTER_DB_POOL_SIZE: 'lots' } });
      expect(badPool.code).toBe(1);
      expect(badPool.stderr).toContain('env.ROSTER_DB_POOL_SIZE: must be a whole number from 1 to 1,000 (got "lots")');
      // Big enough: past the check, serve goes on to the database (none answers at this address).
      const enough = await cli.run(['serve', '--port', '0', '--max-concurrent-syncs', '4'], { env: { ...env, ROSTER_DB_POOL_SIZE: String(poolSizeFor(4)) } });
      expect(enough.stderr).toContain('Cannot connect to PostgreSQL');
    } finally {
      cli.cleanup();
    }
  });
});

describeWithDb('replicas starting together', (get) => {
  it('two replicas bringing the same new integrations of the config file into the database both start', async (context) => {
    const main = get();
    // The embedded database is one process's: there is no second replica to race with.
    if (!main.url) return context.skip();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roster-replicas-'));
    const env = { DATABASE_URL: main.url, ROSTER_ENCRYPTION_KEY: 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=', BB_TOKEN: 'token-of-the-config' };
    const io = { stdout: new PassThrough(), stderr: new PassThrough(), env };
    try {
      for (let round = 0; round < 5; round++) {
        const names = [0, 1, 2].map((i) => `declared-${round}-${i}`);
        const file = path.join(dir, `roster.config.${round}.yaml`);
        fs.writeFileSync(file, `integrations:\n${names.map((n) => `  - { name: ${n}, workspace: ${n}, credentialKind: api-token, username: svc@acme.example, secretEnv: BB_TOKEN }\n`).join('')}`);
        const replicas = [new CliContext({ config: file }, io), new CliContext({ config: file }, io)];
        try {
          await Promise.all(replicas.map(async (ctx) => applyConfiguredIntegrations(ctx, await ctx.database())));
        } finally {
          await Promise.all(replicas.map((ctx) => ctx.close()));
        }
        const stored = await main.db.selectFrom('integrations').select('name').where('name', 'in', names).execute();
        expect(stored.map((r) => r.name).sort()).toEqual(names);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
