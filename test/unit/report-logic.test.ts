import { describe, expect, it } from 'vitest';
import { BITBUCKET_CLOUD_MODEL } from '../../connectors/bitbucket-cloud/model.ts';
import { type AccessDbRow, accessFlags, accessRules, pathLabel, toAccessRow } from '../../reports/access.ts';
import { chooseRun, formatDuration, resolveBound, stateWarnings } from '../../reports/context.ts';
import { REPORTS, listReports } from '../../reports/index.ts';
import { sshFingerprint } from '../../reports/machine-credentials.ts';
import { findReport } from '../../reports/registry.ts';
import { checkOptions } from '../../reports/run.ts';
import type { CoverageGapInfo, RunInfo } from '../../reports/types.ts';
import { removalFor } from '../../reports/user-access.ts';
import type { Integration } from '../../src/db/types.ts';

const dbRow = (paths: Array<Partial<Record<'kind' | 'permission' | 'granted' | 'group' | 'project' | 'firstSeen', string>> & { singleUse?: boolean }>, extra: Partial<AccessDbRow> = {}): AccessDbRow => ({
  resource_id: '10',
  resource_kind: 'repository',
  resource_external_id: '{r}',
  resource_handle: 'api',
  resource_name: 'api',
  resource_implicit: [],
  project_handle: 'CORE',
  principal_id: '20',
  principal_kind: 'user',
  principal_external_id: '{u}',
  principal_name: 'U',
  principal_handle: 'u',
  account_id: null,
  workspace_role: 'member',
  admins_on_resource: null,
  paths: paths.map((p) => [p.kind ?? 'direct', p.permission ?? 'read', p.granted ?? p.permission ?? 'read', p.group ?? null, p.group ?? null, p.project ?? null, p.project ?? null, p.firstSeen ?? '1', p.singleUse ?? null]),
  ...extra,
});

const RULES = accessRules(BITBUCKET_CLOUD_MODEL);

describe('access rows', () => {
  it('takes the highest permission, the earliest first-seen run (numerically), and sorts paths', () => {
    const row = toAccessRow(
      dbRow([
        { kind: 'workspace-owner', permission: 'admin', granted: 'owner', firstSeen: '9' },
        { kind: 'project-group', permission: 'write', granted: 'create-repo', group: 'devs', project: 'CORE', firstSeen: '10', singleUse: false },
        { kind: 'direct', permission: 'read', firstSeen: '100' },
      ]),
      RULES,
    );
    expect(row.permission).toBe('admin');
    expect(row.first_seen_run).toBe('9');
    expect(row.paths.map(pathLabel)).toEqual(['direct (read)', 'project:CORE group:devs (create-repo)', 'workspace-owner (owner)']);
    expect(accessFlags(row)).toEqual(['admin', 'individual-grant']);
  });

  it('flags access held only through groups with no other member and no other grant, and users outside the member list', () => {
    const single = toAccessRow(dbRow([{ kind: 'group', permission: 'write', group: 'solo', singleUse: true }]), RULES);
    expect(accessFlags(single)).toEqual(['single-use-group']);
    const mixed = toAccessRow(dbRow([{ kind: 'group', permission: 'write', group: 'solo', singleUse: true }, { kind: 'group', permission: 'read', group: 'all', singleUse: false }]), RULES);
    expect(accessFlags(mixed)).toEqual([]);
    const outsider = toAccessRow(dbRow([{ kind: 'project', permission: 'write', granted: 'create-repo', project: 'OPS' }], { workspace_role: null }), RULES);
    expect(accessFlags(outsider)).toEqual(['individual-grant', 'outside-workspace']);
    // Without a member list (the credential could not read it), nobody is said to be outside it.
    expect(accessFlags(outsider, { memberListKnown: false })).toEqual(['individual-grant']);
    // Bitbucket's former collaborator role (gone from its API since June 2022), in data synced before.
    const guest = toAccessRow(dbRow([{ kind: 'direct', permission: 'read' }], { workspace_role: 'collaborator' }), RULES);
    expect(accessFlags(guest)).toEqual(['individual-grant', 'outside-workspace']);
    const key = toAccessRow(dbRow([{ kind: 'direct', permission: 'read' }], { principal_kind: 'deploy_key', workspace_role: null }), RULES);
    expect(accessFlags(key)).toEqual(['machine-credential']);
    const onPublic = toAccessRow(dbRow([{ kind: 'group', permission: 'admin', group: 'all' }], { resource_implicit: ['public'] }), RULES);
    expect(accessFlags(onPublic)).toEqual(['admin', 'public']);
    const anyone = toAccessRow(dbRow([{ kind: 'public', permission: 'read' }], { resource_implicit: ['public'], principal_id: null, principal_kind: 'anyone', principal_external_id: null, workspace_role: null }), RULES);
    expect(accessFlags(anyone)).toEqual(['public']);
    expect(anyone.paths.map(pathLabel)).toEqual(['public (read)']);
  });

  it('says what to remove for each path (offboarding)', () => {
    const row = toAccessRow(dbRow([{ kind: 'direct', permission: 'admin' }, { kind: 'project-group', permission: 'write', group: 'devs', project: 'CORE' }, { kind: 'workspace-owner', permission: 'admin', granted: 'owner' }]), RULES);
    const rendered = { ...row, firstSeen: null, flags: [], runs: new Map<string, RunInfo>() };
    expect(row.paths.map((p) => removalFor(rendered, p))).toEqual(['revoke repository permission on api (admin)', 'remove from group devs', 'remove workspace owner role']);
  });
});

