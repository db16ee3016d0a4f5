import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Simulator, createClock, startSimulator } from '../../connectors/bitbucket-cloud/simulator/index.ts';
import { describeWithDb } from '../helpers/db.ts';
import { connectSim, removalsOutsideCleanScopes, removedIn, rosterAccess, syncSim, truthAccess } from '../helpers/sim-sync.ts';

describeWithDb('sync against the simulator: effective access equals the ground truth', (get) => {
  // spillRecords: large listings are written in parts before they end; a small threshold proves
  // that path gives the same answer.
  const cases: Array<{ profile: 'small' | 'medium'; seed: number; spillRecords?: number }> = [
    { profile: 'small', seed: 1 },
    { profile: 'small', seed: 2 },
    { profile: 'small', seed: 3, spillRecords: 5 },
    { profile: 'medium', seed: 1 },
    { profile: 'medium', seed: 5, spillRecords: 250 },
  ];
  for (const { profile, seed, spillRecords } of cases) {
    it(`${profile} workspace, seed ${seed}${spillRecords ? `, listings written every ${spillRecords} records` : ''}`, async () => {
      const sim = await startSimulator({ profile, seed, rateLimit: false });
      try {
        const integration = await connectSim(get(), sim, `truth-${profile}-${seed}`);
        const outcome = await syncSim(get(), integration, { spillRecords });
        expect(outcome.error).toBeNull();
        expect(outcome.status).toBe('succeeded');
        const roster = await rosterAccess(get(), String(integration.id));
        const truth = truthAccess(sim);
        expect(roster.length).toBe(truth.length);
        expect(roster).toEqual(truth);
        // Bitbucket's own effective permissions agree with the derivation: no findings.
        const findings = await get().db.selectFrom('findings').select((eb) => eb.fn.countAll<number>().as('n')).where('run_id', '=', outcome.runId).executeTakeFirstOrThrow();
        expect(Number(findings.n)).toBe(0);
      } finally {
        await sim.close();
      }
    });
  }
});

