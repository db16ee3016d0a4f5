/** The test-only mutation API: change the workspace between two reads and see both the API and the truth follow. */
import { describe, expect, it } from 'vitest';
import { useSimulator } from './testing.ts';

const env = useSimulator({ profile: 'small', rateLimit: false }, 'each');

const memberUuids = async (): Promise<string[]> => (await env.client.all<{ user: { uuid: string } }>(`/2.0/workspaces/${env.ws}/members`)).map((m) => m.user.uuid);
const repoUserGrants = async (slug: string): Promise<Array<[string, string]>> =>
  (await env.client.all<{ user: { uuid: string }; permission: string }>(`/2.0/repositories/${env.ws}/${slug}/permissions-config/users`)).map((g) => [g.user.uuid, g.permission]);

describe('members', () => {
  it('adding a member shows in the API and the truth; removing one removes every trace', async () => {
    const before = await memberUuids();
    const added = env.sim.mutate.addMember({ displayName: '=NEW("hire")' });
    expect(added.uuid).toMatch(/^\{[0-9a-f-]{36}\}$/);
    expect(await memberUuids()).toEqual([...before, added.uuid]);
    expect(env.sim.truth.users().at(-1)).toEqual({ ...added, role: 'member' });

    env.sim.mutate.addGroupMember('developers', added.uuid);
    env.sim.mutate.setRepoUserPermission('web-app', added.uuid, 'admin');
    expect(env.sim.truth.effectiveAccess().filter((a) => a.userUuid === added.uuid).length).toBeGreaterThan(1);
    const groups = (await env.client.get(`/1.0/groups/${env.ws}/`)).json as Array<{ slug: string; members: Array<{ uuid: string }> }>;
    expect(groups.find((g) => g.slug === 'developers')?.members.map((m) => m.uuid)).toContain(added.uuid);

    env.sim.mutate.removeMember(added.uuid);
    expect(await memberUuids()).toEqual(before);
    expect(env.sim.truth.groups().some((g) => g.memberUuids.includes(added.uuid))).toBe(false);
    expect(env.sim.truth.repoUserGrants().some((g) => g.userUuid === added.uuid)).toBe(false);
    expect(env.sim.truth.effectiveAccess().some((a) => a.userUuid === added.uuid)).toBe(false);
    expect((await repoUserGrants('web-app')).some(([u]) => u === added.uuid)).toBe(false);
  });

  it('promoting to owner gives admin everywhere (and the role shows in /permissions)', async () => {
    const grace = env.sim.truth.users().find((u) => u.displayName === 'Grace Hopper') as { uuid: string };
    env.sim.mutate.setRole(grace.uuid, 'owner');
    const rows = env.sim.truth.effectiveAccess().filter((a) => a.userUuid === grace.uuid);
    expect(rows).toHaveLength(env.sim.truth.repositories().length);
    expect(rows.every((r) => r.permission === 'admin')).toBe(true);
    const owners = await env.client.all<{ user: { uuid: string } }>(`/2.0/workspaces/${env.ws}/permissions?q=${encodeURIComponent('permission="owner"')}`);
    expect(owners.map((o) => o.user.uuid)).toContain(grace.uuid);
    expect((await env.client.get(`/2.0/workspaces/${env.ws}/permissions/repositories`, 'memberApiToken')).status).toBe(200);
  });
});

