/**
 * The connector against the Bitbucket simulator over real loopback HTTP: ground truth, the credential
 * matrix, OAuth, pacing on an accelerated clock, and injected faults.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectorError } from '../../src/errors.ts';
import type { GrantRecord } from '../../src/interfaces.ts';
import { advanceWhenWaiting, createClock, startSimulator, type Simulator, type SimulatorInternals } from './simulator/index.ts';
import { createBitbucketCloudConnector, type BitbucketCloudOptions, type OAuthTokens } from './index.ts';
import { runConnector, type HarnessResult } from './test-harness.ts';

type Sim = Simulator & SimulatorInternals;

function connect(sim: Sim, credential: BitbucketCloudOptions['credential'], extra: Partial<BitbucketCloudOptions> = {}) {
  return createBitbucketCloudConnector({
    baseUrl: sim.baseUrl,
    workspace: sim.workspace,
    credential,
    tokenUrl: `${sim.baseUrl}/site/oauth2/access_token`,
    retryBaseMs: 5,
    ...extra,
  });
}

async function sync(sim: Sim, credential: BitbucketCloudOptions['credential'], extra: Partial<BitbucketCloudOptions> = {}, only?: string[]): Promise<HarnessResult & { requests: number }> {
  const connector = connect(sim, credential, extra);
  try {
    const result = await runConnector(connector, only ? { only } : {});
    return { ...result, requests: connector.stats().requests };
  } finally {
    await connector.close();
  }
}

const grantKey = (g: GrantRecord) => `${g.principal.kind}:${g.principal.externalId}→${g.resource.kind}:${g.resource.externalId}=${g.permission}`;
const failed = (r: HarnessResult) => [...r.scopes.values()].filter((o) => o.status === 'failed');

/** Requests a full sync needs with an admin API token (the minimum the benchmark compares against). */
function minimumRequests(t: ReturnType<Sim['truth']['summary']>, pages: { members: number; projects: number; repos: number; reported: number }): number {
  return 1 /* detect */ + 1 /* workspace */ + pages.members + 1 /* groups */ + pages.projects + 3 * t.projects + pages.repos + 2 * t.repositories + 1 /* group-privileges */ + pages.reported;
}

