/** Every fault kind, the spec syntax, and the runtime API. */
import { afterEach, describe, expect, it } from 'vitest';
import { SimClient, oauthToken } from './client.ts';
import { FaultSpecError, parseFaults, startSimulator } from './index.ts';
import { useSimulator } from './testing.ts';

const env = useSimulator({ profile: 'medium', rateLimit: false });
afterEach(() => {
  env.sim.faults.clear();
});

describe('the --faults syntax', () => {
  it('parses kinds and keys', () => {
    expect(parseFaults('5xx:path=/repositories/*/permissions-config/*:count=2;reset:nth=10;slow:ms=2000:path=/2.0/user;forbid:repo=api-gateway;revoke:after=50:cred=oauth;5xx:status=503')).toEqual([
      { kind: '5xx', path: '/repositories/*/permissions-config/*', count: 2 },
      { kind: 'reset', nth: 10 },
      { kind: 'slow', ms: 2000, path: '/2.0/user' },
      { kind: 'forbid', repo: 'api-gateway' },
      { kind: 'revoke', after: 50, credential: 'oauth' },
      { kind: '5xx', status: 503 },
    ]);
  });

  it('explains what is wrong', () => {
    expect(() => parseFaults('explode')).toThrow(FaultSpecError);
    expect(() => parseFaults('explode')).toThrow(/unknown fault kind "explode"/);
    expect(() => parseFaults('5xx:count=two')).toThrow(/count must be a non-negative integer/);
    expect(() => parseFaults('5xx:colour=red')).toThrow(/unknown key "colour"/);
    expect(() => parseFaults('forbid')).toThrow(/forbid needs repo/);
    expect(() => parseFaults('slow:path=/x')).toThrow(/slow needs ms/);
    expect(() => parseFaults('5xx:status=200')).toThrow(/status must be 400/);
    expect(() => parseFaults('revoke:cred=root')).toThrow(/unknown credential/);
  });
});

