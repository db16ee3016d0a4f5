/**
 * The simulator against Atlassian's spec: every route it declares exists in `swagger.v3.json` with
 * the same path parameters, query parameters and scopes, and every body it serves on small, medium
 * and large validates against the schema the spec gives that response (1.0 bodies against the
 * shapes in Atlassian's 1.0 docs; error bodies against `error`, with the one documented deviation).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimClient, type SimResponse } from './client.ts';
import { startSimulator, type SimulatorInternals } from './index.ts';
import { ROUTES } from './routes.ts';
import { type SpecValidator, bitbucketApiDir, createSpecValidator } from './spec.ts';
import type { SimCredentialName, SimProfile, Simulator } from './types.ts';

const validator: SpecValidator = createSpecValidator();
const spec = validator.spec;

describe('routes match the spec', () => {
  const twoOh = ROUTES.filter((r) => r.specPath !== null);

  it('serves every endpoint the issue lists', () => {
    const templates = new Set(ROUTES.map((r) => r.template));
    for (const t of [
      '/2.0/user', '/2.0/user/workspaces', '/2.0/workspaces/{workspace}', '/2.0/workspaces/{workspace}/members',
      '/2.0/workspaces/{workspace}/permissions', '/2.0/workspaces/{workspace}/permissions/repositories', '/2.0/workspaces/{workspace}/projects',
      '/2.0/workspaces/{workspace}/projects/{project_key}/permissions-config/users', '/2.0/workspaces/{workspace}/projects/{project_key}/permissions-config/groups',
      '/2.0/workspaces/{workspace}/projects/{project_key}/deploy-keys', '/2.0/repositories/{workspace}', '/2.0/repositories/{workspace}/{repo_slug}',
      '/2.0/repositories/{workspace}/{repo_slug}/permissions-config/users', '/2.0/repositories/{workspace}/{repo_slug}/permissions-config/groups',
      '/2.0/repositories/{workspace}/{repo_slug}/deploy-keys', '/1.0/groups/{workspace}', '/1.0/group-privileges/{workspace}', '/1.0/group-privileges/{workspace}/{repo_slug}',
    ]) {
      expect(templates.has(t), t).toBe(true);
    }
  });

  it.each(twoOh.map((r) => [r.template, r] as const))('%s exists in the spec with the same parameters and scopes', (_t, route) => {
    const specPath = route.specPath as string;
    expect(route.template).toBe(`/2.0${specPath}`);
    const item = spec.paths[specPath];
    const op = item?.get;
    expect(op, `GET ${specPath} in swagger.v3.json`).toBeDefined();
    const params = [...(item?.parameters ?? []), ...(op?.parameters ?? [])];
    const pathParams = params.filter((p) => p.in === 'path').map((p) => p.name).sort();
    expect(pathParams).toEqual([...(route.template.match(/\{(\w+)\}/g) ?? [])].map((s) => s.slice(1, -1)).sort());
    const queryParams = new Set(params.filter((p) => p.in === 'query').map((p) => p.name));
    for (const q of route.query) expect(queryParams.has(q), `query parameter ${q} of GET ${specPath}`).toBe(true);
    const oauth = (op?.security ?? []).find((s) => 'oauth2' in s)?.oauth2 ?? [];
    expect([...route.classicScopes].sort()).toEqual([...oauth].sort());
    const granular = (op?.['x-atlassian-oauth2-scopes'] ?? []).flatMap((s) => s.scopes);
    expect([...route.granularScopes].sort()).toEqual([...granular].sort());
    if (route.pagination) {
      const schema = op?.responses['200']?.content?.['application/json']?.schema as { $ref?: string } | undefined;
      expect(schema?.$ref ?? '').toMatch(/#\/components\/schemas\/paginated_/);
    }
  });

  it('takes page, pagelen and fields only where the spec documents them globally', () => {
    const docs = spec['x-atlassian-narrative']?.documents ?? [];
    const pagination = docs.find((d) => d.anchor === 'pagination')?.body ?? '';
    const partial = docs.find((d) => d.anchor === 'partial-response')?.body ?? '';
    expect(pagination).toContain('pagelen');
    expect(pagination).toMatch(/page=\d/);
    expect(partial).toContain('`fields` query');
  });
});

describe('the validator itself', () => {
  const real = (name: string): unknown => JSON.parse(fs.readFileSync(path.join(bitbucketApiDir(), 'real-payloads', name), 'utf8')) as unknown;

  it('rejects what the spec forbids in recorded payloads (so passing means something)', () => {
    // Extra link kinds (`self`, `repositories`) on projects.
    const projects = validator.response('/workspaces/{workspace}/projects', 200, real('cloud-2.0_workspaces_projects.nango-2026.json'));
    expect(projects.some((p) => p.includes('/links must NOT have additional properties'))).toBe(true);
    // Extra repository link kinds (`branches`, `tags`, `source`).
    const repos = validator.response('/repositories/{workspace}', 200, real('cloud-2.0_repositories_list.nango-2026.json'));
    expect(repos.some((p) => p.includes('/links must NOT have additional properties'))).toBe(true);
    // `error.detail` is an object in the real insufficient-scopes error.
    expect(validator.component('error', real('cloud-error_insufficient_scopes.gildas.json'))).not.toEqual([]);
  });

  it('accepts the nulls real payloads send where the spec types the property (RECORDED_NULLS), and no others', () => {
    // Without their extra link kinds (the known, documented deviation), the recordings validate
    // whole: their nulls (`parent`, project `description`, `has_2fa_enabled`) are accepted…
    const projects = withoutLinks(real('cloud-2.0_workspaces_projects.nango-2026.json')) as { values: Array<Record<string, unknown>> };
    expect(projects.values.some((p) => p.description === null)).toBe(true);
    expect(validator.response('/workspaces/{workspace}/projects', 200, projects)).toEqual([]);
    const repos = withoutLinks(real('cloud-2.0_repositories_list.nango-2026.json')) as { values: Array<Record<string, unknown>> };
    expect(repos.values.every((r) => r.parent === null)).toBe(true);
    expect(validator.response('/repositories/{workspace}', 200, repos)).toEqual([]);
    // (`GET /user` answers an `account`, which leaves these open; the body is a `user`, which types them.)
    expect(validator.component('user', real('cloud-2.0_user.nango-2026.json'))).toEqual([]);
    // …and a null anywhere else is still a problem.
    expect(validator.component('user', { ...(real('cloud-2.0_user.nango-2026.json') as Record<string, unknown>), is_staff: null })).not.toEqual([]);
    (repos.values[0] as Record<string, unknown>).description = null;
    expect(validator.response('/repositories/{workspace}', 200, repos)).toEqual([expect.stringContaining('/values/0/description must be string')]);
    (projects.values[0] as Record<string, unknown>).name = null;
    expect(validator.response('/workspaces/{workspace}/projects', 200, projects)).not.toEqual([]);
  });

  it('accepts recorded payloads that do follow the spec', () => {
    expect(validator.response('/user/workspaces', 200, real('cloud-2.0_user_workspaces.nango-2026.json'))).toEqual([]);
    expect(validator.response('/workspaces/{workspace}/members', 200, real('cloud-2.0_workspaces_members.nango-2026.json'))).toEqual([]);
    expect(validator.component('error', real('cloud-error_no_api.gildas.json'))).toEqual([]);
  });

  it('rejects a simulator body with a required property removed', async () => {
    const sim = await startSimulator({ rateLimit: false });
    try {
      const res = await new SimClient(sim).get(`/2.0/repositories/${sim.workspace}`);
      expect(validator.response('/repositories/{workspace}', 200, res.json)).toEqual([]);
      const broken = structuredClone(res.json) as { values: Array<Record<string, unknown>> };
      delete broken.values[0]?.type;
      expect(validator.response('/repositories/{workspace}', 200, broken)).not.toEqual([]);
      expect(validator.response('/repositories/{workspace}', 200, broken, true)).toEqual([]);
    } finally {
      await sim.close();
    }
  });
});

/** A copy with every `links` object removed (real payloads carry link kinds the spec forbids). */
function withoutLinks(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutLinks);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'links').map(([k, v]) => [k, withoutLinks(v)]));
}