describe('full sync against the simulator (admin API token)', () => {
  let sim: Sim;
  let result: HarnessResult & { requests: number };

  beforeAll(async () => {
    sim = await startSimulator({ profile: 'medium', seed: 7 });
    result = await sync(sim, sim.credentials.adminApiToken);
  });
  afterAll(() => sim.close());

  it('reads every stream cleanly and detects an admin', () => {
    expect(result.fatal).toBeNull();
    expect(result.gaps.size).toBe(0);
    expect(failed(result)).toEqual([]);
    expect(result.capabilities).toMatchObject({ credentialKind: 'api-token', isWorkspaceAdmin: true, warnings: [] });
    expect(result.scopes.has('repository-group-permissions')).toBe(true);
    expect(result.scopes.get('repositories')?.scope.filtered).toBeUndefined();
  });

  it('matches the ground truth: members, roles, groups, projects, repositories', () => {
    const t = sim.truth;
    const users = result.all.principals.filter((p) => p.kind === 'user');
    // The member list holds workspace members only (Bitbucket removed the collaborator role from
    // the API on 1 June 2022); users outside the workspace are known from the grants naming them.
    const outsiders = t.users().filter((u) => !u.member);
    expect(outsiders.length).toBeGreaterThan(0);
    expect(new Set(users.map((u) => u.externalId))).toEqual(new Set(t.users().filter((u) => u.member).map((u) => u.uuid)));
    const roles = new Map(result.all.grants.filter((g) => g.resource.kind === 'workspace').map((g) => [g.principal.externalId, g.permission]));
    for (const u of t.users()) expect(roles.get(u.uuid)).toBe(u.member ? u.role : undefined);
    const referenced = new Set(result.all.referencedPrincipals.filter((p) => p.kind === 'user').map((p) => p.externalId));
    for (const u of outsiders) expect(referenced.has(u.uuid), u.uuid).toBe(true);
    const someUser = users.find((u) => u.externalId === t.users()[0]?.uuid);
    expect(someUser).toMatchObject({ handle: t.users()[0]?.nickname, accountId: t.users()[0]?.accountId });

    const groups = result.all.principals.filter((p) => p.kind === 'group');
    expect(new Set(groups.map((g) => g.externalId))).toEqual(new Set(t.groups().map((g) => g.slug)));
    expect(new Set(result.all.memberships.map((m) => `${m.group.externalId}:${m.member.externalId}`))).toEqual(
      new Set(t.groups().flatMap((g) => g.memberUuids.map((u) => `${g.slug}:${u}`))),
    );
    const projects = result.all.resources.filter((r) => r.kind === 'project');
    expect(new Set(projects.map((p) => `${p.externalId}:${p.handle}`))).toEqual(new Set(t.projects().map((p) => `${p.uuid}:${p.key}`)));
    const repos = result.all.resources.filter((r) => r.kind === 'repository');
    const projectUuid = new Map(t.projects().map((p) => [p.key, p.uuid]));
    expect(new Set(repos.map((r) => `${r.externalId}:${r.handle}:${r.parent?.externalId}`))).toEqual(
      new Set(t.repositories().map((r) => `${r.uuid}:${r.slug}:${projectUuid.get(r.projectKey)}`)),
    );
    expect(result.all.resources.filter((r) => r.kind === 'workspace').map((w) => w.externalId)).toEqual([t.workspace.uuid]);
  });

  it('matches the ground truth: explicit grants and deploy keys', () => {
    const t = sim.truth;
    const projectUuid = new Map(t.projects().map((p) => [p.key, p.uuid]));
    const expected = new Set([
      ...t.projectUserGrants().map((g) => `user:${g.userUuid}→project:${projectUuid.get(g.projectKey)}=${g.permission}`),
      ...t.projectGroupGrants().map((g) => `group:${g.groupSlug}→project:${projectUuid.get(g.projectKey)}=${g.permission}`),
      ...t.repoUserGrants().map((g) => `user:${g.userUuid}→repository:${g.repoUuid}=${g.permission}`),
      ...t.repoGroupGrants().map((g) => `group:${g.groupSlug}→repository:${g.repoUuid}=${g.permission}`),
      ...t.deployKeys().map((k) => (k.repositoryUuid ? `deploy_key:${k.id}→repository:${k.repositoryUuid}=read` : `deploy_key:${k.id}→project:${projectUuid.get(k.projectKey ?? '')}=read`)),
    ]);
    const actual = result.all.grants.filter((g) => g.resource.kind !== 'workspace').map(grantKey);
    expect(actual.length).toBe(new Set(actual).size);
    expect(new Set(actual)).toEqual(expected);
    const key = result.all.principals.find((p) => p.kind === 'deploy_key' && p.externalId === String(t.deployKeys()[0]?.id));
    expect(key?.attributes).toMatchObject({ keyType: expect.any(String), fingerprint: expect.stringMatching(/^SHA256:/), key: t.deployKeys()[0]?.key });
  });

  it("matches Bitbucket's reported effective permissions", () => {
    const expected = new Set(sim.truth.reportedRepositoryPermissions().map((r) => `${r.userUuid}|${r.repoUuid}|${r.permission}`));
    expect(new Set(result.all.reportedAccess.map((r) => `${r.user.externalId}|${r.resource.externalId}|${r.permission}`))).toEqual(expected);
  });

  it('makes exactly the requests of the README formula, with max pagelen and no ignored parameters', () => {
    const t = sim.truth.summary();
    const pages = (n: number) => Math.max(1, Math.ceil(n / 100));
    // Bitbucket's effective permissions: one listing per permission (README), at most 2 pages more than one listing.
    const reportedRows = sim.truth.reportedRepositoryPermissions();
    const reported = ['admin', 'write', 'read'].reduce((n, p) => n + pages(reportedRows.filter((r) => r.permission === p).length), 0);
    expect(reported).toBeLessThanOrEqual(pages(reportedRows.length) + 2);
    const min = minimumRequests(t, { members: pages(t.users), projects: pages(t.projects), repos: pages(t.repositories), reported });
    // Per-resource listings are one page each at pagelen 100 in this profile.
    expect(result.requests).toBe(min);
    expect(sim.stats().requests).toBe(min);
    expect(sim.stats().responses429).toBe(0);
    expect(sim.stats().ignoredParams).toEqual({});
  });
});