describe('deploy key fingerprints', () => {
  it('match ssh-keygen -lf', () => {
    expect(sshFingerprint('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGWlGOEuab+YwSr7zt7640Y/VehVI4K0RfsYIKzKhOao test@roster')).toBe('SHA256:WBvfPgjAhvm6TIRtFJkgremejgSP9q+gBTao9q6XVb4');
    expect(
      sshFingerprint(
        'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC6SaBHjLWle5LlNNwE/F9bu+5YCN8btwroKBNcnjjxmCbcND/ch5vblXZDOugZ8U7i2BEjwakYk/euMbmeQchulWiZgWf+nD02BF8CYiBqsBRklkasbgLgVSfk9cIqgVRRKaVC4QYKyIfg/xlzobxF8Vnaz3Hbh1ouFzQtQpttRw==',
      ),
    ).toBe('SHA256:Hwni6AUqJvrP7esbKhfVR/UV9oXiAQSuDX2HLdjaIYw');
    expect(sshFingerprint('not a key')).toBeNull();
    expect(sshFingerprint('')).toBeNull();
  });
});

describe('runs and bounds', () => {
  const run = (id: string, finished: string, status: RunInfo['status'] = 'succeeded'): RunInfo => ({ id, integrationId: '1', status, startedAt: new Date(Date.parse(finished) - 60_000), finishedAt: new Date(finished) });
  const runs = [run('3', '2026-11-01T00:00:00Z'), run('7', '2026-11-02T00:00:00Z', 'partial'), run('12', '2026-11-03T00:00:00Z')];
  const integration = { name: 'acme', credential_kind: 'api-token', status: 'active', status_message: null } as Integration;

  it('chooses the latest finished run, or the latest finished by --as-of', () => {
    expect(chooseRun(runs, integration, undefined).id).toBe('12');
    expect(chooseRun(runs, integration, new Date('2026-11-02T12:00:00Z')).id).toBe('7');
    expect(chooseRun(runs, integration, new Date('2026-11-02T00:00:00Z')).id).toBe('7');
    expect(() => chooseRun(runs, integration, new Date('2026-10-01T00:00:00Z'))).toThrow(/had finished by 2026-10-01T00:00:00.000Z; the first one finished at 2026-11-01T00:00:00.000Z \(run 3\)/);
    expect(() => chooseRun([], integration, undefined)).toThrow(/No sync of "acme" has finished yet/);
  });

  it('reads --since/--until as a run id or a time', () => {
    expect(resolveBound(runs, '7', '--since')).toBe('7');
    expect(resolveBound(runs, new Date('2026-11-02T06:00:00Z'), '--since')).toBe('7');
    expect(resolveBound(runs, '2026-11-03T00:00:00Z', '--until')).toBe('12');
    expect(resolveBound(runs, new Date('2020-01-01T00:00:00Z'), '--since')).toBe('0');
    expect(() => resolveBound(runs, '8', '--since')).toThrow(/--since: run 8 is not a finished run of this integration \(finished runs: 3, 7, 12\)/);
    expect(() => resolveBound(runs, 'yesterday', '--until')).toThrow(/--until: "yesterday" is neither a run id nor a date/);
  });

  it('warns about stale data, partial runs and credential gaps', () => {
    const gap = (kind: CoverageGapInfo['kind'], label: string): CoverageGapInfo => ({ integration: 'acme', runId: '7', stream: 's', scope: label, label, status: 'not_covered', kind, endpoint: null, httpStatus: null, errorCode: null, message: null, advice: null, dataFromRun: null, dataFromRunFinishedAt: null });
    const partial = runs[1] as RunInfo;
    const warnings = stateWarnings({ integration, run: partial, gaps: [gap('failure', 'acme/api'), gap('credential-gap', 'groups')], now: new Date('2026-11-05T00:00:00Z'), asOf: undefined, maxAgeMs: 26 * 3600_000 });
    expect(warnings).toEqual([
      'Stale: the data of "acme" is 3 days old (run 7 finished 2026-11-02T00:00:00.000Z; limit 26 h). Run roster sync.',
      'Partial: run 7 of "acme" could not read 1 scope; for those the report shows what an earlier run read (see coverage).',
      'Not covered: the api-token credential of "acme" cannot read groups; access through them is missing from this report (see coverage for the credential that would read them).',
    ]);
    expect(stateWarnings({ integration, run: runs[2] as RunInfo, gaps: [], now: new Date('2026-11-03T01:00:00Z'), asOf: undefined, maxAgeMs: 26 * 3600_000 })).toEqual([]);
    expect(formatDuration(1000)).toBe('1 s');
    expect(formatDuration(5 * 60_000)).toBe('5 min');
    expect(formatDuration(30 * 3600_000)).toBe('30 h');
  });
});

