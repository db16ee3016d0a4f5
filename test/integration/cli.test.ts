import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { runSync } from '../../src/sync/runner.ts';
import { migrations } from '../../migrations/index.ts';
import { describeCli } from '../helpers/cli.ts';
import { fakeConnector, smallWorld } from '../helpers/fake-connector.ts';

const TOKEN = 'ATATT3xFfGF0-super-secret-token-value-1234567890';

describeCli('roster CLI: migrate, integrations, secrets, status', (cli) => {
  it('migrate applies once and is a no-op the second time', async () => {
    const first = await cli().run(['migrate']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const count = Object.keys(migrations).length;
    expect(first.stdout).toMatch(new RegExp(`Applied ${count} migration|is up to date`));
    const second = await cli().run(['migrate']);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`is up to date (${count} migrations applied earlier)`);
  });

  it('status with nothing configured is unhealthy (exit 1) and says what to do', async () => {
    const result = await cli().run(['status']);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('roster integration add');
  });

  it('integration add stores the secret encrypted, list never shows it, a duplicate name is refused', async () => {
    const added = await cli().run(['integration', 'add', 'acme', '--workspace', 'acme', '--credential-kind', 'api-token', '--username', 'sec@acme.example', '--secret-env', 'BB_TOKEN', '--base-url', 'http://127.0.0.1:9'], { env: { BB_TOKEN: TOKEN } });
    // The embedded default makes its own key on first use and says so, once.
    if (cli().env.DATABASE_URL) expect(added.stderr).toBe('');
    else expect(added.stderr).toContain('generated an encryption key for stored credentials');
    expect(added.code).toBe(0);
    expect(added.stdout).toContain('Added integration "acme"');
    if (!cli().env.DATABASE_URL) expect(fs.statSync(path.join(cli().dataDir, 'encryption.key')).mode & 0o777).toBe(0o600);
    const listed = await cli().run(['integration', 'list', '--json']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toContain(TOKEN);
    expect(JSON.parse(listed.stdout)).toMatchObject([{ name: 'acme', workspace: 'acme', credentialKind: 'api-token', lastRun: null }]);
    const table = await cli().run(['integration', 'list']);
    expect(table.stdout).toMatch(/acme\s+acme\s+api-token/);

    const stored = await cli().withDb(async ({ db }) => db.selectFrom('credentials').select(['name', 'key_id', 'ciphertext']).execute());
    expect(stored.map((r) => r.name).sort()).toEqual(['secret', 'username']);
    for (const row of stored) {
      expect(Buffer.from(row.ciphertext).toString('utf8')).not.toContain('secret-token');
      expect(Buffer.from(row.ciphertext).toString('hex')).not.toContain(Buffer.from(TOKEN).toString('hex'));
      expect(row.key_id).toMatch(/^k[0-9a-f]{10}$/);
    }

    const again = await cli().run(['integration', 'add', 'acme', '--workspace', 'acme', '--credential-kind', 'api-token', '--username', 'x@y.z', '--secret-env', 'BB_TOKEN'], { env: { BB_TOKEN: TOKEN } });
    expect(again.code).toBe(1);
    expect(again.stderr).not.toContain('generated an encryption key');
    expect(again.stderr).toContain('already exists');
    expect(again.stderr).toContain('--replace');
    const replaced = await cli().run(['integration', 'add', 'acme', '--workspace', 'acme', '--credential-kind', 'workspace-access-token', '--secret-stdin', '--replace'], { stdin: `${TOKEN}-v2\n` });
    expect(replaced.code).toBe(0);
    expect(replaced.stdout).toContain('Replaced integration "acme"');
  });

  it('integration credential add puts one more credential of the kind in the pool, sealed; list counts without showing it', async () => {
    const added = await cli().run(['integration', 'credential', 'add', 'acme', '--secret-stdin'], { stdin: `${TOKEN}-pool\n` });
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    expect(added.stdout).toContain('Added credential 2 to the pool of "acme"');
    const listed = await cli().run(['integration', 'credential', 'list', 'acme']);
    expect(listed.stdout).toContain('"acme": 2 credentials (workspace-access-token)');
    expect(listed.stdout).not.toContain(TOKEN);
    const stored = await cli().withDb(async ({ db }) => db.selectFrom('credentials').select(['name', 'ciphertext']).execute());
    expect(stored.map((r) => r.name).sort()).toEqual(['secret', 'secret_pool2']);
    for (const row of stored) expect(Buffer.from(row.ciphertext).toString('hex')).not.toContain(Buffer.from(TOKEN).toString('hex'));
    const unknown = await cli().run(['integration', 'credential', 'add', 'nope', '--secret-stdin'], { stdin: 'x\n' });
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('nope');

    // Members are numbered for good: removing 2 leaves 3, and the next one added is 4.
    expect((await cli().run(['integration', 'credential', 'add', 'acme', '--secret-stdin'], { stdin: `${TOKEN}-pool3\n` })).stdout).toContain('Added credential 3 to the pool of "acme"');
    const removed = await cli().run(['integration', 'credential', 'remove', 'acme', '2']);
    expect([removed.code, removed.stdout.trim()]).toEqual([0, 'Removed credential 2 from the pool of "acme": its syncs now use 2 credentials.']);
    expect((await cli().run(['integration', 'credential', 'list', 'acme'])).stdout).toContain('"acme": 2 credentials (workspace-access-token): the integration\'s own and pool members 3.');
    const again = await cli().run(['integration', 'credential', 'add', 'acme', '--secret-stdin'], { stdin: `${TOKEN}-pool4\n` });
    expect(again.stdout).toContain('Added credential 4 to the pool of "acme" (workspace-access-token, stored encrypted): its syncs now spread their requests over 3 credentials');
    for (const [member, says] of [['1', "1 is the integration's own credential"], ['2', 'its pool members are 3, 4'], ['two', 'its pool members are 3, 4']] as const) {
      const refused = await cli().run(['integration', 'credential', 'remove', 'acme', member]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`"${member}" is not a pool member of "acme": `);
      expect(refused.stderr).toContain(says);
    }
    const left = await cli().withDb(async ({ db }) => db.selectFrom('credentials').select('name').execute());
    expect(left.map((r) => r.name).sort()).toEqual(['secret', 'secret_pool3', 'secret_pool4']);
  });

  it('secrets are never accepted from argv-like sources by accident, and a missing env var is named', async () => {
    const missing = await cli().run(['integration', 'add', 'other', '--workspace', 'acme', '--credential-kind', 'workspace-access-token', '--secret-env', 'NOPE_NOT_SET']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('NOPE_NOT_SET');
  });

  it('a URL or display name instead of a workspace slug gets the slug suggested; bad cron and timezone are explained', async () => {
    const url = await cli().run(['integration', 'add', 'x', '--workspace', 'https://bitbucket.org/Acme-Corp/', '--credential-kind', 'workspace-access-token', '--secret-stdin'], { stdin: 't0ken-value' });
    expect(url.code).toBe(1);
    expect(url.stderr).toContain('use the slug "acme-corp"');
    const spaced = await cli().run(['integration', 'add', 'x', '--workspace', 'Acme Corp', '--credential-kind', 'workspace-access-token', '--schedule', '61 * * * *', '--timezone', 'Mars/Olympus', '--secret-stdin'], { stdin: 't0ken-value' });
    expect(spaced.code).toBe(1);
    expect(spaced.stderr).toContain('did you mean "acme-corp"');
    expect(spaced.stderr).toContain('invalid cron expression "61 * * * *"');
    expect(spaced.stderr).toContain('unknown timezone "Mars/Olympus"');
  });

  it('status: never synced is 1, a fresh successful run is 0, stale is 1', async () => {
    const never = await cli().run(['status', '--json']);
    expect(never.code).toBe(1);
    expect(JSON.parse(never.stdout)).toMatchObject({ verdict: 'stale', exitCode: 1, integrations: [{ integration: 'acme', verdict: 'stale', lastRun: null }] });

    await cli().withDb(async (handle) => {
      const integration = await handle.db.selectFrom('integrations').selectAll().where('name', '=', 'acme').executeTakeFirstOrThrow();
      const outcome = await runSync(handle, { integration, mode: 'full', trigger: 'test', connect: async () => fakeConnector(smallWorld()) });
      expect(outcome.status).toBe('succeeded');
    });
    const healthy = await cli().run(['status']);
    expect(healthy.stderr).toBe('');
    expect(healthy.code).toBe(0);
    expect(healthy.stdout).toMatch(/acme: healthy/);

    await cli().withDb(async ({ db }) => {
      await sql`update sync_runs set finished_at = now() - interval '30 hours', started_at = now() - interval '30 hours'`.execute(db);
    });
    const stale = await cli().run(['status', '--max-age', '26h']);
    expect(stale.code).toBe(1);
    expect(stale.stdout).toMatch(/acme: stale/);
    const lenient = await cli().run(['status', '--max-age', '2d']);
    expect(lenient.code).toBe(0);
  });

  it('sync --plan refuses flags it cannot honour, naming them', async () => {
    const json = await cli().run(['sync', '--integration', 'acme', '--json']);
    expect(json.code).not.toBe(0);
    expect(json.stderr).toContain('--json applies to --plan only');
    const full = await cli().run(['sync', '--integration', 'acme', '--plan', '--full']);
    expect(full.code).not.toBe(0);
    expect(full.stderr).toContain('--plan does not sync, so --full has nothing to do');
  });

  it('status is 2 ("cannot tell") when the database does not answer', async () => {
    const result = await cli().run(['status'], { env: { DATABASE_URL: 'postgres://roster:hunter2@127.0.0.1:1/nowhere' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Cannot connect to PostgreSQL at postgres://roster:*****@127.0.0.1:1/nowhere');
    expect(result.stderr).not.toContain('hunter2');
  });

  it('a DATABASE_URL that does not parse is named, without its password', async () => {
    const result = await cli().run(['integration', 'list'], { env: { DATABASE_URL: 'mysql://u:pw@host/db' } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('must start with postgres://');
    const garbage = await cli().run(['integration', 'list'], { env: { DATABASE_URL: 'not a url' } });
    expect(garbage.stderr).toContain('DATABASE_URL does not parse');
  });

  it('a wrong encryption key names the key id that is needed; rotation moves every secret to the new key', async () => {
    const before = await cli().withDb(async ({ db }) => db.selectFrom('credentials').select('key_id').executeTakeFirstOrThrow());
    const otherKey = 'ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=';
    // Rotation: the new key current, the old one listed as old.
    const oldKey = cli().env.ROSTER_ENCRYPTION_KEY ?? fs.readFileSync(path.join(cli().dataDir, 'encryption.key'), 'utf8').trim();
    const rotated = await cli().run(['secrets', 'rotate'], { env: { ROSTER_ENCRYPTION_KEY: otherKey, ROSTER_ENCRYPTION_KEYS_OLD: oldKey } });
    expect(rotated.stderr).toBe('');
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toContain(`from key ${before.key_id} to key`);
    const after = await cli().withDb(async ({ db }) => db.selectFrom('credentials').select('key_id').distinct().execute());
    expect(after.map((r) => r.key_id)).not.toContain(before.key_id);
    const again = await cli().run(['secrets', 'rotate'], { env: { ROSTER_ENCRYPTION_KEY: otherKey } });
    expect(again.stdout).toContain('already encrypted');
    // With only the old key, reading a stored secret (as sync does) names the key id that is needed.
    const newId = after[0]?.key_id;
    const lost = await cli().run(['sync', '--integration', 'acme'], { env: { ROSTER_ENCRYPTION_KEY: oldKey } });
    expect(lost.code).toBe(1);
    expect(lost.stdout + lost.stderr).toContain(`was encrypted with key id ${newId}, which is not loaded`);
  });

  it('--help works for every command', async () => {
    for (const args of [['--help'], ['sync', '--help'], ['integration', 'add', '--help'], ['status', '--help'], ['report', '--help'], ['serve', '--help'], ['sim', '--help'], ['demo', '--help'], ['migrate', '--help'], ['secrets', 'rotate', '--help']]) {
      const result = await cli().run(args);
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stdout).toContain('Usage: roster');
    }
  });
});