describe('credential matrix', () => {
  let sim: Sim;
  beforeAll(async () => {
    sim = await startSimulator({ profile: 'small', seed: 3 });
  });
  afterAll(() => sim.close());

  const ALL = ['workspace', 'members', 'groups', 'projects', 'project-user-permissions', 'project-group-permissions', 'project-deploy-keys', 'repositories', 'repository-user-permissions', 'repository-group-permissions', 'repository-deploy-keys', 'reported-access'];
  const PERMISSION_STREAMS = ['groups', 'project-user-permissions', 'project-group-permissions', 'repository-user-permissions', 'repository-group-permissions', 'reported-access'];

  it('an OAuth consumer of a workspace admin reads everything', async () => {
    const r = await sync(sim, sim.credentials.oauth);
    expect([...r.gaps.keys()]).toEqual([]);
    expect(failed(r)).toEqual([]);
    expect(r.capabilities.oauthScopes).toEqual(expect.arrayContaining(['account', 'repository:admin']));
  });

  it('a non-admin API token reads members, projects and repositories, and reports the rest as admin-only gaps', async () => {
    const r = await sync(sim, sim.credentials.memberApiToken);
    expect(r.capabilities.isWorkspaceAdmin).toBe(false);
    expect(failed(r)).toEqual([]);
    expect(new Set(r.gaps.keys())).toEqual(new Set([...PERMISSION_STREAMS, 'project-deploy-keys', 'repository-deploy-keys']));
    for (const gap of r.gaps.values()) {
      expect(gap.reason).toMatch(/not an admin of workspace/);
      expect(gap.advice).toMatch(/Atlassian API token of a workspace admin/);
    }
    // It sees only some repositories: the listing must not be trusted to show deletions.
    expect(r.scopes.get('repositories')?.scope.filtered).toBe(true);
    expect(r.scopes.has('workspace-members')).toBe(true);
  });

  it('a workspace access token reads the workspace, projects, repositories and deploy keys; permissions are gaps naming the credential that covers them', async () => {
    const r = await sync(sim, sim.credentials.workspaceAccessToken);
    expect(failed(r)).toEqual([]);
    expect(new Set(r.gaps.keys())).toEqual(new Set(['members', ...PERMISSION_STREAMS]));
    expect(r.gaps.get('repository-user-permissions')).toEqual({
      reason: 'Workspace access tokens cannot read repository user and group permissions',
      advice: 'Use an Atlassian API token of a workspace admin with read:repository:bitbucket, or an OAuth consumer with repository:admin.',
    });
    expect(r.gaps.get('members')?.reason).toMatch(/cannot read workspace roles/);
    expect(r.scopes.get('repositories')?.scope.filtered).toBeUndefined();
    expect(r.all.grants.every((g) => g.principal.kind === 'deploy_key')).toBe(true);
  });

  it('a workspace access token holding account lists members without roles', async () => {
    const token = sim.issueAccessToken('workspace-access-token', ['account', 'project', 'repository']);
    const r = await sync(sim, { kind: 'workspace-access-token', token: token.token }, {}, ['workspace', 'members']);
    expect(r.scopes.has('workspace-member-list')).toBe(true);
    expect(r.capabilities.warnings.join('\n')).toMatch(/Workspace roles are not covered: Workspace access tokens cannot read workspace members and their roles/);
    expect(r.scopes.get('workspace-member-list')?.status).toBe('complete');
    expect(r.all.principals.filter((p) => p.kind === 'user')).toHaveLength(sim.truth.users().filter((u) => u.member).length);
    expect(r.all.grants).toEqual([]);
  });

  it('a project access token reads its project and repositories (filtered) and says project deploy keys need project:admin', async () => {
    const r = await sync(sim, sim.credentials.projectAccessToken);
    expect(failed(r)).toEqual([]);
    expect(r.scopes.get('projects')?.scope.filtered).toBe(true);
    expect(r.scopes.get('repositories')?.scope.filtered).toBe(true);
    expect(r.all.resources.filter((x) => x.kind === 'project').map((p) => p.handle)).toEqual([sim.credentials.projectAccessToken.projectKey]);
    expect(r.gaps.get('project-deploy-keys')?.advice).toMatch(/Project access tokens cannot hold project:admin; use a workspace access token with project:admin/);
  });

  it('a repository access token reads its repository and its deploy keys', async () => {
    const r = await sync(sim, sim.credentials.repositoryAccessToken);
    expect(failed(r)).toEqual([]);
    expect(r.all.resources.filter((x) => x.kind === 'repository').map((x) => x.handle)).toEqual([sim.credentials.repositoryAccessToken.repositorySlug]);
    expect(r.gaps.get('projects')?.reason).toMatch(/lacks the project scope/);
    expect([...r.scopes.keys()].filter((id) => id.startsWith('repository-deploy-keys:'))).toHaveLength(1);
  });

  it('an app password is flagged end-of-life and, now that they are switched off, fails the run as unauthorized', async () => {
    const connector = connect(sim, sim.credentials.appPassword);
    const error = await connector.detectCapabilities(new AbortController().signal).catch((e: unknown) => e);
    await connector.close();
    expect(error).toBeInstanceOf(ConnectorError);
    expect(error).toMatchObject({ code: 'unauthorized', httpStatus: 401 });
    expect((error as ConnectorError).advice).toMatch(/API token/);
  });

  it('an API token missing a scope reports that scope, and the fix', async () => {
    const admin = sim.truth.users().find((u) => u.role === 'owner');
    const token = sim.issueApiToken(admin?.uuid ?? '', ['read:workspace:bitbucket', 'read:project:bitbucket', 'read:repository:bitbucket']);
    const r = await sync(sim, { kind: 'api-token', email: token.email, token: token.token });
    // API tokens send no X-OAuth-Scopes: the missing admin scope shows up as a 403 on its scopes.
    const deployKeyFailures = failed(r).filter((o) => o.scope.stream.endsWith('deploy-keys'));
    expect(deployKeyFailures.length).toBeGreaterThan(0);
    for (const o of deployKeyFailures) {
      expect(o.error).toMatchObject({ code: 'forbidden', httpStatus: 403 });
      expect(o.error?.message).toMatch(/required scope: admin:(repository|project):bitbucket/);
      expect(o.error?.endpoint).toMatch(/^\/2\.0\/.*\/deploy-keys$/);
    }
    expect(failed(r).every((o) => o.scope.stream.endsWith('deploy-keys'))).toBe(true);
  });

  it('everything is accounted for: each stream is read or a gap, for every credential', async () => {
    for (const credential of [sim.credentials.adminApiToken, sim.credentials.workspaceAccessToken, sim.credentials.projectAccessToken, sim.credentials.repositoryAccessToken]) {
      const r = await sync(sim, credential);
      const read = new Set([...r.scopes.values()].map((o) => o.scope.stream));
      for (const stream of ALL) expect(read.has(stream) || r.gaps.has(stream)).toBe(true);
    }
  });
});