describe('the registry', () => {
  it('lists every report with unique, described columns', () => {
    const text = listReports();
    for (const def of REPORTS) {
      const names = def.columns({ format: 'csv' }).map((c) => c.name);
      expect(new Set(names).size).toBe(names.length);
      for (const c of def.columns({ format: 'csv' })) {
        expect(c.name).toMatch(/^[a-z][a-z0-9_]*$/);
        expect(c.description.length).toBeGreaterThan(3);
      }
      expect(text).toContain(`${def.name} — ${def.title}`);
    }
  });

  it('rejects options a report does not take, and unknown formats', () => {
    expect(() => checkOptions(findReport('access-review'), { format: 'csv', since: '3' })).toThrow('access-review does not take --since (it takes --as-of, --dormant-days, --domains)');
    expect(() => checkOptions(findReport('sync-status'), { format: 'csv', asOf: new Date() })).toThrow('sync-status does not take --as-of.');
    expect(() => checkOptions(findReport('groups'), { format: 'xml' as 'csv' })).toThrow('Unknown format "xml"');
    expect(() => checkOptions(findReport('groups'), { format: 'json', bom: true })).toThrow('applies to CSV only');
    expect(() => checkOptions(findReport('user-access'), { format: 'csv', user: 'x', asOf: new Date(), includeKeyBody: false, bom: false })).not.toThrow();
    expect(() => findReport('nope')).toThrow(/Unknown report "nope"/);
  });
});
