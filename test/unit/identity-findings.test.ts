import { describe, expect, it } from 'vitest';
import { type AccountWithAccess, accessLabels, findingsFor } from '../../src/identity/findings.ts';
import type { PersonAt } from '../../src/identity/people.ts';
import { type IdentityView, type OrgAccountAt, bitbucketActivity, matchAccount } from '../../src/identity/view.ts';

const REF = new Date('2026-12-01T00:00:00Z');
const daysAgo = (n: number) => new Date(REF.getTime() - n * 86_400_000).toISOString();
const options = { reference: REF, dormantDays: 90, extraDomains: [] as string[], workspace: 'acme' };

function person(over: Partial<PersonAt>): PersonAt {
  return {
    id: '1001',
    source: 'hr',
    importId: '1000',
    importedAt: new Date('2026-11-30T00:00:00Z'),
    fileName: 'hr.csv',
    line: 2,
    email: 'x@acme.example',
    emailKey: 'x@acme.example',
    accountId: null,
    name: null,
    employeeId: null,
    status: 'active',
    terminationDate: null,
    managerEmail: null,
    department: null,
    type: 'employee',
    ...over,
  };
}

function org(over: Partial<OrgAccountAt>): OrgAccountAt {
  return {
    integration: 'acme-org',
    runId: '1002',
    runFinishedAt: new Date('2026-11-30T00:00:00Z'),
    accountId: 'a-1',
    email: 'X@acme.example',
    emailKey: 'x@acme.example',
    name: 'X',
    accountType: 'atlassian',
    accountStatus: 'active',
    lastActive: null,
    productAccess: [{ key: 'bitbucket', name: 'Bitbucket', url: 'https://bitbucket.org/acme', last_active: daysAgo(1) }],
    addedToOrg: new Date('2020-01-01T00:00:00Z'),
    ...over,
  };
}

function view(accounts: OrgAccountAt[], people: PersonAt[], orgSynced = true): IdentityView {
  const byEmail = new Map<string, PersonAt[]>();
  const byAccount = new Map<string, PersonAt[]>();
  for (const p of people) {
    byEmail.set(p.emailKey, [...(byEmail.get(p.emailKey) ?? []), p]);
    if (p.accountId) byAccount.set(p.accountId, [...(byAccount.get(p.accountId) ?? []), p]);
  }
  return {
    orgSources: orgSynced ? [{ integration: 'acme-org', runId: '1002', runStatus: 'succeeded', finishedAt: new Date('2026-11-30T00:00:00Z') }] : [],
    peopleSources: people.length > 0 ? [{ source: 'hr', importId: '1000', importedAt: new Date('2026-11-30T00:00:00Z'), fileName: 'hr.csv' }] : [],
    accounts: new Map(accounts.map((a) => [a.accountId, a])),
    verifiedDomains: orgSynced ? new Set(['acme.example']) : new Set(),
    peopleByEmail: byEmail,
    peopleByAccountId: byAccount,
  };
}

const account = (over: Partial<AccountWithAccess> = {}): AccountWithAccess => ({
  externalId: '{u-1}',
  accountId: 'a-1',
  displayName: 'X',
  handle: 'x',
  workspaceRole: 'member',
  access: [{ resourceKind: 'workspace', resource: 'acme', permission: 'member', admin: false }],
  ...over,
});
const kinds = (a: AccountWithAccess, v: IdentityView, o = options) => findingsFor(a, v, o).map((f) => f.kind);

