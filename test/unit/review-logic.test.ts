import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type PathJson, accessRules } from '../../reports/access.ts';
import { BITBUCKET_CLOUD_MODEL } from '../../connectors/bitbucket-cloud/model.ts';
import { type AccessState, type WindowFacts, changeCauses, compareStates } from '../../reports/effective-access-changes.ts';
import { type Candidate, chooseReviewer } from '../../src/review/assign.ts';
import type { ItemView } from '../../src/review/columns.ts';
import { chainHash, decisionWords, lowerPermissions, parseDecision, verifyChain } from '../../src/review/decisions.ts';
import { detectDelimiter, readCsv, unescapeCell } from '../../src/review/files.ts';
import { parseMappingFile } from '../../src/review/mapping-file.ts';
import { remediationChanges, satisfied } from '../../src/review/remediation.ts';
import { isEmail, matchCampaignReviewer } from '../../src/review/reviewers.ts';
import type { ReviewerInfo } from '../../src/review/types.ts';

describe('decision words', () => {
  it('keep, revoke, and reduce only to a lower permission of the resource kind', () => {
    const repository = BITBUCKET_CLOUD_MODEL.resources.repository?.ladder ?? [];
    const project = BITBUCKET_CLOUD_MODEL.resources.project?.ladder ?? [];
    const workspace = BITBUCKET_CLOUD_MODEL.resources.workspace?.ladder ?? [];
    expect(lowerPermissions(repository, 'admin')).toEqual(['read', 'write']);
    expect(lowerPermissions(project, 'admin')).toEqual(['read', 'write', 'create-repo']);
    expect(lowerPermissions(repository, 'read')).toEqual([]);
    expect(lowerPermissions(repository, 'something-new')).toEqual([]);
    expect(decisionWords(repository, 'write')).toEqual(['keep', 'revoke', 'reduce:read']);
    expect(parseDecision(' Keep ', 'repository', repository, 'read')).toEqual({ ok: true, value: { decision: 'keep', reduceTo: null } });
    expect(parseDecision('REDUCE : read', 'repository', repository, 'admin')).toEqual({ ok: true, value: { decision: 'reduce', reduceTo: 'read' } });
    expect(parseDecision('reduce:write', 'repository', repository, 'write')).toMatchObject({ ok: false, message: 'reduce:write is not lower than write (the access held on this repository)', fix: 'write reduce:read, or revoke' });
    expect(parseDecision('reduce:', 'repository', repository, 'write')).toMatchObject({ ok: false, message: '"reduce:" names no permission to reduce to' });
    expect(parseDecision('approve', 'workspace', workspace, 'owner')).toMatchObject({ ok: false, fix: 'write one of keep, revoke, reduce:member, reduce:collaborator' });
  });
});

