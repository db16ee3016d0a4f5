import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeCli } from '../helpers/cli.ts';
import { type Simulator, startSimulator } from '../../connectors/bitbucket-cloud/simulator/index.ts';

/**
 * The command line of review campaigns is a contract scripts rely on: `create` prints the campaign
 * id, `list --json` and `status --json` have the documented keys, a refused import exits 1 with the
 * lines to fix on stderr. Run through the real CLI against the simulator.
 */
describeCli('roster review: the command line contract', (cli) => {
  let sim: Simulator;
  let dir: string;
  let id: string;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'roster-review-cli-'));
    sim = await startSimulator({ profile: 'small', seed: 1, rateLimit: false });
    const c = sim.credentials.adminApiToken;
    const added = await cli().run(['integration', 'add', 'acme', '--workspace', 'acme', '--credential-kind', 'api-token', '--username', c.email, '--secret-env', 'BB', '--base-url', sim.baseUrl, '--budget', '100000'], { env: { BB: c.token } });
    expect(added.stderr).not.toMatch(/error/i);
    expect((await cli().run(['sync', '--integration', 'acme'])).code).toBe(0);
  });
  afterAll(async () => {
    await sim?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('create prints the campaign id alone; list --json is an array with id, name, status', async () => {
    const created = await cli().run(['review', 'create', '--integration', 'acme', '--name', 'Q4 2026', '--reviewers', 'resource-admins', '--due', '2027-01-15']);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^\d+\n$/);
    id = created.stdout.trim();
    expect(created.stderr).toMatch(new RegExp(`created campaign ${id} "Q4 2026": \\d+ items? from run \\d+ of acme`));
    const list = await cli().run(['review', 'list', '--json']);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ id, name: 'Q4 2026', status: 'open' })]);
    const refused = await cli().run(['review', 'create', '--integration', 'acme', '--name', 'x', '--reviewer', 'Alex Kim']);
    expect([refused.code, refused.stdout]).toEqual([1, '']);
    expect(refused.stderr).toMatch(/^roster: --reviewer "Alex Kim" matches 2 users/);
    const noRule = await cli().run(['review', 'create', '--name', 'y']);
    expect(noRule.stderr).toContain('give exactly one of --reviewer WHO, --reviewers resource-admins, --reviewers-file FILE.csv');
  });

  it('export, a refused import (exit 1, lines on stderr), an import, status --json, remediation, close and verify', async () => {
    const exported = await cli().run(['review', 'export', id, '--out', path.join(dir, 'out')]);
    expect(exported.code).toBe(0);
    const files = (await fs.readdir(path.join(dir, 'out'))).map((f) => path.join(dir, 'out', f));
    const decided: string[] = [];
    for (const file of files) {
      const rows = parse(await fs.readFile(file), { columns: true, bom: true }) as Array<Record<string, string>>;
      await fs.writeFile(`${file}.bad.csv`, stringify(rows.map((r, i) => ({ ...r, decision: i === 0 ? 'revoke' : 'keep' })), { header: true, escape_formulas: true }));
      await fs.writeFile(file, stringify(rows.map((r, i) => ({ ...r, decision: i === 0 ? 'revoke' : 'keep', comment: i === 0 ? 'not needed' : '' })), { header: true, escape_formulas: true }));
      decided.push(file);
    }
    const bad = await cli().run(['review', 'import', id, `${files[0]}.bad.csv`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^roster: Nothing was imported: 1 row needs fixing\..*\n {2}.*\.bad\.csv line 2: item \d+ .*revoke needs a comment — fix: /s);
    const good = await cli().run(['review', 'import', id, ...decided]);
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/Recorded \d+ decisions? \(0 already recorded as given\), 0 reassignments;/);
    const status = await cli().run(['review', 'status', id, '--json']);
    const s = JSON.parse(status.stdout) as Record<string, unknown> & { reviewers: Array<Record<string, unknown>>; remediation: Record<string, number> };
    expect(s).toMatchObject({ items: expect.any(Number), decided: s.items, undecided: 0 });
    for (const r of s.reviewers) expect(r).toMatchObject({ items: expect.any(Number), decided: r.items });
    expect(Object.keys(s.remediation).sort()).toEqual(['done', 'moot', 'open', 'still_present']);
    expect(s.remediation.open).toBe(files.length);
    const text = await cli().run(['review', 'status', id]);
    expect(text.stdout).toMatch(new RegExp(`^Campaign ${id} "Q4 2026" \\(open, due 2027-01-15\\): \\d+ of \\d+ decided`));
    const remediation = await cli().run(['review', 'remediation', id]);
    const tasks = parse(remediation.stdout, { columns: true }) as Array<Record<string, string>>;
    expect(tasks).toHaveLength(files.length);
    expect(tasks.every((t) => t.status === 'open' && t.action === 'revoke')).toBe(true);
    const json = JSON.parse((await cli().run(['review', 'remediation', id, '--format', 'json'])).stdout) as unknown[];
    expect(json).toHaveLength(files.length);
    const closed = await cli().run(['review', 'close', id, '--out', path.join(dir, 'evidence')]);
    expect(closed.code).toBe(0);
    expect(closed.stdout).toContain('manifest.json, SHA256SUMS');
    const verified = await cli().run(['review', 'verify', path.join(dir, 'evidence')]);
    expect([verified.code, verified.stdout]).toEqual([0, expect.stringMatching(/^OK: 8 files match SHA256SUMS; the decision log's \d+ entries chain/)]);
    await fs.appendFile(path.join(dir, 'evidence', 'items.csv'), 'x');
    const broken = await cli().run(['review', 'verify', path.join(dir, 'evidence')]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('items.csv: SHA-256');
    const listed = JSON.parse((await cli().run(['review', 'list', '--json'])).stdout) as Array<{ status: string }>;
    expect(listed[0]?.status).toBe('closed');
  });

  it('report access-changes --effective is the effective-access-changes report', async () => {
    const viaFlag = await cli().run(['report', 'access-changes', '--effective', '--format', 'json']);
    const direct = await cli().run(['report', 'effective-access-changes', '--format', 'json']);
    expect(viaFlag.code).toBe(0);
    expect(viaFlag.stdout).toBe(direct.stdout);
    const rows = JSON.parse(viaFlag.stdout) as Array<{ change: string; causes: string[] }>;
    // Since before the first run, every access was gained, by its resource and principal appearing.
    expect(rows.length).toBeGreaterThan(20);
    expect(new Set(rows.map((r) => r.change))).toEqual(new Set(['gained']));
    const wrong = await cli().run(['report', 'groups', '--effective']);
    expect(wrong.stderr).toContain('--effective applies to access-changes only');
  });

  it("review tables never stop an integration's removal: every key to integrations or runs cascades or clears", async () => {
    // (`integration remove` itself is checked elsewhere; here: none of the review tables' keys would refuse it.)
    const keys = await cli().withDb(async (h) =>
      (
        await sql<{ conname: string; target: string; action: string }>`
          select c.conname, t.relname as target, c.confdeltype as action
            from pg_constraint c join pg_class s on s.oid = c.conrelid join pg_class t on t.oid = c.confrelid
           where c.contype = 'f' and s.relname like 'review_%' and t.relname in ('integrations', 'sync_runs', 'principals', 'resources')
           order by c.conname`.execute(h.db)
      ).rows,
    );
    // c = cascade, n = set null, a = no action: a campaign run's row goes with its integration in the same
    // delete, so its key to the run is checked when both are gone.
    expect(keys.map((k) => `${k.conname} ${k.target} ${k.action}`)).toEqual([
      'review_campaign_runs_integration_id_fkey integrations c',
      'review_campaign_runs_run_id_fkey sync_runs a',
      'review_campaigns_base_run_id_fkey sync_runs n',
      'review_items_integration_id_fkey integrations c',
    ]);
  });
});
