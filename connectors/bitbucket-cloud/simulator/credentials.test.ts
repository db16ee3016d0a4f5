/** Credential rules: who may call what, with which scopes, and how each failure reads. */
import { describe, expect, it } from 'vitest';
import { SimClient, authorizationFor, oauthToken } from './client.ts';
import { createClock, startSimulator } from './index.ts';
import { useSimulator } from './testing.ts';
import type { SimCredentialName } from './types.ts';

const INSUFFICIENT = 'Your credentials lack one or more required privilege scopes.';

const env = useSimulator({ profile: 'small', rateLimit: false });

const adminOnly = (w: string, repo = 'api-gateway', project = 'PLAT'): string[] => [
  `/2.0/repositories/${w}/${repo}/permissions-config/users`,
  `/2.0/repositories/${w}/${repo}/permissions-config/groups`,
  `/2.0/repositories/${w}/${repo}/deploy-keys`,
  `/2.0/workspaces/${w}/projects/${project}/permissions-config/users`,
  `/2.0/workspaces/${w}/projects/${project}/permissions-config/groups`,
  `/2.0/workspaces/${w}/projects/${project}/deploy-keys`,
  `/2.0/workspaces/${w}/permissions/repositories`,
  `/2.0/workspaces/${w}/permissions/repositories/${repo}`,
  `/1.0/groups/${w}/`,
  `/1.0/group-privileges/${w}`,
  `/1.0/group-privileges/${w}/${repo}`,
];

describe('a workspace owner (admin API token)', () => {
  it('reads every endpoint, admin-only ones included', async () => {
    for (const path of [...adminOnly(env.ws), '/2.0/user', '/2.0/user/workspaces', `/2.0/workspaces/${env.ws}/members`, `/2.0/workspaces/${env.ws}/permissions`, `/2.0/repositories/${env.ws}`]) {
      const res = await env.client.get(path);
      expect(res.status, path).toBe(200);
    }
  });

  it('is reported as administrator and sees every repository', async () => {
    const res = await env.client.get('/2.0/user/workspaces');
    expect((res.json as { values: Array<{ administrator: boolean }> }).values[0]?.administrator).toBe(true);
    const repos = await env.client.all(`/2.0/repositories/${env.ws}`);
    expect(repos).toHaveLength(env.sim.truth.repositories().length);
  });

  it('answers 404 for an unknown workspace', async () => {
    for (const path of ['/2.0/workspaces/nope', '/2.0/repositories/nope', '/2.0/workspaces/nope/members', '/2.0/repositories/nope/api-gateway/permissions-config/users', '/1.0/groups/nope/']) {
      const res = await env.client.get(path);
      expect(res.status, path).toBe(404);
      expect((res.json as { type: string }).type).toBe('error');
    }
  });

  it('accepts the workspace and repository by {uuid} on 2.0, but only the slug on 1.0', async () => {
    const wsUuid = encodeURIComponent(env.sim.truth.workspace.uuid);
    const repo = env.sim.truth.repositories()[0];
    expect((await env.client.get(`/2.0/repositories/${wsUuid}/${encodeURIComponent(repo?.uuid ?? '')}`)).status).toBe(200);
    expect((await env.client.get(`/1.0/groups/${wsUuid}/`)).status).toBe(404);
  });
});