describe('grants', () => {
  it('changing, adding and removing a grant shows on the next read; permission changes leave updated_on alone', async () => {
    const repoBefore = (await env.client.get(`/2.0/repositories/${env.ws}/ml-models`)).json as { updated_on: string };
    const grants = await repoUserGrants('ml-models');
    const [first] = grants;
    expect(first).toBeDefined();
    env.sim.mutate.setRepoUserPermission('ml-models', first?.[0] as string, 'admin');
    expect(await repoUserGrants('ml-models')).toContainEqual([first?.[0], 'admin']);
    env.sim.mutate.setRepoUserPermission('ml-models', first?.[0] as string, null);
    expect((await repoUserGrants('ml-models')).map(([u]) => u)).not.toContain(first?.[0]);
    expect(((await env.client.get(`/2.0/repositories/${env.ws}/ml-models`)).json as { updated_on: string }).updated_on).toBe(repoBefore.updated_on);
    env.sim.mutate.touchRepository('ml-models');
    expect(((await env.client.get(`/2.0/repositories/${env.ws}/ml-models`)).json as { updated_on: string }).updated_on).not.toBe(repoBefore.updated_on);
  });

  it('a project group grant reaches every member on every repository of the project', async () => {
    env.sim.mutate.setProjectGroupPermission('DATA', 'developers', 'create-repo');
    const dev = env.sim.truth.groups().find((g) => g.slug === 'developers');
    const dataRepos = env.sim.truth.repositories().filter((r) => r.projectKey === 'DATA');
    for (const u of dev?.memberUuids ?? []) {
      for (const r of dataRepos) {
        const row = env.sim.truth.effectiveAccess().find((a) => a.userUuid === u && a.repoUuid === r.uuid);
        expect(row?.paths).toContainEqual({ kind: 'project-group', permission: 'write', group: 'developers', projectKey: 'DATA' });
      }
    }
    const listed = await env.client.all<{ group: { slug: string }; permission: string }>(`/2.0/workspaces/${env.ws}/projects/DATA/permissions-config/groups`);
    expect(listed.map((g) => [g.group.slug, g.permission])).toContainEqual(['developers', 'create-repo']);
  });

  it('removing a group removes its grants', async () => {
    env.sim.mutate.removeGroup('developers');
    expect(env.sim.truth.projectGroupGrants().some((g) => g.groupSlug === 'developers')).toBe(false);
    const listed = await env.client.all<{ group: { slug: string } }>(`/2.0/workspaces/${env.ws}/projects/PLAT/permissions-config/groups`);
    expect(listed).toEqual([]);
  });
});

