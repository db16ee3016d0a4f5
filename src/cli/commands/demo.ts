import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { type Kysely, sql } from 'kysely';
import { pathCategories, permissionRankSql } from '../../access/paths.ts';
import { parseIntegerOption } from '../../config/index.ts';
import { connectorKinds, connectorOf, defaultConnectorKind, permissionModelOf } from '../../connectors.ts';
import { saveIntegration } from '../../db/integrations.ts';
import type { Database, Integration } from '../../db/types.ts';
import { RosterError } from '../../errors.ts';
import type { CliContext } from '../context.ts';
import type { CliHost } from '../host.ts';
import { plural } from '../../text.ts';
import { formatTable } from '../table.ts';
import { choiceList, simulatorOf } from './sim.ts';
import { syncOne } from './sync.ts';

export const DEMO_INTEGRATION = 'demo';

export function registerDemo(program: Command, host: CliHost): void {
  program
    .command('demo')
    .description('no setup: start a built-in simulator of a source (default Bitbucket Cloud), connect it, sync it into the embedded database and show what Roster found')
    .option('--source <kind>', `the source to simulate: ${choiceList(connectorKinds().filter((k) => connectorOf(k).simulator))}`, defaultConnectorKind())
    .option('--profile <name>', 'simulated workspace size: small or medium', 'small')
    .option('--seed <n>', 'seed of the simulated workspace', '1')
    .action(
      host.run(async (ctx, options: { source: string; profile: string; seed: string }) => {
        const offer = await simulatorOf(options.source);
        // The demo syncs in the foreground: only the two smallest profiles are quick enough.
        const profiles = offer.profiles.slice(0, 2);
        if (!profiles.includes(options.profile)) throw new RosterError('input_invalid', `--profile must be ${choiceList(profiles)} for the demo (got "${options.profile}"); use \`roster sim\` for larger workspaces.`);
        const handle = await ctx.database();
        const seed = parseIntegerOption('--seed', options.seed, 0, 2 ** 31 - 1);
        const sim = await offer.start({ profile: options.profile, seed });
        try {
          ctx.out(`Started a simulated ${sim.label} (${options.profile} profile) at ${sim.baseUrl}; data goes to ${handle.description}.`);
          const { integration } = await saveIntegration(
            handle.db,
            ctx.keyring(),
            {
              name: DEMO_INTEGRATION,
              kind: options.source,
              workspace: sim.workspace,
              baseUrl: sim.baseUrl,
              credentialKind: sim.integration.credentialKind,
              schedule: null,
              timezone: 'UTC',
              options: sim.integration.options,
              credential: sim.integration.credential,
            },
            true,
          );
          const code = await syncOne(ctx, integration, { full: true, wait: false, trigger: 'demo' });
          await printHighlights(ctx, handle.db, integration);
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

/**
 * Who holds the root roles that reach everything (Bitbucket Cloud: workspace owners) and who reaches
 * the most leaf resources, read through the integration's permission model.
 */
async function printHighlights(ctx: CliContext, db: Kysely<Database>, integration: Integration): Promise<void> {
  const model = permissionModelOf(integration.kind);
  const integrationId = String(integration.id);
  const top = model.resources[model.leaf]?.ladder.at(-1) ?? '';
  for (const role of model.rootRoles) {
    const holders = await sql<{ name: string }>`
      select coalesce(p.display_name, p.handle, p.external_id) as name from grants g join principals p on p.id = g.principal_id
      where g.integration_id = ${integrationId} and g.removed_run is null and g.resource_kind = ${role.on} and g.permission = ${role.permission} order by 1`.execute(db);
    ctx.out('');
    const reach = role.gives[model.leaf] ? ` (${role.gives[model.leaf]} on every ${model.leaf})` : '';
    ctx.out(`${role.on.charAt(0).toUpperCase()}${role.on.slice(1)} ${role.permission}s${reach}: ${holders.rows.map((o) => o.name).join(', ') || 'none'}`);
  }
  // Grants to a group, on the resource or inherited (Bitbucket Cloud: `group`, `project-group`).
  const groupPaths = [...pathCategories(model)].filter(([, category]) => category === 'group' || category === 'inherited-group').map(([path]) => path);
  const rank = permissionRankSql(model, model.leaf, sql.ref('e.permission'));
  const rows = await sql<{ name: string; resources: number; top: number; via_group_only: number }>`
    with per_resource as (
      select e.user_id, e.repository_id, max(${rank}) as rank,
             bool_and(e.path_kind in (${sql.join(groupPaths.length > 0 ? groupPaths : [''])})) as group_only
      from effective_access e where e.integration_id = ${integrationId} group by e.user_id, e.repository_id
    )
    select coalesce(p.display_name, p.handle, p.external_id) as name, count(*)::int as resources,
           count(*) filter (where rank = ${model.resources[model.leaf]?.ladder.length ?? 0})::int as top, count(*) filter (where group_only)::int as via_group_only
    from per_resource join principals p on p.id = per_resource.user_id
    group by p.id, p.display_name, p.handle, p.external_id order by resources desc, name limit 5`.execute(db);
  if (model.rootRoles.length === 0) ctx.out('');
  ctx.out('People with the widest access:');
  const leaves = plural(2, model.leaf).replace(/^\S+ /, '');
  ctx.out(formatTable(['USER', leaves.toUpperCase(), `AS ${top.toUpperCase()}`, 'ONLY VIA GROUPS'], rows.rows.map((r) => [r.name, String(r.resources), String(r.top), String(r.via_group_only)])));
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