describe('OAuth consumer', () => {
  it('issues, persists before use, refreshes before expiry with the rotated refresh token', async () => {
    const clock = createClock({ speed: 0, start: Date.parse('2026-11-01T00:00:00Z') });
    const sim = await startSimulator({ profile: 'small', clock, oauthAccessTokenTtlSeconds: 600 });
    const issued: OAuthTokens[] = [];
    const connector = connect(sim, sim.credentials.oauth, {
      clock,
      onTokens: (t) => {
        issued.push(t);
        return Promise.resolve();
      },
    });
    try {
      const caps = await connector.detectCapabilities(new AbortController().signal);
      expect(caps.credentialKind).toBe('oauth-client-credentials');
      expect(issued).toHaveLength(1);
      // Within the refresh margin (a quarter of the 10-minute lifetime): refreshed before use, no 401.
      clock.advance(8 * 60_000);
      const r = await runConnector(connector, { only: ['workspace', 'members'] });
      expect(r.fatal).toBeNull();
      expect(issued).toHaveLength(2);
      expect(issued[1]?.refreshToken).not.toBe(issued[0]?.refreshToken);
      expect(issued[1]?.expiresAt.getTime()).toBe(clock.now() + 600_000);
      expect(sim.stats().byStatus['401']).toBeUndefined();
    } finally {
      await connector.close();
      await sim.close();
    }
  });

  it('a consumer revoked mid-run fails the run as oauth_revoked, with no secret in the message', async () => {
    const sim = await startSimulator({ profile: 'small' });
    // The consumer is revoked on the fourth API request the consumer makes.
    sim.faults.add('revoke:cred=oauth:after=3');
    const r = await sync(sim, sim.credentials.oauth);
    await sim.close();
    expect(r.fatal).toBeInstanceOf(ConnectorError);
    expect(r.fatal).toMatchObject({ code: 'oauth_revoked' });
    expect(r.fatal?.advice).toMatch(/OAuth consumer/);
    expect(r.fatal?.message).not.toContain(sim.credentials.oauth.clientSecret);
    expect(r.scopes.size).toBeGreaterThan(1);
  });

  it('a consumer revoked before the run fails detection as oauth_revoked', async () => {
    const sim = await startSimulator({ profile: 'small' });
    sim.mutate.revokeCredential('oauth');
    const connector = connect(sim, sim.credentials.oauth);
    const error = await connector.detectCapabilities(new AbortController().signal).catch((e: unknown) => e);
    await connector.close();
    await sim.close();
    expect(error).toMatchObject({ code: 'oauth_revoked' });
  });
});