// ─── Bodies ────────────────────────────────────────────────────────────────────────────────

const V1_ACCOUNT = {
  type: 'object',
  required: ['display_name', 'uuid', 'is_team', 'avatar', 'nickname'],
  properties: {
    display_name: { type: 'string' }, uuid: { type: 'string', pattern: '^\\{[0-9a-f-]{36}\\}$' }, account_id: { type: ['string', 'null'] },
    is_team: { type: 'boolean' }, avatar: { type: 'string' }, nickname: { type: 'string' }, resource_uri: { type: 'string' },
  },
};
// Atlassian's groups-endpoint page shows `"permission": "admin"` and `"email_forwarding_disabled": false`;
// real bodies send `null` for both on groups that never set them, so both take `null`.
const V1_GROUP = {
  type: 'object',
  required: ['name', 'slug', 'permission', 'auto_add', 'email_forwarding_disabled', 'members', 'owner'],
  properties: {
    name: { type: 'string' }, slug: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]*$' }, permission: { enum: ['read', 'write', 'admin', null] },
    auto_add: { type: 'boolean' }, email_forwarding_disabled: { type: ['boolean', 'null'] }, members: { type: 'array', items: V1_ACCOUNT }, owner: V1_ACCOUNT,
  },
};
const V1_GROUPS = { type: 'array', items: V1_GROUP };
const V1_PRIVILEGES = {
  type: 'array',
  items: {
    type: 'object',
    required: ['repo', 'privilege', 'group', 'repository'],
    properties: {
      repo: { type: 'string', pattern: '^[^/]+/[^/]+$' }, privilege: { enum: ['read', 'write', 'admin'] },
      group: { type: 'object', required: ['name', 'slug', 'members', 'owner'], properties: { name: { type: 'string' }, slug: { type: 'string' }, members: { type: 'array', items: V1_ACCOUNT }, owner: V1_ACCOUNT } },
      repository: { type: 'object', required: ['name', 'slug', 'owner'], properties: { name: { type: 'string' }, slug: { type: 'string' }, owner: V1_ACCOUNT } },
    },
  },
};

