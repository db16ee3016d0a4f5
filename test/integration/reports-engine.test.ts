import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPORTS, type ReportOptions, listReports, writeEvidence } from '../../reports/index.ts';
import type { Integration } from '../../src/db/types.ts';
import { describeWithDb } from '../helpers/db.ts';
import type { SimUser } from '../../connectors/bitbucket-cloud/simulator/types.ts';
import { ConnectorError } from '../../src/errors.ts';
import { runSync } from '../../src/sync/runner.ts';
import { type HandWorkspace, type ReportRow as Row, addIntegration, captureReport, handTruth, reportRows, syncTruth, truthConnector } from './reports-helpers.ts';

/**
 * Reports over a small hand-written workspace whose every answer is worked out below by hand:
 * sync → report, then mutate → sync → report again, for history, as-of, changes, partial runs,
 * an in-flight run, the CSV contract and the evidence bundle.
 */

const KEY_ED = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGWlGOEuab+YwSr7zt7640Y/VehVI4K0RfsYIKzKhOao test@roster';
const KEY_ED_FP = 'SHA256:WBvfPgjAhvm6TIRtFJkgremejgSP9q+gBTao9q6XVb4'; // ssh-keygen -lf
const KEY_RSA =
  'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC6SaBHjLWle5LlNNwE/F9bu+5YCN8btwroKBNcnjjxmCbcND/ch5vblXZDOugZ8U7i2BEjwakYk/euMbmeQchulWiZgWf+nD02BF8CYiBqsBRklkasbgLgVSfk9cIqgVRRKaVC4QYKyIfg/xlzobxF8Vnaz3Hbh1ouFzQtQpttRw== old@ci';
const KEY_RSA_FP = 'SHA256:Hwni6AUqJvrP7esbKhfVR/UV9oXiAQSuDX2HLdjaIYw';
const KEY_STALE = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGxW+nJc24jzygdHAy3uIu8T8Rk6DvihNlozPk0Y4WPa stale';
const KEY_STALE_FP = 'SHA256:jGL7O1ImHWUva9R+lt7TmgtXXYfy2/7byWd2c3cp+g4';

const CMD = "=cmd|' /C calc'!A0";
const SMITH = 'Smith, "Jo"';

function world(): HandWorkspace {
  const user = (id: string, displayName: string, role: SimUser['role'], extra: Partial<SimUser & { member: boolean }> = {}) => ({
    uuid: `{u-${id}}`,
    accountId: `acc-${id}`,
    displayName,
    nickname: id,
    role,
    ...extra,
  });
  return {
    users: [
      user('owner', 'Olga Owner', 'owner'),
      user('alice', 'Alice Ng', 'member'),
      user('bob', SMITH, 'member'),
      user('carol', CMD, 'collaborator'),
      user('dan', '李雷', 'member'),
      user('eve', 'Eve Outsider', 'member', { member: false }),
      user('alex1', 'Alex Kim', 'member'),
      user('alex2', 'Alex Kim', 'member'),
    ],
    groups: [
      { slug: 'devs', name: 'Developers', memberUuids: ['{u-alice}', '{u-bob}'] },
      { slug: 'solo', name: '@Solo Team', memberUuids: ['{u-dan}'] },
      { slug: 'empty', name: 'Équipe Qualité', memberUuids: [] },
    ],
    projects: [
      { uuid: '{p-core}', key: 'CORE', name: 'Core' },
      { uuid: '{p-ops}', key: 'OPS', name: '-Ops Tools' },
    ],
    repos: [
      { uuid: '{r-api}', slug: 'api', name: 'api', projectKey: 'CORE' },
      { uuid: '{r-web}', slug: 'web', name: 'web', projectKey: 'CORE' },
      { uuid: '{r-infra}', slug: 'infra', name: 'infra', projectKey: 'OPS' },
    ],
    deployKeys: [
      { id: 11, label: 'jenkins', key: KEY_ED, comment: 'test@roster', repositoryUuid: '{r-api}', projectKey: null, createdOn: '2025-01-01T00:00:00+00:00', lastUsed: '2026-11-20T00:00:00+00:00' },
      { id: 12, label: '=old key', key: KEY_RSA, comment: 'old@ci', repositoryUuid: null, projectKey: 'OPS', createdOn: '2024-01-01T00:00:00+00:00', lastUsed: null },
      { id: 13, label: 'stale', key: KEY_STALE, comment: 'stale', repositoryUuid: '{r-web}', projectKey: null, createdOn: '2025-06-01T00:00:00+00:00', lastUsed: '2026-01-01T00:00:00+00:00' },
    ],
    projectUserGrants: [{ projectKey: 'OPS', userUuid: '{u-carol}', permission: 'create-repo' }],
    projectGroupGrants: [
      { projectKey: 'CORE', groupSlug: 'devs', permission: 'write' },
      { projectKey: 'OPS', groupSlug: 'empty', permission: 'read' },
    ],
    repoUserGrants: [
      { repoUuid: '{r-api}', userUuid: '{u-alice}', permission: 'admin' },
      { repoUuid: '{r-web}', userUuid: '{u-eve}', permission: 'read' },
    ],
    repoGroupGrants: [
      { repoUuid: '{r-infra}', groupSlug: 'solo', permission: 'write' },
      { repoUuid: '{r-infra}', groupSlug: 'devs', permission: 'read' },
    ],
  };
}

