import { createHash } from 'node:crypto';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Integration } from '../../src/db/types.ts';
import { describeWithDb } from '../helpers/db.ts';
import { type GroundTruth, type Simulator, startSimulator } from '../../connectors/bitbucket-cloud/simulator/index.ts';
import { connectSim, syncSim } from '../helpers/sim-sync.ts';
import { type ReportRow, captureReport, reportRows } from './reports-helpers.ts';

/**
 * Every report against the simulator's ground truth: the real connector syncs the simulator's
 * `small` and `medium` workspaces over HTTP, and each report must say what the simulator knows to
 * be true — the same users, the same permissions, the same paths. Expectations are computed here
 * from the truth's explicit grants, never from Roster's tables.
 */

const PROJECT_RANK: Record<string, number> = { read: 1, write: 2, 'create-repo': 3, admin: 4 };
const NOW = new Date('2026-12-01T00:00:00Z');
const DAY = 86_400_000;

type Path = { kind: string; permission: string; group?: string | null; project?: string | null; projectKey?: string };
const pathKey = (p: Path): string => `${p.kind}:${p.permission}:${p.group ?? ''}:${p.projectKey ?? p.project ?? ''}`;
const accessLine = (user: string, resource: string, permission: string, paths: Path[]): string => `${user} ${resource} ${permission} | ${paths.map(pathKey).sort().join(' ')}`;

/** Repository access lines straight from the simulator: user, repository, permission, every path. */
function truthRepositoryAccess(truth: GroundTruth, onlyUser?: string): string[] {
  return truth
    .effectiveAccess()
    .filter((e) => onlyUser === undefined || e.userUuid === onlyUser)
    .map((e) => accessLine(e.userUuid, e.repoUuid, e.permission, e.paths))
    .sort();
}

function rosterRepositoryAccess(rows: ReportRow[]): string[] {
  return rows
    // user-access has no principal_kind column: every row is a user.
    .filter((r) => r.resource_kind === 'repository' && (r.principal_kind ?? 'user') === 'user')
    .map((r) => accessLine(String(r.principal_id), String(r.resource_id), String(r.permission), r.paths as Path[]))
    .sort();
}

/** Project access from the truth's grants: owners administer every project; groups reach their members. */
function truthProjectAccess(truth: GroundTruth): string[] {
  const best = new Map<string, string>();
  const raise = (user: string, key: string, permission: string) => {
    const k = `${user} ${key}`;
    const current = best.get(k);
    if (!current || (PROJECT_RANK[permission] ?? 0) > (PROJECT_RANK[current] ?? 0)) best.set(k, permission);
  };
  const members = new Map(truth.groups().map((g) => [g.slug, g.memberUuids]));
  for (const p of truth.projects()) for (const u of truth.users()) if (u.role === 'owner') raise(u.uuid, p.key, 'admin');
  for (const g of truth.projectUserGrants()) raise(g.userUuid, g.projectKey, g.permission);
  for (const g of truth.projectGroupGrants()) for (const m of members.get(g.groupSlug) ?? []) raise(m, g.projectKey, g.permission);
  return [...best].map(([k, p]) => `${k} ${p}`).sort();
}

function sshFingerprint(line: string): string {
  const blob = line.split(' ')[1] ?? '';
  return `SHA256:${createHash('sha256').update(Buffer.from(blob, 'base64')).digest('base64').replace(/=+$/, '')}`;
}