describeWithDb("reconciliation with Bitbucket's own effective permissions", (get) => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ profile: 'small', seed: 4, rateLimit: false });
  });
  afterAll(async () => {
    await sim.close();
  });
  const reconciliation = async (runId: string) => {
    const run = await get().db.selectFrom('sync_runs').select(['counts', 'summary']).where('id', '=', runId).executeTakeFirstOrThrow();
    const findings = await sql<{ user: string; repo: string; kind: string; roster: string | null; source: string | null }>`
      select u.external_id as user, r.handle as repo, f.kind, f.roster_permission as roster, f.source_permission as source
        from findings f join principals u on u.id = f.user_id join resources r on r.id = f.repository_id
       where f.run_id = ${runId} order by u.external_id, r.handle`.execute(get().db);
    return { counts: (run.counts as { reconciliation: { agree: number; compared: number; explained: Record<string, number>; findings: number } }).reconciliation, summary: run.summary ?? '', findings: findings.rows };
  };

  it('every reading of the undocumented listing is one summary line, never a finding; a planted disagreement is exactly one finding', async () => {
    const integration = await connectSim(get(), sim, 'reconcile');
    const owners = sim.truth.users().filter((u) => u.role === 'owner').length;
    const repositories = sim.truth.repositories().length;

    // The expected reading: owners' implicit admin not listed, project inheritance included.
    sim.mutate.setReportedPermissionsReading({ includeOwners: false, includeProjectInherited: true });
    const plain = await reconciliation((await syncSim(get(), integration)).runId);
    expect(plain.counts).toMatchObject({ explained: {}, findings: 0 });
    expect(plain.counts.agree).toBe(plain.counts.compared);
    expect(plain.summary).toMatch(/Reconciliation with Bitbucket Cloud's own effective permissions: (\d+) of \1 user-repository pairs agree; 0 disagreements nothing explains\./);

    // Bitbucket lists owners' admin on every repository: explained, in one line.
    sim.mutate.setReportedPermissionsReading({ includeOwners: true, includeProjectInherited: true });
    const withOwners = await reconciliation((await syncSim(get(), integration)).runId);
    expect(withOwners.findings).toEqual([]);
    // Every owner × repository pair where an explicit path gives less than admin (or nothing).
    const explicitAdmin = sim.truth.effectiveAccess().filter((e) => sim.truth.users().find((u) => u.uuid === e.userUuid)?.role === 'owner' && e.paths.some((p) => p.kind !== 'workspace-owner' && p.permission === 'admin')).length;
    expect(withOwners.counts.explained).toEqual({ 'root-roles-listed': owners * repositories - explicitAdmin });
    expect(withOwners.summary).toMatch(/differ only because the source also lists the access root roles give \(Bitbucket: workspace owners' implicit admin\)/);

    // Bitbucket leaves out project-inherited access: explained too.
    sim.mutate.setReportedPermissionsReading({ includeOwners: false, includeProjectInherited: false });
    const noProject = await reconciliation((await syncSim(get(), integration)).runId);
    expect(noProject.findings).toEqual([]);
    expect(noProject.counts.explained['inheritance-not-listed']).toBeGreaterThan(0);

    // A disagreement no reading explains is a finding, and the only one.
    sim.mutate.setReportedPermissionsReading({ includeOwners: false, includeProjectInherited: true });
    const grace = sim.truth.users().find((u) => u.displayName === 'Grace Hopper');
    if (!grace) throw new Error('no Grace Hopper');
    const readOnly = sim.truth.effectiveAccess().find((e) => e.userUuid === grace.uuid && e.permission === 'read');
    if (!readOnly) throw new Error('Grace Hopper reads nothing');
    const repo = sim.truth.repositories().find((r) => r.uuid === readOnly.repoUuid);
    sim.mutate.plantReportedPermission(repo?.slug ?? '', grace.uuid, 'admin');
    const planted = await reconciliation((await syncSim(get(), integration)).runId);
    expect(planted.findings).toEqual([{ user: grace.uuid, repo: repo?.slug, kind: 'permission_mismatch', roster: 'read', source: 'admin' }]);
    expect(planted.counts.findings).toBe(1);
    expect(planted.summary).toMatch(/1 disagreement nothing explains \(see the findings of this run\)/);
    sim.mutate.clearPlantedReportedPermissions();
  });
});

describeWithDb('sync → change the workspace → sync: history records exactly the changes', (get) => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ profile: 'small', seed: 1, rateLimit: false });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('records each change once, as it happened', async () => {
    const integration = await connectSim(get(), sim, 'history');
    const first = await syncSim(get(), integration);
    expect(first.status).toBe('succeeded');

    const users = sim.truth.users();
    const grace = users.find((u) => u.displayName === 'Grace Hopper');
    const leaving = users.find((u) => u.displayName === '@channel Bot');
    if (!grace || !leaving) throw new Error('planted users missing');
    const joined = sim.mutate.addMember({ displayName: 'New Hire', nickname: 'new.hire' });
    sim.mutate.removeMember(leaving.uuid);
    sim.mutate.addGroupMember('developers', joined.uuid);
    sim.mutate.setProjectGroupPermission('DATA', 'developers', 'read');
    sim.mutate.deleteRepository('deprecated-tools');
    const key = sim.mutate.addDeployKey({ repository: 'web-app', label: 'CI deploy' });

    const second = await syncSim(get(), integration);
    expect(second.status).toBe('succeeded');
    expect(await rosterAccess(get(), String(integration.id))).toEqual(truthAccess(sim));

    const changes = await sql<{ change: string }>`
      select 'principal+ ' || kind || ' ' || coalesce(display_name, external_id) as change from principals where integration_id = ${integration.id} and first_seen_run = ${second.runId}
      union all select 'principal- ' || kind || ' ' || coalesce(display_name, external_id) from principals where integration_id = ${integration.id} and removed_run = ${second.runId}
      union all select 'resource- ' || kind || ' ' || handle from resources where integration_id = ${integration.id} and removed_run = ${second.runId}
      union all select 'resource+ ' || kind || ' ' || handle from resources where integration_id = ${integration.id} and first_seen_run = ${second.runId}
      union all select 'membership+ ' || g.external_id || ' ' || m.display_name from memberships x join principals g on g.id = x.group_id join principals m on m.id = x.member_id
        where x.integration_id = ${integration.id} and x.first_seen_run = ${second.runId}
      union all select 'membership- ' || g.external_id || ' ' || m.display_name from memberships x join principals g on g.id = x.group_id join principals m on m.id = x.member_id
        where x.integration_id = ${integration.id} and x.removed_run = ${second.runId}
      union all select 'grant+ ' || coalesce(p.display_name, p.external_id) || ' ' || r.handle || ' ' || g.permission from grants g join principals p on p.id = g.principal_id join resources r on r.id = g.resource_id
        where g.integration_id = ${integration.id} and g.first_seen_run = ${second.runId}
      union all select 'grant- ' || coalesce(p.display_name, p.external_id) || ' ' || r.handle || ' ' || g.permission from grants g join principals p on p.id = g.principal_id join resources r on r.id = g.resource_id
        where g.integration_id = ${integration.id} and g.removed_run = ${second.runId}
      order by 1`.execute(get().db);
    const removedRepoGrants = (await sql<{ n: number }>`
      select count(*)::int as n from grants g join resources r on r.id = g.resource_id where r.handle = 'deprecated-tools' and g.removed_run = ${second.runId}`.execute(get().db)).rows[0]?.n ?? 0;
    const lines = changes.rows.map((r) => r.change);
    expect(lines).toContain('principal+ user New Hire');
    expect(lines).toContain('principal- user @channel Bot');
    expect(lines).toContain('grant+ New Hire acme member');
    expect(lines).toContain('grant- @channel Bot acme member');
    expect(lines).toContain('membership+ developers New Hire');
    expect(lines).toContain('grant+ Developers DATA read');
    expect(lines).toContain('resource- repository deprecated-tools');
    expect(lines).toContain('principal+ deploy_key CI deploy');
    expect(lines).toContain('grant+ CI deploy web-app read');
    // Exactly those changes and nothing else: the grants cascading from the deleted repository are
    // the only other removals.
    const expected = 9 + removedRepoGrants;
    expect(lines.length, lines.join('\n')).toBe(expected);
    expect(lines.filter((l) => l.startsWith('grant- ')).every((l) => l.includes('deprecated-tools') || l.startsWith('grant- @channel Bot'))).toBe(true);

    // A third sync with no change records nothing.
    const third = await syncSim(get(), integration);
    expect(await removedIn(get(), third.runId)).toEqual({ principals: 0, resources: 0, memberships: 0, grants: 0 });
    const added = (await sql<{ n: number }>`select count(*)::int as n from grants where first_seen_run = ${third.runId}`.execute(get().db)).rows[0]?.n;
    expect(added).toBe(0);
    expect(key.id).toBeGreaterThan(0);
  });
});

