import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import ExcelJS from 'exceljs';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { effectiveChanges } from '../../reports/effective-access-changes.ts';
import { finishedRuns } from '../../reports/context.ts';
import { inSnapshot } from '../../reports/run.ts';
import type { Integration } from '../../src/db/types.ts';
import { closeCampaign, createCampaign, exportCampaign, importReviewFiles, campaignStatus, listCampaigns, recordReviewActions, remediationTasks, verifyBundle, verifyChain } from '../../src/review/index.ts';
import { contextAt } from '../../src/review/snapshot.ts';
import { readLog } from '../../src/review/sql/log.ts';
import { describeWithDb } from '../helpers/db.ts';
import { connectSim, syncSim } from '../helpers/sim-sync.ts';
import { type EffectiveAccess, type Simulator, startSimulator } from '../../connectors/bitbucket-cloud/simulator/index.ts';
import { type ReportRow, reportRows } from './reports-helpers.ts';

/**
 * Access review campaigns end to end on the simulator: sync → create (each reviewer rule) → export →
 * decide in the exported files with a CSV library (and in a workbook with exceljs) → import → change
 * a decision → status → carry out some revocations in the simulator → sync → remediation shows done,
 * still present and moot → close → the bundle verifies (sha256sum -c and in JS) and so does its
 * decision log; then more changes (a repository moved between projects among them) → a delta campaign
 * carries forward what was certified and unchanged and holds exactly what changed; effective-access
 * changes against the difference of two ground truths. Run ids start at 98, so they cross 99 → 100:
 * any comparison of run ids as text would break here.
 */

type Row = Record<string, string>;
const execFileAsync = promisify(execFile);
const NOW = new Date('2026-12-01T12:00:00Z');

const pathKey = (p: { kind: string; permission: string; group?: string | null; project?: string | null; projectKey?: string }) => `${p.kind}:${p.permission}:${p.group ?? ''}:${p.projectKey ?? p.project ?? ''}`;
const truthMap = (access: EffectiveAccess[]) => new Map(access.map((e) => [`${e.userUuid} ${e.repoUuid}`, { permission: e.permission, paths: e.paths.map(pathKey).sort().join(' ') }]));
/** `user repo kind` for every repository access that differs between two ground truths. */
function truthDiff(before: EffectiveAccess[], after: EffectiveAccess[]): Map<string, string> {
  const rank: Record<string, number> = { read: 1, write: 2, admin: 3 };
  const a = truthMap(before);
  const b = truthMap(after);
  const out = new Map<string, string>();
  for (const [k, v] of b) {
    const old = a.get(k);
    if (!old) out.set(k, 'gained');
    else if ((rank[v.permission] ?? 0) > (rank[old.permission] ?? 0)) out.set(k, 'raised');
    else if ((rank[v.permission] ?? 0) < (rank[old.permission] ?? 0)) out.set(k, 'lowered');
    else if (v.paths !== old.paths) out.set(k, 'paths-changed');
  }
  for (const k of a.keys()) if (!b.has(k)) out.set(k, 'lost');
  return out;
}

async function readCsvFile(file: string): Promise<Row[]> {
  return parse(await fs.readFile(file), { columns: true, bom: true }) as Row[];
}

