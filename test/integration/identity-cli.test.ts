import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { describeCli } from '../helpers/cli.ts';

interface SimLine {
  baseUrl: string;
  workspace: string;
  credentials: { adminApiToken: { email: string; token: string }; orgApiKey: { kind: string; orgId: string; token: string } };
}

/**
 * The whole path as a user runs it, through the real binary: `roster sim` (Bitbucket Cloud and its
 * Atlassian organization in one process), both integrations added, synced, a people file that marks
 * Grace Hopper — the simulator's planted member — terminated, and `roster report identity-findings`.
 */
describeCli('identity on the command line: roster sim → integration add → sync → people import → identity-findings', (cli) => {
  it('lists Grace Hopper as terminated-with-access after the people file marks her e-mail terminated', async () => {
    const sim = cli().spawn(['sim', '--profile', 'small', '--seed', '11', '--rate-limit', 'off']);
    try {
      const line = await new Promise<string>((resolve, reject) => {
        const poll = setInterval(() => {
          const out = sim.stdout();
          if (out.includes('\n')) {
            clearInterval(poll);
            resolve(out.slice(0, out.indexOf('\n')));
          }
        }, 20);
        void sim.exited.then((code) => {
          clearInterval(poll);
          reject(new Error(`roster sim exited (${code}): ${sim.stderr()}`));
        });
      });
      const info = JSON.parse(line) as SimLine;
      expect(info.credentials.orgApiKey.kind).toBe('org-api-key');
      const { orgId, token } = info.credentials.orgApiKey;

      const bb = await cli().run(['integration', 'add', 'acme', '--workspace', info.workspace, '--credential-kind', 'api-token', '--username', info.credentials.adminApiToken.email, '--secret-env', 'BB_TOKEN', '--base-url', info.baseUrl], {
        env: { BB_TOKEN: info.credentials.adminApiToken.token },
      });
      expect(bb.code, bb.stderr).toBe(0);
      const org = await cli().run(['integration', 'add', 'acme-org', '--kind', 'atlassian-org', '--org-id', orgId, '--credential-kind', 'org-api-key', '--secret-env', 'ORG_KEY', '--base-url', info.baseUrl], { env: { ORG_KEY: token } });
      expect(org.code, org.stderr).toBe(0);
      const badOrg = await cli().run(['integration', 'add', 'other-org', '--kind', 'atlassian-org', '--credential-kind', 'org-api-key', '--secret-env', 'ORG_KEY', '--base-url', info.baseUrl], { env: { ORG_KEY: token } });
      expect(badOrg.code).not.toBe(0);
      expect(badOrg.stderr).toMatch(/--org-id: is required: the organization id/);

      const synced = await cli().run(['sync']);
      expect(synced.code, synced.stderr + synced.stdout).toBe(0);
      expect(synced.stdout).toMatch(/Organization sync of "acme-org" succeeded/);
      expect(synced.stdout).toMatch(/3 directory groups\./);
      // The directory's groups against the workspace's /1.0/groups: the organization-only group and the one with another member.
      const coverage = await cli().run(['report', 'coverage', '--integration', 'acme', '--format', 'json']);
      expect(coverage.code, coverage.stderr).toBe(0);
      const groupGaps = (JSON.parse(coverage.stdout) as Array<{ kind: string; scope: string; label: string }>).filter((r) => r.kind === 'directory-group-gap');
      expect(groupGaps.map((g) => [g.scope.slice(0, g.scope.indexOf(':')), g.label.slice(0, g.label.indexOf(' ('))]).sort()).toEqual([
        ['directory-group-not-in-workspace', 'bitbucket-release-managers'],
        ['group-membership-differs', '=Finance Ops'],
      ]);

      // Her e-mail as the organization spells it, in lower case: matched ignoring case.
      const users = (await (await fetch(`${info.baseUrl}/admin/v1/orgs/${orgId}/users`, { headers: { authorization: `Bearer ${token}` } })).json()) as { data: Array<{ name: string; email: string; account_id: string }> };
      const grace = users.data.find((u) => u.name === 'Grace Hopper');
      if (!grace) throw new Error('the organization does not list Grace Hopper');
      expect(grace.email).not.toBe(grace.email.toLowerCase());
      const file = path.join(cli().dataDir, 'hr.csv');
      fs.writeFileSync(file, `email,name,status,termination_date,department\n${grace.email.toLowerCase()},Grace Hopper,terminated,2026-10-31,Engineering\n`);
      const imported = await cli().run(['people', 'import', file, '--source', 'workday']);
      expect(imported.code, imported.stderr).toBe(0);
      expect(imported.stdout).toMatch(/Imported 1 person into source "workday" \(import \d+\): 1 new, 0 changed, 0 unchanged, 0 gone\./);

      const report = await cli().runBinary(['report', 'identity-findings', '--format', 'json']);
      expect(report.code, report.stderr).toBe(0);
      const findings = JSON.parse(report.stdout) as Array<Record<string, unknown>>;
      const terminated = findings.filter((f) => f.kind === 'terminated-with-access');
      expect(terminated).toHaveLength(1);
      expect(terminated[0]).toMatchObject({ kind: 'terminated-with-access', account_id: grace.account_id, email: grace.email, display_name: 'Grace Hopper', matched_by: 'email' });
      expect((terminated[0]?.person as Record<string, unknown>).termination_date).toBe('2026-10-31');

      // Status knows the organization as an integration of its own: one verdict each, the run it last made.
      const status = await cli().run(['status', '--json']);
      expect(status.code, status.stderr).toBe(0);
      const integrations = (JSON.parse(status.stdout) as { integrations: Array<{ integration: string; verdict: string }> }).integrations;
      expect(integrations.map((i) => [i.integration, i.verdict])).toEqual([
        ['acme', 'healthy'],
        ['acme-org', 'healthy'],
      ]);

      const bad = path.join(cli().dataDir, 'bad.csv');
      fs.writeFileSync(bad, 'email,status\na@acme.example,fired\nA@ACME.example,active\n');
      const refused = await cli().run(['people', 'import', bad]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/line 2: status "fired"/);
      expect(refused.stderr).toMatch(/line 3: A@ACME\.example again \(first on line 2/);
    } finally {
      sim.child.kill('SIGTERM');
      await sim.exited;
    }
  }, 120_000);
});
