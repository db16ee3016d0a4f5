import { Writable } from 'node:stream';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../connectors/bitbucket-cloud/simulator/index.ts';
import { runReport } from '../../reports/index.ts';
import { integrationHealth } from '../../src/access/health.ts';
import type { Integration } from '../../src/db/types.ts';
import { describeWithDb } from '../helpers/db.ts';
import { connectSim, syncSim } from '../helpers/sim-sync.ts';

const REPORTED = 'GET /2.0/workspaces/{workspace}/permissions/repositories';

describeWithDb('--reconcile always|weekly|off: the effective-permissions listing read or skipped by setting', (get) => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ profile: 'small', seed: 11, rateLimit: false });
  });
  afterAll(async () => {
    await sim.close();
  });
  const reportedRequests = () => sim.stats().byPath[REPORTED] ?? 0;
  const liveReported = async (integration: Integration) =>
    Number((await sql<{ n: number }>`select count(*)::int as n from reported_access where integration_id = ${integration.id} and removed_run is null`.execute(get().db)).rows[0]?.n ?? 0);
  const coverageJson = async (integration: Integration) => {
    let text = '';
    const out = new Writable({ write: (chunk: Buffer, _e, cb) => ((text += chunk.toString('utf8')), cb()) });
    await runReport(get().db, 'coverage', { integration: integration.name, format: 'json' }, out);
    return JSON.parse(text) as Array<{ stream: string; kind: string; message: string | null }>;
  };

  it('weekly: the first run reconciles, the next within a week skips it — succeeded, healthy, said in coverage, nothing removed', async () => {
    const integration = await connectSim(get(), sim, 'cadence-weekly', 'adminApiToken', { reconcile: 'weekly' });
    const first = await syncSim(get(), integration);
    expect(first.status).toBe('succeeded');
    expect(reportedRequests()).toBeGreaterThan(0);
    const rows = await liveReported(integration);
    expect(rows).toBeGreaterThan(0);

    const before = reportedRequests();
    const second = await syncSim(get(), integration);
    expect(second.status).toBe('succeeded');
    expect(reportedRequests()).toBe(before);
    expect(second.summary).toContain(`own effective permissions were not read: skipped by setting (reconcile: weekly, from the integration option): run ${first.runId} reconciled`);
    // The skipped listing removes nothing: its rows from the first run stay live.
    expect(await liveReported(integration)).toBe(rows);
    const gaps = await coverageJson(integration);
    expect(gaps.filter((g) => g.kind !== 'api-limit')).toEqual([expect.objectContaining({ stream: 'reported-access', kind: 'skipped-by-setting' })]);
    const [health] = await integrationHealth(get().db, { maxAgeMs: 3600_000, integration: integration.name });
    expect(health).toMatchObject({ verdict: 'healthy', coverageGaps: [], failedScopes: [] });

    // The sync flag wins over the option for one run.
    const third = await syncSim(get(), integration, { reconcile: 'always' });
    expect(third.status).toBe('succeeded');
    expect(reportedRequests()).toBeGreaterThan(before);
    expect(third.summary).toContain('Reconciliation with');
  });

  it('off: never read, from the first run on, and still healthy', async () => {
    const integration = await connectSim(get(), sim, 'cadence-off', 'adminApiToken', { reconcile: 'off' });
    const before = reportedRequests();
    const run = await syncSim(get(), integration);
    expect(run.status).toBe('succeeded');
    expect(reportedRequests()).toBe(before);
    expect(await liveReported(integration)).toBe(0);
    expect((await coverageJson(integration)).find((g) => g.stream === 'reported-access')?.message).toContain('Skipped by setting (reconcile: off, from the integration option)');
    const [health] = await integrationHealth(get().db, { maxAgeMs: 3600_000, integration: integration.name });
    expect(health?.verdict).toBe('healthy');
  });
});
