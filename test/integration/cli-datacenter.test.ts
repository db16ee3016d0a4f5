/**
 * Bitbucket Data Center through the real command line, as the contract says:
 * `roster sim --source bitbucket-datacenter` prints the JSON line, `roster integration add NAME
 * --kind bitbucket-datacenter --base-url URL --credential-kind http-access-token --secret-env VAR`
 * connects it, `roster sync`, the reports and `roster status` work unchanged, and `roster demo
 * --source bitbucket-datacenter` runs.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startDcSimulator, type DcSimulator } from '../../connectors/bitbucket-datacenter/simulator/index.ts';
import { describeCli } from '../helpers/cli.ts';
import { rosterDcAccess, truthDcAccess } from '../helpers/dc-sync.ts';

describeCli('roster with a Bitbucket Data Center integration', (cli) => {
  let sim: DcSimulator;
  beforeAll(async () => {
    sim = await startDcSimulator({ profile: 'small', seed: 9 });
  });
  afterAll(() => sim.close());

  it('roster sim --source bitbucket-datacenter prints baseUrl and credentials.adminToken, then serves', async () => {
    const running = cli().spawn(['sim', '--source', 'bitbucket-datacenter', '--profile', 'small', '--seed', '3', '--rate-limit', 'off']);
    try {
      let line = '';
      for (let i = 0; i < 200 && !line.includes('\n'); i++) {
        await new Promise((r) => setTimeout(r, 50));
        line = running.stdout();
      }
      const printed = JSON.parse(line.split('\n')[0] ?? '') as { baseUrl: string; credentials: { adminToken: { token: string } } };
      expect(printed.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await fetch(`${printed.baseUrl}/rest/api/latest/admin/permissions/users`, { headers: { authorization: `Bearer ${printed.credentials.adminToken.token}` } });
      expect(res.status).toBe(200);
    } finally {
      running.child.kill('SIGTERM');
      await running.exited;
    }
  });

  it('integration add --help explains the Data Center credential kinds', async () => {
    const help = await cli().run(['integration', 'add', '--help']);
    expect(help.stdout).toContain('bitbucket-datacenter');
    expect(help.stdout).toContain('http-access-token');
    expect(help.stdout).toContain('SYS_ADMIN');
  });

  it('integration add, sync, reports and status, equal to the truth', async () => {
    const token = sim.credentials.adminToken.kind === 'http-access-token' ? sim.credentials.adminToken.token : '';
    const add = await cli().run(['integration', 'add', 'dc', '--kind', 'bitbucket-datacenter', '--base-url', sim.baseUrl, '--credential-kind', 'http-access-token', '--secret-env', 'DC_TOKEN', '--requests-per-second', '1000'], { env: { DC_TOKEN: token } });
    expect(add.stderr + add.stdout).toContain('Added integration "dc"');
    expect(add.stdout + add.stderr).not.toContain(token);
    const noUrl = await cli().run(['integration', 'add', 'dc2', '--kind', 'bitbucket-datacenter', '--credential-kind', 'http-access-token', '--secret-env', 'DC_TOKEN'], { env: { DC_TOKEN: token } });
    expect(noUrl.code).not.toBe(0);
    expect(noUrl.stderr).toContain('--base-url');
    const sync = await cli().run(['sync', '--integration', 'dc']);
    expect(sync.code, sync.stderr).toBe(0);
    const id = await cli().withDb(async (h) => String((await h.db.selectFrom('integrations').select('id').where('name', '=', 'dc').executeTakeFirstOrThrow()).id));
    expect(await cli().withDb((h) => rosterDcAccess(h, id))).toEqual(truthDcAccess(sim));
    for (const report of ['access-review', 'coverage']) {
      const out = await cli().run(['report', report, '--integration', 'dc', '--format', 'json']);
      expect(out.code, `${report}: ${out.stderr}`).toBe(0);
      expect(() => JSON.parse(out.stdout) as unknown, report).not.toThrow();
    }
    const privileged = await cli().run(['report', 'privileged-access', '--integration', 'dc', '--format', 'csv']);
    expect(privileged.stdout).toContain('SYS_ADMIN');
    const machines = await cli().run(['report', 'machine-credentials', '--integration', 'dc', '--format', 'csv']);
    expect(machines.stdout).toContain('deploy-bot (write)');
    expect(machines.stdout).toContain('ci-deploy (expired)');
    // Review campaigns work unchanged: items from the Data Center run, dangerous names neutralized in the export.
    const created = await cli().run(['review', 'create', '--name', 'Q4 DC', '--integration', 'dc', '--reviewer', 'auditor@acme.example']);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stderr).toMatch(/created campaign \d+ "Q4 DC": \d+ items/);
    const status = await cli().run(['status', '--json']);
    expect(status.code, status.stdout).toBe(0);
    expect(status.stdout).toContain('"dc"');
  });

  it('roster demo --source bitbucket-datacenter', async () => {
    const demo = await cli().run(['demo', '--source', 'bitbucket-datacenter']);
    expect(demo.code, demo.stderr).toBe(0);
    expect(demo.stdout + demo.stderr).toContain('Bitbucket Data Center');
    expect(demo.stdout).toContain('Ada Lovelace');
  });
});
