import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { sql } from 'kysely';
import { parseIntegerOption } from '../../config/index.ts';
import { saveIntegration } from '../../db/integrations.ts';
import { RosterError } from '../../errors.ts';
import { Secret } from '../../secrets/index.ts';
import type { CliHost } from '../main.ts';
import { formatTable } from '../table.ts';
import { syncOne } from './sync.ts';

export const DEMO_INTEGRATION = 'demo';

export function registerDemo(program: Command, host: CliHost): void {
  program
    .command('demo')
    .description('no setup: start the built-in Bitbucket simulator, connect it, sync it into the embedded database and show what Roster found')
    .option('--profile <name>', 'simulated workspace size: small or medium', 'small')
    .option('--seed <n>', 'seed of the simulated workspace', '1')
    .action(
      host.run(async (ctx, options: { profile: string; seed: string }) => {
        if (!['small', 'medium'].includes(options.profile)) throw new RosterError('input_invalid', `--profile must be small or medium for the demo (got "${options.profile}"); use \`roster sim\` for larger workspaces.`);
        const { startSimulator } = await import('../../../connectors/bitbucket-cloud/simulator/index.ts');
        const handle = await ctx.database();
        const seed = parseIntegerOption('--seed', options.seed, 0, 2 ** 31 - 1);
        const sim = await startSimulator({ profile: options.profile as 'small' | 'medium', seed, rateLimit: false });
        try {
          const credential = sim.credentials.adminApiToken;
          ctx.out(`Started a simulated Bitbucket Cloud workspace "${sim.workspace}" (${options.profile} profile) at ${sim.baseUrl}; data goes to ${handle.description}.`);
          const { integration } = await saveIntegration(
            handle.db,
            ctx.keyring(),
            {
              name: DEMO_INTEGRATION,
              workspace: sim.workspace,
              baseUrl: sim.baseUrl,
              credentialKind: 'api-token',
              schedule: null,
              timezone: 'UTC',
              options: { tokenUrl: `${sim.baseUrl}/site/oauth2/access_token` },
              credential: { secret: new Secret(credential.token), username: credential.email },
            },
            true,
          );
          const code = await syncOne(ctx, integration, { full: true, wait: false, trigger: 'demo' });
          await printHighlights(ctx, handle.db, String(integration.id));
          ctx.out('');
          // Commands that work as printed: `roster` only when it is on PATH (npm link), else through npm.
          const roster = rosterCommand(ctx.env, ctx.dataDir);
          const next: Array<[string, string]> = [
            ['status', 'did the last sync work? (exit 0/1/2 for monitoring)'],
            ['report access-review | head', 'who can reach each repository, and why'],
            ['report privileged-access', 'owners and admins'],
            ['report user-access --user "<name>"', 'everything one person can reach (offboarding)'],
            ['report machine-credentials', 'deploy keys'],
            ['report evidence --out evidence/', 'every report + a manifest with SHA-256 hashes'],
            ['report --list', 'all reports and their columns'],
          ];
          const width = Math.max(...next.map(([command]) => `${roster} ${command}`.length)) + 2;
          ctx.out('Try next:');
          for (const [command, what] of next) ctx.out(`  ${`${roster} ${command}`.padEnd(width)}# ${what}`);
          ctx.out(`The simulator stops with this command; run \`${roster} demo\` again to sync it again (history is kept).`);
          return code;
        } finally {
          await sim.close();
        }
      }),
    );
}

async function printHighlights(ctx: Parameters<Parameters<CliHost['run']>[0]>[0], db: import('kysely').Kysely<import('../../db/types.ts').Database>, integrationId: string): Promise<void> {
  const owners = await sql<{ name: string }>`
    select coalesce(p.display_name, p.handle, p.external_id) as name from grants g join principals p on p.id = g.principal_id
    where g.integration_id = ${integrationId} and g.removed_run is null and g.resource_kind = 'workspace' and g.permission = 'owner' order by 1`.execute(db);
  const top = await sql<{ name: string; repositories: number; admin: number; via_group_only: number }>`
    with per_repo as (
      select e.user_id, e.repository_id, max(case e.permission when 'admin' then 3 when 'write' then 2 else 1 end) as rank,
             bool_and(e.path_kind in ('group', 'project-group')) as group_only
      from effective_access e where e.integration_id = ${integrationId} group by e.user_id, e.repository_id
    )
    select coalesce(p.display_name, p.handle, p.external_id) as name, count(*)::int as repositories,
           count(*) filter (where rank = 3)::int as admin, count(*) filter (where group_only)::int as via_group_only
    from per_repo join principals p on p.id = per_repo.user_id
    group by p.id, p.display_name, p.handle, p.external_id order by repositories desc, name limit 5`.execute(db);
  ctx.out('');
  ctx.out(`Workspace owners (admin on every repository): ${owners.rows.map((o) => o.name).join(', ') || 'none'}`);
  ctx.out('People with the widest access:');
  ctx.out(formatTable(['USER', 'REPOSITORIES', 'AS ADMIN', 'ONLY VIA GROUPS'], top.rows.map((r) => [r.name, String(r.repositories), String(r.admin), String(r.via_group_only)])));
}

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/roster.js');

/** Whether `roster` on PATH is this very Roster (after `npm link` or a global install). */
function rosterOnPath(env: NodeJS.ProcessEnv): boolean {
  const mine = fs.realpathSync(BIN);
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    try {
      if (fs.realpathSync(path.join(dir, 'roster')) === mine) return true;
    } catch {
      // Not in this directory.
    }
  }
  return false;
}

/**
 * The command line that runs Roster as the user has it: `roster`, or `npm run roster --` from the
 * project directory after `npm ci`; with `--data-dir` when the demo did not use the default.
 */
function rosterCommand(env: NodeJS.ProcessEnv, dataDir: string): string {
  const base = rosterOnPath(env) ? 'roster' : 'npm run roster --';
  const defaultDir = path.resolve(env.ROSTER_DATA_DIR ?? '.roster');
  if (dataDir === defaultDir) return base;
  const relative = path.relative(process.cwd(), dataDir) || '.';
  const shown = relative.startsWith('..') ? dataDir : relative;
  return `${base} --data-dir ${/^[\w./-]+$/.test(shown) ? shown : `'${shown.replace(/'/g, "'\\''")}'`}`;
}
