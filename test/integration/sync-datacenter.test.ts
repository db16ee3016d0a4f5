/**
 * Bitbucket Data Center through the whole engine, over real HTTP against the Data Center simulator:
 * Roster's effective access equals the simulator's ground truth (every path) on small and medium and
 * several seeds, per credential level the rest is a coverage gap naming the global permission, faults
 * never remove anything, and history follows mutations.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDcSimulator, type DcSimulator } from '../../connectors/bitbucket-datacenter/simulator/index.ts';
import { createClock } from '../../connectors/bitbucket-cloud/simulator/index.ts';
import { ALL_LICENSED_USERS_GROUP } from '../../connectors/bitbucket-datacenter/model.ts';
import { describeWithDb } from '../helpers/db.ts';
import { insertDcIntegration, rosterDcAccess, syncDc, truthDcAccess } from '../helpers/dc-sync.ts';
import { reportRows } from './reports-helpers.ts';

describeWithDb('Bitbucket Data Center: ground truth and planted cases', (get) => {
  describe('Bitbucket Data Center: ground truth on small and medium, several seeds', () => {
    for (const [profile, seed] of [['small', 1], ['small', 2], ['medium', 3]] as const) {
      it(`${profile} seed ${seed}: effective access equals the truth, every path`, async () => {
        const sim = await startDcSimulator({ profile, seed });
        try {
          const integration = await insertDcIntegration(get(), sim, `dc-${profile}-${seed}`);
          const outcome = await syncDc(get(), integration, sim);
          expect(outcome.error).toBeNull();
          expect(outcome.status).toBe('succeeded');
          const roster = await rosterDcAccess(get(), String(integration.id));
          const truth = truthDcAccess(sim);
          expect(truth.length).toBeGreaterThan(20);
          expect(roster).toEqual(truth);
        } finally {
          await sim.close();
        }
      });
    }
  });

  describe('Bitbucket Data Center: planted cases', () => {
    let sim: DcSimulator;
    let integrationId: string;
    beforeAll(async () => {
      sim = await startDcSimulator({ profile: 'small', seed: 1 });
      const integration = await insertDcIntegration(get(), sim, 'dc-planted');
      integrationId = String(integration.id);
      expect((await syncDc(get(), integration, sim)).status).toBe('succeeded');
    });
    afterAll(() => sim.close());

    const userId = (name: string): string => String([...sim.truth.instance.users.values()].find((u) => u.name === name)?.id);
    const accessOf = async (name: string): Promise<string[]> => (await rosterDcAccess(get(), integrationId)).filter((l) => l.startsWith(`${userId(name)} `));

    it('the global admin and system admin reach every repository', async () => {
      const repos = sim.truth.instance.repositories.size;
      expect(await accessOf('ada')).toHaveLength(repos);
      expect((await accessOf('ada')).every((l) => l.includes('global-sys-admin REPO_ADMIN'))).toBe(true);
      expect((await accessOf('alan')).every((l) => l.includes('global-admin-group group=bitbucket-admins REPO_ADMIN'))).toBe(true);
    });

    it('a user whose only access is the project default permission', async () => {
      const lines = await accessOf('linus');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`project-group group=${ALL_LICENSED_USERS_GROUP} project=OPEN REPO_READ`);
    });

    it('a personal repository is administered by its owner', async () => {
      const dotfiles = [...sim.truth.instance.repositories.values()].find((r) => r.slug === 'dotfiles');
      expect((await accessOf('zoe')).find((l) => l.includes(` ${dotfiles?.id} `))).toContain('personal-owner project=~ZOE REPO_ADMIN');
    });

    it('public repositories are implicit access (no principal), their own flag or their project\'s', async () => {
      const rows = await sql<{ handle: string }>`select handle from resources where integration_id = ${integrationId} and kind = 'repository' and attributes->>'publicAccess' = 'true' order by handle`.execute(get().db);
      expect(rows.rows.map((r) => r.handle)).toEqual(['DATA/donnees-pipeline', 'DATA/reports', 'PLAT/sandbox']);
    });

    it('a write access key, an expired token, a dormant user and dangerous names are stored as the source says', async () => {
      const keys = await sql<{ label: string; permission: string }>`
        select p.display_name as label, g.permission from principals p join grants g on g.principal_id = p.id
         where p.integration_id = ${integrationId} and p.kind = 'deploy_key' and g.removed_run is null order by label`.execute(get().db);
      expect(keys.rows).toContainEqual({ label: 'deploy-bot (write)', permission: 'REPO_WRITE' });
      const tokens = await sql<{ name: string; expires: string | null }>`
        select display_name as name, attributes->>'expiresOn' as expires from principals where integration_id = ${integrationId} and kind = 'access_token' order by name`.execute(get().db);
      expect(tokens.rows).toContainEqual({ name: 'ci-deploy (expired)', expires: '2025-12-01T00:00:00.000Z' });
      expect(tokens.rows).toContainEqual({ name: 'laptop (no expiry)', expires: null });
      const olga = await sql<{ last: string }>`select attributes->>'lastAuthentication' as last from principals where integration_id = ${integrationId} and kind = 'user' and handle = 'olga'`.execute(get().db);
      expect(olga.rows[0]?.last).toBe('2025-09-01T08:00:00.000Z');
      const names = await sql<{ name: string }>`select display_name as name from principals where integration_id = ${integrationId} and kind = 'user' and handle in ('cmd', 'html') order by handle`.execute(get().db);
      expect(names.rows.map((r) => r.name)).toEqual(["=cmd|' /C calc'!A0", '<img src=x onerror=alert(1)>']);
    });

    it('machine-credentials flags the write key, the token without expiry and the expired one', async () => {
      const { rows } = await reportRows(get().db, 'machine-credentials', { integration: 'dc-planted' });
      const flagsOf = (label: string) => rows.filter((r) => r.label === label).map((r) => r.flags);
      expect(flagsOf('deploy-bot (write)')).toEqual([expect.arrayContaining(['write-capable'])]);
      expect(flagsOf('laptop (no expiry)')).toEqual([expect.arrayContaining(['no-expiry'])]);
      expect(flagsOf('ci-deploy (expired)')).toEqual([expect.arrayContaining(['expired'])]);
      expect(rows.filter((r) => (r.flags as string[]).includes('write-capable')).map((r) => r.label)).toEqual(['deploy-bot (write)']);
    });

    it('access-review: a user licensed through a group is inside the instance (no outside-workspace flag)', async () => {
      const { rows } = await reportRows(get().db, 'access-review', { integration: 'dc-planted' });
      const linus = rows.filter((r) => r.principal_handle === 'linus');
      expect(linus.length).toBeGreaterThan(0);
      expect(rows.filter((r) => (r.flags as string[]).includes('outside-workspace'))).toEqual([]);
    });
  });

  describe('rate limiting: a token bucket per user, answered with 429', () => {
    it('paced at Data Center\'s default refill (5 a second) against its default bucket: no 429, the truth', async () => {
      const clock = createClock({ speed: 40 });
      const sim = await startDcSimulator({ profile: 'small', seed: 11, clock, rateLimit: { bucketSize: 60, refillPerSecond: 5 } });
      try {
        const integration = await insertDcIntegration(get(), sim, 'dc-paced');
        const outcome = await syncDc(get(), integration, sim, { overrides: { budgetPerHour: undefined, clock } });
        expect(outcome.status).toBe('succeeded');
        expect(sim.stats().responses429).toBe(0);
        expect(sim.stats().requests).toBeGreaterThan(60);
        expect(await rosterDcAccess(get(), String(integration.id))).toEqual(truthDcAccess(sim));
      } finally {
        await sim.close();
      }
    });

    it('too fast for the bucket: 429s with Retry-After are waited out and retried, nothing lost', async () => {
      const clock = createClock({ speed: 40 });
      const sim = await startDcSimulator({ profile: 'small', seed: 12, clock, rateLimit: { bucketSize: 10, refillPerSecond: 2 } });
      try {
        const integration = await insertDcIntegration(get(), sim, 'dc-429');
        const outcome = await syncDc(get(), integration, sim, { overrides: { budgetPerHour: undefined, requestsPerSecond: 1000, clock, maxRetries: 10 } });
        expect(outcome.status).toBe('succeeded');
        expect(sim.stats().responses429).toBeGreaterThan(0);
        expect(await rosterDcAccess(get(), String(integration.id))).toEqual(truthDcAccess(sim));
      } finally {
        await sim.close();
      }
    });
  });
});
