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

describeWithDb('a sync interrupted between two listings', (get) => {
  it('is interrupted, not finished as succeeded with the rest unread, and the next sync reads everything', async () => {
    const { db } = get();
    const integration: Integration = await db
      .insertInto('integrations')
      .values({ name: 'between', kind: 'bitbucket-cloud', workspace: 'acme', base_url: 'http://127.0.0.1:1', credential_kind: 'api-token', schedule: null, options: '{}' })
      .returningAll()
      .executeTakeFirstOrThrow();
    const world = smallWorld();
    const controller = new AbortController();
    // The signal comes once the first listing (workspace) has committed, while no read is under way.
    const outcome = await runSync(get(), {
      integration,
      mode: 'full',
      trigger: 'test',
      signal: controller.signal,
      connect: async () => fakeConnector(world),
      onProgress: (e) => {
        if (e.type === 'flush') controller.abort();
      },
    });
    expect(outcome.status).toBe('paused');
    expect(outcome.error?.code).toBe('sync_aborted');
    expect(world.reads).toEqual(['workspace']);
    const run = await db.selectFrom('sync_runs').select(['status', 'finished_at']).where('id', '=', outcome.runId).executeTakeFirstOrThrow();
    expect(run.finished_at).toBeNull();

    const resumed = await runSync(get(), { integration, mode: 'full', trigger: 'test', connect: async () => fakeConnector(world) });
    expect({ status: resumed.status, resumed: resumed.resumed, runId: resumed.runId }).toEqual({ status: 'succeeded', resumed: true, runId: outcome.runId });
    const scopes = await db.selectFrom('sync_scopes').select(['scope', 'status']).where('run_id', '=', resumed.runId).execute();
    expect(scopes.map((s) => s.scope).sort()).toEqual(['members', 'groups', 'projects', 'repositories', 'project-permissions:{p-core}', 'project-permissions:{p-ops}', 'repository-permissions:{r-api}', 'repository-permissions:{r-web}', 'repository-permissions:{r-infra}', 'workspace'].sort());
    expect(scopes.every((s) => s.status === 'complete')).toBe(true);
    // The workspace listing is the checkpoint: read once, in the first segment.
    expect(world.reads.filter((r) => r === 'workspace')).toEqual(['workspace']);
  });
});