describe('identity findings (pure)', () => {
  it('nothing for an active, recent, known person of a verified domain — and nothing without access', () => {
    const v = view([org({})], [person({})]);
    expect(kinds(account(), v)).toEqual([]);
    expect(kinds(account({ access: [] }), view([org({ accountStatus: 'closed' })], []))).toEqual([]);
  });

  it('terminated: by status, or by a termination date that has passed though the file still says active', () => {
    const byStatus = findingsFor(account(), view([org({})], [person({ status: 'terminated', terminationDate: '2026-11-01' })]), options);
    expect(byStatus.map((f) => [f.kind, f.days])).toEqual([['terminated-with-access', 30]]);
    expect(byStatus[0]?.evidence).toEqual({ source: 'people:hr', snapshot: 'import 1000 (hr.csv line 2)', date: '2026-11-30T00:00:00.000Z', detail: 'terminated on 2026-11-01 (30 days before 2026-12-01)' });
    expect(kinds(account(), view([org({})], [person({ terminationDate: '2026-11-20' })]))).toEqual(['terminated-with-access']);
    expect(kinds(account(), view([org({})], [person({ terminationDate: '2026-12-20' })]))).toEqual([]);
  });

  it('matching: by account id first (the file may spell the e-mail otherwise), else by e-mail ignoring case', () => {
    const byId = matchAccount(view([org({ email: 'Other@Acme.example' })], [person({ accountId: 'a-1', email: 'x@acme.example' })]), 'a-1', 'acme');
    expect(byId.matchedBy).toBe('account_id');
    const byEmail = matchAccount(view([org({ email: 'X@ACME.EXAMPLE' })], [person({})]), 'a-1', 'acme');
    expect(byEmail.matchedBy).toBe('email');
    expect(matchAccount(view([], [person({})]), 'a-1', 'acme')).toMatchObject({ matchedBy: null, org: null, email: null });
  });

  it('dormant: this workspace decides for an account in two; never used counts once the account is older than the threshold', () => {
    const two = org({ productAccess: [
      { key: 'bitbucket', name: null, url: 'https://bitbucket.org/acme', last_active: daysAgo(120) },
      { key: 'bitbucket', name: null, url: 'https://bitbucket.org/acme-labs/', last_active: daysAgo(2) },
    ] });
    expect(bitbucketActivity(two.productAccess, 'acme')?.toISOString()).toBe(daysAgo(120));
    expect(bitbucketActivity(two.productAccess, 'elsewhere')?.toISOString()).toBe(daysAgo(2));
    expect(kinds(account(), view([two], [person({})]))).toEqual(['dormant']);
    expect(kinds(account(), view([two], [person({})]), { ...options, dormantDays: 150 })).toEqual([]);
    const never = org({ productAccess: [{ key: 'jira-software', name: null, url: null, last_active: daysAgo(1) }], addedToOrg: new Date(daysAgo(10)) });
    expect(kinds(account(), view([never], [person({})]))).toEqual([]);
    expect(kinds(account(), view([{ ...never, addedToOrg: new Date(daysAgo(100)) }], [person({})]))).toEqual(['dormant']);
  });

  it('not in directory: one finding per source that does not know the account, saying what the other knows', () => {
    const f = findingsFor(account(), view([], [person({ accountId: 'a-1', type: 'service', email: 'svc-build@acme.example', emailKey: 'svc-build@acme.example' })]), options);
    expect(f.map((x) => x.kind)).toEqual(['not-in-directory', 'shared-or-service-account']);
    expect(f[0]?.evidence.detail).toMatch(/the people file \(hr\) says it is a service account/);
    // No Atlassian account id (a Data Center user): the organization cannot know it, so it says nothing.
    expect(kinds(account({ accountId: null }), view([], []))).toEqual([]);
    const neither = findingsFor(account(), view([], [person({ email: 'someone@acme.example', emailKey: 'someone@acme.example' })]), options);
    expect(neither.map((x) => [x.kind, x.evidence.source])).toEqual([
      ['not-in-directory', 'org:acme-org'],
      ['not-in-directory', 'people:hr'],
    ]);
  });

  it('external domain against verified domains and --domains; inactive or closed; app accounts and name patterns', () => {
    expect(kinds(account(), view([org({ email: 'x@gmail.example' })], []))).toEqual(['external-domain']);
    expect(kinds(account(), view([org({ email: 'x@gmail.example' })], []), { ...options, extraDomains: ['gmail.example'] })).toEqual([]);
    expect(kinds(account(), view([org({ accountStatus: 'inactive' })], []))).toEqual(['account-inactive-or-closed']);
    expect(kinds(account(), view([org({ accountType: 'app' })], []))).toEqual(['shared-or-service-account']);
    for (const handle of ['svc-deploy', 'ci.bot', 'build', 'noreply', 'jenkins2']) expect(kinds(account({ handle }), view([org({})], []))).toEqual(['shared-or-service-account']);
    for (const handle of ['cindy', 'bob', 'builder.bob.smith', 'ci.wang', 'build.bob', 'teamster']) expect(kinds(account({ handle }), view([org({})], []))).toEqual([]);
    expect(kinds(account({ displayName: 'Release Bot' }), view([org({})], []))).toEqual(['shared-or-service-account']);
  });

  it('access labels put what administers first', () => {
    expect(accessLabels([
      { resourceKind: 'workspace', resource: 'acme', permission: 'member', admin: false },
      { resourceKind: 'repository', resource: 'api', permission: 'admin', admin: true },
    ])).toEqual(['repository api (admin)', 'workspace acme (member)']);
  });
});
