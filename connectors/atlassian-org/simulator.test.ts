import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRateLimitHeaders } from '../../src/http/index.ts';
import { Secret } from '../../src/secrets/index.ts';
import { OrgClient } from './client.ts';
import { type OrgSimulator, createOrgSimulator } from './simulator/index.ts';

const NOW = Date.parse('2026-12-01T00:00:00Z');
const users = Array.from({ length: 14 }, (_, i) => ({ accountId: `557058:0000000${i.toString(16)}-aaaa-4bbb-8ccc-${String(i).padStart(12, '0')}`, displayName: `Person ${i}`, email: `person.${i}@acme.example` }));

describe('the organization simulator and client', () => {
  let org: OrgSimulator;
  let server: http.Server;
  let base = '';
  let clock = NOW;
  beforeAll(async () => {
    org = createOrgSimulator({ workspace: 'acme', users, seed: 1, now: () => clock, pageSize: 4, rateLimitPerMinute: 40 });
    server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (!org.handle(req, res, url.pathname, url.searchParams)) res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });
  const client = () => new OrgClient({ baseUrl: base, credential: { kind: 'org-api-key', orgId: org.credential.orgId, token: new Secret(org.credential.token) }, maxRetries: 0, budgetPerHour: 1_000_000 });
  const get = (path: string, token = org.credential.token) => fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });

  it('serves managed accounts over cursor pages (links.next until the last page) and the client reads them all, with last-active dates', async () => {
    const first = (await (await get(`/admin/v1/orgs/${org.credential.orgId}/users`)).json()) as { data: unknown[]; links: { next?: string } };
    expect(first.data).toHaveLength(4);
    expect(first.links.next).toMatch(/\/users\?cursor=/);
    const c = client();
    const accounts = await c.listAccounts();
    await c.close();
    const truth = org.truth.accounts();
    expect(accounts.map((a) => a.accountId)).toEqual(truth.map((a) => a.account_id));
    // Planted: index 4 is unmanaged (not listed); 5 inactive, 6 closed; 1 active in two workspaces.
    expect(org.truth.unmanagedAccountIds()).toContain(users[4]?.accountId);
    expect(accounts.find((a) => a.accountId === users[5]?.accountId)?.accountStatus).toBe('inactive');
    expect(accounts.find((a) => a.accountId === users[6]?.accountId)?.accountStatus).toBe('closed');
    expect(accounts.find((a) => a.accountId === users[1]?.accountId)?.productAccess.map((p) => [p.url, p.last_active])).toEqual([
      ['https://bitbucket.org/acme', new Date(NOW - 120 * 86_400_000).toISOString()],
      ['https://bitbucket.org/acme-labs', new Date(NOW - 2 * 86_400_000).toISOString()],
    ]);
    expect(accounts.every((a) => a.addedToOrg !== null)).toBe(true);
    expect(accounts.find((a) => a.accountId === users[2]?.accountId)?.email).toBe('Person.2@Acme.example');
  });

  it('answers errors in the documented shapes: 401 gateway body, 404 JSON:API errors, 400 for a bad cursor', async () => {
    const unauthorized = await fetch(`${base}/admin/v1/orgs/${org.credential.orgId}/users`);
    expect(unauthorized.status).toBe(401);
    expect(await unauthorized.json()).toEqual({ code: 401, message: 'Unauthorized' });
    const wrongOrg = await get('/admin/v1/orgs/nope/users');
    expect(wrongOrg.status).toBe(404);
    expect(((await wrongOrg.json()) as { errors: Array<{ status: string; code: string }> }).errors[0]).toMatchObject({ status: '404', code: 'ORG_NOT_FOUND' });
    const cursor = await get(`/admin/v1/orgs/${org.credential.orgId}/users?cursor=bogus`);
    expect(cursor.status).toBe(400);
  });

  it('rate limits per key per minute with X-RateLimit-* (reset as ISO 8601) and 429 + Retry-After; the client reads the ISO reset', async () => {
    clock = NOW + 3_600_000;
    let last: Response | null = null;
    for (let i = 0; i < 41; i++) last = await get(`/admin/v1/orgs/${org.credential.orgId}`);
    expect(last?.status).toBe(429);
    expect(last?.headers.get('retry-after')).toBe('60');
    const reset = last?.headers.get('x-ratelimit-reset') ?? '';
    expect(reset).toBe(new Date(clock + 60_000).toISOString());
    expect(parseRateLimitHeaders({ 'x-ratelimit-reset': reset, 'x-ratelimit-remaining': '0', 'x-ratelimit-limit': '40' }, clock)).toMatchObject({ resetAt: clock + 60_000, remaining: 0, limit: 40 });
    clock += 61_000;
    expect((await get(`/admin/v1/orgs/${org.credential.orgId}`)).status).toBe(200);
  });

  it('a failing users listing is an error for the caller, never a short list', async () => {
    org.mutate.failUsers(500);
    const c = new OrgClient({ baseUrl: base, credential: { kind: 'org-api-key', orgId: org.credential.orgId, token: new Secret(org.credential.token) }, maxRetries: 1, retryBaseMs: 1, budgetPerHour: 1_000_000 });
    await expect(c.listAccounts()).rejects.toThrow(/answered 500 after retries|failed|500/);
    await c.close();
    org.mutate.failUsers(null);
  });
});
