import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { closeCampaign, createCampaign, exportCampaign, importReviewFiles, recordReviewActions } from '../../src/review/index.ts';
import { describeWithDb } from '../helpers/db.ts';
import { connectSim, syncSim } from '../helpers/sim-sync.ts';
import { type Simulator, startSimulator } from '../../connectors/bitbucket-cloud/simulator/index.ts';

/**
 * Bad input to `roster review import`: every case the issue lists is refused with its file, line and
 * fix, and nothing at all is recorded; what Excel does to a CSV (byte order mark, semicolons, CRLF)
 * is accepted. Also reassignment, which goes through the same path.
 */

type Row = Record<string, string>;

describeWithDb('review import: bad input is refused whole, with lines and fixes', (get) => {
  let sim: Simulator;
  let dir: string;
  let campaign: string;
  let other: string;
  let ada: Row[];
  let header: string[];
  const uuid = (name: string): string => sim.truth.users().find((u) => u.displayName === name)?.uuid as string;
  const decided = async (c = campaign): Promise<number> =>
    (await sql<{ n: number }>`select count(*)::int as n from review_item_states where campaign_id = ${c} and decision is not null`.execute(get().db)).rows[0]?.n ?? -1;
  const logLength = async (c = campaign): Promise<number> => (await sql<{ n: number }>`select count(*)::int as n from review_decision_log where campaign_id = ${c}`.execute(get().db)).rows[0]?.n ?? -1;
  const csv = (rows: Row[], options: { delimiter?: string; crlf?: boolean; bom?: boolean } = {}): Buffer =>
    Buffer.from(`${options.bom ? '\ufeff' : ''}${stringify(rows, { header: true, columns: header, delimiter: options.delimiter ?? ',', record_delimiter: options.crlf ? '\r\n' : '\n', escape_formulas: true })}`);
  const attempt = async (rows: Row[], options: { reviewer?: string; name?: string; into?: string } & Parameters<typeof csv>[1] = {}) => {
    const before = [await decided(options.into), await logLength(options.into)];
    const error = await importReviewFiles(get().db, options.into ?? campaign, [{ name: options.name ?? 'ada.csv', bytes: csv(rows, options) }], { reviewer: options.reviewer }).then(
      () => null,
      (e: Error) => e,
    );
    // All or nothing: a refused file records nothing at all.
    if (error) expect([await decided(options.into), await logLength(options.into)]).toEqual(before);
    else expect(await logLength(options.into)).toBeGreaterThan(before[1] as number);
    return error?.message ?? '(imported)';
  };
  const row = (pick: (r: Row) => boolean): Row => ({ ...(ada.find(pick) as Row) });

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'roster-review-import-'));
    sim = await startSimulator({ profile: 'small', seed: 1, rateLimit: false });
    const integration = await connectSim(get(), sim, 'acme');
    expect((await syncSim(get(), integration)).status).toBe('succeeded');
    campaign = (await createCampaign(get().db, { name: 'Q4', reviewers: 'resource-admins' })).id;
    other = (await createCampaign(get().db, { name: 'Other', reviewer: 'security-lead@acme.example' })).id;
    const files = await exportCampaign(get().db, campaign, { outDir: dir });
    const file = files.files.find((f) => f.reviewer === 'Ada Lovelace')?.file as string;
    const text = await fs.readFile(file);
    header = (parse(text, { bom: true, to_line: 1 }) as string[][])[0] as string[];
    ada = parse(text, { columns: true, bom: true }) as Row[];
  });
  afterAll(async () => {
    await sim?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('an unknown item id', async () => {
    const rows = ada.slice(0, 3).map((r) => ({ ...r, decision: 'keep' }));
    (rows[1] as Row).item_id = '999999';
    expect(await attempt(rows)).toMatch(/^Nothing was imported: 1 row needs fixing\. .*\n {2}ada\.csv line 3: item 999999 does not exist — fix: keep the item_id column as exported from campaign \d+/s);
  });

  it('an item of another campaign', async () => {
    const files = await exportCampaign(get().db, other, { outDir: path.join(dir, 'other') });
    const rows = (parse(await fs.readFile(files.files[0]?.file as string), { columns: true, bom: true }) as Row[]).slice(0, 2).map((r) => ({ ...r, decision: 'keep' }));
    expect(await attempt(rows)).toMatch(new RegExp(`ada\\.csv line 2: item \\d+ belongs to campaign ${other} \\("Other"\\), not to campaign ${campaign} \\("Q4"\\) — fix: import this file into campaign ${other}`));
  });

  it('a decision word that is not one of the three', async () => {
    const r = row((x) => x.resource_kind === 'repository' && x.permission === 'write');
    expect(await attempt([{ ...r, decision: 'approve' }])).toMatch(new RegExp(`ada\\.csv line 2: item \\d+ \\(.* on repository ${r.resource}, write\\): decision "approve" is not one of keep, revoke, reduce — fix: write one of keep, revoke, reduce:read`));
  });

  it('a reduce to a permission that is not lower', async () => {
    const read = row((x) => x.resource_kind === 'repository' && x.permission === 'read');
    const admin = row((x) => x.resource_kind === 'repository' && x.permission === 'admin');
    const message = await attempt([{ ...read, decision: 'reduce:write', comment: 'less' }, { ...admin, decision: 'reduce:admin', comment: 'less' }]);
    expect(message).toMatch(/line 2: .*reduce:write is not lower than read \(the access held on this repository\) — fix: nothing is lower than read on a repository: write keep or revoke/);
    expect(message).toMatch(/line 3: .*reduce:admin is not lower than admin .* — fix: write reduce:read or reduce:write, or revoke/);
  });

  it('a revoke or reduce without a comment', async () => {
    const write = row((x) => x.resource_kind === 'repository' && x.permission === 'write');
    const keepers = ada.filter((x) => x.item_id !== write.item_id).slice(0, 2).map((x) => ({ ...x, decision: 'keep' }));
    const message = await attempt([...keepers, { ...write, decision: 'revoke', comment: '  ' }]);
    expect(message).toMatch(/^Nothing was imported: 1 row needs fixing/);
    expect(message).toMatch(/line 4: item \d+ .*: revoke needs a comment — fix: say why in the comment column/);
    expect(await attempt([{ ...write, decision: 'reduce:read' }])).toMatch(/line 2: .*reduce:read needs a comment/);
  });

  it('a row whose context columns were edited', async () => {
    const r = row((x) => x.resource_kind === 'repository' && x.permission === 'write');
    const message = await attempt([{ ...r, permission: 'read', decision: 'keep' }]);
    expect(message).toMatch(/line 2: item \d+: permission differs from the item \(permission says "read", the item has "write"\): the row was edited, so the decision may be about something else — fix: restore the row from a fresh export/);
    const renamed = await attempt([{ ...r, principal_name: 'Someone Else', paths: 'direct (admin)', decision: 'keep' }]);
    expect(renamed).toMatch(/principal_name, paths differ from the item/);
    // A column deleted or added is refused for the whole file.
    const without = Buffer.from(stringify([{ ...r, decision: 'keep' }], { header: true, columns: header.filter((h) => h !== 'flags') }));
    await expect(importReviewFiles(get().db, campaign, [{ name: 'cut.csv', bytes: without }])).rejects.toThrow(/cut\.csv: the header lacks flags: decide in a file exported by roster review export/);
  });

  it('a reviewer deciding items not assigned to them', async () => {
    const r = row((x) => x.resource_kind === 'repository');
    expect(await attempt([{ ...r, decision: 'keep' }], { reviewer: 'Zoë Ångström' })).toMatch(/line 2: item \d+ is assigned to Ada Lovelace \(.*\), not to Zoë Ångström \(.*\) — fix: leave it to its reviewer/);
    // The same with the reviewer_id column changed instead.
    expect(await attempt([{ ...r, reviewer_id: `user:${uuid('Zoë Ångström')}`, decision: 'keep' }])).toMatch(/is assigned to Ada Lovelace .*, not to Zoë Ångström/);
    expect(await attempt([{ ...r, decision: 'keep' }], { reviewer: 'nobody@acme.example' })).toMatch(/reviewer "nobody@acme.example" is not a reviewer of this campaign\. Reviewers: /);
  });

  it('several problems are listed at once, in line order, after a multi-line comment; nothing of the good rows is recorded', async () => {
    const rows = ada.slice(0, 8).map((x) => ({ ...x, decision: 'keep' }));
    (rows[0] as Row).comment = 'first line\r\nsecond line\r\nthird line';
    (rows[2] as Row).decision = 'maybe';
    (rows[5] as Row).item_id = '424242';
    (rows[6] as Row).permission = 'admin';
    const message = await attempt(rows, { delimiter: ';', crlf: true, bom: true });
    // The comment spans lines 2–4, so the rows after it start two lines later.
    expect(message.split('\n').slice(1).map((l) => /line (\d+):/.exec(l)?.[1])).toEqual(['6', '9', '10']);
  });

  it('a file from Excel (byte order mark, semicolons, CRLF) imports', async () => {
    const rows = ada.slice(0, 4).map((x) => ({ ...x, decision: 'keep', comment: 'ok; still needed' }));
    expect(await attempt(rows, { delimiter: ';', crlf: true, bom: true })).toBe('(imported)');
    expect(await decided()).toBe(4);
  });

  it('a file that is not UTF-8, and a duplicated row', async () => {
    const latin1 = Buffer.from(csv([{ ...(ada[0] as Row), decision: 'keep' }]).toString('utf8').replace(/\ufeff/, ''), 'latin1');
    const withAccent = Buffer.concat([latin1, Buffer.from([0xe9, 0x0a])]);
    await expect(importReviewFiles(get().db, campaign, [{ name: 'latin1.csv', bytes: withAccent }])).rejects.toThrow(/latin1\.csv is not UTF-8 text: in Excel, save it with "Save as type: CSV UTF-8/);
    const r = { ...(ada[5] as Row), decision: 'keep' };
    expect(await attempt([r, r])).toMatch(/line 3: item \d+ appears twice/);
  });

  it('reassignment: with a reason, never to the item\'s own principal; then only the new reviewer decides it', async () => {
    const r = row((x) => x.principal_name === 'Grace Hopper' && x.resource_kind === 'repository' && x.decision === '');
    expect(await attempt([{ ...r, reassign_to: 'Grace Hopper', comment: 'she knows' }])).toMatch(/cannot be reassigned to Grace Hopper .*, whose own access it is — fix: nobody reviews their own access/);
    expect(await attempt([{ ...r, reassign_to: 'team-lead@acme.example' }])).toMatch(/a reassignment needs a reason/);
    expect(await attempt([{ ...r, reassign_to: 'team-lead@acme.example', decision: 'keep', comment: 'x' }])).toMatch(/both a decision and reassign_to/);
    expect(await attempt([{ ...r, reassign_to: 'team-lead@acme.example', comment: 'I do not know this repository' }])).toBe('(imported)');
    await expect(recordReviewActions(get().db, campaign, [{ kind: 'decide', itemId: r.item_id as string, actor: 'Ada Lovelace', decision: 'keep', comment: null }], { source: 'test' })).rejects.toThrow(/Nothing was recorded/);
    const outcome = await recordReviewActions(get().db, campaign, [{ kind: 'decide', itemId: r.item_id as string, actor: 'team-lead@acme.example', decision: 'revoke', comment: 'not on the team' }], { source: 'web' });
    expect(outcome).toEqual({ decided: 1, unchanged: 0, reassigned: 0, logged: 1 });
    const log = await sql<{ body: string }>`select body from review_decision_log where campaign_id = ${campaign} and item_id = ${r.item_id} order by seq`.execute(get().db);
    expect(log.rows.map((e) => JSON.parse(e.body) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ action: 'reassign', by: 'user:' + uuid('Ada Lovelace'), to: 'email:team-lead@acme.example', reason: 'I do not know this repository', source: 'import:ada.csv' }),
      expect.objectContaining({ action: 'decide', reviewer: 'email:team-lead@acme.example', decision: 'revoke', source: 'web' }),
    ]);
  });

  it('a closed campaign takes nothing', async () => {
    await closeCampaign(get().db, other, { outDir: path.join(dir, 'closed'), force: true });
    const files = await exportCampaign(get().db, other, { outDir: path.join(dir, 'closed-export') });
    const rows = (parse(await fs.readFile(files.files[0]?.file as string), { columns: true, bom: true }) as Row[]).slice(0, 1).map((r) => ({ ...r, decision: 'keep' }));
    expect(await attempt(rows, { into: other })).toMatch(new RegExp(`^Campaign ${other} "Other" was closed at .*: its decisions are final and its evidence is written\\. Nothing was recorded; start a new campaign \\(a delta review: roster review create --changes-since ${other}\\)`));
  });
});