describe('fault kinds', () => {
  it('5xx on a path pattern, a given number of times', async () => {
    env.sim.faults.add('5xx:path=/repositories/*/permissions-config/*:count=2');
    const path = `/2.0/repositories/${env.ws}/api-gateway/permissions-config/users`;
    const a = await env.client.get(path);
    expect(a.status).toBe(500);
    expect(a.json).toMatchObject({ type: 'error', error: { message: 'Something went wrong' } });
    expect((await env.client.get(`/2.0/repositories/${env.ws}`)).status).toBe(200);
    expect((await env.client.get(`/2.0/repositories/${env.ws}/web-app/permissions-config/groups`)).status).toBe(500);
    expect((await env.client.get(path)).status).toBe(200);
    expect(env.sim.faults.list()[0]).toMatchObject({ seen: 3, fired: 2 });
  });

  it('5xx on the Nth request, as a gateway page for 502–504, or as a 429', async () => {
    env.sim.faults.add([{ kind: '5xx', nth: 3, status: 503 }]);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await env.client.get('/2.0/user')).status);
    expect(statuses).toEqual([200, 200, 503, 200]);
    env.sim.faults.clear();
    env.sim.faults.add('5xx:status=503:count=1');
    const gw = await env.client.get('/2.0/user');
    expect(gw.headers.get('content-type')).toBe('text/html');
    env.sim.faults.add('5xx:status=429:count=1');
    const limited = await env.client.get('/2.0/user');
    expect(limited.status).toBe(429);
    expect(limited.text).toBe('Rate limit for this resource has been exceeded');
  });

  it('reset drops the connection without an answer', async () => {
    env.sim.faults.add('reset:nth=2');
    expect((await env.client.get('/2.0/user')).status).toBe(200);
    await expect(env.client.get('/2.0/user')).rejects.toThrow(/fetch failed/);
    expect((await env.client.get('/2.0/user')).status).toBe(200);
  });

  it('slow holds one answer back while later requests are answered; then answers normally', async () => {
    // Order and counts, not wall-clock thresholds: a request sent after the slowed one is held
    // back is answered first, and only the first matching request is slowed (count=1).
    env.sim.faults.add('slow:ms=1500:path=/2.0/user:count=1');
    const order: string[] = [];
    const slowed = env.client.get('/2.0/user').then((res) => {
      order.push(`slowed ${res.status}`);
    });
    while (env.sim.faults.list()[0]?.fired !== 1) await new Promise((r) => setTimeout(r, 5));
    const next = await env.client.get('/2.0/user');
    order.push(`next ${next.status}`);
    await slowed;
    expect(order).toEqual(['next 200', 'slowed 200']);
    expect(env.sim.faults.list()[0]).toMatchObject({ seen: 2, fired: 1 });
  });

  it('forbid matches the repository however a request addresses it (slug or {uuid}), and takes a {uuid}', async () => {
    const api = env.sim.truth.repositories().find((r) => r.slug === 'api-gateway') as { uuid: string };
    env.sim.faults.add('forbid:repo=api-gateway');
    for (const ref of [api.uuid, encodeURIComponent(api.uuid)]) {
      expect((await env.client.get(`/2.0/repositories/${env.ws}/${ref}/permissions-config/users`)).status).toBe(403);
      expect((await env.client.get(`/2.0/workspaces/${env.ws}/permissions/repositories/${ref}`)).status).toBe(403);
    }
    env.sim.faults.clear();
    env.sim.faults.add(`forbid:repo=${api.uuid}`);
    expect((await env.client.get(`/2.0/repositories/${env.ws}/api-gateway/permissions-config/groups`)).status).toBe(403);
    expect((await env.client.get(`/1.0/group-privileges/${env.ws}/${encodeURIComponent(api.uuid)}`)).status).toBe(403);
    expect((await env.client.get(`/2.0/repositories/${env.ws}/web-app/permissions-config/groups`)).status).toBe(200);
  });

  it('malformed sends a 200 whose body is not JSON', async () => {
    env.sim.faults.add('malformed:path=/2.0/repositories/*:count=1');
    const res = await env.client.get(`/2.0/repositories/${env.ws}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(() => JSON.parse(res.text) as unknown).toThrow();
    expect(res.json).toBeUndefined();
  });

  it('truncate cuts the body off halfway through', async () => {
    env.sim.faults.add('truncate:path=/2.0/repositories/*:count=1');
    await expect(env.client.get(`/2.0/repositories/${env.ws}?pagelen=100`)).rejects.toThrow();
    expect((await env.client.get(`/2.0/repositories/${env.ws}?pagelen=100`)).status).toBe(200);
  });

  it('loop makes next point back to a page already served', async () => {
    env.sim.faults.add(`loop:path=/2.0/repositories/${env.ws}`);
    const seen = new Set<string>();
    let url: string | undefined = `/2.0/repositories/${env.ws}?pagelen=100`;
    let looped = false;
    for (let i = 0; url && i < 10; i++) {
      const key = new URL(url, env.sim.baseUrl).searchParams.get('page') ?? '1';
      if (seen.has(key)) {
        looped = true;
        break;
      }
      seen.add(key);
      url = ((await env.client.get(url)).json as { next?: string }).next;
    }
    expect(looped).toBe(true);
    expect(seen).toEqual(new Set(['1', '2']));
  });

  it('repeat serves a page again in place of the next one', async () => {
    env.sim.faults.add(`repeat:path=/2.0/repositories/${env.ws}:count=1`);
    const p1 = (await env.client.get(`/2.0/repositories/${env.ws}`)).json as { values: Array<{ uuid: string }>; next: string };
    // Only pages after the first count for `repeat`: page 2 repeats page 1.
    const p2 = (await env.client.get(p1.next)).json as { values: Array<{ uuid: string }>; next: string };
    expect(p2.values.map((v) => v.uuid)).toEqual(p1.values.map((v) => v.uuid));
    expect(p2.next).toMatch(/page=3/);
  });

  it('forbid answers 403 on one repository’s permission listings only', async () => {
    env.sim.faults.add('forbid:repo=api-gateway');
    expect((await env.client.get(`/2.0/repositories/${env.ws}/api-gateway/permissions-config/users`)).status).toBe(403);
    expect((await env.client.get(`/2.0/repositories/${env.ws}/api-gateway/permissions-config/groups`)).status).toBe(403);
    expect((await env.client.get(`/1.0/group-privileges/${env.ws}/api-gateway`)).status).toBe(403);
    expect((await env.client.get(`/2.0/repositories/${env.ws}/api-gateway`)).status).toBe(200);
    expect((await env.client.get(`/2.0/repositories/${env.ws}/web-app/permissions-config/users`)).status).toBe(200);
  });

  it('revoke lets N requests through, then the credential is dead', async () => {
    const s = await startSimulator({ rateLimit: false, faults: 'revoke:after=3:cred=workspaceAccessToken' });
    try {
      const c = new SimClient(s);
      const path = `/2.0/repositories/${s.workspace}`;
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await c.get(path, 'workspaceAccessToken')).status);
      expect(statuses).toEqual([200, 200, 200, 401, 401]);
      expect((await c.get(path, 'adminApiToken')).status).toBe(200);
    } finally {
      await s.close();
    }
  });

  it('revoke of the OAuth consumer turns the token endpoint to invalid_grant', async () => {
    const s = await startSimulator({ rateLimit: false });
    try {
      const first = await oauthToken(s);
      s.faults.add('revoke:cred=oauth:nth=2');
      const h = { authorization: `Bearer ${String(first.body.access_token)}` };
      expect((await fetch(`${s.baseUrl}/2.0/user`, { headers: h })).status).toBe(200);
      expect((await fetch(`${s.baseUrl}/2.0/user`, { headers: h })).status).toBe(401);
      const again = await oauthToken(s, { grant_type: 'refresh_token', refresh_token: String(first.body.refresh_token) });
      expect(again).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    } finally {
      await s.close();
    }
  });
});

describe('runtime control', () => {
  it('adds, lists and clears faults, also over HTTP', async () => {
    const ids = env.sim.faults.add('5xx:path=/2.0/user');
    expect(env.sim.faults.list().map((f) => f.id)).toEqual(ids);
    env.sim.faults.clear(ids[0]);
    expect(env.sim.faults.list()).toEqual([]);
    const posted = await fetch(`${env.sim.baseUrl}/__sim/faults`, { method: 'POST', body: '5xx:path=/2.0/user:count=1' });
    expect(posted.status).toBe(200);
    expect((await env.client.get('/2.0/user')).status).toBe(500);
    const listed = (await (await fetch(`${env.sim.baseUrl}/__sim/faults`)).json()) as Array<{ fired: number }>;
    expect(listed[0]?.fired).toBe(1);
    await fetch(`${env.sim.baseUrl}/__sim/faults`, { method: 'DELETE' });
    expect(env.sim.faults.list()).toEqual([]);
    const bad = await fetch(`${env.sim.baseUrl}/__sim/faults`, { method: 'POST', body: 'explode' });
    expect(bad.status).toBe(400);
  });

  it('takes faults from the options at start-up', async () => {
    const s = await startSimulator({ faults: '5xx:nth=1', rateLimit: false });
    try {
      const c = new SimClient(s);
      expect((await c.get('/2.0/user')).status).toBe(500);
      expect((await c.get('/2.0/user')).status).toBe(200);
      expect(s.stats().faultsFired).toBe(1);
    } finally {
      await s.close();
    }
  });
});
