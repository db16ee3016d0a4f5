/**
 * `roster sim` behaviour, through the standalone entry and through the real binary
 * (`node bin/roster.js sim …`): one JSON line, the flags take effect, serves until signalled.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { SimCredentials } from './types.ts';

interface SimLine {
  baseUrl: string;
  workspace: string;
  tokenUrl: string;
  credentials: SimCredentials;
}

/** Spawns `args`, resolves with the first stdout line (and the process, to stop it). */
async function firstLine(args: string[]): Promise<{ child: ChildProcess; line: string; exited: Promise<number | null>; stdout: () => string; stderr: () => string }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: fileURLToPath(new URL('../../..', import.meta.url)) });
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (c: Buffer) => {
      stdout += c.toString();
      const nl = stdout.indexOf('\n');
      if (nl >= 0) resolve(stdout.slice(0, nl));
    });
    child.on('exit', (code) => reject(new Error(`exited early (${code}): ${stderr}`)));
  });
  return { child, line, exited, stdout: () => stdout, stderr: () => stderr };
}

const basic = (c: SimCredentials['adminApiToken']): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`${c.email}:${c.token}`).toString('base64')}` });

describe('runSimCommand', () => {
  it('prints exactly one JSON line with baseUrl, workspace, tokenUrl and credentials, serves, and stops on SIGTERM', async () => {
    const main = fileURLToPath(new URL('./main.ts', import.meta.url));
    const run = await firstLine(['--import', 'tsx', main, '--profile', 'small', '--seed', '3', '--faults', '5xx:nth=2']);
    const info = JSON.parse(run.line) as SimLine;
    expect(Object.keys(info)).toEqual(['baseUrl', 'workspace', 'tokenUrl', 'credentials']);
    expect(info.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(info.workspace).toBe('acme');
    expect(info.tokenUrl).toBe(`${info.baseUrl}/site/oauth2/access_token`);
    expect(Object.keys(info.credentials).sort()).toEqual(['adminApiToken', 'appPassword', 'memberApiToken', 'oauth', 'orgApiKey', 'projectAccessToken', 'repositoryAccessToken', 'workspaceAccessToken']);
    // The Atlassian organization of the same process: its key reads its managed accounts.
    const org = (info.credentials as unknown as { orgApiKey: { kind: string; orgId: string; token: string } }).orgApiKey;
    expect(org.kind).toBe('org-api-key');
    const users = await fetch(`${info.baseUrl}/admin/v1/orgs/${org.orgId}/users`, { headers: { authorization: `Bearer ${org.token}` } });
    expect(users.status).toBe(200);
    expect(((await users.json()) as { data: unknown[] }).data.length).toBeGreaterThan(5);
    const h = basic(info.credentials.adminApiToken);
    expect((await fetch(`${info.baseUrl}/2.0/repositories/${info.workspace}`, { headers: h })).status).toBe(200);
    expect((await fetch(`${info.baseUrl}/2.0/repositories/${info.workspace}`, { headers: h })).status).toBe(500);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.stdout().trim().split('\n')).toHaveLength(1);
  }, 30_000);
});

describe('roster sim (the real binary)', () => {
  const bin = fileURLToPath(new URL('../../../bin/roster.js', import.meta.url));

  it('takes --rate-limit, --reported-permissions, --seed and --profile; its tokenUrl issues OAuth tokens', async () => {
    const run = await firstLine([bin, 'sim', '--profile', 'small', '--seed', '5', '--rate-limit', '3', '--reported-permissions', 'includeOwners=true,includeProjectInherited=false']);
    try {
      const info = JSON.parse(run.line) as SimLine;
      expect(Object.keys(info)).toEqual(['baseUrl', 'workspace', 'tokenUrl', 'credentials']);
      // The token endpoint answers the consumer in the line.
      const { clientId, clientSecret } = info.credentials.oauth;
      const token = await fetch(info.tokenUrl, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      expect(token.status).toBe(200);
      expect(((await token.json()) as { access_token?: string }).access_token).toEqual(expect.any(String));
      // The reading: owners listed, project paths not.
      const reading = (await (await fetch(`${info.baseUrl}/__sim/reported-permissions`)).json()) as Record<string, boolean>;
      expect(reading).toEqual({ includeOwners: true, includeProjectInherited: false });
      const h = basic(info.credentials.adminApiToken);
      const listed = (await (await fetch(`${info.baseUrl}/2.0/workspaces/${info.workspace}/permissions/repositories?pagelen=100`, { headers: h })).json()) as { values: Array<{ user: { display_name: string }; permission: string }> };
      expect(listed.values.filter((r) => r.user.display_name === 'Ada Lovelace' && r.permission === 'admin')).toHaveLength(8);
      expect(listed.values.some((r) => r.user.display_name === '李雷')).toBe(false);
      // Three requests an hour for this user (the listing was the first), then the rate-limit answer.
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await fetch(`${info.baseUrl}/2.0/user`, { headers: h })).status);
      expect(statuses).toEqual([200, 200, 429]);
      const wat = { authorization: `Bearer ${info.credentials.workspaceAccessToken.token}` };
      expect((await fetch(`${info.baseUrl}/2.0/repositories/${info.workspace}`, { headers: wat })).headers.get('x-ratelimit-limit')).toBe('3');
      // The profile and the seed.
      const truth = (await (await fetch(`${info.baseUrl}/__sim/truth`)).json()) as { workspace: { uuid: string }; summary: { users: number } };
      expect(truth.summary.users).toBe(10);
      const other = await firstLine([bin, 'sim', '--seed', '6']);
      try {
        const otherTruth = (await (await fetch(`${(JSON.parse(other.line) as SimLine).baseUrl}/__sim/truth`)).json()) as { workspace: { uuid: string } };
        expect(otherTruth.workspace.uuid).not.toBe(truth.workspace.uuid);
      } finally {
        other.child.kill('SIGTERM');
      }
    } finally {
      run.child.kill('SIGTERM');
    }
    expect(await run.exited).toBe(0);
    expect(run.stdout().trim().split('\n')).toHaveLength(1);
  }, 60_000);

  it('--rate-limit off switches limiting off', async () => {
    const run = await firstLine([bin, 'sim', '--rate-limit', 'off']);
    try {
      const info = JSON.parse(run.line) as SimLine;
      // With limiting on, access tokens on /2.0/repositories/* get X-RateLimit-Limit; off, nothing limits.
      const wat = { authorization: `Bearer ${info.credentials.workspaceAccessToken.token}` };
      const res = await fetch(`${info.baseUrl}/2.0/repositories/${info.workspace}`, { headers: wat });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-ratelimit-limit')).toBeNull();
      expect(res.headers.get('x-request-count')).toBe('1');
    } finally {
      run.child.kill('SIGTERM');
    }
    expect(await run.exited).toBe(0);
  }, 60_000);

  it.each([
    [['--rate-limit', 'lots'], /--rate-limit takes a positive number of requests per hour or "off"/],
    [['--rate-limit', '0'], /--rate-limit takes a positive number/],
    [['--reported-permissions', 'includeAdmins=true'], /unknown reading "includeAdmins"/],
    [['--reported-permissions', 'includeOwners=yes'], /includeOwners must be true or false/],
  ])('refuses %j with a clear message and exit code 1', async (flags, message) => {
    const child = spawn(process.execPath, [bin, 'sim', ...flags], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
    expect(stderr).toMatch(/^roster: /);
  }, 30_000);
});
