/**
 * Bitbucket Data Center credentials and failures: every credential level reads what it can and
 * records the rest as not covered naming the global permission that would cover it; every fault kind
 * removes nothing; history follows mutations; a database holds a Cloud and a Data Center integration
 * side by side.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDcSimulator, type DcCredentialName, type DcSimulator } from '../../connectors/bitbucket-datacenter/simulator/index.ts';
import { startSimulator, type Simulator } from '../../connectors/bitbucket-cloud/simulator/index.ts';
import { describeWithDb } from '../helpers/db.ts';
import { insertDcIntegration, rosterDcAccess, syncDc, truthDcAccess } from '../helpers/dc-sync.ts';
import { connectSim, rosterAccess, syncSim, truthAccess } from '../helpers/sim-sync.ts';

/** Roster's lines must be the truth's or a part of it: a path Roster shows must exist (no invented access). */
function expectSubsetOfTruth(roster: string[], truth: string[]): void {
  const truthPaths = new Map(truth.map((l) => [l.split(' | ')[0]?.split(' ').slice(0, 2).join(' '), new Set(l.split(' | ')[1]?.split('; '))]));
  for (const l of roster) {
    const [head, paths] = l.split(' | ');
    const known = truthPaths.get(head?.split(' ').slice(0, 2).join(' '));
    expect(known, `no such access in the truth: ${l}`).toBeDefined();
    for (const p of paths?.split('; ') ?? []) expect(known?.has(p), `${l}: path ${p} is not in the truth`).toBe(true);
  }
}

