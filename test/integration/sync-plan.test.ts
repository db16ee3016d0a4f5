import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../connectors/bitbucket-cloud/simulator/index.ts';
import type { Integration } from '../../src/db/types.ts';
import { logger } from '../../src/log.ts';
import { connectIntegration } from '../../src/sync/connect.ts';
import { formatPlan, planSync } from '../../src/sync/plan.ts';
import { describeWithDb } from '../helpers/db.ts';
import { connectSim, keyring, syncSim } from '../helpers/sim-sync.ts';

/** Within 5 % of the simulator's own count of what the sync asked for. */
function within5(estimate: number, truth: number): void {
  expect(Math.abs(estimate - truth) / truth, `estimate ${estimate}, truth ${truth}`).toBeLessThanOrEqual(0.05);
}

describeWithDb('roster sync --plan: requests against the simulator ground truth', (get) => {
  let sim: Simulator;
  let integration: Integration;
  const plan = () => planSync(get().db, integration, () => connectIntegration(get(), keyring, integration, { onProgress: () => {}, logger }, { budgetPerHour: 1_000_000 }));

  beforeAll(async () => {
    sim = await startSimulator({ profile: 'medium', seed: 7, rateLimit: false });
    integration = await connectSim(get(), sim, 'plan-medium', 'adminApiToken', { budgetPerHour: 1000 });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('never synced: a probe of seven requests estimates the full sync within 5 %; after it, the last run is the plan', async () => {
    const beforeProbe = sim.stats().requests;
    const probed = await plan();
    expect(probed.basis.kind).toBe('probe');
    expect(probed.basis.probeRequests).toBe(sim.stats().requests - beforeProbe);
    expect(probed.basis.probeRequests).toBeLessThanOrEqual(7);
    expect(probed.budgetPerHour).toBe(1000);
    expect(probed.hours.full).toBeCloseTo(probed.full / 1000, 6);
    expect(probed.reconcile).toBeGreaterThan(0);
    expect(probed.settings.some((s) => s.startsWith('--reconcile off'))).toBe(true);

    const REPORTED = 'GET /2.0/workspaces/{workspace}/permissions/repositories';
    const reportedBefore = sim.stats().byPath[REPORTED] ?? 0;
    const beforeFull = sim.stats().requests;
    const full = await syncSim(get(), integration);
    expect(full.status).toBe('succeeded');
    const fullTruth = sim.stats().requests - beforeFull;
    within5(probed.full, fullTruth);

    // From the run: exactly what it took, with no request made for the plan.
    const beforePlan = sim.stats().requests;
    const fromRun = await plan();
    expect(sim.stats().requests).toBe(beforePlan);
    expect(fromRun.basis).toMatchObject({ kind: 'last-run', fullRunId: full.runId, incrementalRunId: null });
    expect(fromRun.full).toBe(fullTruth);
    // Reconciliation is Bitbucket's effective-permission listing: its pages as the simulator served them.
    expect(fromRun.reconcile).toBe((sim.stats().byPath[REPORTED] ?? 0) - reportedBefore);
    within5(probed.reconcile, fromRun.reconcile);

    // The incremental estimate, then the incremental run itself.
    const beforeIncr = sim.stats().requests;
    const incr = await syncSim(get(), integration, { mode: 'incremental' });
    expect(incr.status).toBe('succeeded');
    const incrTruth = sim.stats().requests - beforeIncr;
    within5(probed.incremental, incrTruth);
    within5(fromRun.incremental, incrTruth);
    const afterIncr = await plan();
    expect(afterIncr.basis.incrementalRunId).toBe(incr.runId);
    expect(afterIncr.incremental).toBe(incrTruth);
    expect(formatPlan(afterIncr)).toContain(`incremental sync: ${incrTruth.toLocaleString('en-US')} requests`);
  });
});
