import { beforeAll, expect, it } from 'vitest';
import type { ReportOptions } from '../../reports/index.ts';
import type { Integration } from '../../src/db/types.ts';
import type { Batch, Connector } from '../../src/interfaces.ts';
import { removeIntegration } from '../../src/db/integrations.ts';
import { runSync } from '../../src/sync/runner.ts';
import { describeWithDb } from '../helpers/db.ts';
import { type HandWorkspace, type ReportRow, addIntegration, captureReport, handTruth, reportRows, syncTruth, truthConnector } from './reports-helpers.ts';

/**
 * A report `--as-of` a run says what the same report said at that run, whatever changed since:
 * repositories moved between projects, renamed and made public or private, people who left and came
 * back, renamed, promoted — everything that decides access or names a row is versioned by run.
 */

const NOW = new Date('2026-12-01T00:00:00Z');
const AS_OF_REPORTS = ['access-review', 'user-access', 'privileged-access', 'machine-credentials', 'groups', 'access-changes', 'coverage'] as const;

function world(): HandWorkspace {
  const user = (id: string, displayName: string, role: 'owner' | 'member') => ({ uuid: `{u-${id}}`, accountId: `acc-${id}`, displayName, nickname: id, role });
  return {
    users: [user('olga', 'Olga Owner', 'owner'), user('alice', 'Alice Ng', 'member'), user('bob', 'Bob Stone', 'member'), user('dan', 'Dan Wu', 'member')],
    groups: [
      { slug: 'core-devs', name: 'Core developers', memberUuids: ['{u-alice}', '{u-bob}'] },
      { slug: 'ops', name: 'Operations', memberUuids: ['{u-dan}'] },
    ],
    projects: [
      { uuid: '{p-core}', key: 'CORE', name: 'Core' },
      { uuid: '{p-ops}', key: 'OPS', name: 'Ops' },
    ],
    repos: [
      { uuid: '{r-api}', slug: 'api', name: 'api', projectKey: 'CORE', isPrivate: true },
      { uuid: '{r-web}', slug: 'web', name: 'web', projectKey: 'CORE', isPrivate: true },
      { uuid: '{r-infra}', slug: 'infra', name: 'infra', projectKey: 'OPS', isPrivate: true },
    ],
    deployKeys: [
      { id: 21, label: 'ci', key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGWlGOEuab+YwSr7zt7640Y/VehVI4K0RfsYIKzKhOao ci', comment: 'ci', repositoryUuid: null, projectKey: 'OPS', createdOn: '2025-01-01T00:00:00+00:00', lastUsed: '2026-10-01T00:00:00+00:00' },
    ],
    projectUserGrants: [],
    projectGroupGrants: [
      { projectKey: 'CORE', groupSlug: 'core-devs', permission: 'write' },
      { projectKey: 'OPS', groupSlug: 'ops', permission: 'admin' },
    ],
    repoUserGrants: [{ repoUuid: '{r-web}', userUuid: '{u-dan}', permission: 'read' }],
    repoGroupGrants: [],
  };
}

describeWithDb('reports as of any run reproduce what they said then', (get) => {
  const ws = world();
  const truth = handTruth(ws);
  let integration: Integration;
  const runs: Array<{ id: string; finishedAt: Date; said: Map<string, string> }> = [];
  const repo = (slug: string) => ws.repos.find((r) => r.slug === slug) as HandWorkspace['repos'][number] & { isPrivate: boolean };
  const user = (id: string) => ws.users.find((u) => u.uuid === `{u-${id}}`) as HandWorkspace['users'][number];

  const everything = async (options: Partial<ReportOptions>): Promise<Map<string, string>> => {
    const said = new Map<string, string>();
    for (const name of AS_OF_REPORTS) said.set(name, (await captureReport(get().db, name, { now: NOW, format: 'csv', ...options })).text);
    return said;
  };
  const sync = async (): Promise<void> => {
    const outcome = await syncTruth(get(), integration, truth);
    expect(outcome.status).toBe('succeeded');
    const row = await get().db.selectFrom('sync_runs').select('finished_at').where('id', '=', outcome.runId).executeTakeFirstOrThrow();
    runs.push({ id: outcome.runId, finishedAt: row.finished_at as Date, said: await everything({}) });
  };
  const review = async (options: Partial<ReportOptions> = {}) => (await reportRows(get().db, 'access-review', { now: NOW, ...options })).rows;
  const line = (r: ReportRow) => `${String(r.resource)} ${String(r.project)} ${String(r.principal_name)} ${String(r.permission)} ${(r.flags as string[]).join(',')}`;

  beforeAll(async () => {
    integration = await addIntegration(get().db, 'acme');
    await sync(); // run 1
    // Run 2: api moves from CORE to OPS, web is renamed, infra becomes public, Bob leaves the workspace,
    // Alice is renamed, the deploy key is used.
    repo('api').projectKey = 'OPS';
    Object.assign(repo('web'), { slug: 'web-app', name: 'Web App' });
    repo('infra').isPrivate = false;
    ws.users = ws.users.filter((u) => u.uuid !== '{u-bob}');
    ws.groups[0]!.memberUuids = ['{u-alice}'];
    user('alice').displayName = 'Alice Ng-Meyer';
    ws.deployKeys[0]!.lastUsed = '2026-11-30T00:00:00+00:00';
    await sync();
    // Run 3: Bob comes back (the same account), Alice becomes owner, infra is private again, api goes back.
    ws.users.push({ uuid: '{u-bob}', accountId: 'acc-bob', displayName: 'Bob Stone', nickname: 'bob', role: 'member' });
    user('alice').role = 'owner';
    repo('infra').isPrivate = true;
    repo('api').projectKey = 'CORE';
    await sync();
    await sync(); // run 4: nothing changed
  });

  it('every report as of each run equals what it said at that run', async () => {
    expect(runs).toHaveLength(4);
    for (const run of runs) {
      const again = await everything({ asOf: run.finishedAt });
      for (const name of AS_OF_REPORTS) expect({ run: run.id, report: name, text: again.get(name) }).toEqual({ run: run.id, report: name, text: run.said.get(name) });
    }
  });

  it('a moved repository keeps the paths of the project it was in', async () => {
    const [r1, r2, r3] = runs;
    const api = (rows: ReportRow[]) => rows.filter((r) => r.resource === 'api').map(line);
    expect(api(await review({ asOf: r1?.finishedAt }))).toEqual([
      'api CORE Alice Ng write ',
      'api CORE Bob Stone write ',
      'api CORE Olga Owner admin admin',
    ]);
    // In OPS: its group and project deploy key reach api; CORE's developers no longer do.
    const inOps = await review({ asOf: r2?.finishedAt });
    expect(api(inOps)).toEqual(['api OPS Dan Wu admin admin,single-use-group', 'api OPS Olga Owner admin admin', 'api OPS ci read machine-credential']);
    // Back in CORE: Alice (now Alice Ng-Meyer, and owner) is admin; Bob came back but not into core-devs.
    expect(api(await review({ asOf: r3?.finishedAt }))).toEqual(['api CORE Alice Ng-Meyer admin admin', 'api CORE Olga Owner admin admin']);
  });

  it('a public repository is readable by anyone while it is public, and names are as they were', async () => {
    const [r1, r2, r3] = runs;
    const anyone = (rows: ReportRow[]) => rows.filter((r) => r.principal_kind === 'anyone').map((r) => `${String(r.resource)} ${String(r.permission)} ${(r.flags as string[]).join(',')} ${String(r.first_seen_run)}`);
    expect(anyone(await review({ asOf: r1?.finishedAt }))).toEqual([]);
    expect(anyone(await review({ asOf: r2?.finishedAt }))).toEqual([`infra read public ${r2?.id}`]);
    expect(anyone(await review({ asOf: r3?.finishedAt }))).toEqual([]);
    const names = (rows: ReportRow[]) => [...new Set(rows.filter((r) => r.resource_kind === 'repository').map((r) => `${String(r.resource)}=${String(r.resource_name)}`))];
    expect(names(await review({ asOf: r1?.finishedAt }))).toEqual(['api=api', 'infra=infra', 'web=web']);
    expect(names(await review({ asOf: r2?.finishedAt }))).toEqual(['api=api', 'infra=infra', 'web-app=Web App']);
  });

  it('someone who left and came back was absent in between, and both changes are listed', async () => {
    const [r1, r2, r3] = runs;
    const bob = async (asOf: Date | undefined) => (await reportRows(get().db, 'user-access', { now: NOW, asOf, user: '{u-bob}' })).rows.map((r) => String(r.resource));
    expect(await bob(r1?.finishedAt)).toEqual(['acme', 'CORE', 'api', 'web']);
    expect(await bob(r2?.finishedAt)).toEqual([]);
    expect(await bob(r3?.finishedAt)).toEqual(['acme']);
    const changes = (await reportRows(get().db, 'access-changes', { now: NOW, since: r1?.id, until: r3?.id })).rows
      .filter((r) => r.principal_id === '{u-bob}')
      .map((r) => `${String(r.run_id)} ${String(r.change)} ${String(r.resource)} ${String(r.note)}`);
    expect(changes).toEqual([`${r2?.id} revoked acme user removed`, `${r2?.id} left-group core-devs user removed`, `${r3?.id} granted acme null`]);
  });
});

describeWithDb('one record the database cannot store as given', (get) => {
  it('a NUL character in a name is replaced, the run succeeds and says which record changed', async () => {
    const ws = world();
    ws.users[1]!.displayName = 'Alice\u0000Ng';
    const integration = await addIntegration(get().db, 'nul');
    const outcome = await syncTruth(get(), integration, handTruth(ws));
    expect(outcome.status).toBe('succeeded');
    expect(outcome.summary).toMatch(/1 record was stored with characters replaced.*user \{u-alice\}/);
    const notices = await get().db.selectFrom('sync_notices').selectAll().where('run_id', '=', outcome.runId).execute();
    expect(notices.map((n) => `${n.kind} ${n.record_kind} ${n.record_id} ${n.detail}`)).toEqual(['sanitized user {u-alice} displayName: NUL or unpaired surrogate characters replaced by U+FFFD']);
    const rows = (await reportRows(get().db, 'user-access', { integration: 'nul', user: '{u-alice}' })).rows;
    expect(rows[0]?.principal_name).toBe('Alice\uFFFDNg');
  });

  it('a grant naming a user nobody listed fails only its scope, naming the record', async () => {
    const ws = world();
    const integration = await addIntegration(get().db, 'dangling');
    const base = truthConnector(handTruth(ws));
    const connector: Connector = {
      ...base,
      streams: base.streams.map((s) =>
        s.name !== 'repository-permissions'
          ? s
          : {
              ...s,
              read: async function* (scope, ctx): AsyncGenerator<Batch> {
                for await (const batch of s.read(scope, ctx)) yield { ...batch, grants: [...(batch.grants ?? []), { principal: { kind: 'user', externalId: '{u-ghost}' }, resource: { kind: 'repository', externalId: '{r-api}' }, permission: 'admin' }] };
              },
            },
      ),
    };
    const outcome = await runSync(get(), { integration, mode: 'full', trigger: 'test', connect: async () => connector });
    expect(outcome.status).toBe('partial');
    const scopes = await get().db.selectFrom('sync_scopes').select(['scope', 'status', 'message']).where('run_id', '=', outcome.runId).orderBy('scope').execute();
    expect(scopes.filter((s) => s.status !== 'complete')).toEqual([
      { scope: 'repository-permissions', status: 'failed', message: expect.stringMatching(/admin grant of user \{u-ghost\} on repository \{r-api\} in scope repository-permissions \(no user \{u-ghost\} was listed or referenced\)/) },
    ]);
    expect(scopes.filter((s) => s.status === 'complete').map((s) => s.scope)).toEqual(['deploy-keys', 'groups', 'members', 'project-permissions', 'projects', 'repositories', 'workspace']);
  });
});

describeWithDb('removing an integration after syncs with history', (get) => {
  it('takes every row of it along, versions and notices included, and leaves other integrations alone', async () => {
    const ws = world();
    const truth = handTruth(ws);
    const gone = await addIntegration(get().db, 'to-remove');
    const kept = await addIntegration(get().db, 'to-keep');
    expect((await syncTruth(get(), gone, truth)).status).toBe('succeeded');
    expect((await syncTruth(get(), kept, truth)).status).toBe('succeeded');
    ws.repos[0]!.projectKey = 'OPS'; // a new version with another parent
    ws.users[1]!.displayName = 'Alice\u0000Renamed'; // a notice
    expect((await syncTruth(get(), gone, truth)).status).toBe('succeeded');
    await removeIntegration(get().db, 'to-remove');
    for (const table of ['principals', 'resources', 'principal_versions', 'resource_versions', 'grants', 'memberships', 'sync_runs'] as const) {
      const left = await get().db.selectFrom(table).select('integration_id').where('integration_id', '=', gone.id).execute();
      expect({ table, left: left.length }).toEqual({ table, left: 0 });
    }
    const stillThere = (await reportRows(get().db, 'access-review', { integration: 'to-keep' })).rows;
    expect(stillThere.length).toBeGreaterThan(0);
  });
});