describe('pacing on an accelerated clock', () => {
  it('a sync spanning several budget windows completes with as many requests as an unlimited run, and no 429', async () => {
    const unlimited = await startSimulator({ profile: 'small', seed: 11, rateLimit: false });
    const baseline = await sync(unlimited, unlimited.credentials.adminApiToken);
    await unlimited.close();

    // One simulated hour passes in about 0.2 s.
    const clock = createClock({ speed: 20_000 });
    const sim = await startSimulator({ profile: 'small', seed: 11, clock, rateLimit: { perHour: 10 } });
    const started = clock.now();
    const r = await sync(sim, sim.credentials.adminApiToken, { clock, budgetPerHour: 10, maxRateLimitWaitMs: 2 * 3_600_000 });
    await sim.close();
    expect(r.fatal).toBeNull();
    expect(failed(r)).toEqual([]);
    expect(r.requests).toBe(baseline.requests);
    expect(sim.stats().responses429).toBe(0);
    expect(clock.now() - started).toBeGreaterThan(2 * 3_600_000);
  });

  it('paused and resumed across windows (no long waits allowed), the sync still makes no more requests than an unlimited run', async () => {
    const unlimited = await startSimulator({ profile: 'medium', seed: 2, rateLimit: false });
    const baseline = await sync(unlimited, unlimited.credentials.adminApiToken);
    await unlimited.close();

    const clock = createClock({ speed: 0 });
    const sim = await startSimulator({ profile: 'medium', seed: 2, clock, rateLimit: { perHour: 100 } });
    let result: HarnessResult | undefined;
    let pauses = 0;
    for (;;) {
      const connector = connect(sim, sim.credentials.adminApiToken, { clock, budgetPerHour: 100, maxRateLimitWaitMs: 0 });
      // A frozen clock that moves only to release what waits (a listing finishing its pages), so the
      // run spends its budget and pauses however fast or slow this machine is.
      const stop = advanceWhenWaiting(clock);
      try {
        result = await runConnector(connector, result ? { resume: result } : {});
      } finally {
        stop();
        await connector.close();
      }
      if (result.fatal?.code !== 'budget_exhausted') break;
      pauses += 1;
      const resumeAt = result.fatal.resumeAt?.getTime() ?? 0;
      if (resumeAt > clock.now()) clock.advance(resumeAt - clock.now());
    }
    await sim.close();
    expect(result?.fatal).toBeNull();
    // Every window of 100 requests ends in a pause (a listing under way may wait out a window first).
    expect(pauses).toBeGreaterThanOrEqual(Math.floor(baseline.requests / 100) - 3);
    expect(pauses).toBeLessThanOrEqual(Math.ceil(baseline.requests / 100));
    expect(failed(result as HarnessResult)).toEqual([]);
    expect(sim.stats().requests).toBe(baseline.requests);
    expect(sim.stats().responses429).toBe(0);
  });

  it('when the budget returns later than it may wait, stops with budget_exhausted and the resume time', async () => {
    const clock = createClock({ speed: 0 });
    const sim = await startSimulator({ profile: 'small', clock, rateLimit: { perHour: 5 } });
    const r = await sync(sim, sim.credentials.adminApiToken, { clock, budgetPerHour: 5, maxRateLimitWaitMs: 60_000 });
    await sim.close();
    expect(r.fatal).toMatchObject({ code: 'budget_exhausted', retryable: true });
    expect(r.fatal?.resumeAt?.getTime()).toBe(clock.now() + 3_600_000);
    expect(sim.stats().requests).toBe(5);
    expect(sim.stats().responses429).toBe(0);
  });
});

