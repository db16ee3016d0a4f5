import { expect, it } from 'vitest';
import type { Integration } from '../../src/db/types.ts';
import { ConnectorError, RosterError } from '../../src/errors.ts';
import type { Scope, StreamDeclaration } from '../../src/interfaces.ts';
import { type SyncRequest, runSync } from '../../src/sync/runner.ts';
import { describeWithDb } from '../helpers/db.ts';
import { fakeConnector, smallWorld } from '../helpers/fake-connector.ts';

describeWithDb('a sync interrupted while waiting for the budget', (get) => {
  it('is stored as interrupted (sync_aborted), not paused for the rate limit, and the next sync continues it', async () => {
    const { db } = get();
    const integration: Integration = await db
      .insertInto('integrations')
      .values({ name: 'interrupted', kind: 'bitbucket-cloud', workspace: 'acme', base_url: 'http://127.0.0.1:1', credential_kind: 'api-token', schedule: null, options: '{}' })
      .returningAll()
      .executeTakeFirstOrThrow();
    const world = smallWorld();
    const controller = new AbortController();
    let listingWaits!: () => void;
    const waiting = new Promise<void>((resolve) => (listingWaits = resolve));
    let budgetSpent!: () => void;
    const spent = new Promise<void>((resolve) => (budgetSpent = resolve));
    const resumeAt = new Date(Date.now() + 3600_000);

    // As the HTTP client does it: one scope's next request would wait longer than allowed
    // (budget_exhausted), while a listing already under way waits for the budget to go on with its
    // next page — until the signal aborts its wait (SIGTERM: `roster sync` and `roster serve` abort).
    const scope = (id: string): Scope => ({ id: `budget:${id}`, stream: 'budget', resource: null, label: id });
    const budgetStream: StreamDeclaration = {
      name: 'budget',
      description: 'listings out of budget',
      dependsOn: ['workspace'],
      coverage: () => null,
      scopes: async () => [scope('under-way'), scope('spent')],
      async *read(s, ctx) {
        if (s.id === 'budget:spent') {
          await waiting;
          budgetSpent();
          throw new ConnectorError('budget_exhausted', `Request budget exhausted; the run can resume at ${resumeAt.toISOString()}`, { endpoint: '/2.0/next', retryable: true, resumeAt });
        }
        yield {};
        listingWaits();
        await new Promise<never>((_, reject) => ctx.signal.addEventListener('abort', () => reject(new RosterError('sync_aborted', 'Aborted while requesting /2.0/page-2')), { once: true }));
      },
    };
    const connect: SyncRequest['connect'] = async () => {
      const base = fakeConnector(world);
      return { ...base, streams: [...base.streams, budgetStream] };
    };
    const running = runSync(get(), { integration, mode: 'full', trigger: 'test', signal: controller.signal, connect });
    await spent;
    // The budget error is recorded (a microtask after it is thrown) before the signal comes.
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort();
    const outcome = await running;

    expect(outcome.status).toBe('paused');
    expect(outcome.error?.code).toBe('sync_aborted');
    expect(outcome.resumeAfter).toBeNull();
    expect(outcome.summary).toContain('was interrupted');
    const row = await db.selectFrom('sync_runs').select(['status', 'error_code', 'resume_after', 'segments']).where('id', '=', outcome.runId).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'paused', error_code: 'sync_aborted', resume_after: null });
    expect(row.segments.map((s) => s.outcome)).toEqual(['interrupted']);

    const next = await runSync(get(), { integration, mode: 'full', trigger: 'test', connect: async () => fakeConnector(world) });
    expect(next).toMatchObject({ runId: outcome.runId, resumed: true, status: 'succeeded' });
  });
});
