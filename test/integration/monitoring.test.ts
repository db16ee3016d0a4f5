import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../connectors/bitbucket-cloud/simulator/index.ts';
import { CliHarness, ROSTER_BIN, describeCli } from '../helpers/cli.ts';
import { testDbKind } from '../helpers/db.ts';

// Everything here runs the real binary (bin/roster.js) in its own process, as a user or a cron job would.

const schema = JSON.parse(fs.readFileSync(new URL('../../docs/status.schema.json', import.meta.url), 'utf8')) as object;
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const validateStatus = addFormats(new Ajv2020({ allErrors: true, strict: true })).compile(schema);

interface StatusJson {
  verdict: string;
  exitCode: number;
  source: string | null;
  error: string | null;
  integrations: Array<{
    integration: string;
    verdict: string;
    reason: string;
    coverageGaps: Array<{ label: string }>;
    lastRun: { id: string; status: string; segments: number } | null;
    openRun: { id: string; state: string; lastProgressAt: string; progress: { scopesDone: number } | null } | null;
  }>;
}

/** Parses `roster status --json` output and checks it against docs/status.schema.json. */
function statusJson(stdout: string): StatusJson {
  const document = JSON.parse(stdout) as StatusJson;
  expect(validateStatus(document), JSON.stringify(validateStatus.errors, null, 2)).toBe(true);
  return document;
}

const USER_PERMISSIONS = 'GET /2.0/repositories/{workspace}/{repo_slug}/permissions-config/users';