describe('faults', () => {
  let sim: Sim;
  beforeAll(async () => {
    sim = await startSimulator({ profile: 'medium', seed: 5 });
  });
  afterAll(() => sim.close());

  async function withFault(spec: string, only?: string[], extra: Partial<BitbucketCloudOptions> = {}) {
    sim.faults.clear();
    sim.faults.add(spec);
    try {
      return await sync(sim, sim.credentials.adminApiToken, { maxRetries: 3, ...extra }, only);
    } finally {
      sim.faults.clear();
    }
  }

  it('a 5xx in the middle of a paginated listing is retried and the listing completes', async () => {
    const r = await withFault(`5xx:path=/2.0/repositories/${sim.workspace}:nth=2:count=2:status=503`, ['workspace', 'repositories']);
    expect(r.scopes.get('repositories')?.status).toBe('complete');
    expect(r.all.resources.filter((x) => x.kind === 'repository')).toHaveLength(sim.truth.repositories().length);
  });

  it('persistent 5xx fails that scope only, as a retryable server_error', async () => {
    const r = await withFault(`5xx:path=/2.0/workspaces/${sim.workspace}/projects`, ['workspace', 'projects', 'repositories']);
    const o = r.scopes.get('projects');
    expect(o?.status).toBe('failed');
    expect(o?.error).toMatchObject({ code: 'server_error', retryable: true, httpStatus: 500, endpoint: `/2.0/workspaces/${sim.workspace}/projects` });
    expect(r.scopes.get('repositories')?.status).toBe('complete');
  });

  it('a body that is not JSON is malformed_response naming the endpoint', async () => {
    const r = await withFault(`malformed:path=/2.0/workspaces/${sim.workspace}/permissions`, ['workspace', 'members']);
    expect(r.scopes.get('workspace-members')?.error).toMatchObject({ code: 'malformed_response', endpoint: `/2.0/workspaces/${sim.workspace}/permissions` });
  });

  it('a truncated body or a reset connection is retried', async () => {
    const truncated = await withFault(`truncate:path=/2.0/workspaces/${sim.workspace}/permissions:count=1`, ['workspace', 'members']);
    expect(truncated.scopes.get('workspace-members')?.status).toBe('complete');
    const reset = await withFault('reset:nth=2:count=1', ['workspace', 'members']);
    expect(reset.scopes.get('workspace-members')?.status).toBe('complete');
  });

  it('a looping next link is page_loop', async () => {
    const r = await withFault(`loop:path=/2.0/repositories/${sim.workspace}`, ['workspace', 'repositories']);
    expect(r.scopes.get('repositories')?.error).toMatchObject({ code: 'page_loop', endpoint: `/2.0/repositories/${sim.workspace}` });
  });

  it('a page that repeats items is page_loop, never silently deduplicated', async () => {
    const r = await withFault(`repeat:path=/2.0/workspaces/${sim.workspace}/permissions`, ['workspace', 'members']);
    const o = r.scopes.get('workspace-members');
    expect(o?.error).toMatchObject({ code: 'page_loop' });
    expect(o?.error?.message).toMatch(/twice/);
  });

  it("a 403 on one repository's permissions fails only that repository's scopes, with advice", async () => {
    const slug = sim.truth.repositories()[3]?.slug ?? '';
    const uuid = sim.truth.repositories()[3]?.uuid ?? '';
    const r = await withFault(`forbid:repo=${slug}`, ['workspace', 'repositories', 'repository-user-permissions']);
    const bad = failed(r);
    expect(bad.map((o) => o.scope.id)).toEqual([`repository-user-permissions:${uuid}`]);
    // Per-repository listings address the repository by uuid: a rename or move cannot break them.
    expect(bad[0]?.error).toMatchObject({ code: 'forbidden', httpStatus: 403, endpoint: `/2.0/repositories/${sim.workspace}/${uuid}/permissions-config/users` });
    expect(bad[0]?.error?.advice).toMatch(/read:repository:bitbucket/);
    // workspace + repositories + every other repository's permissions.
    expect([...r.scopes.values()].filter((o) => o.status === 'complete').length).toBe(2 + sim.truth.repositories().length - 1);
  });

  it('a credential revoked mid-run ends the run as unauthorized', async () => {
    const r = await withFault('revoke:cred=adminApiToken:after=6');
    expect(r.fatal).toMatchObject({ code: 'unauthorized', httpStatus: 401 });
    expect(r.fatal?.advice).toMatch(/API token/);
    expect(r.fatal?.message).not.toContain(sim.credentials.adminApiToken.token);
  });
});

describe('binding', () => {
  it('a wrong workspace slug fails detection with not_found and the fix', async () => {
    const sim = await startSimulator({ profile: 'small' });
    const connector = createBitbucketCloudConnector({ baseUrl: sim.baseUrl, workspace: 'not-acme', credential: sim.credentials.adminApiToken });
    const error = await connector.detectCapabilities(new AbortController().signal).catch((e: unknown) => e);
    await connector.close();
    await sim.close();
    expect(error).toMatchObject({ code: 'not_found' });
    expect((error as ConnectorError).advice).toMatch(/not-acme/);
  });
});
