/**
 * What Bitbucket Cloud serves in 2026 and the simulator must too: public repositories (readable by
 * anyone), users outside the workspace (no longer in the member lists since the collaborator role
 * left the API), the readings of Bitbucket's own effective permissions, and the headers it sends.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SimClient } from './client.ts';
import { createClock, startSimulator } from './index.ts';
import { useSimulator } from './testing.ts';
import type { RepoPermission, Simulator } from './types.ts';

type Row = { user: { uuid: string }; repository: { uuid: string }; permission: RepoPermission };

const anon = (sim: Simulator, path: string): Promise<Response> => fetch(`${sim.baseUrl}${path}`);

describe('public repositories', () => {
  const env = useSimulator({ profile: 'small', rateLimit: false });

  it('small plants exactly one, `reports`, in a public project, allowing forks', async () => {
    const pub = env.sim.truth.publicRepositories();
    expect(pub.map((r) => r.slug)).toEqual(['reports']);
    expect(env.sim.truth.repositories().filter((r) => !r.isPrivate)).toEqual(pub);
    const body = (await env.client.get(`/2.0/repositories/${env.ws}/reports`)).json as { is_private: boolean; fork_policy: string; project: { key: string } };
    expect(body).toMatchObject({ is_private: false, fork_policy: 'allow_forks', project: { key: 'DATA' } });
    expect(env.sim.truth.projects().find((p) => p.key === 'DATA')?.isPrivate).toBe(false);
    const projects = await env.client.all<{ key: string; is_private: boolean; has_publicly_visible_repos: boolean }>(`/2.0/workspaces/${env.ws}/projects`);
    expect(projects.map((p) => [p.key, p.is_private, p.has_publicly_visible_repos])).toEqual([['PLAT', true, false], ['DATA', false, true]]);
    // Every other repository body says private.
    const listed = await env.client.all<{ slug: string; is_private: boolean }>(`/2.0/repositories/${env.ws}`);
    expect(listed.filter((r) => !r.is_private).map((r) => r.slug)).toEqual(['reports']);
  });

  it('readability is not a grant: effective access stays the explicit paths and owners', () => {
    const reports = env.sim.truth.repositories().find((r) => r.slug === 'reports');
    const rows = env.sim.truth.effectiveAccess().filter((a) => a.repoUuid === reports?.uuid);
    const finance = env.sim.truth.groups().find((g) => g.slug === 'finance-ops');
    const owners = env.sim.truth.users().filter((u) => u.role === 'owner').map((u) => u.uuid);
    expect(new Set(rows.map((r) => r.userUuid))).toEqual(new Set([...owners, ...(finance?.memberUuids ?? [])]));
    expect(rows.every((r) => r.paths.every((p) => p.kind === 'workspace-owner' || (p.kind === 'group' && p.group === 'finance-ops')))).toBe(true);
  });

  it('anonymous requests see public repositories only; anything else answers 401 as before', async () => {
    const listed = await anon(env.sim, `/2.0/repositories/${env.ws}`);
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as { values: Array<{ slug: string }> }).values.map((r) => r.slug)).toEqual(['reports']);
    const reports = env.sim.truth.publicRepositories()[0];
    for (const ref of ['reports', reports?.uuid ?? '', encodeURIComponent(reports?.uuid ?? '')]) {
      const res = await anon(env.sim, `/2.0/repositories/${env.ws}/${ref}`);
      expect(res.status, ref).toBe(200);
      expect(((await res.json()) as { uuid: string }).uuid).toBe(reports?.uuid);
    }
    for (const path of [
      `/2.0/repositories/${env.ws}/sandbox`,
      `/2.0/repositories/${env.ws}/no-such-repo`,
      `/2.0/repositories/nope`,
      `/2.0/repositories/${env.ws}/reports/permissions-config/users`,
      `/2.0/repositories/${env.ws}/reports/deploy-keys`,
      `/2.0/workspaces/${env.ws}/members`,
      `/2.0/workspaces/${env.ws}/projects`,
      `/1.0/group-privileges/${env.ws}/reports`,
    ]) {
      const res = await anon(env.sim, path);
      expect(res.status, path).toBe(401);
      expect(res.headers.get('www-authenticate'), path).toBe('Basic realm="Bitbucket.org HTTP"');
    }
    // `role` is about explicit access: nothing for an anonymous caller.
    expect(((await (await anon(env.sim, `/2.0/repositories/${env.ws}?role=member`)).json()) as { values: unknown[] }).values).toEqual([]);
    expect(env.sim.stats().perCredential.anonymous).toBeGreaterThanOrEqual(12);
  });

  it('a user outside the workspace with one grant reads that repository and every public one', async () => {
    const outsider = env.sim.truth.users().find((u) => !u.member) as { uuid: string; accountId: string };
    const token = env.sim.issueApiToken(outsider.uuid, ['read:repository:bitbucket']);
    const h = { authorization: `Basic ${Buffer.from(`${token.email}:${token.token}`).toString('base64')}` };
    const res = await fetch(`${env.sim.baseUrl}/2.0/repositories/${env.ws}?pagelen=100`, { headers: h });
    const slugs = ((await res.json()) as { values: Array<{ slug: string }> }).values.map((r) => r.slug);
    expect(slugs.sort()).toEqual(['reports', 'web-app']);
    expect((await fetch(`${env.sim.baseUrl}/2.0/repositories/${env.ws}/reports`, { headers: h })).status).toBe(200);
    expect((await fetch(`${env.sim.baseUrl}/2.0/repositories/${env.ws}/sandbox`, { headers: h })).status).toBe(403);
  });
});

describe('public repositories on larger profiles', () => {
  it.each(['medium', 'large'] as const)('%s: 2–4 % of the repositories, each in a public project, seeded', async (profile) => {
    const [a, b] = await Promise.all([startSimulator({ profile, rateLimit: false }), startSimulator({ profile, rateLimit: false, seed: 2 })]);
    try {
      const pub = a.truth.publicRepositories();
      const share = pub.length / a.truth.repositories().length;
      expect(share).toBeGreaterThanOrEqual(0.02);
      expect(share).toBeLessThanOrEqual(0.04);
      expect(pub.some((r) => r.slug === 'reports')).toBe(true);
      expect(a.truth.summary().publicRepositories).toBe(pub.length);
      const projects = new Map(a.truth.projects().map((p) => [p.key, p]));
      expect(pub.every((r) => projects.get(r.projectKey)?.isPrivate === false)).toBe(true);
      // Another seed, another choice.
      expect(b.truth.publicRepositories().map((r) => r.slug)).not.toEqual(pub.map((r) => r.slug));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('users outside the workspace (the collaborator role left the API on 1 June 2022)', () => {
  const env = useSimulator({ profile: 'medium', rateLimit: false });

  it('are not in /members or /permissions, and no body says collaborator', async () => {
    const outsiders = env.sim.truth.users().filter((u) => !u.member);
    expect(outsiders.length).toBe(env.sim.truth.summary().collaborators);
    expect(outsiders.every((u) => u.role === 'collaborator')).toBe(true);
    expect(env.sim.truth.summary().members).toBe(env.sim.truth.users().length - outsiders.length);
    const members = await env.client.all<{ user: { uuid: string } }>(`/2.0/workspaces/${env.ws}/members?pagelen=100`);
    const perms = await env.client.all<{ user: { uuid: string }; permission: string }>(`/2.0/workspaces/${env.ws}/permissions?pagelen=100`);
    const memberUuids = env.sim.truth.users().filter((u) => u.member).map((u) => u.uuid);
    expect(members.map((m) => m.user.uuid)).toEqual(memberUuids);
    expect(perms.map((m) => m.user.uuid)).toEqual(memberUuids);
    expect(new Set(perms.map((p) => p.permission))).toEqual(new Set(['owner', 'member']));
    for (const u of outsiders) expect((await env.client.get(`/2.0/workspaces/${env.ws}/members/${encodeURIComponent(u.uuid)}`)).status).toBe(404);
    // The query value went too.
    expect((await env.client.get(`/2.0/workspaces/${env.ws}/permissions?q=${encodeURIComponent('permission="collaborator"')}`)).status).toBe(400);
    const texts = await Promise.all([`/2.0/workspaces/${env.ws}/members?pagelen=100`, `/2.0/workspaces/${env.ws}/permissions?pagelen=100`, `/1.0/groups/${env.ws}/`].map(async (p) => (await env.client.get(p)).text));
    for (const t of texts) expect(t).not.toContain('collaborator');
  });

  it('appear only in the grants: repository user permissions and the reported effective permissions', async () => {
    const outsider = env.sim.truth.users().find((u) => !u.member) as { uuid: string };
    const grants = env.sim.truth.repoUserGrants().filter((g) => g.userUuid === outsider.uuid);
    expect(grants.length).toBeGreaterThan(0);
    const slug = env.sim.truth.repositories().find((r) => r.uuid === grants[0]?.repoUuid)?.slug as string;
    const listed = await env.client.all<{ user: { uuid: string } }>(`/2.0/repositories/${env.ws}/${slug}/permissions-config/users`);
    expect(listed.map((g) => g.user.uuid)).toContain(outsider.uuid);
    const reported = await env.client.all<Row>(`/2.0/workspaces/${env.ws}/permissions/repositories/${slug}`);
    expect(reported.map((r) => r.user.uuid)).toContain(outsider.uuid);
    expect(env.sim.truth.groups().some((g) => g.memberUuids.includes(outsider.uuid))).toBe(false);
  });
});

describe('outsiders and the membership ops', () => {
  const env = useSimulator({ profile: 'small', rateLimit: false });
  const memberUuids = async (): Promise<string[]> => (await env.client.all<{ user: { uuid: string } }>(`/2.0/workspaces/${env.ws}/members`)).map((m) => m.user.uuid);

  it('setRole collaborator moves a member outside: out of the lists and every group, direct grants kept; a group brings them back', async () => {
    const grace = env.sim.truth.users().find((u) => u.displayName === 'Grace Hopper') as { uuid: string };
    const direct = env.sim.truth.repoUserGrants().filter((g) => g.userUuid === grace.uuid);
    expect(direct.length).toBeGreaterThan(0);
    env.sim.mutate.setRole(grace.uuid, 'collaborator');
    expect(env.sim.truth.users().find((u) => u.uuid === grace.uuid)).toMatchObject({ role: 'collaborator', member: false });
    expect(await memberUuids()).not.toContain(grace.uuid);
    expect(env.sim.truth.groups().some((g) => g.memberUuids.includes(grace.uuid))).toBe(false);
    expect(env.sim.truth.repoUserGrants().filter((g) => g.userUuid === grace.uuid)).toEqual(direct);
    // "If you add a user to a User group, that user becomes a member of your workspace."
    env.sim.mutate.addGroupMember('developers', grace.uuid);
    expect(env.sim.truth.users().find((u) => u.uuid === grace.uuid)).toMatchObject({ role: 'member', member: true });
    expect(await memberUuids()).toContain(grace.uuid);
  });

  it('addMember with role collaborator adds an outsider; removeMember and rejoinMember bring back the same account', async () => {
    const outsider = env.sim.mutate.addMember({ displayName: 'Ext Contractor', role: 'collaborator' });
    expect(outsider.member).toBe(false);
    expect(await memberUuids()).not.toContain(outsider.uuid);
    env.sim.mutate.setRepoUserPermission('sandbox', outsider.uuid, 'read');
    expect((await env.client.all<{ user: { uuid: string } }>(`/2.0/repositories/${env.ws}/sandbox/permissions-config/users`)).map((g) => g.user.uuid)).toEqual([outsider.uuid]);

    const ada = env.sim.truth.users().find((u) => u.displayName === 'Alex Kim') as { uuid: string; accountId: string; displayName: string; nickname: string };
    env.sim.mutate.addGroupMember('developers', ada.uuid);
    env.sim.mutate.setRepoUserPermission('web-app', ada.uuid, 'admin');
    env.sim.mutate.removeMember(ada.uuid);
    expect(await memberUuids()).not.toContain(ada.uuid);
    expect(() => env.sim.mutate.rejoinMember('{00000000-0000-4000-8000-000000000000}')).toThrow(/no removed user/);
    const back = env.sim.mutate.rejoinMember(ada.accountId);
    expect(back).toEqual({ uuid: ada.uuid, accountId: ada.accountId, displayName: ada.displayName, nickname: ada.nickname, role: 'member', member: true });
    expect((await memberUuids()).at(-1)).toBe(ada.uuid);
    // Back with nothing: groups and grants were removed with the member.
    expect(env.sim.truth.groups().some((g) => g.memberUuids.includes(ada.uuid))).toBe(false);
    expect(env.sim.truth.repoUserGrants().some((g) => g.userUuid === ada.uuid)).toBe(false);
    expect(() => env.sim.mutate.rejoinMember(ada.uuid)).toThrow(/has not left/);
    // Rejoining as an owner or as an outsider.
    env.sim.mutate.removeMember(ada.uuid);
    expect(env.sim.mutate.rejoinMember(ada.uuid, 'owner')).toMatchObject({ role: 'owner', member: true });
    expect(env.sim.truth.effectiveAccess().filter((a) => a.userUuid === ada.uuid)).toHaveLength(env.sim.truth.repositories().length);
  });

  it('setDisplayName plants a NUL character, served JSON-escaped as Bitbucket would', async () => {
    const bobby = env.sim.truth.users().find((u) => u.displayName.startsWith("-Robert'")) as { uuid: string };
    const name = 'Null\u0000Byte';
    expect(env.sim.mutate.setDisplayName(bobby.uuid, name)).toMatchObject({ uuid: bobby.uuid, displayName: name });
    for (const path of [`/2.0/workspaces/${env.ws}/members`, `/2.0/workspaces/${env.ws}/permissions`, `/2.0/workspaces/${env.ws}/projects/PLAT/permissions-config/users`, `/2.0/workspaces/${env.ws}/permissions/repositories?pagelen=100`, `/1.0/groups/${env.ws}/`]) {
      const res = await env.client.get(path);
      expect(res.text, path).toContain('Null\\u0000Byte');
      expect(res.text.includes('\u0000'), path).toBe(false);
      expect(res.text, path).toMatch(/"display_name":"Null\\u0000Byte"/);
    }
    const members = await env.client.all<{ user: { uuid: string; display_name: string } }>(`/2.0/workspaces/${env.ws}/members`);
    expect(members.find((m) => m.user.uuid === bobby.uuid)?.user.display_name).toBe(name);
    env.sim.mutate.setDisplayName(bobby.uuid, 'Robert', 'bobby');
    expect(env.sim.truth.users().find((u) => u.uuid === bobby.uuid)).toMatchObject({ displayName: 'Robert', nickname: 'bobby' });
  });
});

describe("Bitbucket's own effective permissions: readings and planted disagreements", () => {
  const env = useSimulator({ profile: 'small', rateLimit: false });
  afterEach(() => {
    env.sim.mutate.clearPlantedReportedPermissions();
    env.sim.mutate.setReportedPermissionsReading({ includeOwners: false, includeProjectInherited: true });
  });

  const listed = async (): Promise<string[]> => (await env.client.all<Row>(`/2.0/workspaces/${env.ws}/permissions/repositories?pagelen=100`)).map((r) => `${r.user.uuid} ${r.repository.uuid} ${r.permission}`);
  const truthRows = (): string[] => env.sim.truth.reportedRepositoryPermissions().map((r) => `${r.userUuid} ${r.repoUuid} ${r.permission}`);
  const highest = (paths: Array<{ permission: RepoPermission }>): RepoPermission => (['read', 'write', 'admin'] as const)[Math.max(...paths.map((p) => ({ read: 0, write: 1, admin: 2 })[p.permission]))] as RepoPermission;
  const expectedFrom = (keep: (kind: string) => boolean): string[] =>
    env.sim.truth.effectiveAccess().flatMap((a) => {
      const paths = a.paths.filter((p) => keep(p.kind));
      return paths.length === 0 ? [] : [`${a.userUuid} ${a.repoUuid} ${highest(paths)}`];
    });

  it('by default: the highest explicit permission, project-inherited included, owners not listed', async () => {
    expect(env.sim.truth.reportedPermissionsReading()).toEqual({ includeOwners: false, includeProjectInherited: true });
    expect((await listed()).sort()).toEqual(expectedFrom((k) => k !== 'workspace-owner').sort());
    expect(await listed()).toEqual(truthRows());
  });

  it('includeOwners lists the owners’ implicit admin on every repository; includeProjectInherited false drops project paths', async () => {
    env.sim.mutate.setReportedPermissionsReading({ includeOwners: true });
    const withOwners = await listed();
    expect(withOwners.sort()).toEqual(expectedFrom(() => true).sort());
    const owners = env.sim.truth.users().filter((u) => u.role === 'owner');
    for (const o of owners) for (const r of env.sim.truth.repositories()) expect(withOwners).toContain(`${o.uuid} ${r.uuid} admin`);
    expect(await listed()).toEqual(truthRows());

    env.sim.mutate.setReportedPermissionsReading({ includeOwners: false, includeProjectInherited: false });
    const direct = await listed();
    expect(direct.sort()).toEqual(expectedFrom((k) => k === 'direct' || k === 'group').sort());
    // 李雷's only access is through developers on PLAT: gone from this reading.
    const groupOnly = env.sim.truth.users().find((u) => u.displayName === '李雷') as { uuid: string };
    expect(direct.some((r) => r.startsWith(groupOnly.uuid))).toBe(false);
    expect(await listed()).toEqual(truthRows());
    // The per-repository listing follows the same reading.
    const api = env.sim.truth.repositories().find((r) => r.slug === 'api-gateway') as { uuid: string };
    const one = await env.client.all<Row>(`/2.0/workspaces/${env.ws}/permissions/repositories/api-gateway`);
    expect(one.map((r) => `${r.user.uuid} ${r.repository.uuid} ${r.permission}`)).toEqual(truthRows().filter((r) => r.includes(` ${api.uuid} `)));
  });

  it('the reading comes from the options and from /__sim/reported-permissions too', async () => {
    const s = await startSimulator({ rateLimit: false, reportedPermissions: { includeOwners: true } });
    try {
      expect(s.truth.reportedPermissionsReading()).toEqual({ includeOwners: true, includeProjectInherited: true });
      const owners = s.truth.users().filter((u) => u.role === 'owner').length;
      expect(s.truth.reportedRepositoryPermissions().filter((r) => r.permission === 'admin').length).toBeGreaterThanOrEqual(owners * s.truth.repositories().length);
      const got = await fetch(`${s.baseUrl}/__sim/reported-permissions`);
      expect(await got.json()).toEqual({ includeOwners: true, includeProjectInherited: true });
      const set = await fetch(`${s.baseUrl}/__sim/reported-permissions`, { method: 'POST', body: JSON.stringify({ includeOwners: false, includeProjectInherited: false }) });
      expect(await set.json()).toEqual({ includeOwners: false, includeProjectInherited: false });
      expect(s.truth.reportedPermissionsReading()).toEqual({ includeOwners: false, includeProjectInherited: false });
      const bad = await fetch(`${s.baseUrl}/__sim/reported-permissions`, { method: 'POST', body: JSON.stringify({ includeAdmins: true }) });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/unknown reading "includeAdmins"/);
    } finally {
      await s.close();
    }
  });

  it('plantReportedPermission adds, changes or removes exactly one row (a test lever, not Bitbucket)', async () => {
    const before = await listed();
    const sandbox = env.sim.truth.repositories().find((r) => r.slug === 'sandbox') as { uuid: string };
    const grace = env.sim.truth.users().find((u) => u.displayName === 'Grace Hopper') as { uuid: string };
    const ml = env.sim.truth.repositories().find((r) => r.slug === 'ml-models') as { uuid: string };
    // Grace has no path to sandbox: the listing now claims she writes there.
    env.sim.mutate.plantReportedPermission('sandbox', grace.uuid, 'write');
    // Grace reads ml-models directly: the listing now leaves her out.
    env.sim.mutate.plantReportedPermission(ml.uuid, grace.uuid, null);
    const after = await listed();
    expect(after.filter((r) => !before.includes(r))).toEqual([`${grace.uuid} ${sandbox.uuid} write`]);
    expect(before.filter((r) => !after.includes(r))).toEqual([`${grace.uuid} ${ml.uuid} read`]);
    expect(after).toEqual(truthRows());
    expect(env.sim.truth.plantedReportedPermissions()).toEqual([
      { repoUuid: sandbox.uuid, userUuid: grace.uuid, permission: 'write' },
      { repoUuid: ml.uuid, userUuid: grace.uuid, permission: null },
    ]);
    // Effective access (the truth Roster derives) is untouched.
    expect(env.sim.truth.effectiveAccess().some((a) => a.userUuid === grace.uuid && a.repoUuid === sandbox.uuid)).toBe(false);
    expect(() => env.sim.mutate.plantReportedPermission('sandbox', grace.uuid, 'owner' as RepoPermission)).toThrow(/invalid permission/);
    env.sim.mutate.clearPlantedReportedPermissions();
    expect(await listed()).toEqual(before);
    // Over HTTP.
    const res = await fetch(`${env.sim.baseUrl}/__sim/mutate`, { method: 'POST', body: JSON.stringify({ op: 'plantReportedPermission', args: ['sandbox', grace.uuid, 'admin'] }) });
    expect(res.status).toBe(200);
    expect(await listed()).toContain(`${grace.uuid} ${sandbox.uuid} admin`);
  });
});

describe('headers', () => {
  it('normal responses carry X-Request-Count (per credential, rolling hour) and no X-RateLimit-*; access tokens on /2.0/repositories/* get those', async () => {
    const clock = createClock({ speed: 0, start: Date.UTC(2026, 10, 23, 9) });
    const sim = await startSimulator({ clock, rateLimit: { perHour: 4 } });
    try {
      const c = new SimClient(sim);
      const path = `/2.0/repositories/${sim.workspace}`;
      const counts: Array<string | null> = [];
      for (let i = 0; i < 3; i++) {
        const res = await c.get(path);
        expect(res.status).toBe(200);
        counts.push(res.headers.get('x-request-count'));
        expect([...res.headers.keys()].filter((k) => k.startsWith('x-ratelimit'))).toEqual([]);
      }
      expect(counts).toEqual(['1', '2', '3']);
      // Another credential counts on its own; the member's other endpoints count against the same user.
      expect((await c.get('/2.0/user', 'memberApiToken')).headers.get('x-request-count')).toBe('1');
      expect((await c.get(path, 'memberApiToken')).headers.get('x-request-count')).toBe('2');
      expect((await c.get(path)).headers.get('x-request-count')).toBe('4');
      const limited = await c.get(path);
      expect(limited.status).toBe(429);
      expect(limited.headers.get('x-request-count')).toBe('4');
      clock.advance(3600_000);
      expect((await c.get(path)).headers.get('x-request-count')).toBe('1');
      const token = await c.get(path, 'workspaceAccessToken');
      expect(token.headers.get('x-request-count')).toBe('1');
      expect(token.headers.get('x-ratelimit-limit')).toBe('4');
    } finally {
      await sim.close();
    }
  });

  it('anonymous requests share their own budget (60 an hour by default)', async () => {
    const clock = createClock({ speed: 0 });
    const sim = await startSimulator({ clock, rateLimit: { perHour: 1000, anonymousPerHour: 2 } });
    try {
      const path = `${sim.baseUrl}/2.0/repositories/${sim.workspace}/reports`;
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await fetch(path)).status);
      expect(statuses).toEqual([200, 200, 429]);
      expect((await new SimClient(sim).get(`/2.0/repositories/${sim.workspace}/reports`)).status).toBe(200);
    } finally {
      await sim.close();
    }
    const dflt = await startSimulator({ clock: createClock({ speed: 0 }) });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 61; i++) statuses.push((await fetch(`${dflt.baseUrl}/2.0/repositories/${dflt.workspace}/reports`)).status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(60);
      expect(statuses.at(-1)).toBe(429);
    } finally {
      await dflt.close();
    }
  });
});