describeWithDb('access review campaigns end to end', (get) => {
  let sim: Simulator;
  let integration: Integration;
  let dir: string;
  let review: ReportRow[];
  let truth98: EffectiveAccess[];
  let truth100: EffectiveAccess[];
  let campaignA: string;
  const runs: string[] = [];
  const uuid = (name: string): string => sim.truth.users().find((u) => u.displayName === name)?.uuid as string;
  const repo = (slug: string): string => sim.truth.repositories().find((r) => r.slug === slug)?.uuid as string;
  const sync = async (): Promise<string> => {
    const outcome = await syncSim(get(), integration);
    expect(outcome.error).toBeNull();
    runs.push(outcome.runId);
    return outcome.runId;
  };
  const items = async (campaign: string) =>
    (
      await sql<{ id: string; principal_external_id: string; principal_kind: string; principal_name: string | null; resource_external_id: string; resource_kind: string; resource_handle: string | null; permission: string; reviewer_key: string; reviewer_rule: string; reviewer_note: string | null; change: string | null; change_causes: string[] | string | null; carried_forward: boolean; decision: string | null; decided_via: string | null }>`
        select i.id::text as id, i.principal_external_id, i.principal_kind, i.principal_name, i.resource_external_id, i.resource_kind, i.resource_handle, i.permission,
               r.key as reviewer_key, i.reviewer_rule, i.reviewer_note, i.change, i.change_causes, i.carried_forward, s.decision, s.decided_via
          from review_items i join review_item_states s on s.item_id = i.id join review_reviewers r on r.id = s.reviewer_id
         where i.campaign_id = ${campaign} order by i.id`.execute(get().db)
    ).rows;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'roster-review-'));
    sim = await startSimulator({ profile: 'small', seed: 1, rateLimit: false });
    integration = await connectSim(get(), sim, 'acme');
    // Run ids 98, 99, 100, 101: past 9, and across a change in the number of digits.
    await sql`alter table sync_runs alter column id restart with 98`.execute(get().db);
    truth98 = sim.truth.effectiveAccess();
    expect(await sync()).toBe('98');
    review = (await reportRows(get().db, 'access-review', { integration: 'acme' })).rows;
  });
  afterAll(async () => {
    await sim?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('resource-admins: one item per access of the access review, each assigned by the rule that is said, never to its own principal', async () => {
    const result = await createCampaign(get().db, { name: 'Q4 2026', reviewers: 'resource-admins', due: '2027-01-15', now: NOW });
    campaignA = result.id;
    expect(result.runs).toEqual([{ integration: 'acme', runId: '98', snapshotSha256: expect.stringMatching(/^[0-9a-f]{64}$/), accessRows: review.length, items: review.length }]);
    const all = await items(campaignA);
    const key = (p: string, r: string, perm: string) => `${p} ${r} ${perm}`;
    expect(all.map((i) => key(i.principal_external_id, i.resource_external_id, i.permission)).sort()).toEqual(review.map((r) => key(String(r.principal_id), String(r.resource_id), String(r.permission))).sort());
    for (const i of all) expect(i.reviewer_key).not.toBe(`user:${i.principal_external_id}`);
    const onCall = uuid('+1 555 0100 (on-call)');
    const ada = uuid('Ada Lovelace');
    const zoe = uuid('Zoë Ångström');
    // api-gateway: its repository admin reviews it, except his own admin access, which goes up to the owners.
    const gateway = all.filter((i) => i.resource_external_id === repo('api-gateway'));
    for (const i of gateway) {
      if (i.principal_external_id === onCall) expect([i.reviewer_key, i.reviewer_rule, i.reviewer_note]).toEqual([`user:${ada}`, 'workspace-owner', expect.stringMatching(/^own access: \+1 555 0100 \(on-call\) is the repository admin/)]);
      else if (i.principal_external_id === ada) expect([i.reviewer_key, i.reviewer_rule]).toEqual([`user:${onCall}`, 'repository-admin']);
      else expect([i.reviewer_key, i.reviewer_rule, i.reviewer_note]).toEqual([`user:${onCall}`, 'repository-admin', null]);
    }
    // Nobody administers the projects directly, so everything else goes to the owners, spread by
    // resource: one owner per resource, except the other owner's own access.
    const owners = new Set([`user:${ada}`, `user:${zoe}`]);
    const byResource = new Map<string, Set<string>>();
    for (const i of all.filter((x) => x.resource_external_id !== repo('api-gateway'))) {
      expect(i.reviewer_rule).toBe('workspace-owner');
      expect(owners.has(i.reviewer_key)).toBe(true);
      if (i.principal_external_id !== ada && i.principal_external_id !== zoe) byResource.set(i.resource_external_id, new Set([...(byResource.get(i.resource_external_id) ?? []), i.reviewer_key]));
    }
    for (const reviewers of byResource.values()) expect(reviewers.size).toBe(1);
    expect(new Set([...byResource.values()].flatMap((r) => [...r]))).toEqual(owners);
    // Machine credentials are items too, flagged as such.
    const key1 = all.find((i) => i.principal_kind === 'deploy_key');
    expect(key1).toBeDefined();
    const flags = await sql<{ flags: string[] | string }>`select flags from review_items where id = ${key1?.id}`.execute(get().db);
    const f = flags.rows[0]?.flags;
    expect(typeof f === 'string' ? JSON.parse(f) : f).toContain('machine-credential');
  });

  it('scope: --privileged-only keeps admin access only; --project and --repository narrow to those resources', async () => {
    const privileged = await createCampaign(get().db, { name: 'Admins', reviewer: 'security-lead@acme.example', privilegedOnly: true, now: NOW });
    const admins = review.filter((r) => (r.flags as string[]).includes('admin'));
    expect(privileged.items).toBe(admins.length);
    expect((await items(privileged.id)).every((i) => ['admin', 'owner'].includes(i.permission))).toBe(true);
    // The snapshot hash covers the whole run, whatever the scope.
    expect(privileged.runs[0]?.snapshotSha256).toBe((await listCampaigns(get().db)).find((c) => c.id === campaignA)?.runs[0]?.snapshotSha256);
    const data = await createCampaign(get().db, { name: 'DATA only', reviewer: 'security-lead@acme.example', projects: ['DATA'], repositories: ['api-gateway'], now: NOW });
    const dataRepos = new Set(sim.truth.repositories().filter((r) => r.projectKey === 'DATA').map((r) => r.uuid));
    const expected = review.filter((r) => (r.resource_kind === 'project' && r.resource === 'DATA') || (r.resource_kind === 'repository' && (dataRepos.has(String(r.resource_id)) || r.resource === 'api-gateway')));
    expect(data.items).toBe(expected.length);
    expect(new Set((await items(data.id)).map((i) => i.resource_handle))).toEqual(new Set(expected.map((r) => r.resource)));
    await expect(createCampaign(get().db, { name: 'nope', reviewer: 'x@acme.example', projects: ['NOPE'] })).rejects.toThrow('Not in the reviewed run: project NOPE.');
  });

  it('one reviewer: named by e-mail (outside Bitbucket); an ambiguous name is refused with the candidates; own access without a fallback is refused, listing it', async () => {
    const email = await createCampaign(get().db, { name: 'Security lead', reviewer: 'security-lead@acme.example', now: NOW });
    expect(new Set((await items(email.id)).map((i) => `${i.reviewer_key} ${i.reviewer_rule}`))).toEqual(new Set(['email:security-lead@acme.example reviewer']));
    await expect(createCampaign(get().db, { name: 'Alex', reviewer: 'Alex Kim' })).rejects.toThrow(
      new RegExp(`--reviewer "Alex Kim" matches 2 users by nickname: .*(${uuid('Alex Kim').replace(/[{}]/g, '.')}|Alex Kim).*Give the uuid or account_id instead`),
    );
    const ada = uuid('Ada Lovelace');
    const adaItems = review.filter((r) => r.principal_id === ada).length;
    await expect(createCampaign(get().db, { name: 'Ada alone', reviewer: 'Ada Lovelace' })).rejects.toThrow(new RegExp(`Nothing was created: ${adaItems} items? would have no reviewer.*\\n  Ada Lovelace \\(user\\) owner on workspace acme: own access`, 's'));
    expect((await listCampaigns(get().db)).map((c) => c.name)).not.toContain('Ada alone');
    const withFallback = await createCampaign(get().db, { name: 'Ada with fallback', reviewer: ada, fallbackReviewer: 'Zoë Ångström', now: NOW });
    const own = (await items(withFallback.id)).filter((i) => i.principal_external_id === ada);
    expect(own).toHaveLength(adaItems);
    for (const i of own) expect([i.reviewer_key, i.reviewer_rule, i.reviewer_note]).toEqual([`user:${uuid('Zoë Ångström')}`, 'fallback', expect.stringMatching(/^own access: Ada Lovelace is the named reviewer who would review it; it went to the fallback reviewer Zoë/)]);
    expect(withFallback.ownAccessReassigned).toBe(adaItems);
  });

  it('a reviewers file: repository rows win over project rows over the default; bad rows are refused with their lines', async () => {
    const grace = uuid('Grace Hopper');
    const zoeAccount = sim.truth.users().find((u) => u.displayName === 'Zoë Ångström')?.accountId as string;
    const text = stringify([['project', 'repository', 'reviewer'], ['PLAT', '', 'Grace Hopper'], ['', 'api-gateway', 'platform-owner@acme.example'], ['', '', zoeAccount]]);
    const bad = stringify([['project', 'repository', 'reviewer'], ['NOPE', '', 'Grace Hopper'], ['PLAT', 'web-app', 'x@acme.example'], ['', '', 'nobody-by-this-name'], ['', 'web-app', '']]);
    await expect(createCampaign(get().db, { name: 'Mapped bad', reviewersFile: { name: 'owners.csv', text: bad } })).rejects.toThrow(
      /owners\.csv: nothing was created:\n {2}line 3: names both project PLAT and repository web-app.*\n {2}line 5: no reviewer/s,
    );
    await expect(createCampaign(get().db, { name: 'Mapped bad', reviewersFile: { name: 'owners.csv', text: stringify([['project', 'repository', 'reviewer'], ['NOPE', '', 'Grace Hopper'], ['', '', 'nobody-by-this-name']]) } })).rejects.toThrow(
      /line 2: no project with key NOPE.*\n {2}line 3: reviewer "nobody-by-this-name" matches no user/s,
    );
    const mapped = await createCampaign(get().db, { name: 'Mapped', reviewersFile: { name: 'owners.csv', text }, fallbackReviewer: 'security-lead@acme.example', undecided: 'revoke', now: NOW });
    const all = await items(mapped.id);
    const plat = new Set(sim.truth.repositories().filter((r) => r.projectKey === 'PLAT').map((r) => r.uuid));
    for (const i of all) {
      const expected =
        i.resource_external_id === repo('api-gateway')
          ? ['email:platform-owner@acme.example', 'mapping:repository']
          : plat.has(i.resource_external_id) || (i.resource_kind === 'project' && i.resource_handle === 'PLAT')
            ? i.principal_external_id === grace
              ? [`user:${uuid('Zoë Ångström')}`, 'mapping:default']
              : [`user:${grace}`, 'mapping:project']
            : i.principal_external_id === uuid('Zoë Ångström')
              ? ['email:security-lead@acme.example', 'fallback']
              : [`user:${uuid('Zoë Ångström')}`, 'mapping:default'];
      expect([i.reviewer_key, i.reviewer_rule], `${i.principal_name} on ${i.resource_handle}`).toEqual(expected);
    }
  });

  it('exports one CSV and one XLSX per reviewer; the workbook reads back with a drop-down of the allowed decisions', async () => {
    const csv = await exportCampaign(get().db, campaignA, { outDir: path.join(dir, 'csv') });
    const xlsx = await exportCampaign(get().db, campaignA, { outDir: path.join(dir, 'xlsx'), format: 'xlsx' });
    expect(csv.files.map((f) => f.items)).toEqual(xlsx.files.map((f) => f.items));
    expect(csv.files.reduce((n, f) => n + f.items, 0)).toBe(review.length);
    const raw = await fs.readFile(csv.files[0]?.file as string);
    expect(raw.subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
    let checked = 0;
    const names: unknown[] = [];
    for (const file of xlsx.files) {
      const workbook = new ExcelJS.Workbook();
      await workbook.xlsx.readFile(file.file);
      const sheet = workbook.getWorksheet('Review') as ExcelJS.Worksheet;
      const header = (sheet.getRow(1).values as unknown[]).slice(1);
      expect(header.slice(0, 3)).toEqual(['item_id', 'campaign', 'integration']);
      expect(header).toContain('decision');
      expect(sheet.rowCount).toBe(file.items + 1);
      const decisionCol = header.indexOf('decision') + 1;
      const permissionCol = header.indexOf('permission') + 1;
      const kindCol = header.indexOf('resource_kind') + 1;
      for (let r = 2; r <= sheet.rowCount; r++) {
        const row = sheet.getRow(r);
        const validation = row.getCell(decisionCol).dataValidation;
        expect(validation?.type).toBe('list');
        const expected = { read: '"keep,revoke"', write: '"keep,revoke,reduce:read"', admin: '"keep,revoke,reduce:read,reduce:write"' }[String(row.getCell(permissionCol).value)];
        if (row.getCell(kindCol).value === 'repository' && expected) {
          expect(validation?.formulae).toEqual([expected]);
          checked += 1;
        }
      }
      names.push(...(sheet.getColumn(header.indexOf('principal_name') + 1).values as unknown[]));
    }
    expect(checked).toBeGreaterThan(10);
    // A CSV-dangerous name is plain text in the workbook, not a formula.
    expect(names).toContain("=cmd|' /C calc'!A0");
  });

  it('decisions made in the exported files (Excel-style CSV, plain CSV, a workbook) import, and a changed decision is logged with the previous one', async () => {
    const csvDir = path.join(dir, 'csv');
    const files = (await fs.readdir(csvDir)).filter((f) => !f.includes('on-call')).map((f) => path.join(csvDir, f));
    const alex = uuid('Alex Kim');
    const other = sim.truth.users().filter((u) => u.displayName === 'Alex Kim').find((u) => u.uuid !== alex)?.uuid as string;
    const alexGrant = sim.truth.repoUserGrants().find((g) => g.userUuid === other) as { repoUuid: string };
    const owners: Row[] = [];
    for (const [n, file] of files.entries()) {
      const rows = await readCsvFile(file);
      for (const r of rows) {
        r.decision = 'keep';
        if (r.principal_id === other && r.resource_id === alexGrant.repoUuid) [r.decision, r.comment] = ['revoke', 'moved to finance, no longer needs write'];
        if (r.principal_id === uuid("=cmd|' /C calc'!A0") && r.resource === 'web-app') [r.decision, r.comment] = ['reduce:read', 'contractor: read is enough'];
        if (r.principal_id === uuid("-Robert'); DROP TABLE users;--") && r.resource === 'deprecated-tools') [r.decision, r.comment] = ['Revoke', 'repository is being retired\nsee ticket OPS-12'];
      }
      owners.push(...rows);
      // The first file as Excel writes it in a comma-decimal locale (BOM, semicolons, CRLF); the other plain.
      if (n === 0) await fs.writeFile(file, `\ufeff${stringify(rows, { header: true, delimiter: ';', record_delimiter: '\r\n', escape_formulas: true })}`);
      else await fs.writeFile(file, stringify(rows, { header: true }));
    }
    // The repository admin decides in the workbook.
    const xlsxDir = path.join(dir, 'xlsx');
    const bookFile = path.join(xlsxDir, (await fs.readdir(xlsxDir)).find((f) => f.includes('on-call')) as string);
    const workbook = new ExcelJS.Workbook();
    await workbook.xlsx.readFile(bookFile);
    const sheet = workbook.getWorksheet('Review') as ExcelJS.Worksheet;
    const header = (sheet.getRow(1).values as unknown[]).slice(1);
    const col = (name: string) => header.indexOf(name) + 1;
    for (let r = 2; r <= sheet.rowCount; r++) {
      const row = sheet.getRow(r);
      row.getCell(col('decision')).value = 'keep';
      if (row.getCell(col('principal_id')).value === uuid('李雷')) {
        row.getCell(col('decision')).value = 'revoke';
        row.getCell(col('comment')).value = 'only needs the data repositories';
      }
    }
    await workbook.xlsx.writeFile(bookFile);

    const outcome = await importReviewFiles(get().db, campaignA, await Promise.all([...files, bookFile].map(async (f) => ({ name: f, bytes: await fs.readFile(f) }))), { now: NOW });
    expect(outcome.decided).toBe(review.length);
    expect(outcome.unchanged).toBe(0);
    // Importing the same files again changes nothing.
    const again = await importReviewFiles(get().db, campaignA, await Promise.all([...files, bookFile].map(async (f) => ({ name: f, bytes: await fs.readFile(f) }))));
    expect([again.decided, again.unchanged, again.logged]).toEqual([0, review.length, 0]);

    // A change of mind: keep → revoke for the bot's workspace membership, from a one-row file.
    const bot = owners.find((r) => r.principal_id === uuid('@channel Bot') && r.resource_kind === 'workspace') as Row;
    const change = stringify([{ ...bot, decision: 'revoke', comment: 'bot account, not a person' }], { header: true, escape_formulas: true });
    await importReviewFiles(get().db, campaignA, [{ name: 'change.csv', bytes: Buffer.from(change) }], { now: NOW });
    const log = await readLog(get().db, campaignA);
    const last = JSON.parse((log[log.length - 1] as { body: string }).body) as Record<string, unknown>;
    expect(last).toMatchObject({ action: 'decide', item: bot.item_id, decision: 'revoke', comment: 'bot account, not a person', previous: { decision: 'keep', reduce_to: null, comment: null }, source: 'import:change.csv' });
    expect(log.filter((e) => e.item_id === bot.item_id).map((e) => e.action)).toEqual(['decide', 'decide']);
    const campaign = await sql<{ definition_sha256: string }>`select definition_sha256 from review_campaigns where id = ${campaignA}`.execute(get().db);
    expect(verifyChain(log, campaign.rows[0]?.definition_sha256 as string)).toMatchObject({ ok: true, problems: [] });
  });

  it('status: items, decided per reviewer, remediation still open before any sync', async () => {
    const s = await campaignStatus(get().db, campaignA, { now: NOW });
    expect(s).toMatchObject({ items: review.length, decided: review.length, undecided: 0, decisions: { revoke: 4, reduce: 1 }, remediation: { open: 5, done: 0, still_present: 0, moot: 0 }, overdue: false });
    expect(s.reviewers.map((r) => r.reviewer).sort()).toEqual(['+1 555 0100 (on-call)', 'Ada Lovelace', 'Zoë Ångström']);
    expect(s.reviewers.every((r) => r.items === r.decided && r.undecided === 0)).toBe(true);
    expect(s.reviewers.reduce((n, r) => n + r.items, 0)).toBe(review.length);
    const late = await campaignStatus(get().db, campaignA, { now: new Date('2027-02-01T00:00:00Z') });
    expect(late.overdue).toBe(false);
  });

  it('remediation: carried-out revocations are done with the run that shows it, the rest still present or moot', async () => {
    const other = sim.truth.users().filter((u) => u.displayName === 'Alex Kim').find((u) => u.uuid !== uuid('Alex Kim'))?.uuid as string;
    const alexGrant = sim.truth.repoUserGrants().find((g) => g.userUuid === other) as { repoUuid: string };
    sim.mutate.setRepoUserPermission(alexGrant.repoUuid, other, null);
    sim.mutate.setRepoUserPermission('web-app', uuid("=cmd|' /C calc'!A0"), 'read');
    sim.mutate.deleteRepository('deprecated-tools');
    expect(await sync()).toBe('99');
    truth100 = sim.truth.effectiveAccess();
    expect(await sync()).toBe('100');
    const tasks = await remediationTasks(get().db, campaignA, { now: NOW });
    const by = (name: string) => tasks.filter((t) => t.item.principal_name === name);
    expect(by('Alex Kim').map((t) => [t.status, t.verifiedRun, t.permissionNow])).toEqual([['done', '99', null]]);
    expect(by("=cmd|' /C calc'!A0").map((t) => [t.action, t.target, t.status, t.verifiedRun, t.permissionNow])).toEqual([['reduce', 'read', 'done', '99', 'read']]);
    expect(by("-Robert'); DROP TABLE users;--").map((t) => [t.status, t.verifiedRun, t.note])).toEqual([['moot', '99', 'the repository is gone since run 99: nothing left to change']]);
    const lei = by('李雷');
    expect(lei.map((t) => [t.status, t.permissionNow])).toEqual([['still_present', 'write']]);
    // The access comes from a group grant on the project: the task says what else changing it touches.
    const change = lei[0]?.changes[0];
    expect(change?.change).toBe('remove the write permission of group developers on project PLAT');
    expect(change?.api).toBe(`DELETE ${sim.baseUrl}/2.0/workspaces/acme/projects/PLAT/permissions-config/groups/developers`);
    expect(change?.alsoAffects).toMatch(/^changing the grant of group developers also changes it for its 4 other members: .*Grace Hopper.*; it applies to every repository in project PLAT$/);
    expect(change?.alternative).toContain(`DELETE ${sim.baseUrl}/1.0/groups/acme/developers/members/${encodeURIComponent(uuid('李雷'))}/`);
    const reduce = by("=cmd|' /C calc'!A0")[0]?.changes[0];
    expect(reduce?.api).toBe(`PUT ${sim.baseUrl}/2.0/repositories/acme/web-app/permissions-config/users/${encodeURIComponent(uuid("=cmd|' /C calc'!A0"))} {"permission":"read"}`);
    expect(by('@channel Bot').map((t) => [t.status, t.changes[0]?.api ?? null])).toEqual([['still_present', null]]);
    expect((await campaignStatus(get().db, campaignA, { now: NOW })).remediation).toEqual({ open: 0, done: 2, still_present: 2, moot: 1 });
  });

  it('effective-access changes between two runs equal the difference of the two ground truths, each with its cause', async () => {
    const list = await finishedRuns(get().db, integration.id);
    const ctx = contextAt(get().db, integration, list[list.length - 1] as (typeof list)[number], new Map(list.map((r) => [r.id, r])), NOW);
    const changes = await inSnapshot(get().db, (trx) => effectiveChanges({ ...ctx, db: trx }, '98', '100'));
    const mine = new Map(changes.filter((c) => c.current.resource_kind === 'repository' && c.current.principal_kind === 'user').map((c) => [`${c.current.principal_external_id} ${c.current.resource_external_id}`, c.change]));
    expect(mine).toEqual(truthDiff(truth98, truth100));
    const other = sim.truth.users().filter((u) => u.displayName === 'Alex Kim').find((u) => u.uuid !== uuid('Alex Kim'))?.uuid as string;
    const cause = (user: string, repoSlug: string) => changes.find((c) => c.current.principal_external_id === user && c.current.resource_handle === repoSlug)?.causes;
    const alexRepo = sim.truth.repositories().find((r) => r.uuid === truth98.find((e) => e.userUuid === other && e.paths.some((p) => p.kind === 'direct'))?.repoUuid)?.slug as string;
    expect(cause(other, alexRepo)).toEqual(['grant']);
    expect(cause(uuid("=cmd|' /C calc'!A0"), 'web-app')).toEqual(['grant']);
    expect(cause(uuid('Ada Lovelace'), 'deprecated-tools')).toEqual(['resource-removed']);
  });

  it('close: refused while undecided (unless --force, under the policy); the bundle verifies with sha256sum -c and its decision log chains', async () => {
    const mapped = (await listCampaigns(get().db)).find((c) => c.name === 'Mapped')?.id as string;
    await expect(closeCampaign(get().db, mapped, { outDir: path.join(dir, 'mapped') })).rejects.toThrow(/has \d+ undecided items? of \d+: .*close with --force: the undecided then follow the campaign's policy \(revoke\)/);
    const forced = await closeCampaign(get().db, mapped, { outDir: path.join(dir, 'mapped'), force: true, now: NOW });
    expect(forced.policy).toBe('revoke');
    expect((await remediationTasks(get().db, mapped)).length).toBe(forced.undecided);
    expect((await readLog(get().db, mapped)).filter((e) => e.action === 'policy')).toHaveLength(forced.undecided);

    const out = path.join(dir, 'evidence-q4');
    const result = await closeCampaign(get().db, campaignA, { outDir: out, now: NOW });
    expect(result.files.map((f) => f.file)).toEqual(['campaign.json', 'items.csv', 'undecided.csv', 'decision-log.ndjson', 'remediation.csv', 'remediation.json', 'reviewers.csv']);
    const sums = (await fs.readFile(path.join(out, 'SHA256SUMS'), 'utf8')).trim().split('\n');
    for (const line of sums) {
      const [hash, file] = line.split('  ') as [string, string];
      expect(createHash('sha256').update(await fs.readFile(path.join(out, file))).digest('hex')).toBe(hash);
    }
    const sha256sum = await execFileAsync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: out }).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? null : Promise.reject(error)));
    if (sha256sum) expect(sha256sum.stdout.trim().split('\n')).toEqual([...result.files.map((f) => `${f.file}: OK`), 'manifest.json: OK']);
    const manifest = JSON.parse(await fs.readFile(path.join(out, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest).toMatchObject({ kind: 'roster-review-evidence', campaign: { id: campaignA, name: 'Q4 2026', forced: false }, counts: { items: review.length, undecided: 0, revoke: 4, reduce: 1 }, remediation: { done: 2, still_present: 2, moot: 1, open: 0 } });
    const itemsCsv = await readCsvFile(path.join(out, 'items.csv'));
    expect(itemsCsv).toHaveLength(review.length);
    expect(new Set(itemsCsv.map((r) => r.final_decision))).toEqual(new Set(['keep', 'revoke', 'reduce:read']));
    const reviewersCsv = await readCsvFile(path.join(out, 'reviewers.csv'));
    const total = (column: string) => reviewersCsv.reduce((n, r) => n + Number(r[column]), 0);
    expect([total('items'), total('keep'), total('revoke'), total('reduce'), total('undecided')]).toEqual([review.length, review.length - 5, 4, 1, 0]);
    expect(await verifyBundle(out)).toMatchObject({ ok: true, problems: [] });
    // The chain is checkable from the files alone: genesis = SHA-256(campaign.json).
    const entries = (await fs.readFile(path.join(out, 'decision-log.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { seq: number; prev_sha256: string; sha256: string; body: string });
    expect(entries[0]?.prev_sha256).toBe(createHash('sha256').update(await fs.readFile(path.join(out, 'campaign.json'))).digest('hex'));
    for (const [n, e] of entries.entries()) {
      expect(createHash('sha256').update(`${e.prev_sha256}\n${e.body}`).digest('hex')).toBe(e.sha256);
      if (n > 0) expect(e.prev_sha256).toBe(entries[n - 1]?.sha256);
    }
    // An edited entry shows, even with SHA256SUMS recomputed to match.
    const tampered = path.join(dir, 'tampered');
    await fs.cp(out, tampered, { recursive: true });
    const edited = entries.map((e) => (e.seq === 3 ? { ...e, body: e.body.replace('"keep"', '"revoke"') } : e));
    await fs.writeFile(path.join(tampered, 'decision-log.ndjson'), edited.map((e) => `${JSON.stringify(e)}\n`).join(''));
    const verdict = await verifyBundle(tampered);
    expect(verdict.ok).toBe(false);
    expect(verdict.problems.join('\n')).toMatch(/decision-log\.ndjson: SHA-256 .* \(the file changed\)\ndecision log: entry 3: its body does not hash to its sha256/);
    // The log refuses edits in the database too, and a closed campaign takes no decision.
    await expect(sql`update review_decision_log set body = 'x' where campaign_id = ${campaignA} and seq = 2`.execute(get().db)).rejects.toThrow(/append-only/);
    await expect(sql`delete from review_decision_log where campaign_id = ${campaignA}`.execute(get().db)).rejects.toThrow(/append-only/);
    await expect(closeCampaign(get().db, campaignA, { outDir: path.join(dir, 'again') })).rejects.toThrow(/was closed at/);
  });

  it('a delta campaign after more changes (a repository moved among them) carries forward certified unchanged items and holds exactly what changed', async () => {
    sim.mutate.moveRepository('ml-models', 'PLAT');
    sim.mutate.addGroupMember('finance-ops', uuid('Grace Hopper'));
    sim.mutate.addRepository({ name: 'new-service', projectKey: 'DATA' });
    sim.mutate.setRole(uuid('@channel Bot'), 'owner');
    const truth101 = sim.truth.effectiveAccess();
    expect(await sync()).toBe('101');
    const delta = await createCampaign(get().db, { name: 'Q1 2027 delta', reviewers: 'resource-admins', changesSince: campaignA, now: NOW });
    const all = await items(delta.id);
    const userRepo = (i: (typeof all)[number]) => i.principal_kind === 'user' && i.resource_kind === 'repository';
    const decidedInA = new Map((await items(campaignA)).map((i) => [`${i.principal_external_id} ${i.resource_external_id}`, i.decision]));
    const changed = truthDiff(truth98, truth101);
    const now = truthMap(truth101);
    const expectedReview = new Set([...now.keys()].filter((k) => changed.has(k) || decidedInA.get(k) !== 'keep'));
    const expectedCarried = new Set([...now.keys()].filter((k) => !expectedReview.has(k)));
    const key = (i: (typeof all)[number]) => `${i.principal_external_id} ${i.resource_external_id}`;
    expect(new Set(all.filter((i) => userRepo(i) && !i.carried_forward).map(key))).toEqual(expectedReview);
    expect(new Set(all.filter((i) => userRepo(i) && i.carried_forward).map(key))).toEqual(expectedCarried);
    for (const i of all.filter((x) => userRepo(x) && !x.carried_forward)) {
      const kind = changed.get(key(i));
      expect(i.change, key(i)).toBe(kind === undefined ? 'not-certified' : kind === 'gained' ? 'new' : kind);
    }
    for (const i of all.filter((x) => x.carried_forward)) expect([i.change, i.decision, i.decided_via]).toEqual(['unchanged', 'keep', 'carried-forward']);
    const causes = (i: (typeof all)[number]) => (typeof i.change_causes === 'string' ? (JSON.parse(i.change_causes) as string[]) : (i.change_causes ?? []));
    const moved = all.filter((i) => i.resource_external_id === repo('ml-models') && !i.carried_forward && i.change !== 'not-certified');
    expect(moved.length).toBeGreaterThan(0);
    expect(moved.every((i) => causes(i).includes('repository-moved'))).toBe(true);
    expect(causes(all.find((i) => i.principal_external_id === uuid('Grace Hopper') && i.resource_external_id === sim.truth.repoGroupGrants()[0]?.repoUuid) as (typeof all)[number])).toContain('group-membership');
    expect(all.filter((i) => i.resource_handle === 'new-service').every((i) => causes(i).includes('resource-created'))).toBe(true);
    expect(causes(all.find((i) => i.principal_external_id === uuid('@channel Bot') && i.resource_kind === 'workspace') as (typeof all)[number])).toEqual(['role-change']);
    // Carried-forward entries link the delta's log to the base's.
    const baseLog = await readLog(get().db, campaignA);
    const carry = (await readLog(get().db, delta.id)).filter((e) => e.action === 'carry-forward');
    expect(carry).toHaveLength(delta.carriedForward);
    for (const e of carry.slice(0, 5)) expect(baseLog.map((b) => b.sha256)).toContain((JSON.parse(e.body) as { base_entry_sha256: string }).base_entry_sha256);
    // A carried-forward item is not for review.
    const carried = all.find((i) => i.carried_forward) as (typeof all)[number];
    await expect(recordReviewActions(get().db, delta.id, [{ kind: 'decide', itemId: carried.id, actor: carried.reviewer_key, decision: 'revoke', comment: 'x' }], { source: 'test' })).rejects.toThrow(/Nothing was recorded/);
    // A delta since an open campaign is refused; a delta since a run holds only what changed since it.
    await expect(createCampaign(get().db, { name: 'bad delta', reviewers: 'resource-admins', changesSince: delta.id })).rejects.toThrow(/is still open/);
    const sinceRun = await createCampaign(get().db, { name: 'since run 100', reviewers: 'resource-admins', changesSince: 'run:100', now: NOW });
    const sinceRunItems = (await items(sinceRun.id)).filter(userRepo);
    const changedSince100 = truthDiff(truth100, truth101);
    expect(new Set(sinceRunItems.map(key))).toEqual(new Set([...changedSince100].filter(([, v]) => v !== 'lost').map(([k]) => k)));
    expect(sinceRunItems.filter((i) => i.resource_external_id === repo('ml-models')).every((i) => causes(i).includes('repository-moved'))).toBe(true);
  });

  it('effective changes see a repository moved between projects as of the earlier run (history keeps a repository\'s project per run)', async () => {
    const list = await finishedRuns(get().db, integration.id);
    const ctx = contextAt(get().db, integration, list[list.length - 1] as (typeof list)[number], new Map(list.map((r) => [r.id, r])), NOW);
    const changes = await inSnapshot(get().db, (trx) => effectiveChanges({ ...ctx, db: trx }, '100', '101'));
    expect(changes.some((c) => c.current.resource_external_id === repo('ml-models') && c.causes.includes('repository-moved'))).toBe(true);
  });
});