describe('a plain member (member API token)', () => {
  it('gets 403 with a Bitbucket error body on every admin-only endpoint', async () => {
    for (const path of adminOnly(env.ws)) {
      const res = await env.client.get(path, 'memberApiToken');
      expect(res.status, path).toBe(403);
      expect(res.json).toMatchObject({ type: 'error', error: { message: expect.any(String) } });
    }
  });

  it('reads members, roles, projects, itself, and exactly the repositories it can reach', async () => {
    for (const path of ['/2.0/user', `/2.0/workspaces/${env.ws}/members`, `/2.0/workspaces/${env.ws}/permissions`, `/2.0/workspaces/${env.ws}/projects`]) {
      expect((await env.client.get(path, 'memberApiToken')).status, path).toBe(200);
    }
    const me = env.sim.truth.users().find((u) => u.accountId === env.sim.credentials.memberApiToken.accountId);
    // What a grant reaches, and every public repository (readable by anyone, not a grant).
    const granted = new Set(env.sim.truth.effectiveAccess().filter((a) => a.userUuid === me?.uuid).map((a) => a.repoUuid));
    const publicOnly = env.sim.truth.publicRepositories().filter((r) => !granted.has(r.uuid));
    const reachable = new Set([...granted, ...publicOnly.map((r) => r.uuid)]);
    const listed = await env.client.all<{ uuid: string }>(`/2.0/repositories/${env.ws}`, 'memberApiToken');
    expect(new Set(listed.map((r) => r.uuid))).toEqual(reachable);
    expect(granted.size).toBeGreaterThan(0);
    expect(publicOnly.length).toBeGreaterThan(0);
    expect(reachable.size).toBeLessThan(env.sim.truth.repositories().length);
    // `role` asks for explicit access: a public repository alone does not qualify.
    const explicit = await env.client.all<{ uuid: string }>(`/2.0/repositories/${env.ws}?role=member`, 'memberApiToken');
    expect(new Set(explicit.map((r) => r.uuid))).toEqual(granted);
    for (const r of publicOnly) {
      expect((await env.client.get(`/2.0/repositories/${env.ws}/${r.slug}`, 'memberApiToken')).status).toBe(200);
      expect((await env.client.get(`/2.0/repositories/${env.ws}/${r.slug}/permissions-config/users`, 'memberApiToken')).status).toBe(403);
      expect((await env.client.get(`/2.0/repositories/${env.ws}/${r.slug}/deploy-keys`, 'memberApiToken')).status).toBe(403);
      expect((await env.client.get(`/2.0/workspaces/${env.ws}/permissions/repositories/${r.slug}`, 'memberApiToken')).status).toBe(403);
    }
    const outside = env.sim.truth.repositories().find((r) => !reachable.has(r.uuid));
    expect((await env.client.get(`/2.0/repositories/${env.ws}/${outside?.slug}`, 'memberApiToken')).status).toBe(403);
    const ws0 = (await env.client.get('/2.0/user/workspaces', 'memberApiToken')).json as { values: Array<{ administrator: boolean }> };
    expect(ws0.values[0]?.administrator).toBe(false);
  });

  it('reads permissions of a repository it administers', async () => {
    const me = env.sim.truth.users().find((u) => u.accountId === env.sim.credentials.memberApiToken.accountId) as { uuid: string };
    env.sim.mutate.setRepoUserPermission('sandbox', me.uuid, 'admin');
    try {
      expect((await env.client.get(`/2.0/repositories/${env.ws}/sandbox/permissions-config/users`, 'memberApiToken')).status).toBe(200);
      expect((await env.client.get(`/2.0/repositories/${env.ws}/sandbox/deploy-keys`, 'memberApiToken')).status).toBe(200);
      expect((await env.client.get(`/2.0/repositories/${env.ws}/api-gateway/permissions-config/users`, 'memberApiToken')).status).toBe(403);
    } finally {
      env.sim.mutate.setRepoUserPermission('sandbox', me.uuid, null);
    }
  });
});