describeWithDb('incremental sync and OAuth tokens', (get) => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ profile: 'small', seed: 2, rateLimit: false, oauthAccessTokenTtlSeconds: 3600 });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('an incremental sync after a change ends in the same state as a full one: a deleted repository is confirmed gone and removed, a renamed or moved one is not', async () => {
    const integration = await connectSim(get(), sim, 'incremental');
    expect((await syncSim(get(), integration, { mode: 'full' })).status).toBe('succeeded');
    const someone = sim.truth.users().find((u) => u.role === 'member');
    if (!someone) throw new Error('no member');
    const deleted = sim.truth.repositories().find((r) => r.slug === 'ml-models');
    if (!deleted) throw new Error('no ml-models');
    sim.mutate.addRepository({ name: 'brand-new', projectKey: 'PLAT' });
    sim.mutate.setRepoUserPermission('web-app', someone.uuid, 'admin');
    sim.mutate.deleteRepository('ml-models');
    sim.mutate.renameRepository('reports', 'reporting');
    sim.mutate.moveRepository('billing-service', 'DATA');
    for (const round of [1, 2]) {
      const incremental = await syncSim(get(), integration, { mode: 'incremental' });
      // Not partial: the deleted repository's listings answering 404 is the deletion, not a failure.
      expect(incremental.status).toBe('succeeded');
      const run = await get().db.selectFrom('sync_runs').select(['mode', 'since']).where('id', '=', incremental.runId).executeTakeFirstOrThrow();
      expect(run.mode).toBe('incremental');
      expect(run.since).toBeInstanceOf(Date);
      const listing = await get().db.selectFrom('sync_scopes').select(['status', 'filtered']).where('run_id', '=', incremental.runId).where('scope', '=', 'repositories').executeTakeFirstOrThrow();
      expect(listing).toEqual({ status: 'complete', filtered: true });
      expect(await rosterAccess(get(), String(integration.id))).toEqual(truthAccess(sim));
      const live = await get().db.selectFrom('resources').select('handle').where('integration_id', '=', integration.id).where('kind', '=', 'repository').where('removed_run', 'is', null).orderBy('handle').execute();
      expect(live.map((r) => r.handle)).toEqual(sim.truth.repositories().map((r) => r.slug).sort());
      // Removed once, in the first incremental run, with the evidence; the second has nothing to remove.
      expect((await removedIn(get(), incremental.runId)).resources).toBe(round === 1 ? 1 : 0);
      const gone = await get().db.selectFrom('sync_notices').select(['record_id', 'detail']).where('run_id', '=', incremental.runId).where('kind', '=', 'gone').execute();
      expect(gone.map((g) => g.record_id)).toEqual(round === 1 ? [deleted.uuid] : []);
      if (round === 1) expect(gone[0]?.detail).toMatch(/answered 404/);
    }
  });

  it("an OAuth consumer's tokens are stored encrypted as soon as they are issued", async () => {
    const integration = await connectSim(get(), sim, 'oauth-tokens', 'oauth');
    expect((await syncSim(get(), integration)).status).toBe('succeeded');
    const rows = await get().db.selectFrom('credentials').select(['name', 'key_id', 'expires_at', 'ciphertext']).where('integration_id', '=', integration.id).orderBy('name').execute();
    expect(rows.map((r) => r.name)).toEqual(['access_token', 'client_id', 'client_secret', 'refresh_token']);
    const access = rows.find((r) => r.name === 'access_token');
    expect(access?.expires_at).toBeInstanceOf(Date);
    // A second run reuses the stored, still-valid token instead of asking for a new one.
    const before = sim.stats().byPath['POST /site/oauth2/access_token'] ?? 0;
    expect((await syncSim(get(), integration)).status).toBe('succeeded');
    expect(sim.stats().byPath['POST /site/oauth2/access_token'] ?? 0).toBe(before);
  });
});

