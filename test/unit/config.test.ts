import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkWorkspaceSlug } from '../../connectors/bitbucket-cloud/settings.ts';
import { checkCron, loadConfig, parseDuration } from '../../src/config/index.ts';
import { DEFAULT_MAX_CONCURRENT_SYNCS, DEFAULT_POOL_SIZE, maskDatabaseUrl, parseDatabaseUrl, poolSizeFor } from '../../src/db/index.ts';

function writeConfig(name: string, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roster-config-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

describe('config', () => {
  it('reads a valid YAML config with defaults', () => {
    const file = writeConfig('roster.config.yaml', 'integrations:\n  - name: acme\n    workspace: acme\n    credentialKind: api-token\n    username: sec@acme.example\n    secretEnv: BB_TOKEN\n');
    const config = loadConfig({}, file);
    expect(config.file.integrations[0]).toMatchObject({ name: 'acme', baseUrl: 'https://api.bitbucket.org', schedule: '0 3 * * *', timezone: 'UTC', concurrency: 4, budgetPerHour: 1000 });
  });

  it('lists every problem at once, each with its path', () => {
    const file = writeConfig(
      'roster.config.json',
      JSON.stringify({
        integrations: [
          { name: 'acme', workspace: 'https://bitbucket.org/acme/', credentialKind: 'password', schedule: '0 25 * * *', concurency: 4 },
          { name: 'acme', workspace: 'ok', credentialKind: 'api-token', timezone: 'Nowhere/Land', secretEnv: 'ghp_abc123' },
        ],
        serverr: {},
      }),
    );
    let message = '';
    try {
      loadConfig({}, file);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('integrations.0.workspace: "https://bitbucket.org/acme/" is a URL, not a workspace slug; use the slug "acme"');
    expect(message).toMatch(/integrations\.0\.credentialKind: .*api-token/);
    expect(message).toContain('integrations.0.schedule: invalid cron expression "0 25 * * *"');
    expect(message).toContain('integrations.0: unknown key "concurency"');
    expect(message).toContain('integrations.1.timezone: unknown timezone "Nowhere/Land"');
    expect(message).toContain('integrations.1.secretEnv: must be the NAME of an environment variable');
    expect(message).toContain('(top level): unknown key "serverr"');
  });

  it('reports a duplicate integration name and a file that does not parse', () => {
    const dup = writeConfig('roster.config.yaml', 'integrations:\n  - {name: a, workspace: a, credentialKind: api-token}\n  - {name: a, workspace: b, credentialKind: api-token}\n');
    expect(() => loadConfig({}, dup)).toThrow(/integrations\.1\.name: "a" is already used by integrations\.0/);
    const broken = writeConfig('roster.config.yaml', 'integrations: [\n');
    expect(() => loadConfig({}, broken)).toThrow(/is not valid YAML/);
  });

  it('reads the concurrency of serve and the pool size; the variable wins, and both are checked', () => {
    const defaults = loadConfig({}, writeConfig('roster.config.json', '{}'));
    expect(defaults.file.server.maxConcurrentSyncs).toBe(DEFAULT_MAX_CONCURRENT_SYNCS);
    expect(defaults.file.database.poolSize).toBeUndefined();
    const set = loadConfig({ ROSTER_DB_POOL_SIZE: '30' }, writeConfig('roster.config.yaml', 'server:\n  maxConcurrentSyncs: 8\ndatabase:\n  poolSize: 26\n'));
    expect(set.file.server.maxConcurrentSyncs).toBe(8);
    expect(set.file.database.poolSize).toBe(26);
    expect(set.env.ROSTER_DB_POOL_SIZE).toBe(30);
    expect(() => loadConfig({}, writeConfig('roster.config.yaml', 'server:\n  maxConcurrentSyncs: 0\ndatabase:\n  poolSize: many\n'))).toThrow(/server\.maxConcurrentSyncs: must be a whole number from 1 to 64 \(got 0\)[\s\S]*database\.poolSize: must be a whole number from 1 to 1,000 \(got "many"\)/);
    // The default pool lets the default number of syncs run, each with its lock and its writes.
    expect(DEFAULT_POOL_SIZE).toBe(poolSizeFor(DEFAULT_MAX_CONCURRENT_SYNCS));
    expect(poolSizeFor(4)).toBe(14);
  });

  it('checks env values', () => {
    expect(() => loadConfig({ ROSTER_LOG_LEVEL: 'loud' }, writeConfig('roster.config.json', '{}'))).toThrow(/env\.ROSTER_LOG_LEVEL/);
  });

  it('suggests slugs and explains cron errors', () => {
    expect(checkWorkspaceSlug('acme-corp')).toBeNull();
    expect(checkWorkspaceSlug('Acme Corp')).toContain('did you mean "acme-corp"');
    expect(checkWorkspaceSlug('bitbucket.org/acme')).toContain('use the slug "acme"');
    expect(checkCron('*/15 * * * *')).toBeNull();
    expect(checkCron('every day')).toContain('invalid cron expression');
  });

  it('parses durations', () => {
    expect(parseDuration('26h')).toBe(26 * 3600_000);
    expect(parseDuration('90m')).toBe(90 * 60_000);
    expect(() => parseDuration('soon')).toThrow(/e\.g\. 26h/);
  });

  it('masks database passwords and rejects non-postgres URLs', () => {
    expect(maskDatabaseUrl('postgres://u:secret@h:5432/d')).toBe('postgres://u:*****@h:5432/d');
    expect(maskDatabaseUrl('postgres://u:se cret@')).not.toContain('se cret');
    expect(() => parseDatabaseUrl('mysql://u:p@h/d')).toThrow(/postgres:\/\//);
  });
});
