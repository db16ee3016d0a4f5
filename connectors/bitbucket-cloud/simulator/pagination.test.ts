/** Pagination, filtering, sorting and partial responses, as Bitbucket does them. */
import { describe, expect, it } from 'vitest';
import { useSimulator } from './testing.ts';

interface Page<T = Record<string, unknown>> {
  values: T[];
  pagelen: number;
  size: number;
  page: number;
  next?: string;
  previous?: string;
}

const env = useSimulator({ profile: 'medium', rateLimit: false });

const page = async <T = Record<string, unknown>>(path: string): Promise<Page<T>> => {
  const res = await env.client.get(path);
  expect(res.status, `${path}: ${res.text.slice(0, 200)}`).toBe(200);
  return res.json as Page<T>;
};

describe('the envelope', () => {
  it.each([
    ['/2.0/repositories/{env.ws}', 10],
    ['/2.0/workspaces/{env.ws}/members', 50],
    ['/2.0/workspaces/{env.ws}/permissions', 50],
    ['/2.0/workspaces/{env.ws}/permissions/repositories', 10],
    ['/2.0/workspaces/{env.ws}/projects', 50],
    ['/2.0/user/workspaces', 25],
  ])('%s pages by %i by default', async (template, pagelen) => {
    const body = await page(template.replace('{env.ws}', env.ws));
    expect(body.pagelen).toBe(pagelen);
    expect(body.page).toBe(1);
    expect(body.values.length).toBe(Math.min(pagelen, body.size));
    expect(body.previous).toBeUndefined();
  });

  it('clamps pagelen above the maximum to 100 and says so in `pagelen`', async () => {
    const body = await page(`/2.0/repositories/${env.ws}?pagelen=1000`);
    expect(body.pagelen).toBe(100);
    expect(body.values).toHaveLength(100);
  });

  it('refuses page 0, a negative or non-numeric page, and pagelen 0', async () => {
    for (const q of ['page=0', 'page=-1', 'page=two', 'pagelen=0', 'pagelen=1.5']) {
      const res = await env.client.get(`/2.0/repositories/${env.ws}?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.json).toMatchObject({ type: 'error', error: { message: expect.stringMatching(/Invalid page/) } });
    }
  });

  it('answers a page beyond the end with no values and no next link', async () => {
    const body = await page(`/2.0/repositories/${env.ws}?page=999`);
    expect(body.values).toEqual([]);
    expect(body.next).toBeUndefined();
    expect(body.size).toBe(env.sim.truth.repositories().length);
    expect(body.previous).toMatch(/page=998/);
  });

  it('links to the next page with an absolute URL that keeps every parameter, and ends without one', async () => {
    const q = encodeURIComponent('updated_on>2025-01-01T00:00:00');
    const first = await page(`/2.0/repositories/${env.ws}?pagelen=25&q=${q}&sort=-updated_on`);
    expect(first.next).toBeDefined();
    const next = new URL(first.next as string);
    expect(`${next.protocol}//${next.host}`).toBe(env.sim.baseUrl);
    expect(next.searchParams.get('pagelen')).toBe('25');
    expect(next.searchParams.get('q')).toBe('updated_on>2025-01-01T00:00:00');
    expect(next.searchParams.get('sort')).toBe('-updated_on');
    expect(next.searchParams.get('page')).toBe('2');
    let url: string | undefined = first.next;
    let count = first.values.length;
    let pages = 1;
    while (url) {
      const body: Page = await page(url);
      expect(body.previous).toBeDefined();
      count += body.values.length;
      pages++;
      url = body.next;
    }
    expect(count).toBe(first.size);
    expect(pages).toBe(Math.ceil(first.size / 25));
  });

  it('following next yields every item exactly once', async () => {
    const repos = await env.client.all<{ uuid: string }>(`/2.0/repositories/${env.ws}?pagelen=37`);
    expect(repos.map((r) => r.uuid)).toEqual(env.sim.truth.repositories().map((r) => r.uuid));
    const members = await env.client.all<{ user: { uuid: string } }>(`/2.0/workspaces/${env.ws}/members`);
    // Workspace members only: users outside the workspace appear in grants alone (since June 2022).
    expect(members.map((m) => m.user.uuid)).toEqual(env.sim.truth.users().filter((u) => u.member).map((u) => u.uuid));
    expect(env.sim.truth.users().some((u) => !u.member)).toBe(true);
  });

  it('lists /permissions/repositories exactly as the truth reports them, explicit paths only', async () => {
    const rows = await env.client.all<{ user: { uuid: string }; repository: { uuid: string }; permission: string }>(`/2.0/workspaces/${env.ws}/permissions/repositories?pagelen=100`);
    expect(rows.map((r) => [r.user.uuid, r.repository.uuid, r.permission])).toEqual(env.sim.truth.reportedRepositoryPermissions().map((r) => [r.userUuid, r.repoUuid, r.permission]));
  });
});

describe('filtering and sorting (BBQL)', () => {
  it('filters repositories by updated_on like an incremental sync does', async () => {
    const since = '2025-09-01T00:00:00+00:00';
    const repos = await env.client.all<{ uuid: string; updated_on: string }>(`/2.0/repositories/${env.ws}?pagelen=100&q=${encodeURIComponent(`updated_on>${since}`)}`);
    const expected = env.sim.workspaceModel.repos.filter((r) => Date.parse(r.updatedOn) > Date.parse(since)).map((r) => r.uuid);
    expect(repos.map((r) => r.uuid)).toEqual(expected);
    expect(expected.length).toBeGreaterThan(0);
    expect(expected.length).toBeLessThan(env.sim.truth.repositories().length);
  });

  it('filters by project key, combines with AND/OR/IN, and sorts descending', async () => {
    const plat = await env.client.all<{ project: { key: string } }>(`/2.0/repositories/${env.ws}?q=${encodeURIComponent('project.key="PLAT"')}`);
    expect(plat.length).toBe(env.sim.truth.repositories().filter((r) => r.projectKey === 'PLAT').length);
    expect(plat.every((r) => r.project.key === 'PLAT')).toBe(true);
    const either = await env.client.all<{ project: { key: string } }>(`/2.0/repositories/${env.ws}?q=${encodeURIComponent('project.key IN ("PLAT", "DATA") AND (name ~ "api" OR slug = "reports")')}`);
    expect(either.map((r) => r.project.key).every((k) => k === 'PLAT' || k === 'DATA')).toBe(true);
    expect(either.length).toBeGreaterThanOrEqual(2);
    const sorted = await env.client.all<{ updated_on: string }>(`/2.0/repositories/${env.ws}?pagelen=100&sort=-updated_on`);
    const times = sorted.map((r) => Date.parse(r.updated_on));
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });

  it('filters workspace permissions by role', async () => {
    const owners = await env.client.all<{ permission: string; user: { uuid: string } }>(`/2.0/workspaces/${env.ws}/permissions?q=${encodeURIComponent('permission="owner"')}`);
    expect(owners.map((o) => o.user.uuid).sort()).toEqual(env.sim.truth.users().filter((u) => u.role === 'owner').map((u) => u.uuid).sort());
    expect(owners.every((o) => o.permission === 'owner')).toBe(true);
  });

  it('compares permissions by rank (`permission>"read"`)', async () => {
    const rows = await env.client.all<{ permission: string }>(`/2.0/workspaces/${env.ws}/permissions/repositories?pagelen=100&q=${encodeURIComponent('permission>"read"')}`);
    expect(rows.length).toBe(env.sim.truth.reportedRepositoryPermissions().filter((r) => r.permission !== 'read').length);
  });

  it('answers 400 for unknown fields and broken queries', async () => {
    for (const q of ['colour="red"', 'name =', '(name="x"', 'name ! "x"', 'updated_on > 2025-13-45']) {
      const res = await env.client.get(`/2.0/repositories/${env.ws}?q=${encodeURIComponent(q)}`);
      expect(res.status, q).toBe(400);
      expect(res.json).toMatchObject({ type: 'error' });
    }
    expect((await env.client.get(`/2.0/repositories/${env.ws}?sort=colour`)).status).toBe(400);
  });

  it('ignores parameters an endpoint does not take, as Bitbucket does, and counts them', async () => {
    env.sim.resetStats();
    const res = await env.client.get(`/2.0/repositories/${env.ws}/api-gateway/permissions-config/users?q=${encodeURIComponent('permission="admin"')}`);
    expect(res.status).toBe(200);
    expect((res.json as Page).size).toBe(env.sim.truth.repoUserGrants().filter((g) => g.repoUuid === env.sim.truth.repositories()[0]?.uuid).length);
    expect(env.sim.stats().ignoredParams).toEqual({ 'GET /2.0/repositories/{workspace}/{repo_slug}/permissions-config/users?q': 1 });
  });
});

describe('partial responses (fields=)', () => {
  it('keeps only the named fields', async () => {
    const body = (await env.client.get(`/2.0/repositories/${env.ws}?fields=${encodeURIComponent('values.uuid,values.slug,next')}`)).json as Record<string, unknown> & { values: Array<Record<string, unknown>> };
    expect(Object.keys(body).sort()).toEqual(['next', 'values']);
    expect(Object.keys(body.values[0] ?? {}).sort()).toEqual(['slug', 'uuid']);
    expect(String(body.next)).toContain('fields=');
  });

  it('removes with -, re-adds with +, and * matches a whole level', async () => {
    const minus = (await env.client.get(`/2.0/repositories/${env.ws}/api-gateway?fields=${encodeURIComponent('-links,-owner')}`)).json as Record<string, unknown>;
    expect(minus.links).toBeUndefined();
    expect(minus.owner).toBeUndefined();
    expect(minus.uuid).toBeDefined();
    const star = (await env.client.get(`/2.0/repositories/${env.ws}/api-gateway?fields=${encodeURIComponent('-links.*')}`)).json as { links: object };
    expect(star.links).toEqual({});
    const only = (await env.client.get(`/2.0/repositories/${env.ws}/api-gateway?fields=${encodeURIComponent('-*,+slug,+project.key')}`)).json;
    expect(only).toEqual({ slug: 'api-gateway', project: { key: 'PLAT' } });
  });
});

describe('shapes that trip connectors', () => {
  it('members carry no role; permissions do, with added_on lacking a timezone', async () => {
    const m = await page<Record<string, unknown>>(`/2.0/workspaces/${env.ws}/members?pagelen=1`);
    expect(m.values[0]).not.toHaveProperty('permission');
    const p = await page<Record<string, unknown>>(`/2.0/workspaces/${env.ws}/permissions?pagelen=1`);
    expect(p.values[0]).toHaveProperty('permission');
    expect(String(p.values[0]?.added_on)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$/);
  });

  it('serves 1.0 groups as a bare array, with and without the trailing slash', async () => {
    const a = (await env.client.get(`/1.0/groups/${env.ws}/`)).json as unknown[];
    const b = (await env.client.get(`/1.0/groups/${env.ws}`)).json as unknown[];
    expect(Array.isArray(a)).toBe(true);
    expect(a).toEqual(b);
    expect(a).toHaveLength(env.sim.truth.groups().length);
  });
});