describeCli('monitoring: roster status, progress and messages through the real binary', (cli) => {
  let sim: Simulator;
  const seen = new Set<string>();
  /** `roster status --json`, through the binary, or (`inProcess`, faster) the same CLI code in this process. */
  const status = async (args: string[] = [], options: { inProcess?: boolean } = {}) => {
    const result = options.inProcess ? await cli().run(['status', '--json', ...args]) : await cli().runBinary(['status', '--json', ...args]);
    const document = statusJson(result.stdout);
    seen.add(document.verdict);
    expect(result.code, result.stderr).toBe(document.exitCode);
    return document;
  };

  beforeAll(async () => {
    sim = await startSimulator({ profile: 'medium', seed: 11, rateLimit: false });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('integration add derives the OAuth token URL from a base URL that is not Bitbucket, and an OAuth sync works with it', async () => {
    const c = sim.credentials.oauth;
    const added = await cli().runBinary(['integration', 'add', 'acme', '--workspace', sim.workspace, '--credential-kind', 'oauth-client-credentials', '--username', c.clientId, '--secret-env', 'CLIENT_SECRET', '--base-url', sim.baseUrl, '--budget', '100000'], { env: { CLIENT_SECRET: c.clientSecret } });
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toContain(`OAuth tokens will be requested from ${sim.baseUrl}/site/oauth2/access_token (derived from --base-url`);
    const synced = await cli().runBinary(['sync', '--integration', 'acme']);
    expect(synced.code, synced.stdout + synced.stderr).toBe(0);
    expect(synced.stdout).toMatch(/^Run \d+ of "acme" \(workspace acme\) succeeded in [\d.]+ s with/);
    const healthy = await status();
    expect(healthy).toMatchObject({ verdict: 'healthy', exitCode: 0, source: 'database', integrations: [{ integration: 'acme', verdict: 'healthy', coverageGaps: [] }] });
  }, 180_000);

  it('status answers during a sync; a killed run is interrupted, not running forever; the next sync resumes it and gives every segment', async () => {
    // Slow per-repository reads: the sync takes long enough to be watched and killed midway.
    const slow = sim.faults.add('slow:ms=150:path=/2.0/repositories/*/*/permissions-config/users');
    sim.resetStats();
    const sync = cli().spawn(['sync', '--integration', 'acme', '--full'], { env: { ROSTER_PROGRESS_INTERVAL: '0.5' } });
    const deadline = Date.now() + 60_000;
    while ((sim.stats().byPath[USER_PERMISSIONS] ?? 0) < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));

    // The previous run still decides the verdict (exit 0, not 2 "database in use"); the new one is in progress.
    const during = await status();
    expect(during.verdict).toBe('healthy');
    expect(during.source).toBe(testDbKind() === 'embedded' ? 'status-file' : 'database');
    const open = during.integrations[0]?.openRun;
    expect(open?.state).toBe('in-progress');
    if (testDbKind() === 'embedded') expect(open?.progress?.scopesDone).toBeGreaterThan(0);
    const text = await cli().runBinary(['status']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`run ${open?.id} in progress since \\S+ by ${os.hostname()}:${sync.child.pid}`));

    sync.child.kill('SIGKILL');
    expect(await sync.exited).toBeNull();
    // Without a terminal, the sync showed life on stderr every half second.
    expect(sync.stderr()).toMatch(new RegExp(`roster: syncing acme: run ${open?.id} started \\(full\\)`));
    expect(sync.stderr().match(/^roster: syncing acme: run \d+, [\d,]+\/[\d,]+ scopes, [\d,]+ API requests, \d+ rate-limit waits?, \d+s$/gm)?.length ?? 0).toBeGreaterThanOrEqual(2);

    const killedAt = Date.now();
    const after = await status();
    const interrupted = after.integrations[0]?.openRun;
    expect(interrupted).toMatchObject({ id: open?.id, state: 'interrupted' });
    expect(Date.parse(interrupted?.lastProgressAt ?? '')).toBeLessThanOrEqual(killedAt);
    expect(after.verdict).toBe('healthy');
    expect((await cli().runBinary(['status'])).stdout).toContain(`run ${open?.id} interrupted: it stopped making progress at ${interrupted?.lastProgressAt}`);

    sim.faults.clear(slow[0]);
    const resumed = await cli().runBinary(['sync', '--integration', 'acme']);
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`resuming run ${open?.id} from its checkpoint`);
    expect(resumed.stdout).toMatch(new RegExp(`^Run ${open?.id} of "acme" \\(workspace acme\\) succeeded in [\\d.]+ s over 2 segments \\([\\d.]+ s from \\S+, its process stopped; [\\d.]+ s from \\S+\\), \\d+s after it first started with`));
    const done = await status();
    expect(done.integrations[0]).toMatchObject({ verdict: 'healthy', openRun: null, lastRun: { id: open?.id, status: 'succeeded', segments: 2 } });
  }, 180_000);

  it('verdicts: a credential-limited integration is degraded (exit 1, or 0 with --allow-partial-coverage), an admin one healthy; stale; failing; every answer fits the schema', async () => {
    const token = sim.credentials.workspaceAccessToken;
    expect((await cli().run(['integration', 'add', 'limited', '--workspace', sim.workspace, '--credential-kind', 'workspace-access-token', '--secret-env', 'TOKEN', '--base-url', sim.baseUrl, '--budget', '100000'], { env: { TOKEN: token.token } })).code).toBe(0);
    const member = sim.credentials.memberApiToken;
    expect((await cli().run(['integration', 'add', 'member', '--workspace', sim.workspace, '--credential-kind', 'api-token', '--username', member.email, '--secret-env', 'TOKEN', '--base-url', sim.baseUrl, '--budget', '100000'], { env: { TOKEN: member.token } })).code).toBe(0);
    expect((await cli().run(['sync', '--integration', 'limited'])).code).toBe(0);
    expect((await cli().run(['sync', '--integration', 'member'])).code).toBe(0);

    const degraded = await status(['--integration', 'limited']);
    expect(degraded).toMatchObject({ verdict: 'degraded', exitCode: 1 });
    const limited = degraded.integrations[0];
    expect(limited?.reason).toMatch(/but \d+ scopes are not covered by this workspace-access-token credential: .*user permissions on repositories/);
    expect(limited?.coverageGaps.length).toBeGreaterThanOrEqual(5);
    expect(await status(['--integration', 'limited', '--allow-partial-coverage'], { inProcess: true })).toMatchObject({ verdict: 'degraded', exitCode: 0 });
    expect(await status(['--integration', 'member'], { inProcess: true })).toMatchObject({ verdict: 'degraded', exitCode: 1 });
    // Bitbucket cannot list workspace-level SSH keys or access tokens with any credential: that
    // standing limit must not make the admin integration degraded.
    expect(await status(['--integration', 'acme'], { inProcess: true })).toMatchObject({ verdict: 'healthy', exitCode: 0, integrations: [{ coverageGaps: [] }] });
    const whole = await status([], { inProcess: true });
    expect(whole).toMatchObject({ verdict: 'degraded', exitCode: 1 });
    const text = await cli().runBinary(['status']);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('--allow-partial-coverage');

    // Stale: the runs above finished more than a second ago.
    await new Promise((r) => setTimeout(r, 2100));
    expect(await status(['--max-age', '1s'], { inProcess: true })).toMatchObject({ verdict: 'stale', exitCode: 1 });

    // Failing: a credential Bitbucket rejects.
    expect((await cli().run(['integration', 'add', 'wrong', '--workspace', sim.workspace, '--credential-kind', 'api-token', '--username', 'nobody@acme.example', '--secret-env', 'TOKEN', '--base-url', sim.baseUrl], { env: { TOKEN: 'ATATT-not-a-real-token' } })).code).toBe(0);
    expect((await cli().run(['sync', '--integration', 'wrong'])).code).toBe(1);
    const failing = await status([], { inProcess: true });
    expect(failing).toMatchObject({ verdict: 'failing', exitCode: 1 });
    expect(failing.integrations.find((i) => i.integration === 'wrong')?.verdict).toBe('failing');
    // Allowing partial coverage does not hide a failure.
    expect(await status(['--allow-partial-coverage'], { inProcess: true })).toMatchObject({ verdict: 'failing', exitCode: 1 });
    expect((await cli().run(['integration', 'remove', 'wrong', '--yes'])).code).toBe(0);
  }, 240_000);

  it('cannot tell is exit 2 with one JSON document for a bad config file, a bad option and an unreachable database', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roster-config-'));
    try {
      const config = path.join(dir, 'roster.config.yaml');
      fs.writeFileSync(config, 'integrations:\n  - name: x\n    workspace: acme\n    credentialKind: api-token\n    concurency: 4\n');
      const badConfig = await cli().runBinary(['--config', config, 'status', '--json']);
      expect(badConfig.code).toBe(2);
      const document = statusJson(badConfig.stdout);
      seen.add(document.verdict);
      expect(document).toMatchObject({ verdict: 'cannot tell', exitCode: 2, integrations: [] });
      expect(document.error).toContain('unknown key "concurency"');
      expect(badConfig.stderr).toContain('roster: cannot tell: Invalid configuration');
      expect((await cli().runBinary(['--config', config, 'status'])).code).toBe(2);
      const missing = await cli().run(['--config', path.join(dir, 'missing.yaml'), 'status', '--json']);
      expect(missing.code).toBe(2);
      expect(statusJson(missing.stdout).error).toContain('Cannot read config file');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    for (const args of [['status', '--json', '--max-age', 'soon'], ['status', '--json', '--no-such-option'], ['status', '--json', '--max-age']]) {
      const result = await cli().runBinary(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(statusJson(result.stdout)).toMatchObject({ verdict: 'cannot tell', exitCode: 2 });
    }
    const unreachable = await cli().runBinary(['status', '--json'], { env: { DATABASE_URL: 'postgres://roster:hunter2@127.0.0.1:1/nowhere', ROSTER_ENCRYPTION_KEY: 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=' } });
    expect(unreachable.code).toBe(2);
    expect(statusJson(unreachable.stdout).error).toContain('Cannot connect to PostgreSQL at postgres://roster:*****@127.0.0.1:1/nowhere');
    expect(unreachable.stdout + unreachable.stderr).not.toContain('hunter2');
  }, 180_000);

  it('every verdict was seen, and validated against docs/status.schema.json', () => {
    expect([...seen].sort()).toEqual(['cannot tell', 'degraded', 'failing', 'healthy', 'stale']);
  });

  it('a closed pipe on stdout ends the command quietly', async () => {
    for (const command of ['status --json | head -n 1', 'report access-review --integration acme | head -c 100']) {
      const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn('sh', ['-c', `"${process.execPath}" "${ROSTER_BIN}" --data-dir "${cli().dataDir}" ${command} > /dev/null`], { env: cli().env, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.on('close', (code) => resolve({ code, stderr }));
      });
      expect(result.stderr, command).toBe('');
      expect(result.code, command).toBe(0);
    }
  }, 180_000);

  it('messages name the wrong value: number options, cron fields, an unparsable DATABASE_URL (never echoed)', async () => {
    const bad = await cli().runBinary(['integration', 'add', 'x', '--workspace', 'acme', '--credential-kind', 'workspace-access-token', '--secret-stdin', '--concurrency', 'abc', '--budget', '5', '--schedule', '0 25 * * *'], { stdin: 'token' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--concurrency: must be a whole number from 1 to 32 (got "abc")');
    expect(bad.stderr).toContain('--budget: must be a whole number from 10 to 100,000 (got 5)');
    expect(bad.stderr).toContain('invalid cron expression "0 25 * * *": "25" is not a valid hour (0-23)');
    expect(bad.stderr).not.toMatch(/NaN|a invalid|\.\./);
    const port = await cli().runBinary(['serve', '--port', 'eighty']);
    expect(port.code).toBe(1);
    expect(port.stderr).toBe('roster: --port must be a whole number from 0 to 65,535 (got "eighty").\n');
    for (const url of ['hunter2-secret-value', 'postgres://roster:p#ss@127.0.0.1:1/db', 'roster:hunter2@db']) {
      const result = await cli().runBinary(['integration', 'list'], { env: { DATABASE_URL: url } });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/DATABASE_URL (does not parse as a URL|must start with postgres:\/\/)/);
      for (const part of ['hunter2', 'p#ss', 'secret', 'got roster']) expect(result.stderr, url).not.toContain(part);
    }
  }, 180_000);
});

describeCli('roster demo through the real binary', () => {
  it("the demo's \"try next\" commands work as printed after npm ci", async (context) => {
    if (testDbKind() === 'server') context.skip();
    const harness = new CliHarness(null);
    try {
      const demo = await harness.runBinary(['demo']);
      expect(demo.code, demo.stderr).toBe(0);
      const line = /^ {2}(npm run roster -- --data-dir \S+ status)\s+#/m.exec(demo.stdout);
      expect(line, demo.stdout).not.toBeNull();
      expect(demo.stdout).not.toMatch(/^ {2}roster /m);
      // Exactly as a user would paste it, from the project directory.
      const pasted = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
        const child = spawn('sh', ['-c', line?.[1] ?? 'false'], { cwd: path.resolve(path.dirname(ROSTER_BIN), '..'), env: { ...harness.env, PATH: process.env.PATH, HOME: process.env.HOME }, stdio: ['ignore', 'pipe', 'ignore'] });
        let stdout = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.on('close', (code) => resolve({ code, stdout }));
      });
      expect(pasted.code).toBe(0);
      expect(pasted.stdout).toMatch(/demo: healthy — Last run \d+ succeeded/);
    } finally {
      harness.cleanup();
    }
  }, 180_000);
});