describe('access tokens', () => {
  const tokens: SimCredentialName[] = ['workspaceAccessToken', 'projectAccessToken', 'repositoryAccessToken'];
  const noAccount = (w: string): string[] => ['/2.0/user', '/2.0/user/workspaces', `/2.0/workspaces/${w}/members`, `/2.0/workspaces/${w}/permissions`];

  it.each(tokens)('%s gets 403 with the insufficient-scopes body on user, member, permission and 1.0 endpoints', async (name) => {
    const paths = [...noAccount(env.ws), ...adminOnly(env.ws).filter((p) => !p.endsWith('/deploy-keys'))];
    for (const path of paths) {
      const res = await env.client.get(path, name);
      expect(res.status, `${name} ${path}`).toBe(403);
      const body = res.json as { error: { message: string; detail: { required: string[]; granted: string[] } } };
      expect(body.error.message).toBe(INSUFFICIENT);
      expect(body.error.detail.granted).toEqual(env.sim.credentials[name].kind === 'oauth-client-credentials' ? [] : (env.sim.credentials[name] as { scopes: string[] }).scopes);
      expect(body.error.detail.required.length).toBeGreaterThan(0);
    }
  });

  it('a workspace token reaches every project, repository and deploy key', async () => {
    expect(await env.client.all(`/2.0/repositories/${env.ws}`, 'workspaceAccessToken')).toHaveLength(env.sim.truth.repositories().length);
    expect(await env.client.all(`/2.0/workspaces/${env.ws}/projects`, 'workspaceAccessToken')).toHaveLength(env.sim.truth.projects().length);
    expect((await env.client.get(`/2.0/workspaces/${env.ws}/projects/DATA/deploy-keys`, 'workspaceAccessToken')).status).toBe(200);
    expect((await env.client.get(`/2.0/repositories/${env.ws}/api-gateway/deploy-keys`, 'workspaceAccessToken')).status).toBe(200);
  });

  it('a project token sees its project only, and cannot read project deploy keys (no project:admin)', async () => {
    const key = env.sim.credentials.projectAccessToken.projectKey;
    const projects = await env.client.all<{ key: string }>(`/2.0/workspaces/${env.ws}/projects`, 'projectAccessToken');
    expect(projects.map((p) => p.key)).toEqual([key]);
    const repos = await env.client.all<{ uuid: string }>(`/2.0/repositories/${env.ws}`, 'projectAccessToken');
    expect(repos.map((r) => r.uuid).sort()).toEqual(env.sim.truth.repositories().filter((r) => r.projectKey === key).map((r) => r.uuid).sort());
    const other = env.sim.truth.repositories().find((r) => r.projectKey !== key);
    expect((await env.client.get(`/2.0/repositories/${env.ws}/${other?.slug}`, 'projectAccessToken')).status).toBe(403);
    expect((await env.client.get(`/2.0/workspaces/${env.ws}/projects/DATA`, 'projectAccessToken')).status).toBe(403);
    const pdk = await env.client.get(`/2.0/workspaces/${env.ws}/projects/${key}/deploy-keys`, 'projectAccessToken');
    expect(pdk.status).toBe(403);
    expect((pdk.json as { error: { detail: { required: string[] } } }).error.detail.required).toEqual(['project', 'project:admin']);
    expect((await env.client.get(`/2.0/repositories/${env.ws}/api-gateway/deploy-keys`, 'projectAccessToken')).status).toBe(200);
  });

  it('a repository token sees one repository and no projects', async () => {
    const slug = env.sim.credentials.repositoryAccessToken.repositorySlug;
    const repos = await env.client.all<{ slug: string }>(`/2.0/repositories/${env.ws}`, 'repositoryAccessToken');
    expect(repos.map((r) => r.slug)).toEqual([slug]);
    expect((await env.client.get(`/2.0/repositories/${env.ws}/web-app`, 'repositoryAccessToken')).status).toBe(403);
    expect((await env.client.get(`/2.0/repositories/${env.ws}/${slug}/deploy-keys`, 'repositoryAccessToken')).status).toBe(200);
    const projects = await env.client.get(`/2.0/workspaces/${env.ws}/projects`, 'repositoryAccessToken');
    expect(projects.status).toBe(403);
    expect((projects.json as { error: { detail: { required: string[] } } }).error.detail.required).toEqual(['project']);
  });

  it('a workspace token holding `account` may list members but still not permissions', async () => {
    const token = env.sim.issueAccessToken('workspace-access-token', ['account', 'repository']);
    const h = { authorization: authorizationFor(token) };
    expect((await fetch(`${env.sim.baseUrl}/2.0/workspaces/${env.ws}/members`, { headers: h })).status).toBe(200);
    expect((await fetch(`${env.sim.baseUrl}/2.0/workspaces/${env.ws}/permissions`, { headers: h })).status).toBe(403);
    expect(() => env.sim.issueAccessToken('repository-access-token', ['account'], { repository: 'web-app' })).toThrow(/cannot hold account/);
  });

  it('dies with the repository it is bound to', async () => {
    const repo = env.sim.mutate.addRepository({ name: 'short-lived', projectKey: 'PLAT' });
    const token = env.sim.issueAccessToken('repository-access-token', ['repository'], { repository: repo.slug });
    const h = { authorization: authorizationFor(token) };
    expect((await fetch(`${env.sim.baseUrl}/2.0/repositories/${env.ws}/${repo.slug}`, { headers: h })).status).toBe(200);
    env.sim.mutate.deleteRepository(repo.slug);
    expect((await fetch(`${env.sim.baseUrl}/2.0/repositories/${env.ws}`, { headers: h })).status).toBe(401);
  });

  it('reports scopes in X-OAuth-Scopes and the endpoint scopes in X-Accepted-OAuth-Scopes', async () => {
    const res = await env.client.get(`/2.0/repositories/${env.ws}/api-gateway/deploy-keys`, 'repositoryAccessToken');
    expect(res.headers.get('x-accepted-oauth-scopes')).toBe('repository, repository:admin');
    expect(res.headers.get('x-oauth-scopes')).toBe(env.sim.credentials.repositoryAccessToken.scopes.join(', '));
    const basic = await env.client.get(`/2.0/repositories/${env.ws}`);
    expect(basic.headers.get('x-accepted-oauth-scopes')).toBe('repository');
    expect(basic.headers.get('x-oauth-scopes')).toBeNull();
  });
});

