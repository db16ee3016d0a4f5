import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { advanceWhenWaiting, createClock, startSimulator } from '../../connectors/bitbucket-cloud/simulator/index.ts';
import { describeCli } from '../helpers/cli.ts';
import { TEST_KEY, connectSim, removalsOutsideCleanScopes, rosterAccess, syncSim, truthAccess } from '../helpers/sim-sync.ts';

const ROSTER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/roster.js');

describeCli('resumable runs', (cli) => {
  it('a sync killed with SIGKILL mid-run resumes from its checkpoint and ends as a clean run would', async () => {
    // Slow per-repository reads so the kill lands in the middle of the run.
    const sim = await startSimulator({ profile: 'medium', seed: 3, rateLimit: false, faults: 'slow:ms=25:path=/2.0/repositories/*/*/permissions-config/users' });
    try {
      await cli().withDb(async (handle) => {
        await connectSim(handle, sim, 'killed');
      });
      const child = spawn(process.execPath, [ROSTER, '--data-dir', cli().dataDir, 'sync', '--integration', 'killed', '--full'], {
        env: { ...cli().env, ROSTER_ENCRYPTION_KEY: TEST_KEY, ROSTER_LOG_LEVEL: 'silent' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr.on('data', (c: Buffer) => (output += c.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      // Kill once a good share of the per-repository permission reads has happened.
      const userPermissionReads = () => sim.stats().byPath['GET /2.0/repositories/{workspace}/{repo_slug}/permissions-config/users'] ?? 0;
      const deadline = Date.now() + 60_000;
      while (userPermissionReads() < 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(userPermissionReads(), output).toBeGreaterThanOrEqual(200);
      child.kill('SIGKILL');
      await exited;

      await cli().withDb(async (handle) => {
        const open = await handle.db.selectFrom('sync_runs').selectAll().where('status', '=', 'running').executeTakeFirstOrThrow();
        const done = await handle.db.selectFrom('sync_scopes').select('scope').where('run_id', '=', open.id).where('status', '=', 'complete').execute();
        expect(done.length).toBeGreaterThan(10);

        sim.resetStats();
        const integration = await handle.db.selectFrom('integrations').selectAll().where('name', '=', 'killed').executeTakeFirstOrThrow();
        const resumed = await syncSim(handle, integration);
        expect(resumed.resumed).toBe(true);
        expect(resumed.runId).toBe(String(open.id));
        expect(resumed.status).toBe('succeeded');
        expect(await rosterAccess(handle, String(integration.id))).toEqual(truthAccess(sim));
        expect(await removalsOutsideCleanScopes(handle, resumed.runId)).toEqual([]);
        // Checkpointed scopes were not read again, and every other one exactly once: each repository's
        // user permissions fit one page on medium, so the resumed run read them for just the
        // repositories whose scope had no checkpoint.
        const checkpointed = done.filter((d) => d.scope.startsWith('repository-user-permissions:')).length;
        expect(checkpointed).toBeGreaterThan(0);
        expect(checkpointed).toBeLessThan(sim.truth.repositories().length);
        expect(userPermissionReads()).toBe(sim.truth.repositories().length - checkpointed);
      });
    } finally {
      await sim.close();
    }
  });

  it('a run that spends its budget pauses with a resume time and resumes to the same end state', async () => {
    // A frozen clock that moves only while something waits: the budget runs out after the same requests
    // however fast this machine is (an accelerated clock lets a slow machine's hour refill it instead).
    const clock = createClock({ speed: 0 });
    const stop = advanceWhenWaiting(clock);
    const sim = await startSimulator({ profile: 'medium', seed: 4, rateLimit: { perHour: 250 }, clock });
    try {
      await cli().withDb(async (handle) => {
        const integration = await connectSim(handle, sim, 'paused');
        // Waiting longer than 5 simulated minutes for budget pauses the run instead.
        const overrides = { clock, budgetPerHour: 250, maxRateLimitWaitMs: 5 * 60_000 };
        const first = await syncSim(handle, integration, { overrides });
        expect(first.status).toBe('paused');
        expect(first.resumeAfter).toBeInstanceOf(Date);
        const row = await handle.db.selectFrom('sync_runs').select(['status', 'resume_after', 'error_code']).where('id', '=', first.runId).executeTakeFirstOrThrow();
        expect(row.status).toBe('paused');
        expect(row.error_code).toBe('budget_exhausted');
        expect(row.resume_after?.getTime()).toBe(first.resumeAfter?.getTime());

        let outcome = first;
        for (let i = 0; i < 20 && outcome.status === 'paused'; i++) {
          clock.advance(Math.max(0, (outcome.resumeAfter?.getTime() ?? clock.now()) - clock.now()));
          outcome = await syncSim(handle, integration, { overrides });
          expect(outcome.runId).toBe(first.runId);
        }
        expect(outcome.status).toBe('succeeded');
        expect(sim.stats().responses429).toBe(0);
        expect(await rosterAccess(handle, String(integration.id))).toEqual(truthAccess(sim));
        expect(await removalsOutsideCleanScopes(handle, outcome.runId)).toEqual([]);
      });
    } finally {
      stop();
      await sim.close();
    }
  });
});
