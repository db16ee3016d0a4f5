import { sql } from 'kysely';
import { expect, it } from 'vitest';
import type { Integration } from '../../src/db/types.ts';
import { ConnectorError } from '../../src/errors.ts';
import { runSync } from '../../src/sync/runner.ts';
import { describeWithDb } from '../helpers/db.ts';
import { type FakeWorld, fakeConnector, smallWorld } from '../helpers/fake-connector.ts';
import { effectiveAccessLines } from '../helpers/sim-sync.ts';
import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/types.ts';

async function effective(db: Kysely<Database>, integrationId: string): Promise<string[]> {
  const rows = await effectiveAccessLines(db, integrationId);
  return rows.map((r) => `${r.user} ${r.repo} ${r.path_kind}${r.via_group ? ` g=${r.via_group}` : ''}${r.via_project ? ` p=${r.via_project}` : ''} ${r.permission}`);
}

describeWithDb('sync engine with an in-memory source', (get) => {
  let integration: Integration;
  const world: FakeWorld = smallWorld();
  const sync = (mode: 'full' | 'incremental' = 'full') =>
    runSync(get(), { integration, mode, trigger: 'test', connect: async () => fakeConnector(world) });

  it('loads every stream and derives every access path', async () => {
    const { db } = get();
    integration = await db
      .insertInto('integrations')
      .values({ name: 'fake', kind: 'bitbucket-cloud', workspace: 'acme', base_url: 'http://127.0.0.1:1', credential_kind: 'api-token', schedule: null, options: '{}' })
      .returningAll()
      .executeTakeFirstOrThrow();
    const outcome = await sync();
    expect(outcome.status).toBe('succeeded');
    const paths = await effective(db, String(integration.id));
    expect(paths).toEqual([
      '{u-alice} {r-api} direct admin',
      '{u-alice} {r-api} project-group g=devs p=CORE write',
      '{u-alice} {r-infra} group g=devs read',
      '{u-alice} {r-web} project-group g=devs p=CORE write',
      '{u-bob} {r-api} project-group g=devs p=CORE write',
      '{u-bob} {r-infra} group g=devs read',
      '{u-bob} {r-web} project-group g=devs p=CORE write',
      '{u-carol} {r-infra} project p=OPS write',
      '{u-owner} {r-api} workspace-owner admin',
      '{u-owner} {r-infra} workspace-owner admin',
      '{u-owner} {r-web} workspace-owner admin',
    ]);
    const run = await db.selectFrom('sync_runs').selectAll().where('id', '=', outcome.runId).executeTakeFirstOrThrow();
    expect(run.finished_at).not.toBeNull();
    expect(run.summary).toContain('succeeded');
  });

  it('records exactly the changes of a second sync, as intervals', async () => {
    const { db } = get();
    const first = (await db.selectFrom('sync_runs').select('id').orderBy('id').executeTakeFirstOrThrow()).id;
    world.groups[0]!.members = ['{u-alice}']; // bob leaves devs
    world.repoGrants[0]!.permission = 'write'; // alice: admin -> write on api
    world.repos = world.repos.filter((r) => r.id !== '{r-web}'); // web deleted
    const outcome = await sync();
    expect(outcome.status).toBe('succeeded');
    const removed = await sql<{ what: string }>`
      select 'membership ' || m.external_id as what from memberships x join principals m on m.id = x.member_id where x.removed_run = ${outcome.runId}
      union all select 'grant ' || p.external_id || ' ' || r.handle || ' ' || g.permission from grants g join principals p on p.id = g.principal_id join resources r on r.id = g.resource_id where g.removed_run = ${outcome.runId}
      union all select 'resource ' || handle from resources where removed_run = ${outcome.runId}
      order by 1`.execute(db);
    expect(removed.rows.map((r) => r.what)).toEqual(['grant {u-alice} api admin', 'membership {u-bob}', 'resource web']);
    const added = await sql<{ what: string }>`
      select 'grant ' || p.external_id || ' ' || r.handle || ' ' || g.permission as what from grants g join principals p on p.id = g.principal_id join resources r on r.id = g.resource_id where g.first_seen_run = ${outcome.runId}`.execute(db);
    expect(added.rows.map((r) => r.what)).toEqual(['grant {u-alice} api write']);
    // The earlier grant is still there as history: present at the first run, gone after the second.
    const history = await sql<{ first_seen_run: string; removed_run: string }>`select first_seen_run::text, removed_run::text from grants where permission = 'admin' and resource_kind = 'repository'`.execute(db);
    expect(history.rows).toEqual([{ first_seen_run: String(first), removed_run: String(outcome.runId) }]);
    const paths = await effective(db, String(integration.id));
    expect(paths.filter((p) => p.startsWith('{u-bob}'))).toEqual([]);
  });

  it('removes nothing from a scope that failed, and says so', async () => {
    const { db } = get();
    world.repoGrants = world.repoGrants.filter((g) => g.repo !== '{r-api}');
    world.groups[0]!.members = [];
    world.failures.set('repository-permissions:{r-api}', new ConnectorError('forbidden', 'no access to api permissions', { endpoint: '/2.0/repositories/acme/api/permissions-config/users', httpStatus: 403, advice: 'use an admin credential' }));
    world.failures.set('groups', new ConnectorError('server_error', 'HTTP 503 after 5 retries', { endpoint: '/1.0/groups/acme/', httpStatus: 503, retryable: true }));
    const outcome = await sync();
    expect(outcome.status).toBe('partial');
    const removedNow = await sql<{ n: number }>`select (select count(*) from grants where removed_run = ${outcome.runId}) + (select count(*) from memberships where removed_run = ${outcome.runId}) as n`.execute(db);
    expect(Number(removedNow.rows[0]?.n)).toBe(0);
    const scopes = await db.selectFrom('sync_scopes').select(['scope', 'status', 'http_status', 'advice']).where('run_id', '=', outcome.runId).where('status', '<>', 'complete').orderBy('scope').execute();
    expect(scopes).toEqual([
      { scope: 'groups', status: 'failed', http_status: 503, advice: null },
      { scope: 'repository-permissions:{r-api}', status: 'not_covered', http_status: 403, advice: 'use an admin credential' },
    ]);
    expect(outcome.summary).toContain('could not be read');
  });

  it('a run stopped by a revoked token keeps its clean scopes and removes nothing else', async () => {
    const { db } = get();
    world.failures.clear();
    world.failures.set('repository-permissions:{r-infra}', new ConnectorError('unauthorized', 'token revoked', { endpoint: '/2.0/repositories/acme/infra/permissions-config/users', httpStatus: 401 }));
    const outcome = await sync();
    expect(outcome.status).toBe('failed');
    expect(outcome.error?.code).toBe('unauthorized');
    const integ = await db.selectFrom('integrations').select(['status', 'status_message']).where('id', '=', integration.id).executeTakeFirstOrThrow();
    expect(integ.status).toBe('revoked');
    const removedInfra = await sql<{ n: number }>`select count(*)::int as n from grants g join resources r on r.id = g.resource_id where r.handle = 'infra' and g.removed_run is not null`.execute(db);
    expect(removedInfra.rows[0]?.n).toBe(0);
    world.failures.clear();
    const recovered = await sync();
    expect(recovered.status).toBe('succeeded');
    const after = await db.selectFrom('integrations').select('status').where('id', '=', integration.id).executeTakeFirstOrThrow();
    expect(after.status).toBe('active');
  });

  it('refuses a second concurrent run of the same integration', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = runSync(get(), {
      integration,
      mode: 'full',
      trigger: 'test',
      connect: async () => {
        await gate;
        return fakeConnector(world);
      },
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await expect(sync()).rejects.toMatchObject({ code: 'sync_locked' });
    release();
    expect((await slow).status).toBe('succeeded');
  });
});

describeWithDb('a user who left while a listing of their grants failed', (get) => {
  it('stays known with that grant until the listing is read again, and then goes', async () => {
    const { db } = get();
    const integration = await db
      .insertInto('integrations')
      .values({ name: 'left-during-failure', kind: 'bitbucket-cloud', workspace: 'acme', base_url: 'http://127.0.0.1:1', credential_kind: 'api-token', schedule: null, options: '{}' })
      .returningAll()
      .executeTakeFirstOrThrow();
    const world = smallWorld();
    const sync = () => runSync(get(), { integration, mode: 'full', trigger: 'test', connect: async () => fakeConnector(world) });
    expect((await sync()).status).toBe('succeeded');
    const alice = async () =>
      (await effective(db, String(integration.id))).filter((l) => l.startsWith('{u-alice}'));

    // Alice leaves the member list and her group, keeping (as far as anyone can tell) her admin
    // grant on api, whose listing fails in this run: nothing read cleanly says that grant is gone.
    world.users = world.users.filter((u) => u.id !== '{u-alice}');
    world.groups[0]!.members = ['{u-bob}'];
    world.failures.set('repository-permissions:{r-api}', new ConnectorError('server_error', 'HTTP 503', { endpoint: '/x', httpStatus: 503, retryable: true }));
    const failed = await sync();
    expect(failed.status).toBe('partial');
    expect(await alice()).toEqual(['{u-alice} {r-api} direct admin']);
    const principal = await db.selectFrom('principals').select(['removed_run']).where('integration_id', '=', integration.id).where('external_id', '=', '{u-alice}').executeTakeFirstOrThrow();
    expect(principal.removed_run).toBeNull();
    // Her workspace membership was read (cleanly) as gone.
    const role = await sql<{ n: number }>`select count(*)::int as n from grants g join principals p on p.id = g.principal_id
      where p.external_id = '{u-alice}' and g.resource_kind = 'workspace' and g.removed_run is null and g.integration_id = ${integration.id}`.execute(db);
    expect(role.rows[0]?.n).toBe(0);

    // The listing is read again and no longer has her grant: now she is gone, with it.
    world.failures.clear();
    world.repoGrants = world.repoGrants.filter((g) => g.principal.id !== '{u-alice}');
    const clean = await sync();
    expect(clean.status).toBe('succeeded');
    expect(await alice()).toEqual([]);
    const after = await db.selectFrom('principals').select(['removed_run']).where('integration_id', '=', integration.id).where('external_id', '=', '{u-alice}').executeTakeFirstOrThrow();
    expect(String(after.removed_run)).toBe(clean.runId);
  });
});