describeWithDb('reports over a hand-checked workspace', (get) => {
  const ws = world();
  const truth = handTruth(ws);
  const outsiders = () => ws.users.filter((u) => u.member === false);
  let integration: Integration;
  const runs: string[] = [];
  const NOW = new Date('2026-12-01T00:00:00Z');

  const capture = (name: string, options: Partial<ReportOptions> = {}) => captureReport(get().db, name, options);
  const json = (name: string, options: Partial<ReportOptions> = {}) => reportRows(get().db, name, options);
  const brief = (rows: Row[]) => rows.map((r) => `${String(r.resource)} ${String(r.principal_name)} ${String(r.permission)} [${(r.paths as Array<{ kind: string; grantedPermission: string; group: string | null; project: string | null }>).map((p) => `${p.kind}${p.project ? `:${p.project}` : ''}${p.group ? `:${p.group}` : ''}=${p.grantedPermission}`).join(' ')}] ${(r.flags as string[]).join(',')}`);

  beforeAll(async () => {
    integration = await addIntegration(get().db, 'acme');
    const outcome = await syncTruth(get(), integration, truth, { outsiders: outsiders() });
    expect(outcome.status).toBe('succeeded');
    runs.push(outcome.runId);
  });

  it('access-review: every principal on every resource, with every path and the review flags', async () => {
    const { rows, result } = await json('access-review');
    expect(result).toMatchObject({ report: 'access-review', rows: rows.length, runId: runs[0], warnings: [], coverageGaps: [] });
    expect(brief(rows)).toEqual([
      // The workspace: its member list and roles. Eve holds a grant but is not a member.
      `acme ${CMD} collaborator [workspace-role=collaborator] outside-workspace`,
      'acme Alex Kim member [workspace-role=member] ',
      'acme Alex Kim member [workspace-role=member] ',
      'acme Alice Ng member [workspace-role=member] ',
      'acme Olga Owner owner [workspace-role=owner] admin',
      `acme ${SMITH} member [workspace-role=member] `,
      'acme 李雷 member [workspace-role=member] ',
      // Projects: owners administer every project; the empty group's grant reaches nobody.
      'CORE Alice Ng write [group:devs=write] ',
      'CORE Olga Owner admin [workspace-owner=owner] admin',
      `CORE ${SMITH} write [group:devs=write] `,
      `OPS ${CMD} create-repo [direct=create-repo] individual-grant,outside-workspace`,
      'OPS Olga Owner admin [workspace-owner=owner] admin',
      'OPS =old key read [direct=read] machine-credential',
      // Repositories.
      'api Alice Ng admin [direct=admin project-group:CORE:devs=write] admin,individual-grant',
      'api Olga Owner admin [workspace-owner=owner] admin',
      `api ${SMITH} write [project-group:CORE:devs=write] `,
      'api jenkins read [direct=read] machine-credential',
      `infra ${CMD} write [project:OPS=create-repo] individual-grant,outside-workspace`,
      'infra Alice Ng read [group:devs=read] ',
      'infra Olga Owner admin [workspace-owner=owner] admin',
      `infra ${SMITH} read [group:devs=read] `,
      'infra 李雷 write [group:solo=write] single-use-group',
      'infra =old key read [project:OPS=read] machine-credential',
      'web Alice Ng write [project-group:CORE:devs=write] ',
      'web Eve Outsider read [direct=read] individual-grant,outside-workspace',
      'web Olga Owner admin [workspace-owner=owner] admin',
      `web ${SMITH} write [project-group:CORE:devs=write] `,
      'web stale read [direct=read] machine-credential',
    ]);
    const alice = rows.find((r) => r.resource === 'api' && r.principal_name === 'Alice Ng');
    expect(alice).toMatchObject({
      resource_kind: 'repository',
      resource_id: '{r-api}',
      project: 'CORE',
      principal_kind: 'user',
      principal_id: '{u-alice}',
      principal_handle: 'alice',
      account_id: 'acc-alice',
      workspace_role: 'member',
      path_count: 2,
      first_seen_run: runs[0],
      decision: '',
      reviewer: '',
      comment: '',
    });
    expect(alice?.first_seen).toMatch(/^\d{4}-\d\d-\d\dT/);
    const key = rows.find((r) => r.principal_name === 'jenkins');
    expect(key).toMatchObject({ principal_kind: 'deploy_key', principal_id: '11', workspace_role: null, flags: ['machine-credential'] });
  });

  it('CSV is RFC 4180 with formula neutralisation, and parses back with a CSV parser', async () => {
    const { text } = await capture('access-review', { format: 'csv', bom: true });
    expect(text.startsWith('\ufeffresource_kind,resource,')).toBe(true);
    expect(text).toContain('\r\n');
    expect(text.replace(/\r\n/g, '')).not.toContain('\n');
    expect(text).toContain('"Smith, ""Jo"""');
    const records = parse(text, { bom: true, columns: true, skip_empty_lines: false }) as Array<Record<string, string>>;
    const { rows } = await json('access-review');
    expect(records).toHaveLength(rows.length);
    const header = Object.keys(records[0] ?? {});
    expect(header).toEqual(Object.keys(rows[0] ?? {}));
    // Formula-looking cells are inert: a leading apostrophe, the rest unchanged.
    expect(records.filter((r) => r.principal_name === `'${CMD}`)).toHaveLength(3);
    expect(records.some((r) => r.principal_name === CMD)).toBe(false);
    expect(records.find((r) => r.resource === 'OPS' && r.principal_kind === 'deploy_key')?.principal_name).toBe("'=old key");
    expect(records.find((r) => r.resource === 'OPS' && r.principal_kind === 'user' && r.principal_handle === 'carol')).toBeDefined();
    // Quoting and unicode survive the round trip.
    expect(records.filter((r) => r.principal_name === SMITH)).toHaveLength(5);
    expect(records.filter((r) => r.principal_name === '李雷')).toHaveLength(2);
    const web = records.find((r) => r.resource === 'api' && r.principal_name === 'Alice Ng');
    expect(web?.paths).toBe('direct (admin); project:CORE group:devs (write)');
    expect(web?.flags).toBe('admin; individual-grant');
    for (const record of records) {
      for (const cell of Object.values(record)) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
    }
    // No BOM unless asked; JSON keeps values as they are.
    const plain = await capture('access-review', { format: 'csv' });
    expect(plain.text.startsWith('resource_kind,')).toBe(true);
    expect((await json('access-review')).rows.some((r) => r.principal_name === CMD)).toBe(true);
    // NDJSON: one object per line, same rows.
    const nd = await capture('access-review', { format: 'ndjson' });
    const lines = nd.text.trimEnd().split('\n');
    expect(lines.map((l) => JSON.parse(l) as Row)).toEqual(rows);
  });

  it('user-access resolves a user by uuid, account id, nickname or name, and says what to remove', async () => {
    for (const who of ['{u-alice}', 'u-alice', 'acc-alice', 'alice', 'Alice Ng', 'alice ng']) {
      const { rows } = await json('user-access', { user: who });
      expect(rows.map((r) => `${String(r.resource)} ${String(r.permission)}`)).toEqual(['acme member', 'CORE write', 'api admin', 'infra read', 'web write']);
    }
    const { rows } = await json('user-access', { user: 'alice' });
    expect(rows.find((r) => r.resource === 'api')?.to_remove).toEqual(['revoke repository permission on api (admin)', 'remove from group devs']);
    expect(rows.find((r) => r.resource === 'acme')?.to_remove).toEqual(['remove from workspace']);
    const carol = await json('user-access', { user: 'carol' });
    expect(carol.rows.find((r) => r.resource === 'infra')?.to_remove).toEqual(['revoke project permission on OPS (create-repo)']);
    await expect(json('user-access', { user: 'Alex Kim' })).rejects.toThrow(/matches 2 users by display name: \{u-alex1\}.*\{u-alex2\}/);
    await expect(json('user-access', { user: 'nobody' })).rejects.toThrow(/matches no user/);
    // Everyone, sorted by display name (byte order), then uuid; deploy keys are not people.
    const all = await json('user-access');
    expect([...new Set(all.rows.map((r) => r.principal_id))]).toEqual(['{u-carol}', '{u-alex1}', '{u-alex2}', '{u-alice}', '{u-eve}', '{u-owner}', '{u-bob}', '{u-dan}']);
  });

  it('privileged-access: owners, project and repository admins where granted, with admin counts', async () => {
    const { rows } = await json('privileged-access');
    expect(rows.map((r) => `${String(r.resource)} ${String(r.principal_name)} ${String(r.privilege)} ${(r.granted_by as string[]).join('+')} direct=${String(r.direct_admin_grant)} admins=${String(r.admins_on_resource)}`)).toEqual([
      'acme Olga Owner owner workspace-role (owner) direct=true admins=1',
      'api Alice Ng admin direct (admin) direct=true admins=2',
    ]);
  });

  it('machine-credentials: fingerprints, ages, last use and flags; the key body only when asked', async () => {
    const { rows, result: keysResult } = await json('machine-credentials', { now: NOW });
    expect(keysResult.notes).toEqual([expect.stringMatching(/workspace-level SSH keys/), expect.stringMatching(/access tokens/)]);
    expect(rows.map((r) => [r.credential_id, r.label, r.resource_kind, r.resource, r.repositories, r.fingerprint, r.key_type, r.age_days, r.days_since_last_used, r.flags, r.public_key])).toEqual([
      ['12', '=old key', 'project', 'OPS', 1, KEY_RSA_FP, 'ssh-rsa', 1065, null, ['never-used'], null],
      ['11', 'jenkins', 'repository', 'api', 1, KEY_ED_FP, 'ssh-ed25519', 699, 11, [], null],
      ['13', 'stale', 'repository', 'web', 1, KEY_STALE_FP, 'ssh-ed25519', 548, 334, ['unused-90-days'], null],
    ]);
    const csv = await capture('machine-credentials', { format: 'csv', now: NOW });
    expect(csv.text).not.toContain('AAAAC3NzaC1lZDI1NTE5');
    const withKeys = await json('machine-credentials', { now: NOW, includeKeyBody: true });
    expect(withKeys.rows.map((r) => r.public_key)).toEqual([KEY_RSA, KEY_ED, KEY_STALE]);
    await expect(json('access-review', { includeKeyBody: true })).rejects.toThrow(/does not take --include-key-body/);
  });

  it('groups: members and grants of every group, empty and unused ones flagged', async () => {
    const { rows } = await json('groups');
    expect(rows.map((r) => `${String(r.group)} ${String(r.row_type)} ${String(r.resource ?? r.member_name ?? '')} ${String(r.permission ?? '')} ${(r.flags as string[]).join(',')}`.trim())).toEqual([
      'devs group',
      'devs grant CORE write',
      'devs grant infra read',
      'devs member Alice Ng',
      `devs member ${SMITH}`,
      'empty group   no-members',
      'empty grant OPS read',
      'solo group',
      'solo grant infra write',
      'solo member 李雷',
    ]);
    expect(rows[0]).toMatchObject({ group_name: 'Developers', members: 2, grants: 2 });
  });

  it('access-changes and --as-of across sync → mutate → sync', async () => {
    const first = runs[0] as string;
    ws.groups[0]!.memberUuids = ['{u-alice}']; // bob leaves devs
    ws.repoUserGrants[0]!.permission = 'write'; // alice: admin → write on api
    ws.repos = ws.repos.filter((r) => r.slug !== 'web'); // web deleted, with its key
    ws.deployKeys = ws.deployKeys.filter((k) => k.id !== 13);
    ws.repoUserGrants = ws.repoUserGrants.filter((g) => g.repoUuid !== '{r-web}');
    ws.users.push({ uuid: '{u-frank}', accountId: 'acc-frank', displayName: 'Frank', nickname: 'frank', role: 'member' });
    ws.repoUserGrants.push({ repoUuid: '{r-api}', userUuid: '{u-frank}', permission: 'read' });
    ws.projectUserGrants[0]!.permission = 'admin'; // carol: create-repo → admin on OPS
    const outcome = await syncTruth(get(), integration, truth, { outsiders: outsiders() });
    expect(outcome.status).toBe('succeeded');
    runs.push(outcome.runId);
    const second = outcome.runId;

    const changes = await json('access-changes', { since: first });
    expect(changes.result.runId).toBe(second);
    expect(changes.rows.map((r) => `${String(r.run_id)} ${String(r.change)} ${String(r.resource_kind)}:${String(r.resource)} ${String(r.principal_name)} ${String(r.permission_before)}→${String(r.permission_after)} ${String(r.note)}`)).toEqual([
      `${second} granted workspace:acme Frank null→member null`,
      `${second} changed project:OPS ${CMD} create-repo→admin null`,
      `${second} changed repository:api Alice Ng admin→write null`,
      `${second} granted repository:api Frank null→read null`,
      // Eve was known only through her grant on web: with it gone, so is she.
      `${second} revoked repository:web Eve Outsider read→null user removed; repository removed`,
      `${second} revoked repository:web stale read→null deploy key removed; repository removed`,
      `${second} left-group group:devs ${SMITH} member→null null`,
    ]);
    // The same window by date; and from the beginning, the first run's grants are all "granted".
    const runRows = await get().db.selectFrom('sync_runs').select(['id', 'finished_at']).orderBy('id').execute();
    const firstFinished = runRows[0]?.finished_at as Date;
    expect((await json('access-changes', { since: new Date(firstFinished.getTime()) })).rows).toEqual(changes.rows);
    const upToFirst = await json('access-changes', { until: first });
    expect(upToFirst.rows.every((r) => r.run_id === first && (r.change === 'granted' || r.change === 'joined-group'))).toBe(true);
    expect(upToFirst.rows.filter((r) => r.change === 'joined-group')).toHaveLength(3);
    await expect(json('access-changes', { since: second, until: first })).rejects.toThrow(/before --since/);
    await expect(json('access-changes', { since: '999999' })).rejects.toThrow(/not a finished run/);

    // --as-of between the runs: the earlier state, with the earlier run's id.
    const asOf = new Date(firstFinished.getTime() + 1);
    const before = await json('access-review', { asOf });
    expect(before.result.runId).toBe(first);
    expect(brief(before.rows).filter((l) => l.startsWith('api Alice') || l.startsWith('web Eve'))).toEqual([
      'api Alice Ng admin [direct=admin project-group:CORE:devs=write] admin,individual-grant',
      'web Eve Outsider read [direct=read] individual-grant,outside-workspace',
    ]);
    const now = await json('access-review');
    expect(now.result.runId).toBe(second);
    expect(brief(now.rows).filter((l) => l.startsWith('api Alice') || l.startsWith('web '))).toEqual(['api Alice Ng write [direct=write project-group:CORE:devs=write] individual-grant']);
    // First seen: the earliest run since which one of the current paths has held — Alice's group path to api
    // is older than her changed direct grant; Frank arrived in the second run.
    expect(now.rows.find((r) => r.resource === 'api' && r.principal_name === 'Alice Ng')?.first_seen_run).toBe(first);
    expect(now.rows.find((r) => r.resource === 'acme' && r.principal_name === SMITH)?.first_seen_run).toBe(first);
    expect(now.rows.find((r) => r.resource === 'api' && r.principal_name === 'Frank')?.first_seen_run).toBe(second);
    const userBefore = await json('user-access', { user: 'bob', asOf });
    expect(userBefore.rows.map((r) => r.resource)).toEqual(['acme', 'CORE', 'api', 'infra', 'web']);
    const userNow = await json('user-access', { user: 'bob' });
    expect(userNow.rows.map((r) => r.resource)).toEqual(['acme']);
    const keysBefore = await json('machine-credentials', { asOf, now: NOW });
    expect(keysBefore.rows.map((r) => r.label)).toEqual(['=old key', 'jenkins', 'stale']);
    await expect(json('access-review', { asOf: new Date(firstFinished.getTime() - 60_000) })).rejects.toThrow(/had finished by .*first one finished/);
  });

  it('an in-flight run is invisible: rows it added or closed so far do not change the reports', async () => {
    const { db } = get();
    const before = (await json('access-review')).rows;
    const open = await db
      .insertInto('sync_runs')
      .values({ integration_id: integration.id, trigger: 'test', mode: 'full', status: 'running', counts: '{}' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const eve = await db.selectFrom('principals').select('id').where('external_id', '=', '{u-eve}').executeTakeFirstOrThrow();
    const api = await db.selectFrom('resources').select('id').where('external_id', '=', '{r-api}').executeTakeFirstOrThrow();
    const added = await db
      .insertInto('grants')
      .values({ integration_id: integration.id, principal_id: eve.id, resource_id: api.id, resource_kind: 'repository', permission: 'admin', scope: 'repository-permissions', first_seen_run: open.id, last_seen_run: open.id })
      .returning('id')
      .executeTakeFirstOrThrow();
    const closed = await sql<{ id: string }>`
      update grants set removed_run = ${open.id} where integration_id = ${integration.id} and removed_run is null and resource_kind = 'workspace' and permission = 'owner' returning id::text`.execute(db);
    expect(closed.rows).toHaveLength(1);
    try {
      const during = await json('access-review');
      expect(during.result.runId).toBe(runs[1]);
      expect(during.rows).toEqual(before);
    } finally {
      await db.deleteFrom('grants').where('id', '=', added.id).execute();
      await sql`update grants set removed_run = null where removed_run = ${open.id}`.execute(db);
      await db.deleteFrom('sync_runs').where('id', '=', open.id).execute();
    }
  });

  it('a partial run says so: warnings, coverage rows with where the data comes from, sync-status', async () => {
    const outcome = await syncTruth(get(), integration, truth, { outsiders: outsiders(), failStreams: ['groups'] });
    expect(outcome.status).toBe('partial');
    runs.push(outcome.runId);
    const review = await json('access-review');
    expect(review.result.runId).toBe(outcome.runId);
    expect(review.result.warnings).toEqual([expect.stringMatching(/^Partial: run \d+ of "acme" could not read 1 scope; /)]);
    expect(review.result.coverageGaps).toMatchObject([{ stream: 'groups', scope: 'groups', status: 'failed', kind: 'failure', httpStatus: 503, dataFromRun: runs[1] }]);
    // Memberships were not re-read, so they stay as the last clean read left them.
    expect(review.rows.some((r) => r.resource === 'infra' && r.principal_name === '李雷')).toBe(true);
    const coverage = await json('coverage');
    expect(coverage.rows).toMatchObject([
      { integration: 'acme', run_id: outcome.runId, run_status: 'partial', stream: 'groups', kind: 'failure', http_status: 503, error_code: 'server_error', data_from_run: runs[1] },
      // What no Bitbucket Cloud credential can list, said on every coverage report.
      { stream: 'workspace-ssh-keys', status: 'not_listable', kind: 'api-limit', message: expect.stringMatching(/cannot list workspace-level SSH keys, which grant read and write access to every repository/) },
      { stream: 'access-tokens', status: 'not_listable', kind: 'api-limit', message: expect.stringMatching(/cannot list repository, project or workspace access tokens/) },
    ]);
    expect(coverage.result.notes).toHaveLength(2);
    const status = await json('sync-status');
    expect(status.rows).toMatchObject([{ integration: 'acme', health: 'failing', last_run_id: outcome.runId, last_run_status: 'partial', scopes_failed: 1, credential_gaps: 0, users: 8 }]);
    expect(status.result.runId).toBeNull();
    // Stale data is a warning too, measured from the run's end to "now" (or to --as-of).
    const stale = await json('groups', { maxAgeMs: 3600_000, now: new Date(Date.now() + 3 * 86_400_000) });
    expect(stale.result.warnings[0]).toMatch(/^Stale: the data of "acme" is 3 days old/);
    // A clean run again.
    const clean = await syncTruth(get(), integration, truth, { outsiders: outsiders() });
    runs.push(clean.runId);
    expect((await json('groups')).result.warnings).toEqual([]);
  });

  it('writes an evidence bundle whose manifest and hashes verify', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'roster-evidence-'));
    const out = path.join(dir, 'bundle');
    const manifest = await writeEvidence(get().db, { format: 'csv', outDir: out, maxAgeMs: 1e15 });
    expect(manifest).toMatchObject({ kind: 'roster-evidence', integration: { name: 'acme', workspace: 'acme' }, run: { id: runs[3], status: 'succeeded' }, complete: true, warnings: [], coverageGaps: [], changes: { sinceRun: '0', untilRun: runs[3] } });
    // Complete, and still honest about what no credential can list.
    expect(manifest.apiLimits.map((l) => l.id)).toEqual(['workspace-ssh-keys', 'access-tokens']);
    expect(manifest.apiLimits.every((l) => l.source.startsWith('https://'))).toBe(true);
    expect(manifest.roster.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(manifest.files.map((f) => f.file)).toEqual(['access-review.csv', 'user-access.csv', 'privileged-access.csv', 'machine-credentials.csv', 'groups.csv', 'access-changes.csv', 'effective-access-changes.csv', 'coverage.csv', 'sync-status.csv']);
    for (const file of manifest.files) {
      const bytes = await fs.readFile(path.join(out, file.file));
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(file.sha256);
      expect(bytes.length).toBe(file.bytes);
      const records = parse(bytes, { columns: true }) as unknown[];
      expect(records).toHaveLength(file.rows);
      expect(file.runId).toBe(file.name === 'sync-status' ? null : runs[3]);
    }
    const manifestBytes = await fs.readFile(path.join(out, 'manifest.json'));
    expect(JSON.parse(manifestBytes.toString('utf8'))).toEqual(manifest);
    const sums = (await fs.readFile(path.join(out, 'SHA256SUMS'), 'utf8')).trim().split('\n');
    expect(sums).toHaveLength(manifest.files.length + 1);
    for (const line of sums) {
      const [hash, file] = line.split('  ');
      const bytes = await fs.readFile(path.join(out, file ?? ''));
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(hash);
    }
    // Tampering shows.
    await fs.appendFile(path.join(out, 'groups.csv'), 'x');
    expect(createHash('sha256').update(await fs.readFile(path.join(out, 'groups.csv'))).digest('hex')).not.toBe(manifest.files.find((f) => f.name === 'groups')?.sha256);
    await expect(writeEvidence(get().db, { format: 'csv', outDir: out })).rejects.toThrow(/is not empty/);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('rejects what it cannot answer, with the fix in the message', async () => {
    await expect(json('no-such-report')).rejects.toThrow(/Unknown report "no-such-report". Reports: access-review/);
    await expect(json('groups', { user: 'alice' })).rejects.toThrow(/groups does not take --user \(it takes --as-of\)/);
    await expect(json('groups', { integration: 'nope' })).rejects.toThrow(/No integration named "nope". Known: acme/);
    await addIntegration(get().db, 'second', 'other');
    await expect(json('groups')).rejects.toThrow(/Several integrations are configured; choose one with --integration: acme, second/);
    await expect(json('groups', { integration: 'second' })).rejects.toThrow(/No sync of "second" has finished yet/);
    const status = await json('sync-status');
    expect(status.rows.map((r) => [r.integration, r.health])).toEqual([
      ['acme', 'healthy'],
      ['second', 'stale'],
    ]);
    expect((await json('groups', { integration: 'acme' })).rows.length).toBeGreaterThan(0);
  });

  it('never calls anyone an outsider when the member list could not be read', async () => {
    const blind = await addIntegration(get().db, 'no-members');
    const outcome = await syncTruth(get(), blind, handTruth(world()), { outsiders: outsiders(), failStreams: ['members'] });
    expect(outcome.status).toBe('partial');
    const { rows, result } = await json('access-review', { integration: 'no-members' });
    expect(result.warnings[0]).toMatch(/^Partial: run \d+ of "no-members"/);
    const users = rows.filter((r) => r.principal_kind === 'user');
    expect(users.length).toBeGreaterThan(5);
    expect(users.every((r) => r.workspace_role === null && !(r.flags as string[]).includes('outside-workspace'))).toBe(true);
  });
});

describe('report --list and the README', () => {
  it('the README documents every report and every column', async () => {
    const readme = await fs.readFile(new URL('../../reports/README.md', import.meta.url), 'utf8');
    for (const def of REPORTS) {
      const section = readme.slice(readme.indexOf(`## \`${def.name}\``));
      expect(section.length).toBeLessThan(readme.length);
      const table = section.slice(0, section.indexOf('Example:'));
      for (const c of def.columns({ format: 'csv' })) expect(table).toContain(`| \`${c.name}\` |`);
      const example = section.slice(section.indexOf('Example:'), section.indexOf('```\n', section.indexOf('Example:') + 12));
      expect(example).toContain(`$ roster report ${def.name}`);
      // CSV examples start with the report's exact header.
      if (!example.includes('--format json')) expect(example).toContain(def.columns({ format: 'csv' }).map((c) => c.name).join(','));
    }
  });

  it('describes every report and its columns', () => {
    const text = listReports();
    for (const name of ['access-review', 'user-access', 'privileged-access', 'machine-credentials', 'groups', 'access-changes', 'coverage', 'sync-status', 'evidence']) {
      expect(text).toContain(`${name} — `);
    }
    expect(text).toMatch(/Columns:\n {4}resource_kind +workspace, project or repository/);
  });
});

describeWithDb('a run that failed before reading anything', (get) => {
  it('coverage lists every listing as not read (with the run\'s error), not only what no API can list', async () => {
    const truth = handTruth(world());
    const integration = await addIntegration(get().db, 'revoked');
    const first = await syncTruth(get(), integration, truth);
    expect(first.status).toBe('succeeded');
    const listings = (await get().db.selectFrom('sync_scopes').select('scope').where('run_id', '=', first.runId).execute()).map((s) => s.scope).sort();
    expect(listings.length).toBeGreaterThan(5);
    // The credential was revoked: the very first request fails, before any listing is planned.
    const base = truthConnector(truth);
    const revoked = await runSync(get(), {
      integration,
      mode: 'full',
      trigger: 'test',
      connect: async () => ({ ...base, detectCapabilities: async () => { throw new ConnectorError('unauthorized', 'Bitbucket answered 401: the API token was revoked', { endpoint: '/2.0/user' }); } }),
    });
    expect(revoked.status).toBe('failed');
    const coverage = await reportRows(get().db, 'coverage', { integration: 'revoked' });
    const notRead = coverage.rows.filter((r) => r.kind !== 'api-limit');
    expect(notRead.map((r) => String(r.scope)).sort()).toEqual(listings);
    expect(notRead.every((r) => r.run_id === revoked.runId && r.status === 'failed' && r.kind === 'failure' && r.error_code === 'unauthorized' && r.data_from_run === first.runId)).toBe(true);
    expect(String(notRead[0]?.message)).toMatch(/401: the API token was revoked/);
    expect(coverage.rows.filter((r) => r.kind === 'api-limit')).toHaveLength(2);
    // The evidence warnings say it too: every listing is a coverage gap of this run.
    expect(coverage.result.coverageGaps).toHaveLength(listings.length);
  });
});