describeWithDb('faults: nothing seen before is removed unless its scope was re-read cleanly', (get) => {
  let small: Simulator;
  let medium: Simulator;
  beforeAll(async () => {
    small = await startSimulator({ profile: 'small', seed: 1, rateLimit: false });
    medium = await startSimulator({ profile: 'medium', seed: 1, rateLimit: false });
  });
  afterAll(async () => {
    await small.close();
    await medium.close();
  });

  /** Sync clean, break the source, change it underneath, sync again: the broken scopes must keep their rows. */
  async function scenario(sim: Simulator, name: string, fault: string, change: () => void) {
    sim.faults.clear();
    const integration = await connectSim(get(), sim, name);
    const clean = await syncSim(get(), integration);
    expect(clean.status).toBe('succeeded');
    const before = await rosterAccess(get(), String(integration.id));
    change();
    sim.faults.add(fault);
    const broken = await syncSim(get(), integration);
    sim.faults.clear();
    expect(await removalsOutsideCleanScopes(get(), broken.runId)).toEqual([]);
    return { integration, before, broken };
  }

  it('403 on one repository\'s permissions: that repository keeps its grants and the scope says why', async () => {
    const apiGateway = small.truth.repositories().find((r) => r.slug === 'api-gateway');
    const direct = small.truth.repoUserGrants().find((g) => g.repoUuid === apiGateway?.uuid);
    if (!apiGateway || !direct) throw new Error('planted repository missing');
    const { integration, broken } = await scenario(small, 'fault-403', 'forbid:repo=api-gateway', () => small.mutate.setRepoUserPermission('api-gateway', direct.userUuid, null));
    expect(broken.status).toBe('partial');
    const removed = await sql<{ n: number }>`select count(*)::int as n from grants g join resources r on r.id = g.resource_id where r.handle = 'api-gateway' and g.removed_run = ${broken.runId}`.execute(get().db);
    expect(removed.rows[0]?.n).toBe(0);
    const scopes = await get().db.selectFrom('sync_scopes').select(['scope', 'status', 'http_status', 'advice']).where('run_id', '=', broken.runId).where('status', '<>', 'complete').execute();
    expect(scopes.length).toBeGreaterThan(0);
    for (const s of scopes) {
      expect(s.scope).toContain(apiGateway.uuid);
      expect(s.http_status).toBe(403);
      expect(s.advice).toBeTruthy();
    }
    // Once readable again, the revocation that really happened is recorded.
    const healed = await syncSim(get(), integration);
    expect(healed.status).toBe('succeeded');
    expect(await rosterAccess(get(), String(integration.id))).toEqual(truthAccess(small));
    small.mutate.setRepoUserPermission('api-gateway', direct.userUuid, direct.permission);
  });

  it('a 5xx in the middle of a paginated listing is retried and the run succeeds', async () => {
    const { integration, broken } = await scenario(medium, 'fault-5xx-retried', '5xx:path=/2.0/repositories/acme:nth=2:status=503', () => {});
    expect(broken.error).toBeNull();
    expect(broken.status).toBe('succeeded');
    const run = await get().db.selectFrom('sync_runs').select(['api_retries']).where('id', '=', broken.runId).executeTakeFirstOrThrow();
    expect(run.api_retries).toBeGreaterThanOrEqual(1);
    expect(await rosterAccess(get(), String(integration.id))).toEqual(truthAccess(medium));
    expect(await removedIn(get(), broken.runId)).toEqual({ principals: 0, resources: 0, memberships: 0, grants: 0 });
  });

  it('a 5xx that persists fails the listing: nothing is inferred from it, per-repository scopes use the last known list, and only a repository whose own uuid answers 404 is removed', async () => {
    const victim = medium.truth.repositories()[3];
    if (!victim) throw new Error('no repository');
    const { integration, broken } = await scenario(medium, 'fault-5xx-persistent', '5xx:path=/2.0/repositories/acme:status=502', () => medium.mutate.deleteRepository(victim.slug));
    expect(broken.status).toBe('partial');
    const scope = await get().db.selectFrom('sync_scopes').select(['status', 'http_status', 'error_code']).where('run_id', '=', broken.runId).where('scope', '=', 'repositories').executeTakeFirstOrThrow();
    expect(scope).toMatchObject({ status: 'failed', http_status: 502, error_code: 'server_error' });
    // The deleted repository's own listings answered 404 and so did its uuid: confirmed gone, though
    // the listing failed. No other repository went.
    const removed = await get().db.selectFrom('resources').select('external_id').where('removed_run', '=', broken.runId).execute();
    expect(removed.map((r) => r.external_id)).toEqual([victim.uuid]);
    const healed = await syncSim(get(), integration);
    expect(healed.status).toBe('succeeded');
    expect((await removedIn(get(), healed.runId)).resources).toBe(0);
    expect(await rosterAccess(get(), String(integration.id))).toEqual(truthAccess(medium));
  });

  it('a listing that fails after parts of it were written removes nothing and is not marked complete', async () => {
    const integration = await connectSim(get(), medium, 'fault-spill');
    expect((await syncSim(get(), integration)).status).toBe('succeeded');
    medium.faults.add('5xx:path=/2.0/workspaces/acme/permissions/repositories:after=4:status=500');
    const broken = await syncSim(get(), integration, { spillRecords: 100 });
    medium.faults.clear();
    expect(broken.status).toBe('partial');
    const scope = await get().db.selectFrom('sync_scopes').select(['status']).where('run_id', '=', broken.runId).where('stream', '=', 'reported-access').where('status', '=', 'failed').executeTakeFirstOrThrow();
    expect(scope.status).toBe('failed');
    const removed = await sql<{ n: number }>`select count(*)::int as n from reported_access where removed_run = ${broken.runId}`.execute(get().db);
    expect(removed.rows[0]?.n).toBe(0);
    expect(await removalsOutsideCleanScopes(get(), broken.runId)).toEqual([]);
  });

  it('malformed JSON fails its scope (groups) and keeps every membership', async () => {
    const dev = small.truth.groups().find((g) => g.slug === 'developers');
    const member = dev?.memberUuids[0];
    if (!member) throw new Error('no developer');
    const { integration, broken } = await scenario(small, 'fault-malformed', 'malformed:path=/1.0/groups/*/', () => small.mutate.removeGroupMember('developers', member));
    expect(broken.status).toBe('partial');
    expect((await removedIn(get(), broken.runId)).memberships).toBe(0);
    const scope = await get().db.selectFrom('sync_scopes').select(['status', 'error_code', 'message']).where('run_id', '=', broken.runId).where('scope', '=', 'groups').executeTakeFirstOrThrow();
    expect(scope.status).toBe('failed');
    expect(scope.error_code).toBe('malformed_response');
    expect(scope.message).toContain('/1.0/groups/');
    const healed = await syncSim(get(), integration);
    expect((await removedIn(get(), healed.runId)).memberships).toBe(1);
    small.mutate.addGroupMember('developers', member);
  });

  it('a looping next link fails the listing as a page loop, removing nothing', async () => {
    const { broken } = await scenario(medium, 'fault-loop', 'loop:path=/2.0/repositories/acme', () => {});
    expect(broken.status).toBe('partial');
    const scope = await get().db.selectFrom('sync_scopes').select(['status', 'error_code']).where('run_id', '=', broken.runId).where('scope', '=', 'repositories').executeTakeFirstOrThrow();
    expect(scope).toEqual({ status: 'failed', error_code: 'page_loop' });
    expect(await removedIn(get(), broken.runId)).toEqual({ principals: 0, resources: 0, memberships: 0, grants: 0 });
  });

  it('a page that repeats items is not trusted either', async () => {
    const { broken } = await scenario(medium, 'fault-repeat', 'repeat:path=/2.0/repositories/acme', () => {});
    expect(broken.status).toBe('partial');
    const scope = await get().db.selectFrom('sync_scopes').select(['status', 'error_code']).where('run_id', '=', broken.runId).where('scope', '=', 'repositories').executeTakeFirstOrThrow();
    expect(scope).toEqual({ status: 'failed', error_code: 'page_loop' });
    expect(await removedIn(get(), broken.runId)).toEqual({ principals: 0, resources: 0, memberships: 0, grants: 0 });
  });

  it('a token revoked mid-run fails the run, removes nothing it did not re-read, and marks the integration revoked', async () => {
    const direct = small.truth.repoUserGrants()[0];
    if (!direct) throw new Error('no direct grant');
    const { integration, broken } = await scenario(small, 'fault-revoked', 'revoke:after=8', () => small.mutate.setRepoUserPermission(direct.repoUuid, direct.userUuid, null));
    expect(broken.status).toBe('failed');
    expect(broken.error?.code).toBe('unauthorized');
    // The revocation cut the run short: some repositories were not re-read. Which ones depends on the
    // order concurrent reads finish in, so the rule is checked either way: the changed grant goes only
    // if its repository's listing completed before the token was refused (scenario() has already
    // checked that nothing outside a cleanly read scope was removed).
    const complete = (await get().db.selectFrom('sync_scopes').select('scope').where('run_id', '=', broken.runId).where('status', '=', 'complete').execute()).map((c) => c.scope);
    const repoListings = complete.filter((s) => s.startsWith('repository-user-permissions:'));
    expect(repoListings.length).toBeLessThan(small.truth.repositories().length);
    const changedWasRead = complete.includes(`repository-user-permissions:${direct.repoUuid}`);
    expect((await removedIn(get(), broken.runId)).grants).toBe(changedWasRead ? 1 : 0);
    const row = await get().db.selectFrom('integrations').select(['status', 'status_message']).where('id', '=', integration.id).executeTakeFirstOrThrow();
    expect(row.status).toBe('revoked');
    expect(row.status_message).toMatch(/401|revoked|rejected/i);
  });
});