describe('API tokens are checked against the granular scopes', () => {
  it('a token without admin:repository:bitbucket cannot read deploy keys, and says which scope is missing', async () => {
    const admin = env.sim.truth.users().find((u) => u.accountId === env.sim.credentials.adminApiToken.accountId) as { uuid: string };
    const token = env.sim.issueApiToken(admin.uuid, ['read:repository:bitbucket', 'read:workspace:bitbucket']);
    const h = { authorization: authorizationFor(token) };
    const res = await fetch(`${env.sim.baseUrl}/2.0/repositories/${env.ws}/api-gateway/deploy-keys`, { headers: h });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ type: 'error', error: { message: INSUFFICIENT, detail: { required: ['admin:repository:bitbucket'], granted: ['read:repository:bitbucket', 'read:workspace:bitbucket'] } } });
    expect((await fetch(`${env.sim.baseUrl}/2.0/repositories/${env.ws}/api-gateway/permissions-config/users`, { headers: h })).status).toBe(200);
    expect((await fetch(`${env.sim.baseUrl}/2.0/user`, { headers: h })).status).toBe(403);
  });

  it('rejects a wrong token, a wrong email, a bearer API token and no credentials with 401', async () => {
    const { email, token } = env.sim.credentials.adminApiToken;
    const cases: Array<Record<string, string>> = [
      { authorization: `Basic ${Buffer.from(`${email}:wrong`).toString('base64')}` },
      { authorization: `Basic ${Buffer.from(`someone@else.example:${token}`).toString('base64')}` },
      { authorization: `Bearer ${token}` },
      { authorization: 'Token abc' },
      {},
    ];
    // A private repository: without credentials (or with bad ones) a 401.
    for (const headers of cases) {
      const res = await fetch(`${env.sim.baseUrl}/2.0/repositories/${env.ws}/sandbox`, { headers });
      expect(res.status, JSON.stringify(headers).slice(0, 40)).toBe(401);
      expect(await res.json()).toMatchObject({ type: 'error', error: { message: expect.any(String) } });
    }
  });
});

describe('app passwords', () => {
  it('answer 401 saying they were switched off, by default', async () => {
    const res = await env.client.get(`/2.0/repositories/${env.ws}`, 'appPassword');
    expect(res.status).toBe(401);
    expect((res.json as { error: { message: string } }).error.message).toMatch(/App passwords .*July 2026.*API token/);
  });

  it('work when enabled, with classic scopes, and share the user’s rate budget with API tokens', async () => {
    const s = await startSimulator({ appPasswords: 'enabled', rateLimit: { perHour: 3 } });
    try {
      const c = new SimClient(s);
      const res = await c.get(`/2.0/repositories/${s.workspace}/api-gateway/permissions-config/users`, 'appPassword');
      expect(res.status).toBe(200);
      expect(res.headers.get('x-oauth-scopes')).toContain('repository:admin');
      expect((await c.get(`/2.0/user`, 'adminApiToken')).status).toBe(200);
      expect((await c.get(`/2.0/user`, 'appPassword')).status).toBe(200);
      expect((await c.get(`/2.0/user`, 'adminApiToken')).status).toBe(429);
    } finally {
      await s.close();
    }
  });
});

