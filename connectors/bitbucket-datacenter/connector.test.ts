/**
 * The Data Center connector on its own (no database): the model holds together and registers, the
 * schemas take what real servers send beside what the spec says, paging refuses loops, options are
 * checked together, and capability detection tells an admin from a non-admin.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkModel, connectorOf } from '../../src/connectors.ts';
import { HttpClient, RequestBudget } from '../../src/http/index.ts';
import { DcApi } from './api.ts';
import { createBitbucketDataCenterConnector } from './index.ts';
import { BITBUCKET_DATACENTER_MODEL } from './model.ts';
import { accessKeySchema, accessTokenSchema, detailedUserSchema, groupSchema, isoDate, repositorySchema } from './schemas.ts';
import { startDcSimulator, type DcSimulator } from './simulator/index.ts';

describe('model and registration', () => {
  it('holds together and is registered with its definition', () => {
    expect(checkModel(BITBUCKET_DATACENTER_MODEL)).toEqual([]);
    const d = connectorOf('bitbucket-datacenter');
    expect(d.settings.workspace).toBeNull();
    expect(d.settings.baseUrl.default).toBeNull();
    expect(d.credentials.map((c) => c.kind)).toEqual(['http-access-token', 'basic-auth']);
  });
});

describe('schemas', () => {
  it('take epoch-millisecond dates (what servers send) as well as ISO ones (what the spec says), and extra fields', () => {
    const key = accessKeySchema.parse({ key: { id: 7, text: 'ssh-ed25519 AAAA x', label: 'k', createdDate: 1700000000000, lastAuthenticated: '1630041546434', extra: true }, permission: 'REPO_WRITE', repository: {} });
    expect(isoDate(key.key.createdDate)).toBe('2023-11-14T22:13:20.000Z');
    expect(isoDate(key.key.lastAuthenticated)).toBe('2021-08-27T05:19:06.434Z');
    const token = accessTokenSchema.parse({ id: '252973515069', name: 't', createdDate: '2026-01-01T00:00:00Z', permissions: ['REPO_READ'] });
    expect(isoDate(token.createdDate)).toBe('2026-01-01T00:00:00.000Z');
    expect(isoDate(null)).toBeNull();
    expect(detailedUserSchema.safeParse({ id: 1, name: 'a', slug: 'a', lastAuthenticationTimestamp: 1368145580548, plugin: { x: 1 } }).success).toBe(true);
  });

  it('refuse what decides access when it is missing or of the wrong type', () => {
    expect(accessKeySchema.safeParse({ key: { id: 7 } }).success).toBe(false);
    expect(detailedUserSchema.safeParse({ id: '1', name: 'a', slug: 'a' }).success).toBe(false);
    expect(repositorySchema.safeParse({ id: 1, slug: 'r', name: 'r' }).success).toBe(false);
  });
});

describe('against the simulator', () => {
  let sim: DcSimulator;
  beforeAll(async () => {
    sim = await startDcSimulator({ profile: 'small', maxLimit: 2, faults: 'loop:path=/rest/api/latest/admin/groups' });
  });
  afterAll(() => sim.close());

  const token = (name: 'adminToken' | 'userToken'): string => {
    const c = sim.credentials[name];
    return c.kind === 'http-access-token' ? c.token : '';
  };

  it('follows nextPageStart and refuses a listing that pages backwards', async () => {
    const http = new HttpClient({ allowedOrigins: [sim.baseUrl], budget: new RequestBudget(1_000_000) });
    const api = new DcApi(http, sim.baseUrl, { kind: 'http-access-token', token: token('adminToken') });
    try {
      const users: number[] = [];
      for await (const page of api.paginate({ path: '/api/latest/admin/users', item: detailedUserSchema, key: (u) => String(u.id), notPermitted: '' })) users.push(...page.map((u) => u.id));
      expect(users).toHaveLength(sim.truth.instance.users.size);
      const groups = async () => {
        for await (const page of api.paginate({ path: '/api/latest/admin/groups', item: groupSchema, key: (g) => g.name, notPermitted: '' })) void page;
      };
      await expect(groups()).rejects.toMatchObject({ code: 'page_loop' });
    } finally {
      await http.close();
    }
  });

  it('detects an admin and a non-admin, and names the user', async () => {
    for (const [name, admin] of [['adminToken', true], ['userToken', false]] as const) {
      const connector = createBitbucketDataCenterConnector({ baseUrl: sim.baseUrl, credential: { kind: 'http-access-token', token: token(name) }, budgetPerHour: 1_000_000 });
      try {
        const caps = await connector.detectCapabilities(new AbortController().signal);
        expect(caps.isWorkspaceAdmin).toBe(admin);
        expect(caps.actor?.displayName).toBe(name === 'adminToken' ? 'ada' : 'lilei');
        expect(caps.warnings.some((w) => w.includes('ADMIN or SYS_ADMIN'))).toBe(!admin);
      } finally {
        await connector.close();
      }
    }
  });

  it('refuses bad options all at once, and a rejected token ends the run as unauthorized', async () => {
    expect(() => createBitbucketDataCenterConnector({ baseUrl: 'bitbucket.example.com/rest', credential: { kind: 'http-access-token', token: '' }, concurrency: 0 })).toThrow(/baseUrl is not a URL[\s\S]*concurrency[\s\S]*credential.token is empty/);
    const connector = createBitbucketDataCenterConnector({ baseUrl: sim.baseUrl, credential: { kind: 'http-access-token', token: 'BBDC-not-a-token' }, budgetPerHour: 1_000_000 });
    try {
      await expect(connector.detectCapabilities(new AbortController().signal)).rejects.toMatchObject({ code: 'unauthorized', httpStatus: 401 });
    } finally {
      await connector.close();
    }
  });
});