describeWithDb('credential matrix: each credential reads what it can and reports the rest as coverage gaps', (get) => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ profile: 'small', seed: 1, rateLimit: false });
  });
  afterAll(async () => {
    await sim.close();
  });

  const expectations = {
    adminApiToken: { status: 'succeeded', gaps: [] as string[] },
    oauth: { status: 'succeeded', gaps: [] as string[] },
    memberApiToken: { status: 'succeeded', gaps: ['groups', 'project-user-permissions', 'repository-user-permissions', 'reported-access'] },
    workspaceAccessToken: { status: 'succeeded', gaps: ['members', 'groups', 'project-user-permissions', 'project-group-permissions', 'repository-user-permissions', 'repository-group-permissions', 'reported-access'] },
    projectAccessToken: { status: 'succeeded', gaps: ['members', 'groups', 'repository-user-permissions', 'reported-access'] },
    repositoryAccessToken: { status: 'succeeded', gaps: ['members', 'groups', 'projects', 'repository-user-permissions', 'reported-access'] },
  } as const;

  for (const [name, expected] of Object.entries(expectations)) {
    it(`${name}: ${expected.gaps.length === 0 ? 'reads everything' : `gaps for ${expected.gaps.join(', ')}`}`, async () => {
      const integration = await connectSim(get(), sim, `matrix-${name.toLowerCase()}`, name as keyof typeof expectations);
      const outcome = await syncSim(get(), integration);
      expect(outcome.error).toBeNull();
      expect(outcome.status).toBe(expected.status);
      const gaps = await get().db.selectFrom('sync_scopes').select(['stream', 'message', 'advice']).where('run_id', '=', outcome.runId).where('error_code', '=', 'credential_gap').execute();
      for (const stream of expected.gaps) expect(gaps.map((g) => g.stream), `gap for ${stream}`).toContain(stream);
      if (expected.gaps.length === 0) expect(gaps).toEqual([]);
      for (const gap of gaps) {
        expect(gap.advice, gap.stream).toMatch(/API token|OAuth|access token|admin/i);
      }
      const counts = (await get().db.selectFrom('sync_runs').select('counts').where('id', '=', outcome.runId).executeTakeFirstOrThrow()).counts as { live: { repositories: number } };
      expect(counts.live.repositories).toBeGreaterThan(0);
    });
  }

  it('app password: refused since July 2026, with the fix in the message', async () => {
    const integration = await connectSim(get(), sim, 'matrix-app-password', 'appPassword');
    const outcome = await syncSim(get(), integration);
    expect(outcome.status).toBe('failed');
    expect(outcome.error?.code).toBe('unauthorized');
    expect(outcome.error?.message).toMatch(/API token/i);
  });

  it('switching an integration to a narrower credential removes nothing it can no longer read', async () => {
    const integration = await connectSim(get(), sim, 'narrowing');
    expect((await syncSim(get(), integration)).status).toBe('succeeded');
    const before = await rosterAccess(get(), String(integration.id));
    const narrowed = await connectSim(get(), sim, 'narrowing', 'workspaceAccessToken');
    const outcome = await syncSim(get(), narrowed);
    expect(outcome.status).toBe('succeeded');
    expect(await removedIn(get(), outcome.runId)).toEqual({ principals: 0, resources: 0, memberships: 0, grants: 0 });
    expect(await rosterAccess(get(), String(integration.id))).toEqual(before);
  });
});

