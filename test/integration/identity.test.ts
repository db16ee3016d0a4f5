import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { OrgClient } from '../../connectors/atlassian-org/client.ts';
import { type Simulator, type SimulatorInternals, startSimulator } from '../../connectors/bitbucket-cloud/simulator/index.ts';
import { saveIntegration } from '../../src/db/integrations.ts';
import type { Integration } from '../../src/db/types.ts';
import { syncOrganization } from '../../src/identity/org-sync.ts';
import { importPeople } from '../../src/identity/people.ts';
import { Secret } from '../../src/secrets/index.ts';
import { runReport } from '../../reports/index.ts';
import type { ReportOptions } from '../../reports/types.ts';
import { sql } from 'kysely';
import { createCampaign } from '../../src/review/index.ts';
import { describeWithDb } from '../helpers/db.ts';
import { connectSim, keyring, syncSim } from '../helpers/sim-sync.ts';

type Row = Record<string, unknown>;

describeWithDb('identity: the organization, people files and identity-findings', (db) => {
  let sim: Simulator & SimulatorInternals;
  let bitbucket: Integration;
  let org: Integration;
  let beforePeople: Date;
  const users = () => sim.truth.users();
  const byName = (name: string) => {
    const found = users().filter((u) => u.displayName === name);
    if (found.length !== 1) throw new Error(`${found.length} users named ${name}`);
    return found[0] as ReturnType<typeof users>[number];
  };

  const report = async (name: string, options: Partial<ReportOptions> = {}): Promise<{ rows: Row[]; warnings: string[] }> => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const result = await runReport(db().db, name, { format: 'json', integration: 'acme', ...options }, out);
    return { rows: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Row[], warnings: result.warnings };
  };

  beforeAll(async () => {
    // Three accounts a page: the users listing of the organization is read over several pages.
    sim = await startSimulator({ profile: 'small', seed: 7, orgPageSize: 3 });
    bitbucket = await connectSim(db(), sim, 'acme');
    expect((await syncSim(db(), bitbucket)).status).toBe('succeeded');
    // An e-mail outside the organization's verified domains.
    sim.org.mutate.setEmail(users()[7]?.accountId ?? '', 'someone@gmail.example');
    const credential = sim.org.credential;
    ({ integration: org } = await saveIntegration(
      db().db,
      keyring,
      { name: 'acme-org', kind: 'atlassian-org', workspace: null, baseUrl: sim.baseUrl, credentialKind: 'org-api-key', schedule: null, timezone: 'UTC', options: { orgId: credential.orgId }, credential: { secret: new Secret(credential.token) } },
      false,
    ));
    const outcome = await syncOrganization(db(), org, new OrgClient({ baseUrl: sim.baseUrl, credential: { kind: 'org-api-key', orgId: credential.orgId, token: new Secret(credential.token) }, retryBaseMs: 5, budgetPerHour: 1_000_000 }), { trigger: 'test' });
    expect(outcome.status).toBe('succeeded');
    beforePeople = new Date();
    await new Promise((r) => setTimeout(r, 5));
    const lei = byName('李雷');
    // Grace by e-mail (the organization spells it Grace.Hopper@Acme.example), 李雷 by account id.
    const file =
      'email,name,status,termination_date,manager_email,department,type,account_id\n' +
      `grace.hopper@acme.example,Grace Hopper,terminated,2026-01-15,ada.lovelace@acme.example,Engineering,employee,\n` +
      `build-service@acme.example,李雷,active,,,Platform,service,${lei.accountId}\n` +
      `ada.lovelace@acme.example,Ada Lovelace,active,,,Engineering,employee,\n`;
    await importPeople(db().db, { name: 'hr.csv', bytes: Buffer.from(file) }, { source: 'workday' });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('the organization sync stored every managed account, over several pages, with last-active dates and domains', async () => {
    const stored = await db().db.selectFrom('org_accounts').selectAll().where('integration_id', '=', org.id).where('removed_run', 'is', null).execute();
    const truth = sim.org.truth.accounts();
    expect(stored.map((a) => a.account_id).sort()).toEqual(truth.map((a) => a.account_id).sort());
    const zoe = stored.find((a) => a.account_id === byName('Zoë Ångström').accountId);
    expect(zoe?.product_access.filter((p) => p.key === 'bitbucket').map((p) => p.url)).toEqual([`https://bitbucket.org/${sim.workspace}`, `https://bitbucket.org/${sim.workspace}-labs`]);
    expect(stored.every((a) => a.added_to_org !== null)).toBe(true);
    const domains = await db().db.selectFrom('org_domains').select(['domain', 'verified']).where('integration_id', '=', org.id).orderBy('domain').execute();
    expect(domains).toEqual([
      { domain: 'acme-legacy.example', verified: false },
      { domain: 'acme.example', verified: true },
    ]);
    expect(sim.org.stats().byPath['/admin/v1/orgs/{orgId}/users']).toBeGreaterThanOrEqual(Math.ceil(truth.length / 3));
  });

  it('identity-findings: every kind on its planted case, by e-mail (any case) and by account id', async () => {
    const { rows } = await report('identity-findings');
    const access = await report('user-access');
    const withAccess = new Set(access.rows.map((r) => r.account_id as string));
    // One name per account (two Alex Kims are two accounts).
    const kind = (k: string) => [...new Map(rows.filter((r) => r.kind === k).map((r) => [r.account_id, r.display_name as string])).values()].sort();
    const names = (pred: (u: ReturnType<typeof users>[number], i: number) => boolean) =>
      users()
        .filter((u, i) => withAccess.has(u.accountId) && pred(u, i))
        .map((u) => u.displayName)
        .sort();
    const orgAccounts = new Map(sim.org.truth.accounts().map((a) => [a.account_id, a]));

    expect(kind('terminated-with-access')).toEqual(['Grace Hopper']);
    const grace = rows.find((r) => r.kind === 'terminated-with-access') as Row;
    expect(grace).toMatchObject({ account_id: byName('Grace Hopper').accountId, email: 'Grace.Hopper@Acme.example', matched_by: 'email', person: { email: 'grace.hopper@acme.example', status: 'terminated', termination_date: '2026-01-15', source: 'workday' } });
    expect((grace.evidence as Row).source).toBe('people:workday');
    expect((grace.evidence as Row).detail).toMatch(/^terminated on 2026-01-15 \(\d+ days before/);
    expect(grace.access as string[]).toContain(`workspace ${sim.workspace} (member)`);

    expect(kind('account-inactive-or-closed')).toEqual(names((u) => ['inactive', 'closed'].includes(orgAccounts.get(u.accountId)?.account_status ?? '')));
    expect(kind('account-inactive-or-closed')).toHaveLength(2);
    // Dormant: 120 days in this workspace (active in another 2 days ago), 200 days, never.
    const dormant = kind('dormant');
    expect(dormant).toEqual(names((_u, i) => [1, 8, 9].includes(i)));
    expect(dormant).toContain('Zoë Ångström');
    expect(kind('not-in-directory').length).toBeGreaterThan(0);
    const unmanaged = rows.filter((r) => r.kind === 'not-in-directory' && (r.evidence as Row).source === 'org:acme-org').map((r) => r.account_id);
    expect(unmanaged).toEqual(sim.org.truth.unmanagedAccountIds().filter((id) => withAccess.has(id)));
    const noPerson = rows.filter((r) => r.kind === 'not-in-directory' && (r.evidence as Row).source === 'people:workday').map((r) => r.display_name as string).sort();
    expect(noPerson).toEqual(names((u) => !['Grace Hopper', '李雷', 'Ada Lovelace'].includes(u.displayName)));
    expect(kind('external-domain')).toEqual(names((_u, i) => i === 7));
    expect(rows.find((r) => r.kind === 'external-domain')).toMatchObject({ email: 'someone@gmail.example' });
    // 李雷 by the people file (matched by account id); the planted "@channel Bot" by its name alone.
    const service = rows.filter((r) => r.kind === 'shared-or-service-account');
    expect(service.map((r) => [r.display_name, (r.evidence as Row).source]).sort()).toEqual([
      ['@channel Bot', 'pattern'],
      ['李雷', 'people:workday'],
    ]);
    expect(service.find((r) => r.display_name === '李雷')).toMatchObject({ matched_by: 'account_id', person: { email: 'build-service@acme.example', type: 'service' } });
    // Admins first within a kind.
    const notInDir = rows.filter((r) => r.kind === 'not-in-directory').map((r) => r.admin as boolean);
    expect(notInDir).toEqual([...notInDir].sort((a, b) => Number(b) - Number(a)));
  });

  it('CSV: one line per finding, person and evidence in words, access joined', async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    await runReport(db().db, 'identity-findings', { format: 'csv', integration: 'acme' }, out);
    const lines = Buffer.concat(chunks).toString('utf8').split('\r\n');
    expect(lines[0]).toBe('kind,account_id,principal_id,display_name,email,person,matched_by,org_status,last_active,days,workspace_role,admin,evidence,access');
    const grace = lines.find((l) => l.startsWith('terminated-with-access,'));
    expect(grace).toContain('Grace Hopper <grace.hopper@acme.example> (terminated, workday)');
    expect(grace).toMatch(/people:workday; import \d+ \(hr\.csv line 2\); [0-9T:.Z-]+; terminated on 2026-01-15/);
  });

  it('--as-of before the people import: nobody is terminated yet; --dormant-days moves the line', async () => {
    const { rows } = await report('identity-findings', { asOf: beforePeople });
    expect(rows.some((r) => r.kind === 'terminated-with-access')).toBe(false);
    expect(rows.some((r) => r.kind === 'dormant')).toBe(true);
    // Zoë's 120 days in this workspace are dormant at 90, not at 150; 200 days and "never" stay.
    const at150 = await report('identity-findings', { dormantDays: 150 });
    expect(at150.rows.filter((r) => r.kind === 'dormant').map((r) => r.display_name)).not.toContain('Zoë Ångström');
    expect(at150.rows.filter((r) => r.kind === 'dormant')).toHaveLength(2);
    const loose = await report('identity-findings', { dormantDays: 3000 });
    expect(loose.rows.filter((r) => r.kind === 'dormant').map((r) => r.display_name)).toEqual([]);
    const extra = await report('identity-findings', { domains: ['gmail.example'] });
    expect(extra.rows.some((r) => r.kind === 'external-domain')).toBe(false);
  });

  it('access-review and user-access carry e-mail, status, last active, department and the identity flags', async () => {
    const { rows } = await report('user-access');
    const grace = rows.filter((r) => r.account_id === byName('Grace Hopper').accountId);
    expect(grace.length).toBeGreaterThan(0);
    expect(grace[0]).toMatchObject({ email: 'Grace.Hopper@Acme.example', person_status: 'terminated', department: 'Engineering' });
    expect(grace[0]?.identity_flags).toContain('terminated-with-access');
    expect(typeof grace[0]?.last_active).toBe('string');
    const review = await report('access-review');
    const keys = review.rows.filter((r) => r.principal_kind === 'deploy_key');
    expect(keys.every((r) => r.email === null && (r.identity_flags as string[]).length === 0)).toBe(true);
  });

  it('coverage says which Bitbucket accounts had no organization record; the org is never the default integration', async () => {
    const { rows } = await report('coverage');
    const gaps = rows.filter((r) => r.kind === 'identity-gap');
    const access = await report('user-access');
    const withAccess = new Set(access.rows.map((r) => r.account_id as string));
    expect(gaps.map((g) => (g.scope as string).replace('no-org-record:', ''))).toEqual(sim.org.truth.unmanagedAccountIds().filter((id) => withAccess.has(id)).sort());
    const out = new PassThrough();
    out.resume();
    await expect(runReport(db().db, 'identity-findings', { format: 'json' }, out)).resolves.toMatchObject({ report: 'identity-findings' });
    await expect(runReport(db().db, 'access-review', { format: 'json', integration: 'acme-org' }, out)).rejects.toThrow(/"acme-org" is an identity source/);
  });

  it('directory groups: stored over the org runs; coverage names the organization-only group and the one whose members differ, not the mirrored one', async () => {
    const truth = sim.org.truth.directoryGroups();
    expect(truth.map((g) => g.planted).sort()).toEqual(['members-differ', 'organization-only', 'same-as-workspace']);
    const stored = await db().db.selectFrom('org_groups').selectAll().where('integration_id', '=', org.id).where('removed_run', 'is', null).orderBy('id').execute();
    const parse = (v: unknown) => (typeof v === 'string' ? (JSON.parse(v) as string[]) : (v as string[]));
    expect(stored.map((g) => [g.group_id, g.name, parse(g.member_account_ids)])).toEqual(truth.map((g) => [g.id, g.name, g.memberAccountIds]));
    const { rows } = await report('coverage');
    const gaps = rows.filter((r) => r.kind === 'directory-group-gap');
    const expected = truth
      .filter((g) => g.planted !== 'same-as-workspace')
      .map((g) => `${g.planted === 'organization-only' ? 'directory-group-not-in-workspace' : 'group-membership-differs'}:${g.id}`)
      .sort();
    expect(gaps.map((g) => g.scope as string).sort()).toEqual(expected);
    const differing = truth.find((g) => g.planted === 'members-differ');
    const wsGroup = sim.truth.groups().find((g) => g.name === differing?.name);
    const extra = differing?.memberAccountIds.filter((a) => !(wsGroup?.memberUuids ?? []).some((m) => users().find((u) => u.uuid === m)?.accountId === a)) ?? [];
    expect(extra).toHaveLength(1);
    const who = sim.org.truth.accounts().find((a) => a.account_id === extra[0])?.name ?? '';
    expect(gaps.find((g) => (g.scope as string).startsWith('group-membership-differs:'))?.message).toContain(`only in the organization: ${who}; only in the workspace: none`);
    expect(gaps.find((g) => (g.scope as string).startsWith('directory-group-not-in-workspace:'))).toMatchObject({ stream: 'org-groups', status: 'not_covered', label: 'bitbucket-release-managers (3 members in the organization)' });

    // A membership change in the organization is a new version; a failed groups listing keeps it and makes the run partial.
    const credential = sim.org.credential;
    const client = () => new OrgClient({ baseUrl: sim.baseUrl, credential: { kind: 'org-api-key', orgId: credential.orgId, token: new Secret(credential.token) }, retryBaseMs: 1, maxRetries: 1, budgetPerHour: 1_000_000 });
    const mirrored = truth.find((g) => g.planted === 'same-as-workspace');
    sim.org.mutate.setGroupMembers(mirrored?.id ?? '', (mirrored?.memberAccountIds ?? []).slice(1));
    const changed = await syncOrganization(db(), org, client(), { trigger: 'test' });
    expect(changed).toMatchObject({ status: 'succeeded', groups: { listed: 3, added: 0, changed: 1, removed: 0 } });
    sim.org.mutate.failGroups(403);
    const partial = await syncOrganization(db(), org, client(), { trigger: 'test' });
    sim.org.mutate.failGroups(null);
    expect(partial.status).toBe('partial');
    expect(partial.summary).toMatch(/refused \(403\)/);
    const versions = await db().db.selectFrom('org_groups').select(['removed_run', 'member_account_ids']).where('group_id', '=', mirrored?.id ?? '').orderBy('id').execute();
    expect(versions.map((v) => [v.removed_run === null, parse(v.member_account_ids).length])).toEqual([
      [false, mirrored?.memberAccountIds.length],
      [true, (mirrored?.memberAccountIds.length ?? 0) - 1],
    ]);
    // The reports follow the latest organization run: the mirrored group now differs too.
    const after = (await report('coverage')).rows.filter((r) => r.kind === 'directory-group-gap');
    expect(after.map((g) => g.scope as string)).toContain(`group-membership-differs:${mirrored?.id}`);
    sim.org.mutate.setGroupMembers(mirrored?.id ?? '', mirrored?.memberAccountIds ?? []);
  });

  it('--reviewers manager: a person\'s items go to their manager in the people file, the rest up the resource admins; items show who is behind the account', async () => {
    const created = await createCampaign(db().db, { name: 'Managers Q4', integrations: ['acme'], reviewers: 'manager', fallbackReviewer: 'security@acme.example' });
    expect(created.items).toBeGreaterThan(0);
    const items = await sql<{ account_id: string | null; reviewer_rule: string; key: string; identity: unknown }>`
      select i.account_id, i.reviewer_rule, r.key, i.identity from review_items i join review_reviewers r on r.id = i.reviewer_id
       where i.campaign_id = ${created.id} order by i.id`.execute(db().db);
    const parse = (v: unknown) => (typeof v === 'string' ? (JSON.parse(v) as Row) : (v as Row | null));
    const grace = items.rows.filter((i) => i.account_id === byName('Grace Hopper').accountId);
    expect(grace.length).toBeGreaterThan(0);
    expect(grace.every((i) => i.reviewer_rule === 'manager' && i.key === 'email:ada.lovelace@acme.example')).toBe(true);
    expect(parse(grace[0]?.identity)).toMatchObject({ email: 'Grace.Hopper@Acme.example', person_status: 'terminated', department: 'Engineering' });
    expect((parse(grace[0]?.identity)?.identity_flags as string[]) ?? []).toContain('terminated-with-access');
    const others = items.rows.filter((i) => i.account_id !== byName('Grace Hopper').accountId);
    expect(others.every((i) => i.reviewer_rule !== 'manager')).toBe(true);
    const campaign = await db().db.selectFrom('review_campaigns').select('reviewer_rule').where('id', '=', created.id).executeTakeFirstOrThrow();
    expect(campaign.reviewer_rule).toBe('manager');
  });

  it('an organization listing that fails keeps every account; a later clean one closes the ones that left', async () => {
    const credential = sim.org.credential;
    const client = () => new OrgClient({ baseUrl: sim.baseUrl, credential: { kind: 'org-api-key', orgId: credential.orgId, token: new Secret(credential.token) }, retryBaseMs: 1, maxRetries: 1, budgetPerHour: 1_000_000 });
    const live = async () => (await db().db.selectFrom('org_accounts').select('account_id').where('integration_id', '=', org.id).where('removed_run', 'is', null).execute()).length;
    const before = await live();
    sim.org.mutate.failUsers(403);
    const failed = await syncOrganization(db(), org, client(), { trigger: 'test' });
    expect(failed.status).toBe('failed');
    expect(failed.summary).toMatch(/refused \(403\).*organization admin key/);
    expect(await live()).toBe(before);
    sim.org.mutate.failUsers(null);
    const closed = byName('Grace Hopper').accountId;
    sim.org.mutate.setStatus(closed, 'closed');
    const again = await syncOrganization(db(), org, client(), { trigger: 'test' });
    expect(again).toMatchObject({ status: 'succeeded', accounts: { changed: 1, added: 0, removed: 0 } });
    const history = await db().db.selectFrom('org_accounts').select(['account_status', 'removed_run']).where('account_id', '=', closed).orderBy('id').execute();
    expect(history.map((h) => [h.account_status, h.removed_run === null])).toEqual([
      ['active', false],
      ['closed', true],
    ]);
  });

  it('removing the organization integration removes its accounts and domains; people matched only by its e-mail are unmatched, by account id still matched', async () => {
    const { removeIntegration } = await import('../../src/db/integrations.ts');
    await removeIntegration(db().db, 'acme-org');
    expect(await db().db.selectFrom('org_accounts').select('id').where('integration_id', '=', org.id).execute()).toEqual([]);
    expect(await db().db.selectFrom('org_domains').select('id').where('integration_id', '=', org.id).execute()).toEqual([]);
    const { rows } = await report('identity-findings');
    // Grace was found through the organization's e-mail of her account; 李雷 through the file's account id.
    expect(rows.some((r) => r.kind === 'terminated-with-access')).toBe(false);
    expect(rows.some((r) => r.kind === 'dormant' || r.kind === 'account-inactive-or-closed')).toBe(false);
    expect(rows.find((r) => r.kind === 'shared-or-service-account' && r.display_name === '李雷')).toMatchObject({ matched_by: 'account_id', email: 'build-service@acme.example' });
  });

  it('a wrong key and a wrong organization id: clear errors, nothing stored', async () => {
    const credential = sim.org.credential;
    const bad = new OrgClient({ baseUrl: sim.baseUrl, credential: { kind: 'org-api-key', orgId: credential.orgId, token: new Secret('nope') }, maxRetries: 0 });
    await expect(bad.listAccounts()).rejects.toThrow(/refused \(401\): Unauthorized/);
    await bad.close();
    const other = new OrgClient({ baseUrl: sim.baseUrl, credential: { kind: 'org-api-key', orgId: 'not-this-org', token: new Secret(credential.token) }, maxRetries: 0 });
    await expect(other.listAccounts()).rejects.toThrow(/found nothing \(404\): Not Found: No organization with this id/);
    await other.close();
  });
});