describe('OAuth 2.0 consumer', () => {
  it('issues a bearer token for client credentials that reads like the owner who made the consumer', async () => {
    const { status, body } = await oauthToken(env.sim);
    expect(status).toBe(200);
    expect(body).toMatchObject({ token_type: 'bearer', expires_in: 7200, state: 'client_credentials', access_token: expect.any(String), refresh_token: expect.any(String) });
    expect(String(body.scopes).split(' ')).toContain('account');
    const h = { authorization: `Bearer ${String(body.access_token)}` };
    const me = (await (await fetch(`${env.sim.baseUrl}/2.0/user`, { headers: h })).json()) as { account_id: string };
    expect(me.account_id).toBe(env.sim.credentials.adminApiToken.accountId);
    const groups = await fetch(`${env.sim.baseUrl}/1.0/groups/${env.ws}/`, { headers: h });
    expect(groups.status).toBe(200);
  });

  it('accepts client_id and client_secret in the form too, and refuses a wrong secret or grant', async () => {
    const { clientId, clientSecret } = env.sim.credentials.oauth;
    const ok = await fetch(`${env.sim.baseUrl}/site/oauth2/access_token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }) });
    expect(ok.status).toBe(200);
    const bad = await fetch(`${env.sim.baseUrl}/site/oauth2/access_token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: 'nope' }) });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ error: 'invalid_client' });
    const grant = await oauthToken(env.sim, { grant_type: 'password' });
    expect(grant.status).toBe(400);
    expect(grant.body.error).toBe('unsupported_grant_type');
  });

  it('expires access tokens after the TTL and rotates refresh tokens', async () => {
    const clock = createClock({ speed: 0, start: Date.UTC(2026, 10, 1) });
    const s = await startSimulator({ clock, oauthAccessTokenTtlSeconds: 600, rateLimit: false });
    try {
      const first = await oauthToken(s);
      expect(first.body.expires_in).toBe(600);
      const h = { authorization: `Bearer ${String(first.body.access_token)}` };
      expect((await fetch(`${s.baseUrl}/2.0/repositories/${s.workspace}`, { headers: h })).status).toBe(200);
      clock.advance(599_000);
      expect((await fetch(`${s.baseUrl}/2.0/repositories/${s.workspace}`, { headers: h })).status).toBe(200);
      clock.advance(1_000);
      const expired = await fetch(`${s.baseUrl}/2.0/repositories/${s.workspace}`, { headers: h });
      expect(expired.status).toBe(401);
      expect(((await expired.json()) as { error: { message: string } }).error.message).toMatch(/expired/i);

      const refreshed = await oauthToken(s, { grant_type: 'refresh_token', refresh_token: String(first.body.refresh_token) });
      expect(refreshed.status).toBe(200);
      expect(refreshed.body.refresh_token).not.toBe(first.body.refresh_token);
      expect(refreshed.body.state).toBe('refresh_token');
      expect((await fetch(`${s.baseUrl}/2.0/repositories/${s.workspace}`, { headers: { authorization: `Bearer ${String(refreshed.body.access_token)}` } })).status).toBe(200);
      // The spent refresh token is no longer valid.
      const reused = await oauthToken(s, { grant_type: 'refresh_token', refresh_token: String(first.body.refresh_token) });
      expect(reused.status).toBe(400);
      expect(reused.body.error).toBe('invalid_grant');
      const next = await oauthToken(s, { grant_type: 'refresh_token', refresh_token: String(refreshed.body.refresh_token) });
      expect(next.status).toBe(200);
    } finally {
      await s.close();
    }
  });

  it('a revoked consumer gets invalid_grant from the token endpoint and 401 on the API', async () => {
    const s = await startSimulator({ rateLimit: false });
    try {
      const t = await oauthToken(s);
      s.mutate.revokeCredential('oauth');
      const again = await oauthToken(s);
      expect(again.status).toBe(400);
      expect(again.body.error).toBe('invalid_grant');
      const refresh = await oauthToken(s, { grant_type: 'refresh_token', refresh_token: String(t.body.refresh_token) });
      expect(refresh.body.error).toBe('invalid_grant');
      expect((await fetch(`${s.baseUrl}/2.0/user`, { headers: { authorization: `Bearer ${String(t.body.access_token)}` } })).status).toBe(401);
    } finally {
      await s.close();
    }
  });
});

describe('revoked credentials', () => {
  it('answer 401 from the moment they are revoked', async () => {
    const s = await startSimulator({ rateLimit: false });
    try {
      const c = new SimClient(s);
      for (const name of ['adminApiToken', 'workspaceAccessToken'] as const) {
        expect((await c.get(`/2.0/repositories/${s.workspace}`, name)).status).toBe(200);
        s.mutate.revokeCredential(name);
        expect((await c.get(`/2.0/repositories/${s.workspace}`, name)).status).toBe(401);
      }
      expect((await c.get(`/2.0/repositories/${s.workspace}`, 'memberApiToken')).status).toBe(200);
    } finally {
      await s.close();
    }
  });
});