describeWithDb('rate limits: a budget of 100 requests/hour on an accelerated clock', (get) => {
  it('spans several windows, sends no more requests than an unlimited run, and gets no 429', async () => {
    // An hour of simulated time passes in one second of real time.
    const clock = createClock({ speed: 3600 });
    const sim = await startSimulator({ profile: 'medium', seed: 2, rateLimit: { perHour: 100 }, clock });
    let limited: { api_requests: number; responses_429: number; rate_limit_waits: number };
    let hours: number;
    try {
      const integration = await connectSim(get(), sim, 'budget-100');
      const started = clock.now();
      const outcome = await syncSim(get(), integration, { overrides: { clock, budgetPerHour: 100, maxRateLimitWaitMs: 2 * 3_600_000 } });
      hours = (clock.now() - started) / 3_600_000;
      expect(outcome.error).toBeNull();
      expect(outcome.status).toBe('succeeded');
      limited = await get().db.selectFrom('sync_runs').select(['api_requests', 'responses_429', 'rate_limit_waits']).where('id', '=', outcome.runId).executeTakeFirstOrThrow();
      expect(sim.stats().responses429).toBe(0);
      expect(await rosterAccess(get(), String(integration.id))).toEqual(truthAccess(sim));
    } finally {
      await sim.close();
    }
    expect(limited.responses_429).toBe(0);
    expect(limited.rate_limit_waits).toBeGreaterThan(0);
    // Several windows, never faster than the budget allows (no 429 says no window was overrun). How
    // close to the floor it gets is speed, measured by `npm run bench` (rate-limited pacing), not here:
    // on a 3600x clock a loaded machine stretches simulated time.
    expect(hours).toBeGreaterThanOrEqual(Math.floor(limited.api_requests / 100) - 0.01);

    const unlimitedSim = await startSimulator({ profile: 'medium', seed: 2, rateLimit: false });
    try {
      const integration = await connectSim(get(), unlimitedSim, 'budget-unlimited');
      const outcome = await syncSim(get(), integration);
      expect(outcome.status).toBe('succeeded');
      const unlimited = await get().db.selectFrom('sync_runs').select('api_requests').where('id', '=', outcome.runId).executeTakeFirstOrThrow();
      expect(limited.api_requests).toBeLessThanOrEqual(unlimited.api_requests);
    } finally {
      await unlimitedSim.close();
    }
  });
});
