/**
 * The Data Center simulator against Atlassian's Data Center 9.2 spec: every route it serves exists
 * in `datacenter-9.2/swagger.v3.json` (under `/rest`) with the same path and query parameters, and
 * every body it serves — pages, single objects and error bodies — validates against the schema the
 * spec declares for that status, on the small and medium instances and for every credential level.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDcSpecValidator } from './spec.ts';
import { DC_ROUTES, type DcSimulator, startDcSimulator } from './index.ts';
import type { DcSimCredential } from './generate.ts';

const validator = createDcSpecValidator();
const spec = validator.spec;

export function authHeader(c: DcSimCredential): string {
  return c.kind === 'basic' ? `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}` : `Bearer ${c.token}`;
}

describe('routes match the Data Center spec', () => {
  it.each(DC_ROUTES.map((r) => [r.template, r] as const))('%s', (_t, route) => {
    const item = spec.paths[route.template];
    const op = item?.get;
    expect(op, `GET ${route.template} in the Data Center spec`).toBeDefined();
    const params = [...(item?.parameters ?? []), ...(op?.parameters ?? [])];
    expect(params.filter((p) => p.in === 'path').map((p) => p.name).sort()).toEqual([...route.template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort());
    const query = new Set(params.filter((p) => p.in === 'query').map((p) => p.name));
    for (const q of route.query) expect(query.has(q), `query ${q} of ${route.template}`).toBe(true);
    if (route.paged) {
      const schema = op?.responses['200']?.content?.['application/json']?.schema as { properties?: Record<string, unknown> } | undefined;
      expect(Object.keys(schema?.properties ?? {})).toEqual(expect.arrayContaining(['isLastPage', 'nextPageStart', 'start', 'limit', 'size', 'values']));
    }
  });
});

describe.each(['small', 'medium'] as const)('every body on %s validates', (profile) => {
  let sim: DcSimulator;
  beforeAll(async () => {
    sim = await startDcSimulator({ profile, seed: 7 });
  });
  afterAll(() => sim.close());

  async function walk(credential: DcSimCredential | null): Promise<{ checked: number; statuses: Set<number> }> {
    const inst = sim.truth.instance;
    const projects = [...inst.projects.values()].filter((p) => p.type === 'NORMAL').slice(0, 6);
    const repos = [...inst.repositories.values()].slice(0, 12);
    const users = [...inst.users.values()].slice(0, 6);
    const fill = (template: string, values: Record<string, string>) => template.replace(/\{(\w+)\}/g, (_m, k: string) => encodeURIComponent(values[k] ?? ''));
    const calls: Array<{ template: string; url: string }> = [];
    for (const route of DC_ROUTES) {
      const q = route.paged ? '?limit=5' : '';
      if (route.template.includes('{repositorySlug}')) for (const r of repos) calls.push({ template: route.template, url: fill(route.template, { projectKey: r.projectKey, repositorySlug: r.slug }) + q });
      else if (route.template.includes('{permission}')) for (const p of projects) calls.push({ template: route.template, url: fill(route.template, { projectKey: p.key, permission: 'PROJECT_READ' }) });
      else if (route.template.includes('{projectKey}')) for (const p of projects) calls.push({ template: route.template, url: fill(route.template, { projectKey: p.key }) + q });
      else if (route.template.includes('{userSlug}')) for (const u of users) calls.push({ template: route.template, url: fill(route.template, { userSlug: u.slug }) + q });
      else if (route.template.endsWith('more-members')) for (const g of [...inst.groups.keys()].slice(0, 5)) calls.push({ template: route.template, url: `${route.template}?limit=3&context=${encodeURIComponent(g)}` });
      else calls.push({ template: route.template, url: route.template + q }, ...(route.paged ? [{ template: route.template, url: `${route.template}?limit=2&start=2` }] : []));
    }
    const statuses = new Set<number>();
    for (const call of calls) {
      const res = await fetch(`${sim.baseUrl}/rest${call.url}`, { headers: credential ? { authorization: authHeader(credential) } : {} });
      const body = (await res.json()) as unknown;
      statuses.add(res.status);
      const declared = spec.paths[call.template]?.get?.responses[String(res.status)];
      // Data Center answers "not permitted" with 401 (the spec declares 401 on every one of these routes).
      expect(declared, `${call.url} answered ${res.status}, which the spec does not declare`).toBeDefined();
      expect(validator.response(call.template, res.status, body), `${call.url} ${res.status}`).toEqual([]);
    }
    return { checked: calls.length, statuses };
  }

  it('as a system administrator (HTTP access token): every route answers 200', async () => {
    const { checked, statuses } = await walk(sim.credentials.adminToken);
    expect(checked).toBeGreaterThan(40);
    expect([...statuses]).toEqual([200]);
  });

  it('as a system administrator with Basic auth', async () => {
    const { statuses } = await walk(sim.credentials.adminBasic);
    expect([...statuses]).toEqual([200]);
  });

  it('as a non-admin user and a project admin: refusals are the spec\'s 401 body', async () => {
    const user = await walk(sim.credentials.userToken);
    expect(user.statuses.has(401)).toBe(true);
    const projectAdmin = await walk(sim.credentials.projectAdminToken);
    expect(projectAdmin.statuses).toEqual(new Set([200, 401]));
  });

  it('the validator rejects a body the spec forbids (so passing means something)', async () => {
    const res = await fetch(`${sim.baseUrl}/rest/api/latest/admin/users?limit=2`, { headers: { authorization: authHeader(sim.credentials.adminToken) } });
    const body = (await res.json()) as { values: Array<Record<string, unknown>>; isLastPage: unknown };
    expect(validator.response('/api/latest/admin/users', 200, body)).toEqual([]);
    body.values[0] = { ...body.values[0], active: 'yes' };
    expect(validator.response('/api/latest/admin/users', 200, body)).not.toEqual([]);
    expect(validator.response('/api/latest/admin/users', 200, { ...body, values: [], isLastPage: 'no' })).not.toEqual([]);
  });
});