interface Checked {
  requests: number;
  byStatus: Record<number, number>;
}

/** Validates one response; returns the problems found. */
function check(specPath: string | null, res: SimResponse, opts: { partial?: boolean; v1Schema?: object } = {}): string[] {
  if (res.status === 429) return res.headers.get('content-type') === 'text/plain' ? [] : ['429 is not text/plain'];
  if (res.json === undefined) return [`status ${res.status}: body is not JSON: ${res.text.slice(0, 120)}`];
  if (res.status >= 400) {
    const body = res.json as { error?: { message?: string; detail?: unknown } };
    // Deviation from the spec, as recorded in real-payloads/cloud-error_insufficient_scopes: `detail` is an object.
    if (body.error?.message === 'Your credentials lack one or more required privilege scopes.') {
      const d = body.error.detail as { required?: unknown; granted?: unknown };
      const problems = validator.component('error', { ...body, error: { message: body.error.message } });
      if (!Array.isArray(d?.required) || !Array.isArray(d?.granted)) problems.push('insufficient-scope detail lacks required/granted');
      return problems;
    }
    return validator.component('error', res.json);
  }
  if (specPath === null) return opts.v1Schema ? validator.custom(opts.v1Schema, res.json) : ['no schema for a 1.0 body'];
  return validator.response(specPath, res.status, res.json, opts.partial);
}

