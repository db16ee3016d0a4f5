import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeCli } from '../helpers/cli.ts';
import { type Simulator, startSimulator } from '../../connectors/bitbucket-cloud/simulator/index.ts';

/**
 * `roster review link` and `roster review links` through the real binary (bin/roster.js), and the
 * page they point at served by a real `roster serve`: the link answers 200 with the reviewer's page,
 * the same path without the token 401.
 */
describeCli('roster review link: a signed URL that roster serve answers', (cli) => {
  let sim: Simulator;
  let dir: string;
  let id: string;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'roster-review-link-'));
    sim = await startSimulator({ profile: 'small', seed: 1, rateLimit: false });
    const c = sim.credentials.adminApiToken;
    await cli().run(['integration', 'add', 'acme', '--workspace', 'acme', '--credential-kind', 'api-token', '--username', c.email, '--secret-env', 'BB', '--base-url', sim.baseUrl, '--budget', '100000'], { env: { BB: c.token } });
    expect((await cli().run(['sync', '--integration', 'acme'])).code).toBe(0);
    const created = await cli().run(['review', 'create', '--integration', 'acme', '--name', 'Q4 2026', '--reviewers', 'resource-admins']);
    id = created.stdout.trim();
  });
  afterAll(async () => {
    await sim?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('link prints a URL; GET of it through roster serve is the reviewer page (200), the path without the token 401', async () => {
    const link = await cli().runBinary(['review', 'link', id, '--reviewer', 'Ada Lovelace', '--expires', '14d', '--base-url', 'http://127.0.0.1:9']);
    expect(link.code).toBe(0);
    expect(link.stdout).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:9/review/${id}\\?t=[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]{43}\\n$`));
    expect(link.stderr).toMatch(/link for Ada Lovelace \(\{[0-9a-f-]+\}.*\) in campaign \d+ "Q4 2026", valid until \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    const owner = await cli().run(['review', 'link', id, '--owner']);
    expect(owner.stdout).toMatch(new RegExp(`/review/${id}/overview\\?t=`));

    const serve = cli().spawn(['serve', '--port', '0']);
    try {
      let base: string | null = null;
      for (let i = 0; i < 300 && base === null; i++) {
        base = /status at (http:\/\/127\.0\.0\.1:\d+)\/status/.exec(serve.stdout())?.[1] ?? null;
        if (base === null) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(base, serve.stderr()).not.toBeNull();
      const url = new URL(link.stdout.trim());
      const page = await fetch(`${base}${url.pathname}${url.search}`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('Reviewer: <strong>Ada Lovelace</strong>');
      const bare = await fetch(`${base}${url.pathname}`);
      expect(bare.status).toBe(401);
      expect(await bare.text()).toContain('This page needs your personal review link');
      const ownerUrl = new URL(owner.stdout.trim());
      expect((await fetch(`${base}${ownerUrl.pathname}${ownerUrl.search}`)).status).toBe(200);
      expect((await fetch(`${base}${ownerUrl.pathname}`)).status).toBe(401);
    } finally {
      serve.child.kill('SIGTERM');
      await serve.exited;
    }
  });

  it('links writes one row per reviewer for a mail merge; bad options are refused with the fix', async () => {
    const out = path.join(dir, 'links.csv');
    const done = await cli().run(['review', 'links', id, '--out', out, '--base-url', 'https://roster.acme.example/']);
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/^Wrote \d+ links of campaign \d+ "Q4 2026" to .*links\.csv/);
    expect((await fs.stat(out)).mode & 0o777).toBe(0o600);
    const rows = parse(await fs.readFile(out), { columns: true }) as Array<Record<string, string>>;
    const status = JSON.parse((await cli().run(['review', 'status', id, '--json'])).stdout) as { reviewers: Array<{ key: string; items: number }> };
    expect(rows.map((r) => [r.reviewer_id, Number(r.items)]).sort()).toEqual(status.reviewers.map((r) => [r.key, r.items]).sort());
    for (const r of rows) expect(r.url).toMatch(new RegExp(`^https://roster\\.acme\\.example/review/${id}\\?t=`));

    const both = await cli().run(['review', 'link', id, '--reviewer', 'Ada Lovelace', '--owner']);
    expect([both.code, both.stderr]).toEqual([1, expect.stringContaining('give exactly one of --reviewer WHO')]);
    const lifetime = await cli().run(['review', 'link', id, '--owner', '--expires', 'forever']);
    expect(lifetime.stderr).toContain('--expires "forever" is not a lifetime: give days or hours, e.g. 14d or 36h.');
    const unguarded = await cli().run(['serve', '--port', '0', '--trust-proxy-header', 'X-Forwarded-Email']);
    expect([unguarded.code, unguarded.stderr]).toEqual([1, expect.stringContaining('--trust-proxy-header X-Forwarded-Email needs --trusted-proxy ADDR[,ADDR…] (or server.trustedProxies)')]);
    const named = await cli().run(['serve', '--port', '0', '--trust-proxy-header', 'X-Forwarded-Email', '--trusted-proxy', 'proxy.internal']);
    expect(named.stderr).toContain('--trusted-proxy "proxy.internal" is not an IP address');
    const stranger = await cli().run(['review', 'link', id, '--reviewer', 'nobody@acme.example']);
    expect(stranger.stderr).toMatch(/--reviewer "nobody@acme\.example" is not a reviewer of this campaign\. Reviewers: /);
  });
});