describe('repositories and deploy keys', () => {
  it('deleting a repository makes it 404 and drops it from every listing', async () => {
    const victim = env.sim.truth.repositories().find((r) => r.slug === 'api-gateway') as { uuid: string };
    env.sim.mutate.deleteRepository('api-gateway');
    expect((await env.client.get(`/2.0/repositories/${env.ws}/api-gateway`)).status).toBe(404);
    expect((await env.client.all<{ uuid: string }>(`/2.0/repositories/${env.ws}`)).map((r) => r.uuid)).not.toContain(victim.uuid);
    expect(env.sim.truth.deployKeys().some((k) => k.repositoryUuid === victim.uuid)).toBe(false);
    expect(env.sim.truth.effectiveAccess().some((a) => a.repoUuid === victim.uuid)).toBe(false);
    // The repository access token was bound to it.
    expect((await env.client.get(`/2.0/repositories/${env.ws}`, 'repositoryAccessToken')).status).toBe(401);
  });

  it('renaming keeps the uuid, changes the slug and bumps updated_on', async () => {
    const before = env.sim.truth.repositories().find((r) => r.slug === 'web-app') as { uuid: string; updatedOn: string };
    const renamed = env.sim.mutate.renameRepository('web-app', 'Web Application');
    expect(renamed).toMatchObject({ uuid: before.uuid, slug: 'web-application', name: 'Web Application' });
    expect(renamed.updatedOn).not.toBe(before.updatedOn);
    expect((await env.client.get(`/2.0/repositories/${env.ws}/web-app`)).status).toBe(404);
    const body = (await env.client.get(`/2.0/repositories/${env.ws}/web-application`)).json as { uuid: string; updated_on: string };
    expect(body).toMatchObject({ uuid: before.uuid, updated_on: renamed.updatedOn });
    // By uuid it is the same repository under either name.
    expect(((await env.client.get(`/2.0/repositories/${env.ws}/${encodeURIComponent(before.uuid)}`)).json as { slug: string }).slug).toBe('web-application');
  });

  it('deleting a repository: its old slug and its {uuid} (raw or URL-encoded) answer 404 on every per-repository path', async () => {
    const victim = env.sim.truth.repositories().find((r) => r.slug === 'api-gateway') as { uuid: string };
    const refs = ['api-gateway', victim.uuid, encodeURIComponent(victim.uuid), victim.uuid.toUpperCase()];
    for (const ref of refs) expect((await env.client.get(`/2.0/repositories/${env.ws}/${ref}`)).status, ref).toBe(200);
    env.sim.mutate.deleteRepository(victim.uuid);
    for (const ref of refs) {
      for (const path of perRepositoryPaths(ref)) {
        const res = await env.client.get(path);
        expect(res.status, path).toBe(404);
        expect(res.json, path).toMatchObject({ type: 'error', error: { message: `Repository ${env.ws}/${ref.startsWith('%') ? decodeURIComponent(ref) : ref} not found` } });
      }
    }
  });

  it('a repository created under a deleted one’s slug is a different repository (new uuid); the old uuid stays 404', async () => {
    const old = env.sim.truth.repositories().find((r) => r.slug === 'api-gateway') as { uuid: string };
    env.sim.mutate.deleteRepository('api-gateway');
    const again = env.sim.mutate.addRepository({ name: 'api-gateway', projectKey: 'PLAT' });
    expect(again.slug).toBe('api-gateway');
    expect(again.uuid).not.toBe(old.uuid);
    expect(((await env.client.get(`/2.0/repositories/${env.ws}/api-gateway`)).json as { uuid: string }).uuid).toBe(again.uuid);
    expect((await env.client.get(`/2.0/repositories/${env.ws}/${encodeURIComponent(old.uuid)}`)).status).toBe(404);
    expect((await env.client.get(`/2.0/repositories/${env.ws}/${encodeURIComponent(again.uuid)}`)).status).toBe(200);
    // Nothing of the old one carried over: no grants, no deploy keys; its token stays dead.
    expect(await repoUserGrants('api-gateway')).toEqual([]);
    expect(await env.client.all(`/2.0/repositories/${env.ws}/api-gateway/deploy-keys`)).toEqual([]);
    expect((await env.client.get(`/2.0/repositories/${env.ws}`, 'repositoryAccessToken')).status).toBe(401);
    // With an explicit slug too.
    env.sim.mutate.deleteRepository('api-gateway');
    const third = env.sim.mutate.addRepository({ name: 'API Gateway (v3)', slug: 'api-gateway', projectKey: 'DATA', isPrivate: false });
    expect(third).toMatchObject({ slug: 'api-gateway', name: 'API Gateway (v3)', isPrivate: false });
    expect([old.uuid, again.uuid]).not.toContain(third.uuid);
  });

  it('per-repository paths take the {uuid} (raw, URL-encoded, any case) in place of the slug everywhere', async () => {
    const repo = env.sim.truth.repositories().find((r) => r.slug === 'api-gateway') as { uuid: string };
    for (const path of perRepositoryPaths('api-gateway')) {
      const bySlug = await env.client.get(path);
      expect(bySlug.status, path).toBe(200);
      for (const ref of [repo.uuid, encodeURIComponent(repo.uuid), encodeURIComponent(repo.uuid.toUpperCase())]) {
        const byUuid = await env.client.get(path.replace('/api-gateway', `/${ref}`));
        expect(byUuid.status, `${path} by ${ref}`).toBe(200);
        expect(byUuid.text, `${path} by ${ref}`).toBe(bySlug.text);
      }
    }
  });

  it('adding a repository and a deploy key shows on the next read', async () => {
    const repo = env.sim.mutate.addRepository({ name: 'new-service', projectKey: 'DATA' });
    expect((await env.client.get(`/2.0/repositories/${env.ws}/new-service`)).status).toBe(200);
    const key = env.sim.mutate.addDeployKey({ repository: 'new-service', label: '+ci key' });
    expect(Number.isInteger(key.id)).toBe(true);
    const keys = await env.client.all<{ id: number; label: string; repository: { uuid: string } }>(`/2.0/repositories/${env.ws}/new-service/deploy-keys`);
    expect(keys).toEqual([expect.objectContaining({ id: key.id, label: '+ci key', repository: expect.objectContaining({ uuid: repo.uuid }) })]);
    const pkey = env.sim.mutate.addDeployKey({ projectKey: 'PLAT', label: 'project key' });
    const pkeys = await env.client.all<{ id: number }>(`/2.0/workspaces/${env.ws}/projects/PLAT/deploy-keys`);
    expect(pkeys.map((k) => k.id)).toContain(pkey.id);
    expect(env.sim.mutate.useDeployKey(key.id, '2026-11-30T08:00:00.000000+00:00').lastUsed).toBe('2026-11-30T08:00:00.000000+00:00');
    expect((await env.client.all<{ id: number; last_used?: string }>(`/2.0/repositories/${env.ws}/new-service/deploy-keys`))[0]?.last_used).toBe('2026-11-30T08:00:00.000000+00:00');
    expect(() => env.sim.mutate.useDeployKey(key.id, 'yesterday')).toThrow(/invalid date/);
    env.sim.mutate.removeDeployKey(key.id);
    expect(() => env.sim.mutate.useDeployKey(key.id)).toThrow(/no deploy key/);
    expect(await env.client.all(`/2.0/repositories/${env.ws}/new-service/deploy-keys`)).toEqual([]);
    // Owners reach the new repository; nobody else does until granted.
    expect(env.sim.truth.effectiveAccess().filter((a) => a.repoUuid === repo.uuid).every((a) => a.paths.every((p) => p.kind === 'workspace-owner'))).toBe(true);
  });

  it('setRepositoryPrivate switches a repository public or private (only in a public project) and bumps updated_on', async () => {
    const before = env.sim.truth.repositories().find((r) => r.slug === 'ml-models') as { uuid: string; updatedOn: string; isPrivate: boolean };
    expect(before.isPrivate).toBe(true);
    expect((await fetch(`${env.sim.baseUrl}/2.0/repositories/${env.ws}/ml-models`)).status).toBe(401);
    const grants = env.sim.truth.effectiveAccess();
    const made = env.sim.mutate.setRepositoryPrivate('ml-models', false);
    expect(made).toMatchObject({ uuid: before.uuid, isPrivate: false });
    expect(made.updatedOn).not.toBe(before.updatedOn);
    const body = (await env.client.get(`/2.0/repositories/${env.ws}/ml-models`)).json as { is_private: boolean; fork_policy: string; updated_on: string };
    expect(body).toEqual(expect.objectContaining({ is_private: false, fork_policy: 'allow_forks', updated_on: made.updatedOn }));
    expect((await fetch(`${env.sim.baseUrl}/2.0/repositories/${env.ws}/ml-models`)).status).toBe(200);
    expect(env.sim.truth.publicRepositories().map((r) => r.slug).sort()).toEqual(['ml-models', 'reports']);
    // Public readability is not a grant.
    expect(env.sim.truth.effectiveAccess()).toEqual(grants);
    // "Private projects can only contain private repositories."
    expect(() => env.sim.mutate.setRepositoryPrivate('web-app', false)).toThrow(/project PLAT is private/);
    expect(() => env.sim.mutate.moveRepository('ml-models', 'PLAT')).toThrow(/project PLAT is private/);
    expect(() => env.sim.mutate.setProjectPrivate('DATA', true)).toThrow(/holds public repositories/);
    const back = env.sim.mutate.setRepositoryPrivate(before.uuid, true);
    expect(back.isPrivate).toBe(true);
    expect((await fetch(`${env.sim.baseUrl}/2.0/repositories/${env.ws}/ml-models`)).status).toBe(401);
    // A public project first, then a public repository in it.
    const projBefore = (await env.client.get(`/2.0/workspaces/${env.ws}/projects/PLAT`)).json as { updated_on: string; is_private: boolean };
    expect(env.sim.mutate.setProjectPrivate('PLAT', false)).toMatchObject({ key: 'PLAT', isPrivate: false });
    const projAfter = (await env.client.get(`/2.0/workspaces/${env.ws}/projects/PLAT`)).json as { updated_on: string; is_private: boolean; has_publicly_visible_repos: boolean };
    expect(projAfter).toMatchObject({ is_private: false, has_publicly_visible_repos: false });
    expect(projAfter.updated_on).not.toBe(projBefore.updated_on);
    env.sim.mutate.setRepositoryPrivate('web-app', false);
    expect(((await env.client.get(`/2.0/workspaces/${env.ws}/projects/PLAT`)).json as { has_publicly_visible_repos: boolean }).has_publicly_visible_repos).toBe(true);
  });

  it('moving bumps updated_on; permission changes do not', async () => {
    const before = env.sim.truth.repositories().find((r) => r.slug === 'sandbox') as { updatedOn: string };
    env.sim.mutate.setRepoUserPermission('sandbox', env.sim.truth.users()[2]?.uuid as string, 'write');
    env.sim.mutate.setRepoGroupPermission('sandbox', 'developers', 'read');
    env.sim.mutate.plantReportedPermission('sandbox', env.sim.truth.users()[3]?.uuid as string, 'read');
    expect(env.sim.truth.repositories().find((r) => r.slug === 'sandbox')?.updatedOn).toBe(before.updatedOn);
    env.sim.mutate.moveRepository('sandbox', 'PLAT');
    const moved = env.sim.truth.repositories().find((r) => r.slug === 'sandbox') as { updatedOn: string };
    expect(moved.updatedOn).not.toBe(before.updatedOn);
    expect(((await env.client.get(`/2.0/repositories/${env.ws}/sandbox`)).json as { updated_on: string }).updated_on).toBe(moved.updatedOn);
  });

  it('addProject and renameGroup', async () => {
    const p = env.sim.mutate.addProject({ key: 'OPS', name: '=Ops' });
    expect(p).toMatchObject({ key: 'OPS', name: '=Ops', isPrivate: true });
    expect((await env.client.all<{ key: string }>(`/2.0/workspaces/${env.ws}/projects`)).map((x) => x.key)).toEqual(['PLAT', 'DATA', 'OPS']);
    env.sim.mutate.moveRepository('web-app', 'OPS');
    expect(((await env.client.get(`/2.0/repositories/${env.ws}/web-app`)).json as { project: { key: string } }).project.key).toBe('OPS');
    expect(() => env.sim.mutate.addProject({ key: 'OPS', name: 'again' })).toThrow(/duplicate project OPS/);
    expect(() => env.sim.mutate.addProject({ key: '1x', name: 'bad' })).toThrow(/invalid project key/);
    expect(env.sim.mutate.renameGroup('developers', 'Engineering')).toMatchObject({ slug: 'developers', name: 'Engineering' });
    const groups = (await env.client.get(`/1.0/groups/${env.ws}/`)).json as Array<{ slug: string; name: string }>;
    expect(groups.find((g) => g.slug === 'developers')?.name).toBe('Engineering');
  });

  it('moving a repository to another project changes who reaches it through project grants', async () => {
    const groupOnly = env.sim.truth.users().find((u) => u.displayName === '李雷') as { uuid: string };
    const sandbox = env.sim.truth.repositories().find((r) => r.slug === 'sandbox') as { uuid: string };
    expect(env.sim.truth.effectiveAccess().some((a) => a.userUuid === groupOnly.uuid && a.repoUuid === sandbox.uuid)).toBe(false);
    env.sim.mutate.moveRepository('sandbox', 'PLAT');
    expect(env.sim.truth.effectiveAccess().find((a) => a.userUuid === groupOnly.uuid && a.repoUuid === sandbox.uuid)?.paths[0]?.kind).toBe('project-group');
    expect(((await env.client.get(`/2.0/repositories/${env.ws}/sandbox`)).json as { project: { key: string } }).project.key).toBe('PLAT');
  });

  it('refuses nonsense with a clear error', () => {
    expect(() => env.sim.mutate.deleteRepository('nope')).toThrow(/no repository nope/);
    expect(() => env.sim.mutate.setRepoUserPermission('sandbox', '{nobody}', 'read')).toThrow(/no user/);
    expect(() => env.sim.mutate.addGroup({ name: 'Developers' })).toThrow(/duplicate group/);
    expect(() => env.sim.mutate.addDeployKey({ label: 'x' })).toThrow(/exactly one repository or project/);
  });
});