describeWithDb("reports equal the simulator's ground truth", (get) => {
  for (const profile of ['small', 'medium'] as const) {
    describe(`${profile} workspace`, () => {
      let sim: Simulator;
      let integration: Integration;
      let review: ReportRow[];
      const rows = (name: string, options: Parameters<typeof reportRows>[2] = {}) => reportRows(get().db, name, { integration: integration.name, ...options });

      beforeAll(async () => {
        sim = await startSimulator({ profile, seed: 1, rateLimit: false });
        integration = await connectSim(get(), sim, `truth-${profile}`);
        const outcome = await syncSim(get(), integration);
        expect(outcome.error).toBeNull();
        expect(outcome.status).toBe('succeeded');
        const result = await rows('access-review');
        expect(result.result.warnings).toEqual([]);
        review = result.rows;
      });
      afterAll(async () => {
        await sim?.close();
      });

      it('access-review: every user on every repository, with the same permission and paths', () => {
        const expected = truthRepositoryAccess(sim.truth);
        const actual = rosterRepositoryAccess(review);
        expect(actual.length).toBe(expected.length);
        expect(actual).toEqual(expected);
      });

      it('access-review: deploy keys on their repositories (project keys on every repository of the project)', () => {
        const repos = sim.truth.repositories();
        const expected = sim.truth
          .deployKeys()
          .flatMap((k) => (k.repositoryUuid ? [`${k.id} ${k.repositoryUuid}`] : repos.filter((r) => r.projectKey === k.projectKey).map((r) => `${k.id} ${r.uuid}`)))
          .sort();
        const actual = review.filter((r) => r.resource_kind === 'repository' && r.principal_kind === 'deploy_key').map((r) => `${String(r.principal_id)} ${String(r.resource_id)}`).sort();
        expect(actual).toEqual(expected);
      });

      it('access-review: projects and the workspace member list', () => {
        const projects = review.filter((r) => r.resource_kind === 'project' && r.principal_kind === 'user').map((r) => `${String(r.principal_id)} ${String(r.resource)} ${String(r.permission)}`).sort();
        expect(projects).toEqual(truthProjectAccess(sim.truth));
        const workspace = review.filter((r) => r.resource_kind === 'workspace').map((r) => `${String(r.principal_id)} ${String(r.permission)}`).sort();
        // The member list holds workspace members only: users outside the workspace (the internal
        // role `collaborator`) have left /members and /permissions, so they are not in it.
        expect(workspace).toEqual(sim.truth.users().filter((u) => u.member).map((u) => `${u.uuid} ${u.role}`).sort());
        // Flags agree with the truth's roles and grants.
        const t = sim.truth;
        const collaborators = new Set(t.users().filter((u) => u.role === 'collaborator').map((u) => u.uuid));
        const grantCount = new Map<string, number>();
        for (const g of [...t.projectGroupGrants(), ...t.repoGroupGrants()]) grantCount.set(g.groupSlug, (grantCount.get(g.groupSlug) ?? 0) + 1);
        const singleUse = new Set(t.groups().filter((g) => g.memberUuids.length === 1 && grantCount.get(g.slug) === 1).map((g) => g.slug));
        let flagged = 0;
        for (const r of review.filter((x) => x.principal_kind === 'user')) {
          const flags = r.flags as string[];
          const paths = r.paths as Path[];
          // Bitbucket's former collaborators: users with access who are not workspace members.
          expect(flags.includes('outside-workspace')).toBe(collaborators.has(String(r.principal_id)));
          expect(flags.includes('admin')).toBe(r.permission === 'admin' || r.permission === 'owner');
          expect(flags.includes('individual-grant')).toBe(paths.some((p) => p.kind === 'direct' || p.kind === 'project'));
          const viaSingleUse = paths.every((p) => (p.kind === 'group' || p.kind === 'project-group') && singleUse.has(p.group ?? ''));
          expect(flags.includes('single-use-group')).toBe(viaSingleUse);
          if (viaSingleUse) flagged++;
        }
        expect(flagged).toBe(review.filter((x) => (x.flags as string[]).includes('single-use-group')).length);
      });

      it('user-access: what the simulator says each user can reach, with the same paths', async () => {
        const users = sim.truth.users();
        const named = (name: string) => users.find((u) => u.displayName === name)?.uuid as string;
        const picks = [named('李雷'), named('Grace Hopper'), named('Ada Lovelace'), users.find((u) => u.role === 'collaborator')?.uuid as string];
        for (const uuid of picks) {
          const { rows: mine } = await rows('user-access', { user: uuid });
          expect(new Set(mine.map((r) => r.principal_id))).toEqual(new Set([uuid]));
          expect(rosterRepositoryAccess(mine)).toEqual(truthRepositoryAccess(sim.truth, uuid));
        }
        // By display name too: unique in small; in medium three people share it, and the report refuses to guess.
        const namesakes = users.filter((u) => u.displayName === '李雷');
        if (namesakes.length === 1) {
          const byName = await rows('user-access', { user: '李雷' });
          expect(rosterRepositoryAccess(byName.rows)).toEqual(truthRepositoryAccess(sim.truth, named('李雷')));
        } else {
          await expect(rows('user-access', { user: '李雷' })).rejects.toThrow(/matches [2-9] users by (nickname|display name).*Give the uuid or account_id instead/);
        }
        const account = users.find((u) => u.displayName === 'Grace Hopper')?.accountId as string;
        expect(rosterRepositoryAccess((await rows('user-access', { user: account })).rows)).toEqual(truthRepositoryAccess(sim.truth, named('Grace Hopper')));
        // Every user at once equals the access review.
        const everyone = await rows('user-access');
        expect(rosterRepositoryAccess(everyone.rows)).toEqual(rosterRepositoryAccess(review));
        const line = (r: ReportRow) => `${String(r.principal_id)} ${String(r.resource_id)} ${String(r.permission)}`;
        expect(everyone.rows.map(line).sort()).toEqual(review.filter((r) => r.principal_kind === 'user').map(line).sort());
      });

      it('privileged-access: owners and admins where their admin grant is, with admin counts', async () => {
        const { rows: privileged } = await rows('privileged-access');
        const t = sim.truth;
        const members = new Map(t.groups().map((g) => [g.slug, g.memberUuids]));
        const expected = new Set<string>();
        for (const u of t.users()) if (u.role === 'owner') expected.add(`${u.uuid} workspace:${t.workspace.slug}`);
        for (const g of t.projectUserGrants()) if (g.permission === 'admin') expected.add(`${g.userUuid} project:${g.projectKey}`);
        for (const g of t.projectGroupGrants()) if (g.permission === 'admin') for (const m of members.get(g.groupSlug) ?? []) expected.add(`${m} project:${g.projectKey}`);
        const slugOf = new Map(t.repositories().map((r) => [r.uuid, r.slug]));
        for (const g of t.repoUserGrants()) if (g.permission === 'admin') expected.add(`${g.userUuid} repository:${slugOf.get(g.repoUuid)}`);
        for (const g of t.repoGroupGrants()) if (g.permission === 'admin') for (const m of members.get(g.groupSlug) ?? []) expected.add(`${m} repository:${slugOf.get(g.repoUuid)}`);
        expect(privileged.map((r) => `${String(r.principal_id)} ${String(r.resource_kind)}:${String(r.resource)}`).sort()).toEqual([...expected].sort());
        const admins = new Map<string, number>();
        for (const e of t.effectiveAccess()) if (e.permission === 'admin') admins.set(e.repoUuid, (admins.get(e.repoUuid) ?? 0) + 1);
        for (const r of privileged.filter((x) => x.resource_kind === 'repository')) expect(r.admins_on_resource).toBe(admins.get(String(r.resource_id)));
        const owners = t.users().filter((u) => u.role === 'owner').length;
        for (const r of privileged.filter((x) => x.resource_kind === 'workspace')) expect(r.admins_on_resource).toBe(owners);
      });

      it('machine-credentials: every deploy key with its fingerprint, use and flags', async () => {
        const { rows: keys } = await rows('machine-credentials', { now: NOW });
        const repos = sim.truth.repositories();
        const slugOf = new Map(repos.map((r) => [r.uuid, r.slug]));
        const expected = sim.truth
          .deployKeys()
          .map((k) => {
            const unused = k.lastUsed !== null && NOW.getTime() - Date.parse(k.lastUsed) > 90 * DAY;
            const flags = k.lastUsed === null ? ['never-used'] : unused ? ['unused-90-days'] : [];
            const where = k.repositoryUuid ? `repository:${slugOf.get(k.repositoryUuid)} 1` : `project:${k.projectKey} ${repos.filter((r) => r.projectKey === k.projectKey).length}`;
            return `${k.id} ${k.label} ${where} ${sshFingerprint(k.key)} ${k.lastUsed ?? '-'} ${flags.join(',')}`;
          })
          .sort();
        const actual = keys.map((r) => `${String(r.credential_id)} ${String(r.label)} ${String(r.resource_kind)}:${String(r.resource)} ${String(r.repositories)} ${String(r.fingerprint)} ${String(r.last_used ?? '-')} ${(r.flags as string[]).join(',')}`).sort();
        expect(actual).toEqual(expected);
        expect(keys.every((r) => r.public_key === null && r.permission === 'read')).toBe(true);
      });

      it('groups: each group with its members and grants', async () => {
        const { rows: groups } = await rows('groups');
        const t = sim.truth;
        expect(groups.filter((r) => r.row_type === 'group').map((r) => `${String(r.group)} ${String(r.members)} ${(r.flags as string[]).includes('no-members')}`).sort()).toEqual(
          t.groups().map((g) => `${g.slug} ${g.memberUuids.length} ${g.memberUuids.length === 0}`).sort(),
        );
        expect(groups.filter((r) => r.row_type === 'member').map((r) => `${String(r.group)} ${String(r.member_id)}`).sort()).toEqual(t.groups().flatMap((g) => g.memberUuids.map((m) => `${g.slug} ${m}`)).sort());
        const slugOf = new Map(t.repositories().map((r) => [r.uuid, r.slug]));
        expect(groups.filter((r) => r.row_type === 'grant').map((r) => `${String(r.group)} ${String(r.resource_kind)}:${String(r.resource)} ${String(r.permission)}`).sort()).toEqual(
          [...t.projectGroupGrants().map((g) => `${g.groupSlug} project:${g.projectKey} ${g.permission}`), ...t.repoGroupGrants().map((g) => `${g.groupSlug} repository:${slugOf.get(g.repoUuid)} ${g.permission}`)].sort(),
        );
      });

      it('sync-status and coverage: the counts are the truth, and nothing was left unread', async () => {
        const { rows: status } = await rows('sync-status');
        const summary = sim.truth.summary();
        expect(status).toMatchObject([
          { integration: integration.name, health: 'healthy', last_run_status: 'succeeded', scopes_failed: 0, credential_gaps: 0, users: summary.users, groups: summary.groups, projects: summary.projects, repositories: summary.repositories, deploy_keys: summary.deployKeys },
        ]);
        // Only the standing statements of what Bitbucket Cloud's API cannot list with any credential.
        const coverage = await rows('coverage');
        expect(coverage.rows.map((r) => `${String(r.kind)} ${String(r.stream)}`)).toEqual(['api-limit workspace-ssh-keys', 'api-limit access-tokens']);
        expect(coverage.result.warnings).toEqual([]);
      });

      it("CSV output keeps the simulator's dangerous names inert", async () => {
        const { text } = await captureReport(get().db, 'user-access', { integration: integration.name, format: 'csv' });
        const records = parse(text, { columns: true }) as Array<Record<string, string>>;
        expect(records.length).toBe(review.filter((r) => r.principal_kind === 'user').length);
        for (const record of records) for (const cell of Object.values(record)) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
        const dangerous = sim.truth.users().filter((u) => /^[=+\-@]/.test(u.displayName));
        expect(dangerous.length).toBeGreaterThan(0);
        for (const u of dangerous) {
          const names = new Set(records.filter((r) => r.principal_id === u.uuid).map((r) => r.principal_name));
          expect(names).toEqual(new Set([`'${u.displayName}`]));
        }
        // Quotes and commas survive the round trip.
        const quoted = sim.truth.users().filter((u) => /[,"]/.test(u.displayName) && !/^[=+\-@]/.test(u.displayName));
        if (profile === 'medium') expect(quoted.length).toBeGreaterThan(0);
        for (const u of quoted) expect(records.some((r) => r.principal_id === u.uuid && r.principal_name === u.displayName)).toBe(true);
      });
    });
  }

  describe('small workspace: sync → change → sync', () => {
    let sim: Simulator;
    let integration: Integration;
    const runs: string[] = [];
    const rows = (name: string, options: Parameters<typeof reportRows>[2] = {}) => reportRows(get().db, name, { integration: integration.name, ...options });

    beforeAll(async () => {
      sim = await startSimulator({ profile: 'small', seed: 1, rateLimit: false });
      integration = await connectSim(get(), sim, 'changes-small');
      runs.push((await syncSim(get(), integration)).runId);
    });
    afterAll(async () => {
      await sim?.close();
    });

    it('access-changes lists exactly the changes; --as-of gives back the earlier truth', async () => {
      const before = truthRepositoryAccess(sim.truth);
      const users = sim.truth.users();
      const grace = users.find((u) => u.displayName === 'Grace Hopper')?.uuid as string;
      const finance = sim.truth.groups().find((g) => g.name === '=Finance Ops')?.slug as string;
      sim.mutate.setRepoUserPermission('api-gateway', grace, 'admin');
      sim.mutate.removeGroupMember('developers', grace);
      sim.mutate.deleteRepository('reports');
      sim.mutate.setProjectGroupPermission('PLAT', 'developers', 'admin');
      const newcomer = sim.mutate.addMember({ displayName: '+Newcomer, "Ops"', role: 'member' });
      const second = await syncSim(get(), integration);
      expect(second.status).toBe('succeeded');
      runs.push(second.runId);

      const { rows: changes, result } = await rows('access-changes', { since: runs[0] });
      expect(result.runId).toBe(second.runId);
      expect(changes.map((r) => `${String(r.change)} ${String(r.resource_kind)}:${String(r.resource)} ${String(r.principal_id)} ${String(r.permission_before)}→${String(r.permission_after)} ${String(r.note)}`)).toEqual([
        `granted workspace:acme ${newcomer.uuid} null→member null`,
        'changed project:PLAT developers write→admin null',
        `granted repository:api-gateway ${grace} null→admin null`,
        `revoked repository:reports ${finance} read→null repository removed`,
        `left-group group:developers ${grace} member→null null`,
      ]);
      expect(changes.every((r) => r.run_id === second.runId)).toBe(true);

      const now = await rows('access-review');
      expect(rosterRepositoryAccess(now.rows)).toEqual(truthRepositoryAccess(sim.truth));
      const runRow = await get().db.selectFrom('sync_runs').select('finished_at').where('id', '=', runs[0] as string).executeTakeFirstOrThrow();
      const earlier = await rows('access-review', { asOf: new Date((runRow.finished_at as Date).getTime() + 1) });
      expect(earlier.result.runId).toBe(runs[0]);
      expect(rosterRepositoryAccess(earlier.rows)).toEqual(before);
      expect(before).not.toEqual(truthRepositoryAccess(sim.truth));
    });

    it('a credential that cannot read everything: coverage says what and why, reports warn', async () => {
      const limited = await connectSim(get(), sim, 'limited-small', 'workspaceAccessToken');
      const outcome = await syncSim(get(), limited);
      expect(outcome.error).toBeNull();
      const { rows: gaps, result } = await reportRows(get().db, 'coverage', { integration: limited.name });
      expect(result.runId).toBe(outcome.runId);
      expect(gaps.length).toBeGreaterThan(0);
      const scopeGaps = gaps.filter((g) => g.kind !== 'api-limit');
      expect(scopeGaps.every((g) => g.kind === 'credential-gap' && typeof g.advice === 'string' && g.advice.length > 0)).toBe(true);
      expect(gaps.map((g) => g.stream)).toContain('groups');
      const review = await reportRows(get().db, 'access-review', { integration: limited.name });
      expect(review.result.warnings.some((w) => w.startsWith('Not covered: the workspace-access-token credential of "limited-small" cannot read'))).toBe(true);
      expect(review.result.coverageGaps.length).toBe(scopeGaps.length);
    });
  });
});