async function crawl(sim: Simulator & SimulatorInternals, plan: { repos: number; projects: number; pages: number }): Promise<Checked> {
  const client = new SimClient(sim);
  const ws = sim.workspace;
  const problems: string[] = [];
  const checked: Checked = { requests: 0, byStatus: {} };
  const visit = async (specPath: string | null, path: string, opts: { as?: SimCredentialName | null; partial?: boolean; v1Schema?: object; pages?: number; expect?: number } = {}): Promise<unknown> => {
    let url: string | undefined = path;
    let first: unknown;
    for (let i = 0; url && i < (opts.pages ?? 1); i++) {
      const res = await client.get(url, opts.as === undefined ? 'adminApiToken' : opts.as);
      checked.requests++;
      checked.byStatus[res.status] = (checked.byStatus[res.status] ?? 0) + 1;
      if (opts.expect !== undefined && res.status !== opts.expect) problems.push(`GET ${url}: expected ${opts.expect}, got ${res.status} ${res.text.slice(0, 200)}`);
      for (const p of check(specPath, res, opts)) problems.push(`GET ${url} (${res.status}): ${p}`);
      if (i === 0) first = res.json;
      url = (res.json as { next?: string } | undefined)?.next;
    }
    return first;
  };

  const pages = plan.pages;
  await visit('/user', '/2.0/user', { expect: 200 });
  await visit('/user/workspaces', '/2.0/user/workspaces', { expect: 200 });
  await visit('/user/workspaces', '/2.0/user/workspaces?administrator=false&sort=-slug', { expect: 200, as: 'memberApiToken' });
  await visit('/workspaces/{workspace}', `/2.0/workspaces/${ws}`, { expect: 200 });
  await visit('/workspaces/{workspace}', `/2.0/workspaces/${encodeURIComponent(sim.truth.workspace.uuid)}`, { expect: 200, as: 'repositoryAccessToken' });
  await visit('/workspaces/{workspace}/members', `/2.0/workspaces/${ws}/members`, { expect: 200, pages });
  await visit('/workspaces/{workspace}/members', `/2.0/workspaces/${ws}/members?pagelen=100`, { expect: 200, pages: 2, as: 'memberApiToken' });
  await visit('/workspaces/{workspace}/permissions', `/2.0/workspaces/${ws}/permissions`, { expect: 200, pages });
  await visit('/workspaces/{workspace}/permissions', `/2.0/workspaces/${ws}/permissions?q=${encodeURIComponent('permission="owner"')}`, { expect: 200, pages });
  await visit('/workspaces/{workspace}/permissions/repositories', `/2.0/workspaces/${ws}/permissions/repositories?pagelen=100`, { expect: 200, pages });
  await visit('/workspaces/{workspace}/permissions/repositories', `/2.0/workspaces/${ws}/permissions/repositories?q=${encodeURIComponent('permission>"read"')}&sort=user.display_name`, { expect: 200, pages: 2 });
  await visit('/workspaces/{workspace}/projects', `/2.0/workspaces/${ws}/projects`, { expect: 200, pages });
  await visit('/workspaces/{workspace}/projects', `/2.0/workspaces/${ws}/projects`, { expect: 200, as: 'oauth' });
  await visit('/repositories/{workspace}', `/2.0/repositories/${ws}?pagelen=100`, { expect: 200, pages });
  await visit('/repositories/{workspace}', `/2.0/repositories/${ws}?q=${encodeURIComponent('updated_on>2025-06-01T00:00:00+00:00')}&sort=-updated_on`, { expect: 200, pages: 2 });
  await visit('/repositories/{workspace}', `/2.0/repositories/${ws}?q=${encodeURIComponent('project.key="PLAT"')}`, { expect: 200, pages: 2, as: 'projectAccessToken' });
  await visit('/repositories/{workspace}', `/2.0/repositories/${ws}?role=member`, { expect: 200, pages: 2, as: 'memberApiToken' });
  await visit('/repositories/{workspace}', `/2.0/repositories/${ws}?fields=${encodeURIComponent('values.uuid,values.slug,values.project.key,next')}`, { expect: 200, pages: 2, partial: true });
  await visit('/repositories/{workspace}', `/2.0/repositories/${ws}?fields=${encodeURIComponent('-values.links,-values.owner')}`, { expect: 200, pages: 1, partial: true });
  await visit(null, `/1.0/groups/${ws}/`, { expect: 200, v1Schema: V1_GROUPS });
  await visit(null, `/1.0/group-privileges/${ws}`, { expect: 200, v1Schema: V1_PRIVILEGES });

  const users = sim.truth.users();
  for (const u of users.slice(0, 3)) await visit('/workspaces/{workspace}/members/{member}', `/2.0/workspaces/${ws}/members/${encodeURIComponent(u.uuid)}`, { expect: 200 });

  const projects = sampleEvenly(sim.truth.projects(), plan.projects);
  for (const p of projects) {
    const k = encodeURIComponent(p.key);
    await visit('/workspaces/{workspace}/projects/{project_key}', `/2.0/workspaces/${ws}/projects/${k}`, { expect: 200 });
    await visit('/workspaces/{workspace}/projects/{project_key}/permissions-config/users', `/2.0/workspaces/${ws}/projects/${k}/permissions-config/users`, { expect: 200, pages });
    await visit('/workspaces/{workspace}/projects/{project_key}/permissions-config/groups', `/2.0/workspaces/${ws}/projects/${k}/permissions-config/groups`, { expect: 200, pages });
    await visit('/workspaces/{workspace}/projects/{project_key}/deploy-keys', `/2.0/workspaces/${ws}/projects/${k}/deploy-keys`, { expect: 200, pages });
    await visit('/workspaces/{workspace}/projects/{project_key}/deploy-keys', `/2.0/workspaces/${ws}/projects/${k}/deploy-keys`, { expect: 200, as: 'workspaceAccessToken' });
  }
  // Repositories with grants and keys first, then an even sample.
  const keyed = new Set(sim.truth.deployKeys().flatMap((k) => (k.repositoryUuid ? [k.repositoryUuid] : [])));
  const granted = new Set(sim.truth.repoGroupGrants().map((g) => g.repoUuid));
  const all = sim.truth.repositories();
  const repos = [...new Set([...all.filter((r) => keyed.has(r.uuid)).slice(0, 3), ...all.filter((r) => granted.has(r.uuid)).slice(0, 3), ...all.filter((r) => !r.isPrivate).slice(0, 2), ...sampleEvenly(all, plan.repos)])];
  for (const r of repos) {
    const base = `/2.0/repositories/${ws}/${r.slug}`;
    await visit('/repositories/{workspace}/{repo_slug}', base, { expect: 200 });
    await visit('/repositories/{workspace}/{repo_slug}', `/2.0/repositories/${ws}/${encodeURIComponent(r.uuid)}`, { expect: 200, as: 'workspaceAccessToken' });
    await visit('/repositories/{workspace}/{repo_slug}/permissions-config/users', `${base}/permissions-config/users`, { expect: 200, pages });
    await visit('/repositories/{workspace}/{repo_slug}/permissions-config/groups', `${base}/permissions-config/groups`, { expect: 200, pages });
    await visit('/repositories/{workspace}/{repo_slug}/deploy-keys', `${base}/deploy-keys`, { expect: 200, pages });
    await visit('/workspaces/{workspace}/permissions/repositories/{repo_slug}', `/2.0/workspaces/${ws}/permissions/repositories/${r.slug}`, { expect: 200, pages });
    await visit(null, `/1.0/group-privileges/${ws}/${r.slug}`, { expect: 200, v1Schema: V1_PRIVILEGES });
  }

  // Public repositories: anyone reads them, without credentials too; their permissions stay admin-only.
  const pub = all.find((r) => !r.isPrivate && r.slug === 'reports');
  expect(pub, 'the planted public repository').toBeDefined();
  await visit('/repositories/{workspace}', `/2.0/repositories/${ws}`, { as: null, expect: 200, pages });
  await visit('/repositories/{workspace}/{repo_slug}', `/2.0/repositories/${ws}/reports`, { as: null, expect: 200 });
  await visit('/repositories/{workspace}/{repo_slug}', `/2.0/repositories/${ws}/${encodeURIComponent(pub?.uuid ?? '')}`, { as: null, expect: 200 });
  await visit('/repositories/{workspace}/{repo_slug}', `/2.0/repositories/${ws}/reports`, { as: 'memberApiToken', expect: 200 });
  await visit('/repositories/{workspace}/{repo_slug}/permissions-config/users', `/2.0/repositories/${ws}/reports/permissions-config/users`, { as: 'memberApiToken', expect: 403 });
  await visit('/repositories/{workspace}/{repo_slug}', `/2.0/repositories/${ws}/sandbox`, { as: null, expect: 401 });
  await visit('/workspaces/{workspace}/permissions', `/2.0/workspaces/${ws}/permissions?q=${encodeURIComponent('permission="collaborator"')}`, { expect: 400 });

  // Error bodies: credential rules, unknown resources, bad parameters, no credentials.
  const r0 = repos[0]?.slug ?? 'api-gateway';
  await visit('/user', '/2.0/user', { as: null, expect: 401 });
  await visit('/user', '/2.0/user', { as: 'workspaceAccessToken', expect: 403 });
  await visit('/workspaces/{workspace}/members', `/2.0/workspaces/${ws}/members`, { as: 'repositoryAccessToken', expect: 403 });
  await visit('/workspaces/{workspace}/permissions/repositories', `/2.0/workspaces/${ws}/permissions/repositories`, { as: 'memberApiToken', expect: 403 });
  await visit('/repositories/{workspace}/{repo_slug}/permissions-config/users', `/2.0/repositories/${ws}/${r0}/permissions-config/users`, { as: 'workspaceAccessToken', expect: 403 });
  await visit('/repositories/{workspace}/{repo_slug}/permissions-config/groups', `/2.0/repositories/${ws}/sandbox/permissions-config/groups`, { as: 'memberApiToken', expect: 403 });
  await visit('/workspaces/{workspace}/projects', `/2.0/workspaces/${ws}/projects`, { as: 'repositoryAccessToken', expect: 403 });
  await visit('/repositories/{workspace}', '/2.0/repositories/no-such-workspace', { expect: 404 });
  await visit('/repositories/{workspace}/{repo_slug}', `/2.0/repositories/${ws}/no-such-repo`, { expect: 404 });
  await visit('/workspaces/{workspace}/projects/{project_key}', `/2.0/workspaces/${ws}/projects/NOPE`, { expect: 404 });
  await visit('/repositories/{workspace}', `/2.0/repositories/${ws}?page=0`, { expect: 400 });
  await visit('/repositories/{workspace}', `/2.0/repositories/${ws}?q=${encodeURIComponent('colour="red"')}`, { expect: 400 });
  await visit(null, `/1.0/groups/${ws}/`, { as: 'memberApiToken', expect: 403 });
  await visit(null, `/1.0/groups/${ws}/`, { as: 'projectAccessToken', expect: 403 });
  await visit(null, '/2.0/no/such/api', { expect: 404 });

  expect(problems).toEqual([]);
  return checked;
}

function sampleEvenly<T>(items: readonly T[], n: number): T[] {
  if (items.length <= n) return [...items];
  const step = items.length / n;
  return Array.from({ length: n }, (_, i) => items[Math.floor(i * step)] as T);
}

const PLANS: Array<[SimProfile, { repos: number; projects: number; pages: number }]> = [
  ['small', { repos: 1000, projects: 1000, pages: 1000 }],
  ['medium', { repos: 25, projects: 8, pages: 3 }],
  ['large', { repos: 15, projects: 6, pages: 2 }],
];

describe.each(PLANS)('every body the %s workspace serves validates', (profile, plan) => {
  let sim: Simulator & SimulatorInternals;
  beforeAll(async () => {
    sim = await startSimulator({ profile, rateLimit: false });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('validates against swagger.v3.json', async () => {
    const checked = await crawl(sim, plan);
    expect(checked.requests).toBeGreaterThan(60);
    expect(checked.byStatus[200]).toBeGreaterThan(40);
    // Every route was exercised.
    const hit = new Set(Object.keys(sim.stats().byPath));
    for (const r of sim.routes) expect(hit.has(`${r.method} ${r.template}`), r.template).toBe(true);
  });
});