/** Every per-repository path the simulator serves, for one repository reference. */
function perRepositoryPaths(ref: string): string[] {
  return [
    `/2.0/repositories/${env.ws}/${ref}`,
    `/2.0/repositories/${env.ws}/${ref}/permissions-config/users`,
    `/2.0/repositories/${env.ws}/${ref}/permissions-config/groups`,
    `/2.0/repositories/${env.ws}/${ref}/deploy-keys`,
    `/2.0/workspaces/${env.ws}/permissions/repositories/${ref}`,
    `/1.0/group-privileges/${env.ws}/${ref}`,
  ];
}

describe('over HTTP (/__sim/…)', () => {
  it('mutates, reports truth and stats, and refuses unknown operations', async () => {
    const res = await fetch(`${env.sim.baseUrl}/__sim/mutate`, { method: 'POST', body: JSON.stringify({ op: 'addMember', args: [{ displayName: 'Via HTTP' }] }) });
    expect(res.status).toBe(200);
    const { result } = (await res.json()) as { result: { uuid: string } };
    expect(await memberUuids()).toContain(result.uuid);
    const truth = (await (await fetch(`${env.sim.baseUrl}/__sim/truth`)).json()) as { summary: { users: number } };
    expect(truth.summary.users).toBe(11);
    const users = (await (await fetch(`${env.sim.baseUrl}/__sim/truth/users`)).json()) as Array<{ uuid: string }>;
    expect(users.map((u) => u.uuid)).toContain(result.uuid);
    const stats = (await (await fetch(`${env.sim.baseUrl}/__sim/stats`)).json()) as { requests: number };
    expect(stats.requests).toBeGreaterThan(0);
    const bad = await fetch(`${env.sim.baseUrl}/__sim/mutate`, { method: 'POST', body: JSON.stringify({ op: 'dropDatabase' }) });
    expect(bad.status).toBe(400);
    const failing = await fetch(`${env.sim.baseUrl}/__sim/mutate`, { method: 'POST', body: JSON.stringify({ op: 'deleteRepository', args: ['nope'] }) });
    expect(failing.status).toBe(400);
    expect(((await failing.json()) as { error: { message: string } }).error.message).toMatch(/no repository nope/);
  });

  it('offers every new op over HTTP, with the same results', async () => {
    const post = async (op: string, ...args: unknown[]): Promise<{ status: number; body: { ok?: boolean; result?: unknown; error?: { message: string } } }> => {
      const res = await fetch(`${env.sim.baseUrl}/__sim/mutate`, { method: 'POST', body: JSON.stringify({ op, args }) });
      return { status: res.status, body: (await res.json()) as { ok?: boolean; result?: unknown } };
    };
    const ops = ((await post('nope')).body.error?.message ?? '').replace(/^.*ops: /, '').split(', ');
    for (const op of ['setRepositoryPrivate', 'setProjectPrivate', 'addProject', 'rejoinMember', 'setDisplayName', 'renameGroup', 'plantReportedPermission', 'clearPlantedReportedPermissions', 'setReportedPermissionsReading']) expect(ops).toContain(op);
    expect((await post('setRepositoryPrivate', 'reports', true)).body.result).toMatchObject({ slug: 'reports', isPrivate: true });
    const grace = env.sim.truth.users().find((u) => u.displayName === 'Grace Hopper') as { uuid: string };
    expect((await post('removeMember', grace.uuid)).status).toBe(200);
    expect((await post('rejoinMember', grace.uuid)).body.result).toMatchObject({ uuid: grace.uuid, member: true });
    expect((await post('setDisplayName', grace.uuid, 'Amazing\u0000Grace')).body.result).toMatchObject({ displayName: 'Amazing\u0000Grace' });
    expect((await post('setReportedPermissionsReading', { includeOwners: true })).body.result).toEqual({ includeOwners: true, includeProjectInherited: true });
    expect((await post('setReportedPermissionsReading', { includeOwners: 'yes' })).status).toBe(400);
  });
});
