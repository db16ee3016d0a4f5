/** The test-only mutation API: change the workspace between two reads and see both the API and the truth follow. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimClient } from './client.ts';
import { startSimulator, type SimulatorInternals } from './index.ts';
import type { Simulator } from './types.ts';

let sim: Simulator & SimulatorInternals;
let client: SimClient;
let ws: string;

beforeEach(async () => {
  sim = await startSimulator({ profile: 'small', rateLimit: false });
  client = new SimClient(sim);
  ws = sim.workspace;
});
afterEach(async () => {
  await sim.close();
});

const memberUuids = async (): Promise<string[]> => (await client.all<{ user: { uuid: string } }>(`/2.0/workspaces/${ws}/members`)).map((m) => m.user.uuid);
const repoUserGrants = async (slug: string): Promise<Array<[string, string]>> =>
  (await client.all<{ user: { uuid: string }; permission: string }>(`/2.0/repositories/${ws}/${slug}/permissions-config/users`)).map((g) => [g.user.uuid, g.permission]);

describe('members', () => {
  it('adding a member shows in the API and the truth; removing one removes every trace', async () => {
    const before = await memberUuids();
    const added = sim.mutate.addMember({ displayName: '=NEW("hire")' });
    expect(added.uuid).toMatch(/^\{[0-9a-f-]{36}\}$/);
    expect(await memberUuids()).toEqual([...before, added.uuid]);
    expect(sim.truth.users().at(-1)).toEqual({ ...added, role: 'member' });

    sim.mutate.addGroupMember('developers', added.uuid);
    sim.mutate.setRepoUserPermission('web-app', added.uuid, 'admin');
    expect(sim.truth.effectiveAccess().filter((a) => a.userUuid === added.uuid).length).toBeGreaterThan(1);
    const groups = (await client.get(`/1.0/groups/${ws}/`)).json as Array<{ slug: string; members: Array<{ uuid: string }> }>;
    expect(groups.find((g) => g.slug === 'developers')?.members.map((m) => m.uuid)).toContain(added.uuid);

    sim.mutate.removeMember(added.uuid);
    expect(await memberUuids()).toEqual(before);
    expect(sim.truth.groups().some((g) => g.memberUuids.includes(added.uuid))).toBe(false);
    expect(sim.truth.repoUserGrants().some((g) => g.userUuid === added.uuid)).toBe(false);
    expect(sim.truth.effectiveAccess().some((a) => a.userUuid === added.uuid)).toBe(false);
    expect((await repoUserGrants('web-app')).some(([u]) => u === added.uuid)).toBe(false);
  });

  it('promoting to owner gives admin everywhere (and the role shows in /permissions)', async () => {
    const grace = sim.truth.users().find((u) => u.displayName === 'Grace Hopper') as { uuid: string };
    sim.mutate.setRole(grace.uuid, 'owner');
    const rows = sim.truth.effectiveAccess().filter((a) => a.userUuid === grace.uuid);
    expect(rows).toHaveLength(sim.truth.repositories().length);
    expect(rows.every((r) => r.permission === 'admin')).toBe(true);
    const owners = await client.all<{ user: { uuid: string } }>(`/2.0/workspaces/${ws}/permissions?q=${encodeURIComponent('permission="owner"')}`);
    expect(owners.map((o) => o.user.uuid)).toContain(grace.uuid);
    expect((await client.get(`/2.0/workspaces/${ws}/permissions/repositories`, 'memberApiToken')).status).toBe(200);
  });
});

describe('grants', () => {
  it('changing, adding and removing a grant shows on the next read; permission changes leave updated_on alone', async () => {
    const repoBefore = (await client.get(`/2.0/repositories/${ws}/ml-models`)).json as { updated_on: string };
    const grants = await repoUserGrants('ml-models');
    const [first] = grants;
    expect(first).toBeDefined();
    sim.mutate.setRepoUserPermission('ml-models', first?.[0] as string, 'admin');
    expect(await repoUserGrants('ml-models')).toContainEqual([first?.[0], 'admin']);
    sim.mutate.setRepoUserPermission('ml-models', first?.[0] as string, null);
    expect((await repoUserGrants('ml-models')).map(([u]) => u)).not.toContain(first?.[0]);
    expect(((await client.get(`/2.0/repositories/${ws}/ml-models`)).json as { updated_on: string }).updated_on).toBe(repoBefore.updated_on);
    sim.mutate.touchRepository('ml-models');
    expect(((await client.get(`/2.0/repositories/${ws}/ml-models`)).json as { updated_on: string }).updated_on).not.toBe(repoBefore.updated_on);
  });

  it('a project group grant reaches every member on every repository of the project', async () => {
    sim.mutate.setProjectGroupPermission('DATA', 'developers', 'create-repo');
    const dev = sim.truth.groups().find((g) => g.slug === 'developers');
    const dataRepos = sim.truth.repositories().filter((r) => r.projectKey === 'DATA');
    for (const u of dev?.memberUuids ?? []) {
      for (const r of dataRepos) {
        const row = sim.truth.effectiveAccess().find((a) => a.userUuid === u && a.repoUuid === r.uuid);
        expect(row?.paths).toContainEqual({ kind: 'project-group', permission: 'write', group: 'developers', projectKey: 'DATA' });
      }
    }
    const listed = await client.all<{ group: { slug: string }; permission: string }>(`/2.0/workspaces/${ws}/projects/DATA/permissions-config/groups`);
    expect(listed.map((g) => [g.group.slug, g.permission])).toContainEqual(['developers', 'create-repo']);
  });

  it('removing a group removes its grants', async () => {
    sim.mutate.removeGroup('developers');
    expect(sim.truth.projectGroupGrants().some((g) => g.groupSlug === 'developers')).toBe(false);
    const listed = await client.all<{ group: { slug: string } }>(`/2.0/workspaces/${ws}/projects/PLAT/permissions-config/groups`);
    expect(listed).toEqual([]);
  });
});

describe('repositories and deploy keys', () => {
  it('deleting a repository makes it 404 and drops it from every listing', async () => {
    const victim = sim.truth.repositories().find((r) => r.slug === 'api-gateway') as { uuid: string };
    sim.mutate.deleteRepository('api-gateway');
    expect((await client.get(`/2.0/repositories/${ws}/api-gateway`)).status).toBe(404);
    expect((await client.all<{ uuid: string }>(`/2.0/repositories/${ws}`)).map((r) => r.uuid)).not.toContain(victim.uuid);
    expect(sim.truth.deployKeys().some((k) => k.repositoryUuid === victim.uuid)).toBe(false);
    expect(sim.truth.effectiveAccess().some((a) => a.repoUuid === victim.uuid)).toBe(false);
    // The repository access token was bound to it.
    expect((await client.get(`/2.0/repositories/${ws}`, 'repositoryAccessToken')).status).toBe(401);
  });

  it('renaming keeps the uuid and changes the slug', async () => {
    const before = sim.truth.repositories().find((r) => r.slug === 'web-app') as { uuid: string };
    const renamed = sim.mutate.renameRepository('web-app', 'Web Application');
    expect(renamed).toMatchObject({ uuid: before.uuid, slug: 'web-application', name: 'Web Application' });
    expect((await client.get(`/2.0/repositories/${ws}/web-app`)).status).toBe(404);
    expect(((await client.get(`/2.0/repositories/${ws}/web-application`)).json as { uuid: string }).uuid).toBe(before.uuid);
  });

  it('adding a repository and a deploy key shows on the next read', async () => {
    const repo = sim.mutate.addRepository({ name: 'new-service', projectKey: 'DATA' });
    expect((await client.get(`/2.0/repositories/${ws}/new-service`)).status).toBe(200);
    const key = sim.mutate.addDeployKey({ repository: 'new-service', label: '+ci key' });
    expect(Number.isInteger(key.id)).toBe(true);
    const keys = await client.all<{ id: number; label: string; repository: { uuid: string } }>(`/2.0/repositories/${ws}/new-service/deploy-keys`);
    expect(keys).toEqual([expect.objectContaining({ id: key.id, label: '+ci key', repository: expect.objectContaining({ uuid: repo.uuid }) })]);
    const pkey = sim.mutate.addDeployKey({ projectKey: 'PLAT', label: 'project key' });
    const pkeys = await client.all<{ id: number }>(`/2.0/workspaces/${ws}/projects/PLAT/deploy-keys`);
    expect(pkeys.map((k) => k.id)).toContain(pkey.id);
    sim.mutate.removeDeployKey(key.id);
    expect(await client.all(`/2.0/repositories/${ws}/new-service/deploy-keys`)).toEqual([]);
    // Owners reach the new repository; nobody else does until granted.
    expect(sim.truth.effectiveAccess().filter((a) => a.repoUuid === repo.uuid).every((a) => a.paths.every((p) => p.kind === 'workspace-owner'))).toBe(true);
  });

  it('moving a repository to another project changes who reaches it through project grants', async () => {
    const groupOnly = sim.truth.users().find((u) => u.displayName === '李雷') as { uuid: string };
    const sandbox = sim.truth.repositories().find((r) => r.slug === 'sandbox') as { uuid: string };
    expect(sim.truth.effectiveAccess().some((a) => a.userUuid === groupOnly.uuid && a.repoUuid === sandbox.uuid)).toBe(false);
    sim.mutate.moveRepository('sandbox', 'PLAT');
    expect(sim.truth.effectiveAccess().find((a) => a.userUuid === groupOnly.uuid && a.repoUuid === sandbox.uuid)?.paths[0]?.kind).toBe('project-group');
    expect(((await client.get(`/2.0/repositories/${ws}/sandbox`)).json as { project: { key: string } }).project.key).toBe('PLAT');
  });

  it('refuses nonsense with a clear error', () => {
    expect(() => sim.mutate.deleteRepository('nope')).toThrow(/no repository nope/);
    expect(() => sim.mutate.setRepoUserPermission('sandbox', '{nobody}', 'read')).toThrow(/no user/);
    expect(() => sim.mutate.addGroup({ name: 'Developers' })).toThrow(/duplicate group/);
    expect(() => sim.mutate.addDeployKey({ label: 'x' })).toThrow(/exactly one repository or project/);
  });
});

describe('over HTTP (/__sim/…)', () => {
  it('mutates, reports truth and stats, and refuses unknown operations', async () => {
    const res = await fetch(`${sim.baseUrl}/__sim/mutate`, { method: 'POST', body: JSON.stringify({ op: 'addMember', args: [{ displayName: 'Via HTTP' }] }) });
    expect(res.status).toBe(200);
    const { result } = (await res.json()) as { result: { uuid: string } };
    expect(await memberUuids()).toContain(result.uuid);
    const truth = (await (await fetch(`${sim.baseUrl}/__sim/truth`)).json()) as { summary: { users: number } };
    expect(truth.summary.users).toBe(11);
    const users = (await (await fetch(`${sim.baseUrl}/__sim/truth/users`)).json()) as Array<{ uuid: string }>;
    expect(users.map((u) => u.uuid)).toContain(result.uuid);
    const stats = (await (await fetch(`${sim.baseUrl}/__sim/stats`)).json()) as { requests: number };
    expect(stats.requests).toBeGreaterThan(0);
    const bad = await fetch(`${sim.baseUrl}/__sim/mutate`, { method: 'POST', body: JSON.stringify({ op: 'dropDatabase' }) });
    expect(bad.status).toBe(400);
    const failing = await fetch(`${sim.baseUrl}/__sim/mutate`, { method: 'POST', body: JSON.stringify({ op: 'deleteRepository', args: ['nope'] }) });
    expect(failing.status).toBe(400);
    expect(((await failing.json()) as { error: { message: string } }).error.message).toMatch(/no repository nope/);
  });
});