describe('the decision log chain', () => {
  const genesis = 'a'.repeat(64);
  const entries = ['{"seq":1}', '{"seq":2}', '{"seq":3}'].reduce<Array<{ seq: number; prev_sha256: string; sha256: string; body: string }>>((list, body, i) => {
    const prev = list[i - 1]?.sha256 ?? genesis;
    return [...list, { seq: i + 1, prev_sha256: prev, sha256: chainHash(prev, body), body }];
  }, []);

  it('verifies from the genesis; an edited, removed or reordered entry breaks it', () => {
    expect(verifyChain(entries, genesis)).toEqual({ ok: true, problems: [], last: entries[2]?.sha256 });
    expect(verifyChain(entries, 'b'.repeat(64)).problems[0]).toMatch(/^entry 1: prev_sha256 a{12}… is not the previous entry's hash b{12}…/);
    expect(verifyChain(entries.map((e) => (e.seq === 2 ? { ...e, body: '{"seq":2,"x":1}' } : e)), genesis).problems).toEqual(['entry 2: its body does not hash to its sha256 (the entry was edited)']);
    expect(verifyChain([entries[0], entries[2]] as typeof entries, genesis).problems).toEqual(['entry 2 has seq 3: an entry is missing or out of order', expect.stringMatching(/^entry 3: prev_sha256/)]);
    expect(chainHash('x', 'y')).toBe(createHash('sha256').update('x\ny').digest('hex'));
  });
});

describe('choosing a reviewer', () => {
  const c = (name: string, externalId: string | null = `{${name}}`): Candidate => ({ key: externalId ? `user:${externalId}` : `email:${name}`, externalId, label: name });
  const principal = { kind: 'user', externalId: '{ada}', name: 'Ada' };

  it('the first candidate of the first level who is not the principal; own access goes up, then to the fallback', () => {
    expect(chooseReviewer(principal, [{ rule: 'repository-admin', candidates: [c('bob'), c('ada')] }], null)).toMatchObject({ ok: true, candidate: { label: 'bob' }, rule: 'repository-admin', note: null, ownAccess: false });
    expect(chooseReviewer(principal, [{ rule: 'repository-admin', candidates: [c('ada'), c('bob')] }], null)).toMatchObject({ ok: true, candidate: { label: 'bob' }, rule: 'repository-admin' });
    const up = chooseReviewer(principal, [{ rule: 'repository-admin', candidates: [c('ada')] }, { rule: 'project-admin', candidates: [] }, { rule: 'workspace-owner', candidates: [c('zoe')] }], null);
    expect(up).toMatchObject({ ok: true, candidate: { label: 'zoe' }, rule: 'workspace-owner', ownAccess: true, note: 'own access: Ada is the repository admin who would review it; it went to workspace owner zoe' });
    expect(chooseReviewer(principal, [{ rule: 'reviewer', candidates: [c('ada')] }], c('lead@x.example', null))).toMatchObject({ ok: true, rule: 'fallback', ownAccess: true });
    expect(chooseReviewer(principal, [{ rule: 'reviewer', candidates: [c('ada')] }], null)).toEqual({ ok: false, reason: 'own-access' });
    expect(chooseReviewer(principal, [{ rule: 'reviewer', candidates: [c('ada')] }], c('ada'))).toEqual({ ok: false, reason: 'own-access' });
    expect(chooseReviewer(principal, [{ rule: 'mapping:default', candidates: [] }], null)).toEqual({ ok: false, reason: 'no-reviewer' });
    expect(chooseReviewer(principal, [{ rule: 'mapping:default', candidates: [] }], c('zoe'))).toMatchObject({ ok: true, rule: 'fallback', note: 'the rule names no reviewer for this item: the fallback reviewer has it' });
    // Spread by resource: the same resource always to the same candidate, resources across all of them.
    const owners = [c('o1'), c('o2'), c('o3')];
    const pick = (resource: string) => (chooseReviewer({ kind: 'user', externalId: '{x}', name: 'x' }, [{ rule: 'workspace-owner', candidates: owners }], null, resource) as { candidate: Candidate }).candidate.label;
    expect(pick('{r1}')).toBe(pick('{r1}'));
    expect(new Set(Array.from({ length: 30 }, (_, i) => pick(`{repo-${i}}`)))).toEqual(new Set(['o1', 'o2', 'o3']));
    // A deploy key never "is" its reviewer.
    expect(chooseReviewer({ kind: 'deploy_key', externalId: '{ada}', name: 'key' }, [{ rule: 'reviewer', candidates: [c('ada')] }], null)).toMatchObject({ ok: true, rule: 'reviewer' });
  });
});

describe('reading reviewers\' files', () => {
  it('comma, semicolon or tab; BOM and CRLF; line numbers of records that span lines', () => {
    expect(detectDelimiter('a;b;c')).toBe(';');
    expect(detectDelimiter('a,b;c,d')).toBe(',');
    expect(detectDelimiter('a\tb\tc')).toBe('\t');
    const sheet = readCsv('f.csv', Buffer.from('\ufeffItem_ID;Decision;Comment\r\n1;keep;"two\r\nlines"\r\n\r\n2;revoke;x\r\n', 'utf8'));
    expect(sheet.header).toEqual(['item_id', 'decision', 'comment']);
    expect(sheet.rows).toEqual([
      { line: 2, cells: { item_id: '1', decision: 'keep', comment: 'two\nlines' } },
      { line: 5, cells: { item_id: '2', decision: 'revoke', comment: 'x' } },
    ]);
    expect(() => readCsv('f.csv', Buffer.from([0x61, 0x0a, 0xe9]))).toThrow(/not UTF-8 text/);
    expect(() => readCsv('f.csv', Buffer.from(''))).toThrow(/f\.csv is empty/);
    expect(() => readCsv('f.csv', Buffer.from('a,b\n"x,y\n'))).toThrow(/f\.csv line \d+: not valid CSV/);
  });

  it("undoes the export's formula guard only where the export put it", () => {
    expect(unescapeCell("'=cmd|' /C calc'!A0")).toBe("=cmd|' /C calc'!A0");
    expect(unescapeCell("'-Robert")).toBe('-Robert');
    expect(unescapeCell("'quoted'")).toBe("'quoted'");
    expect(unescapeCell("'")).toBe("'");
  });

  it('a reviewers file: one row per project, repository or default; its problems all at once', () => {
    expect(parseMappingFile('m.csv', 'project,repository,reviewer\nPLAT,,a@x.example\n,api,{u}\n,,b@x.example\n')).toEqual([
      { line: 2, project: 'PLAT', repository: null, reviewer: 'a@x.example' },
      { line: 3, project: null, repository: 'api', reviewer: '{u}' },
      { line: 4, project: null, repository: null, reviewer: 'b@x.example' },
    ]);
    expect(() => parseMappingFile('m.csv', 'project,repository,reviewer\nPLAT,,a\nplat,,b\n,,c\n,,d\nX,y,z\n,r,\n')).toThrow(
      'm.csv: nothing was created:\n  line 3: project plat again (first on line 2); keep one row\n  line 5: a second default row (no project, no repository) (first on line 4); keep one row\n  line 6: names both project X and repository y; give one per row (a repository row already wins over its project\'s)\n  line 7: no reviewer; name one by e-mail, uuid, account id or display name',
    );
    expect(() => parseMappingFile('m.csv', 'repo,who\nx,y\n')).toThrow(/the header must have the columns project, repository and reviewer/);
  });
});

describe('naming reviewers', () => {
  const r = (id: string, extra: Partial<ReviewerInfo>): ReviewerInfo => ({ id, kind: 'user', key: `user:{${id}}`, principalId: id, externalId: `{${id}}`, accountId: null, displayName: null, handle: null, email: null, ...extra });
  const list = [r('1', { displayName: 'Alex Kim', accountId: '557058:a' }), r('2', { displayName: 'Alex Kim', accountId: '557058:b' }), { ...r('3', {}), kind: 'email' as const, key: 'email:lead@acme.example', externalId: null, email: 'lead@acme.example' }];

  it('by key, e-mail, uuid (braces optional), account id or name; an ambiguous name lists the candidates', () => {
    expect(isEmail('lead@acme.example')).toBe(true);
    expect(isEmail('@channel Bot')).toBe(false);
    expect(matchCampaignReviewer(list, 'LEAD@acme.example', 'x').id).toBe('3');
    expect(matchCampaignReviewer(list, '2', 'x').id).toBe('2');
    expect(matchCampaignReviewer(list, '{1}', 'x').id).toBe('1');
    expect(matchCampaignReviewer(list, '557058:b', 'x').id).toBe('2');
    expect(() => matchCampaignReviewer(list, 'Alex Kim', '--reviewer')).toThrow('--reviewer "Alex Kim" matches 2 reviewers of this campaign by display name: Alex Kim ({1}, account_id 557058:a); Alex Kim ({2}, account_id 557058:b). Give the reviewer_id column\'s value (e.g. user:{1}).');
    expect(() => matchCampaignReviewer(list, 'nobody', '--reviewer')).toThrow(/"nobody" is not a reviewer of this campaign\. Reviewers: Alex Kim/);
  });
});

describe('effective-access comparison and causes', () => {
  const state = (over: Partial<AccessState> = {}): AccessState => ({
    principal_id: '1',
    principal_kind: 'user',
    principal_external_id: '{u}',
    principal_name: 'U',
    principal_handle: null,
    account_id: null,
    resource_id: '10',
    resource_kind: 'repository',
    resource_external_id: '{r}',
    resource_handle: 'r',
    resource_name: 'r',
    project_handle: 'P',
    permission: 'write',
    paths: [{ kind: 'project-group', category: 'inherited-group', group: 'dev', project: 'P', granted: 'write', label: 'project:P group:dev (write)' }],
    flags: [],
    ...over,
  });
  const rank = accessRules(BITBUCKET_CLOUD_MODEL).rank;
  const facts = (over: Partial<WindowFacts> = {}): WindowFacts => ({
    grants: new Set(),
    memberships: new Set(),
    resourcesCreated: new Set(),
    resourcesRemoved: new Set(),
    principalsAdded: new Set(),
    principalsRemoved: new Set(),
    groupIds: new Map([['dev', ['5']]]),
    projectIds: new Map([['P', ['20']], ['Q', ['21']]]),
    workspaceIds: ['30'],
    ...over,
  });

  it('gained, lost, raised, lowered, paths-changed, or the same', () => {
    expect(compareStates(undefined, state(), rank)).toBe('gained');
    expect(compareStates(state(), undefined, rank)).toBe('lost');
    expect(compareStates(state(), state({ permission: 'admin' }), rank)).toBe('raised');
    expect(compareStates(state(), state({ permission: 'read' }), rank)).toBe('lowered');
    expect(compareStates(state(), state({ paths: [{ kind: 'direct', category: 'direct', group: null, project: null, granted: 'write', label: 'direct (write)' }] }), rank)).toBe('paths-changed');
    expect(compareStates(state(), state({ principal_name: 'Renamed' }), rank)).toBeNull();
  });

  it('names the cause from the window: membership, grant, a move, a role, a new or removed resource, public', () => {
    expect(changeCauses(undefined, state(), facts({ memberships: new Set(['5 1']) }))).toEqual(['group-membership']);
    expect(changeCauses(undefined, state(), facts({ grants: new Set(['5 20']) }))).toEqual(['grant']);
    const moved = state({ project_handle: 'Q', paths: [{ kind: 'project-group', category: 'inherited-group', group: 'dev', project: 'Q', granted: 'write', label: 'project:Q group:dev (write)' }] });
    expect(changeCauses(state(), moved, facts())).toEqual(['repository-moved']);
    // Only gained: the repository's project at the earlier end comes from the other states.
    expect(changeCauses(undefined, moved, facts({ projectBefore: new Map([['10', 'P']]) }))).toEqual(['repository-moved']);
    const owner = state({ paths: [{ kind: 'workspace-owner', category: 'root-role', group: null, project: null, granted: 'owner', label: 'workspace-owner (owner)' }], permission: 'admin' });
    expect(changeCauses(state(), owner, facts({ grants: new Set(['1 30']) }))).toEqual(['role-change']);
    expect(changeCauses(undefined, owner, facts({ resourcesCreated: new Set(['10']) }))).toEqual(['resource-created']);
    expect(changeCauses(owner, undefined, facts({ resourcesRemoved: new Set(['10']), principalsRemoved: new Set(['1']) }))).toEqual(['resource-removed', 'principal-removed']);
    expect(changeCauses(state(), state({ flags: ['public'] }), facts())).toEqual(['public-private']);
    expect(changeCauses(undefined, state({ principal_id: null, principal_kind: 'anyone', principal_external_id: null, permission: 'read', paths: [{ kind: 'public', category: 'implicit', group: null, project: null, granted: 'read', label: 'public (read)' }] }), facts())).toEqual(['public-private']);
    expect(changeCauses(undefined, state(), facts())).toEqual(['other']);
  });
});

describe('remediation tasks', () => {
  const path = (over: Partial<PathJson>): PathJson => ({ kind: 'direct', permission: 'write', granted: 'write', group: null, groupName: null, project: null, projectName: null, firstSeenRun: '1', singleUseGroup: null, category: 'direct', privilegedGrant: false, ...over });
  const reviewer: ReviewerInfo = { id: '1', kind: 'email', key: 'email:a@x', principalId: null, externalId: null, accountId: null, displayName: null, handle: null, email: 'a@x' };
  const item = (over: Partial<ItemView>): ItemView =>
    ({
      id: '7',
      campaign_id: '1',
      integration: 'acme',
      run_id: '12',
      principal_id: '3',
      principal_kind: 'user',
      principal_external_id: '{u-1}',
      principal_name: 'Lei',
      principal_handle: null,
      account_id: null,
      workspace_role: 'member',
      resource_id: '9',
      resource_kind: 'repository',
      resource_external_id: '{r}',
      resource_handle: 'api',
      resource_name: 'api',
      project_handle: 'PLAT',
      permission: 'admin',
      paths: [],
      first_seen_run: '1',
      first_seen_at: null,
      flags: [],
      assigned: reviewer,
      reviewer_rule: 'reviewer',
      reviewer_note: null,
      change: null,
      change_causes: null,
      base_item_id: null,
      carried_forward: false,
      reviewer,
      decision: 'revoke',
      reduce_to: null,
      comment: 'x',
      decided_by: reviewer,
      decided_at: null,
      decided_via: 'reviewer',
      ...over,
    }) as ItemView;
  const ctx = { kind: 'bitbucket-cloud', rank: accessRules(BITBUCKET_CLOUD_MODEL).rank, workspace: 'acme', apiBase: 'https://api.bitbucket.org/', groups: new Map([['dev', { members: [{ externalId: '{u-1}', name: 'Lei' }, { externalId: '{u-2}', name: 'Bo' }], grants: 3 }]]) };

  it('names the grant or membership, the UI page and the API call; group grants warn about the other members', () => {
    const direct = remediationChanges(item({ paths: [path({ permission: 'admin', granted: 'admin' })] }), null, ctx);
    expect(direct).toEqual([{ path: 'direct (admin)', change: 'remove the admin permission of Lei on repository api', ui: 'Repository settings → Repository permissions (https://bitbucket.org/acme/api/admin/permissions)', api: 'DELETE https://api.bitbucket.org/2.0/repositories/acme/api/permissions-config/users/%7Bu-1%7D', alsoAffects: null, alternative: null }]);
    const [group] = remediationChanges(item({ paths: [path({ kind: 'project-group', category: 'inherited-group', group: 'dev', project: 'PLAT', permission: 'write', granted: 'write' })] }), 'read', ctx);
    expect(group?.change).toBe('lower the write permission of group dev on project PLAT to read');
    expect(group?.api).toBe('PUT https://api.bitbucket.org/2.0/workspaces/acme/projects/PLAT/permissions-config/groups/dev {"permission":"read"}');
    expect(group?.alsoAffects).toBe('changing the grant of group dev also changes it for its 1 other member: Bo; it applies to every repository in project PLAT');
    expect(group?.alternative).toContain('DELETE https://api.bitbucket.org/1.0/groups/acme/dev/members/%7Bu-1%7D/');
    // A reduce leaves alone the paths that give no more than the target.
    expect(remediationChanges(item({ paths: [path({ permission: 'read', granted: 'read' }), path({ kind: 'workspace-owner', category: 'root-role', permission: 'admin', granted: 'owner' })] }), 'read', ctx).map((c) => c.path)).toEqual(['workspace-owner (owner)']);
    expect(remediationChanges(item({ principal_kind: 'deploy_key', principal_external_id: '41', principal_name: 'ci', paths: [path({ permission: 'read', granted: 'read' })] }), null, ctx)[0]?.api).toBe('DELETE https://api.bitbucket.org/2.0/repositories/acme/api/deploy-keys/41');
    expect(remediationChanges(item({ resource_kind: 'workspace', resource_handle: 'acme', paths: [path({ kind: 'workspace-role', category: 'root-direct', permission: 'member', granted: 'member' })] }), null, ctx)[0]).toMatchObject({ change: 'remove Lei from workspace acme', api: null });
    const pub = remediationChanges(item({ principal_id: null, principal_kind: 'anyone', principal_external_id: null, principal_name: null, permission: 'read', paths: [path({ kind: 'public', category: 'implicit', permission: 'read', granted: 'read', undo: 'make api private' })] }), null, ctx)[0];
    expect([pub?.change, pub?.api]).toEqual(['make api private', 'PUT https://api.bitbucket.org/2.0/repositories/acme/api {"is_private":true}']);
    expect(remediationChanges(item({ paths: [path({ kind: 'something-new', category: 'direct', permission: 'read', granted: 'read' })] }), null, ctx)[0]?.change).toBe('remove the something-new access (something-new (read))');
  });

  it('a decision is satisfied when the access is gone, or lowered at least to the target', () => {
    const rank = (p: string) => accessRules(BITBUCKET_CLOUD_MODEL).rank('repository', p);
    expect(satisfied('revoke', null, null, rank)).toBe(true);
    expect(satisfied('revoke', null, 'read', rank)).toBe(false);
    expect(satisfied('reduce', 'read', 'read', rank)).toBe(true);
    expect(satisfied('reduce', 'read', 'write', rank)).toBe(false);
    expect(satisfied('reduce', 'write', 'read', rank)).toBe(true);
  });
});
