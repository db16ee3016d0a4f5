import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../connectors/bitbucket-cloud/simulator/index.ts';
import { describeCli } from '../helpers/cli.ts';

// `roster report … --as-of DATE --since RUN|DATE --until RUN|DATE` through the real binary: the
// option parsing end to end, from the command line to the rows.

type Row = Record<string, string | number | null>;

function rows(stdout: string): Row[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Row);
}

describeCli('roster report: --as-of, --since and --until on the command line', (cli) => {
  let sim: Simulator;
  const runs: string[] = [];
  /** A moment after each run finished and before the next one started. */
  const between: string[] = [];
  let repo = '';
  let user = '';

  const sync = async () => {
    const result = await cli().runBinary(['sync', '--integration', 'acme']);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    runs.push(/^Run (\d+) of "acme"/.exec(result.stdout)?.[1] ?? 'none');
    await new Promise((r) => setTimeout(r, 20));
    between.push(new Date().toISOString());
    await new Promise((r) => setTimeout(r, 20));
  };

  beforeAll(async () => {
    sim = await startSimulator({ profile: 'small', seed: 5, rateLimit: false });
    const c = sim.credentials.adminApiToken;
    const added = await cli().runBinary(['integration', 'add', 'acme', '--workspace', sim.workspace, '--credential-kind', 'api-token', '--username', c.email, '--secret-env', 'TOKEN', '--base-url', sim.baseUrl, '--budget', '100000'], { env: { TOKEN: c.token } });
    expect(added.code, added.stderr).toBe(0);
    const target = sim.truth.repositories()[0];
    // A member with no access of their own to that repository, so the new grant is the only path.
    const member = sim.mutate.addMember({ displayName: 'Report Probe', nickname: 'report-probe' });
    repo = target?.slug ?? '';
    user = member.uuid;
    await sync(); // runs[0]: before the grant
    sim.mutate.setRepoUserPermission(repo, user, 'admin');
    await sync(); // runs[1]: granted
    sim.mutate.setRepoUserPermission(repo, user, null);
    await sync(); // runs[2]: revoked
  }, 240_000);
  afterAll(async () => {
    await sim?.close();
  });

  const report = (args: string[]) => cli().runBinary(['report', ...args, '--format', 'ndjson']);
  const probeChanges = (output: string) => rows(output).filter((r) => r.principal_id === user && r.resource === repo).map((r) => `${r.change} ${r.permission_after ?? ''}`.trim());

  it('access-changes takes run ids and dates for --since and --until', async () => {
    expect(runs.every((r) => /^\d+$/.test(r))).toBe(true);
    const byRuns = await report(['access-changes', '--since', runs[0] as string, '--until', runs[1] as string]);
    expect(byRuns.code, byRuns.stderr).toBe(0);
    expect(probeChanges(byRuns.stdout)).toEqual(['granted admin']);
    const revoked = await report(['access-changes', '--since', runs[1] as string, '--until', runs[2] as string]);
    expect(probeChanges(revoked.stdout)).toEqual(['revoked']);
    const byDates = await report(['access-changes', '--since', between[0] as string, '--until', between[1] as string]);
    expect(byDates.code, byDates.stderr).toBe(0);
    expect(probeChanges(byDates.stdout)).toEqual(['granted admin']);
    // --until defaults to now; a date-only --since means the end of that day (UTC).
    const sinceFirst = await report(['access-changes', '--since', runs[0] as string]);
    expect(probeChanges(sinceFirst.stdout).sort()).toEqual(['granted admin', 'revoked']);
    const longAgo = await report(['access-changes', '--since', '2000-01-01']);
    expect(longAgo.code, longAgo.stderr).toBe(0);
    expect(probeChanges(longAgo.stdout).sort()).toEqual(['granted admin', 'revoked']);
  }, 120_000);

  it('--as-of picks the state at that time', async () => {
    const then = await report(['user-access', '--user', user, '--as-of', between[1] as string]);
    expect(then.code, then.stderr).toBe(0);
    expect(rows(then.stdout).some((r) => Object.values(r).includes(repo))).toBe(true);
    const now = await report(['user-access', '--user', user]);
    expect(now.code, now.stderr).toBe(0);
    expect(rows(now.stdout).some((r) => Object.values(r).includes(repo))).toBe(false);
  }, 120_000);

  it('a wrong point in time is named, with what would work', async () => {
    const before = await report(['access-review', '--as-of', '2000-01-01']);
    expect(before.code).toBe(1);
    expect(before.stderr).toContain('No sync of "acme" had finished by 2000-01-01T23:59:59.999Z');
    const words = await report(['access-changes', '--since', 'yesterday']);
    expect(words.code).toBe(1);
    expect(words.stderr).toBe('roster: --since "yesterday" is not a date or a run id: use e.g. 2026-11-01, 2026-11-01T12:00:00Z or a run number from `roster status`.\n');
    const runAsOf = await report(['access-review', '--as-of', runs[0] as string]);
    expect(runAsOf.code).toBe(1);
    expect(runAsOf.stderr).toContain(`--as-of "${runs[0]}" is not a date:`);
    const until = await report(['access-changes', '--since', runs[0] as string, '--until', 'soon']);
    expect(until.code).toBe(1);
    expect(until.stderr).toContain('--until "soon" is not a date or a run id');
  }, 120_000);
});