describeWithDb('Bitbucket Data Center: credential levels, faults, history, a mixed database', (get) => {
  describe('Bitbucket Data Center: credential levels', () => {
    let sim: DcSimulator;
    beforeAll(async () => {
      sim = await startDcSimulator({ profile: 'small', seed: 4 });
    });
    afterAll(() => sim.close());

    for (const credential of ['globalAdminToken', 'adminBasic'] as const) {
      it(`${credential}: an ADMIN (or SYS_ADMIN by Basic auth) reads everything`, async () => {
        const integration = await insertDcIntegration(get(), sim, `dc-${credential.toLowerCase()}`, credential);
        const outcome = await syncDc(get(), integration, sim);
        expect(outcome.status).toBe('succeeded');
        expect(await rosterDcAccess(get(), String(integration.id))).toEqual(truthDcAccess(sim));
      });
    }

    for (const credential of ['projectAdminToken', 'userToken'] as DcCredentialName[]) {
      it(`${credential}: what it cannot read is not covered, naming the global permission; nothing invented`, async () => {
        const integration = await insertDcIntegration(get(), sim, `dc-${credential.toLowerCase()}`, credential);
        const outcome = await syncDc(get(), integration, sim);
        expect(outcome.status).toBe('partial');
        const scopes = await get().db.selectFrom('sync_scopes').selectAll().where('run_id', '=', outcome.runId).execute();
        const global = scopes.find((s) => s.stream === 'global-permissions');
        expect(global?.status).toBe('not_covered');
        expect(`${global?.message} ${global?.advice}`).toContain('ADMIN global permission');
        expect(scopes.find((s) => s.stream === 'user-access-tokens')?.status).toBe('not_covered');
        const refused = scopes.filter((s) => s.stream === 'repository-permissions' && s.status === 'not_covered');
        expect(refused.length).toBeGreaterThan(0);
        expect(refused[0]?.advice).toContain('REPO_ADMIN');
        expectSubsetOfTruth(await rosterDcAccess(get(), String(integration.id)), truthDcAccess(sim));
        if (credential === 'projectAdminToken') {
          // Grace administers PLAT: its repositories' permissions are covered.
          expect(scopes.filter((s) => s.stream === 'repository-permissions' && s.label.startsWith('PLAT/')).every((s) => s.status === 'complete')).toBe(true);
        }
      });
    }
  });

  describe('Bitbucket Data Center: faults never remove anything', () => {
    let sim: DcSimulator;
    let integration: Awaited<ReturnType<typeof insertDcIntegration>>;
    let before: string[];
    beforeAll(async () => {
      // Pages of 4, so paging faults (loop, repeat) have later pages to act on.
      sim = await startDcSimulator({ profile: 'small', seed: 5, maxLimit: 4 });
      integration = await insertDcIntegration(get(), sim, 'dc-faults');
      expect((await syncDc(get(), integration, sim)).status).toBe('succeeded');
      before = await rosterDcAccess(get(), String(integration.id));
      expect(before).toEqual(truthDcAccess(sim));
    });
    afterAll(() => sim.close());

    const removedIn = async (runId: string): Promise<number> => {
      const r = await sql<{ n: number }>`
        select ((select count(*) from grants where removed_run = ${runId}) + (select count(*) from memberships where removed_run = ${runId})
              + (select count(*) from principals where removed_run = ${runId}) + (select count(*) from resources where removed_run = ${runId}))::int as n`.execute(get().db);
      return r.rows[0]?.n ?? -1;
    };

    it.each([
      ['5xx', '5xx:status=503:path=/rest/api/latest/projects/*/repos/*/permissions/users'],
      ['reset', 'reset:path=/rest/api/latest/admin/groups/more-members'],
      ['malformed', 'malformed:path=/rest/keys/latest/projects/*/repos/*/ssh'],
      ['truncate', 'truncate:path=/rest/api/latest/projects/*/permissions/groups'],
      ['loop', 'loop:path=/rest/api/latest/admin/users'],
      ['repeat', 'repeat:path=/rest/api/latest/repos'],
      ['forbid', 'forbid:repo=PLAT/api-gateway'],
      ['429', '5xx:status=429:path=/rest/api/latest/repos:count=1'],
      ['slow', 'slow:ms=300:path=/rest/api/latest/projects/*/permissions/users'],
    ])('%s: the failed scopes keep their rows', async (kind, spec) => {
      sim.faults.clear();
      sim.faults.add(spec);
      const outcome = await syncDc(get(), integration, sim, { overrides: { maxRetries: 1 } });
      expect(sim.faults.list()[0]?.fired, 'the fault fired').toBeGreaterThan(0);
      sim.faults.clear();
      // A 429 is retried after its Retry-After, a slow answer is just slow; every other fault leaves its scopes failed or not covered.
      expect(outcome.status).toBe(kind === '429' || kind === 'slow' ? 'succeeded' : 'partial');
      expect(await removedIn(outcome.runId)).toBe(0);
      expect(await rosterDcAccess(get(), String(integration.id))).toEqual(before);
    });

    it('revoke: the run fails as unauthorized and removes nothing', async () => {
      sim.faults.add('revoke:path=/rest/api/latest/projects/*/repos/*/permissions/groups:nth=3');
      const outcome = await syncDc(get(), integration, sim);
      sim.faults.clear();
      expect(outcome.status).toBe('failed');
      expect(outcome.error?.code).toBe('unauthorized');
      expect(await removedIn(outcome.runId)).toBe(0);
      expect(await rosterDcAccess(get(), String(integration.id))).toEqual(before);
    });
  });

  describe('Bitbucket Data Center: history across mutations', () => {
    let sim: DcSimulator;
    beforeAll(async () => {
      sim = await startDcSimulator({ profile: 'small', seed: 6 });
    });
    afterAll(() => sim.close());

    it('grants, default permissions, global admins, moves and deletions follow the source', async () => {
      const integration = await insertDcIntegration(get(), sim, 'dc-history');
      const id = String(integration.id);
      const first = await syncDc(get(), integration, sim);
      expect(first.status).toBe('succeeded');
      const inst = sim.truth.instance;
      const linus = [...inst.users.values()].find((u) => u.name === 'linus')?.id as number;
      const html = [...inst.users.values()].find((u) => u.name === 'html')?.id as number;
      sim.mutate.setProjectDefaultPermission('OPEN', 'PROJECT_WRITE');
      sim.mutate.setGlobalUserPermission(linus, 'ADMIN');
      sim.mutate.setRepoUserPermission('PLAT/api-gateway', html, null);
      sim.mutate.moveRepository('PLAT/web-app', 'DATA');
      sim.mutate.deleteRepository('PLAT/billing-service');
      sim.mutate.setProjectGroupPermission('PLAT', 'developers', 'PROJECT_READ');
      const second = await syncDc(get(), integration, sim);
      expect(second.status).toBe('succeeded');
      expect(await rosterDcAccess(get(), id)).toEqual(truthDcAccess(sim));
      const removed = await sql<{ what: string }>`
        select g.permission || ' ' || coalesce(p.handle, p.external_id) || ' on ' || r.handle as what
          from grants g join principals p on p.id = g.principal_id join resources r on r.id = g.resource_id
         where g.integration_id = ${id} and g.removed_run = ${second.runId} order by what`.execute(get().db);
      expect(removed.rows.map((r) => r.what)).toEqual(expect.arrayContaining(['PROJECT_READ ROSTER:ALL_LICENSED_USERS on OPEN', 'PROJECT_WRITE developers on PLAT', 'REPO_READ html on PLAT/api-gateway']));
      const gone = await sql<{ handle: string }>`select handle from resources where integration_id = ${id} and removed_run = ${second.runId}`.execute(get().db);
      expect(gone.rows.map((r) => r.handle)).toEqual(['PLAT/billing-service']);
      // A moved repository keeps its id: it is the same resource, now under DATA.
      const moved = await sql<{ project: string }>`select p.handle as project from resources r join resources p on p.id = r.parent_id where r.integration_id = ${id} and r.handle = 'DATA/web-app' and r.removed_run is null`.execute(get().db);
      expect(moved.rows).toEqual([{ project: 'DATA' }]);
      // Who had access before the changes is still a plain query: the first run's rows are intact.
      const asOfFirst = await sql<{ n: number }>`select count(*)::int as n from grants where integration_id = ${id} and first_seen_run <= ${first.runId} and (removed_run is null or removed_run > ${first.runId})`.execute(get().db);
      expect(asOfFirst.rows[0]?.n).toBeGreaterThan(removed.rows.length);
    });
  });

  describe('a database with a Cloud and a Data Center integration', () => {
    let cloud: Simulator;
    let dc: DcSimulator;
    beforeAll(async () => {
      cloud = await startSimulator({ profile: 'small', rateLimit: false });
      dc = await startDcSimulator({ profile: 'small', seed: 8 });
    });
    afterAll(async () => {
      await cloud.close();
      await dc.close();
    });

    it('each integration equals its own truth, and neither sees the other', async () => {
      const c = await connectSim(get(), cloud, 'cloud-side');
      const d = await insertDcIntegration(get(), dc, 'dc-side');
      expect((await syncSim(get(), c)).status).toBe('succeeded');
      expect((await syncDc(get(), d, dc)).status).toBe('succeeded');
      expect((await syncSim(get(), c)).status).toBe('succeeded');
      expect(await rosterAccess(get(), String(c.id))).toEqual(truthAccess(cloud));
      expect(await rosterDcAccess(get(), String(d.id))).toEqual(truthDcAccess(dc));
      const kinds = await sql<{ kind: string; integration: string }>`select distinct r.kind, i.kind as integration from resources r join integrations i on i.id = r.integration_id order by 2, 1`.execute(get().db);
      expect(kinds.rows).toEqual([
        { kind: 'project', integration: 'bitbucket-cloud' },
        { kind: 'repository', integration: 'bitbucket-cloud' },
        { kind: 'workspace', integration: 'bitbucket-cloud' },
        { kind: 'instance', integration: 'bitbucket-datacenter' },
        { kind: 'personal-project', integration: 'bitbucket-datacenter' },
        { kind: 'project', integration: 'bitbucket-datacenter' },
        { kind: 'repository', integration: 'bitbucket-datacenter' },
      ]);
    });
  });
});
