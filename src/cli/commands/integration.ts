import { type Command, Option } from 'commander';
import { DEFAULT_SCHEDULE, parseIntegrationConfig } from '../../config/index.ts';
import { credentialWarningOf, defaultConnectorKind, sourceDefinitions, sourceKinds } from '../../connectors.ts';
import { addPoolMember, findIntegration, listIntegrations, poolMembers, removeIntegration, removePoolMember, saveIntegration, usernameOf } from '../../db/integrations.ts';
import { RosterError } from '../../errors.ts';
import { plural } from '../../text.ts';
import { Secret } from '../../secrets/index.ts';
import type { CliContext } from '../context.ts';
import type { CliHost, Io } from '../host.ts';
import { formatTable } from '../table.ts';

interface AddOptions {
  kind: string;
  workspace?: string;
  credentialKind: string;
  username?: string;
  secretEnv?: string;
  secretStdin?: boolean;
  baseUrl?: string;
  schedule: string;
  timezone: string;
  replace?: boolean;
  /** The kinds' options, by their flags (`--concurrency` → `concurrency`, `--budget` → `budget`). */
  [flag: string]: unknown;
}

/** The option each engine field of an integration comes from, for messages; the kinds' options name their own flags. */
const OPTION_OF: Record<string, string> = {
  name: 'NAME',
  kind: '--kind',
  workspace: '--workspace',
  credentialKind: '--credential-kind',
  baseUrl: '--base-url',
  schedule: '--schedule',
  timezone: '--timezone',
  username: '--username',
};

/** A number option as the schema should see it: a number when it reads as one, else the text (named in the message). */
function numberOption(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  return /^\s*-?\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value;
}

/** Commander's attribute name of a flag: `--budget` → `budget`, `--token-url` → `tokenUrl`. */
function attributeOf(flag: string): string {
  return flag.replace(/^--/, '').replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/** `text` with the kind named when more than one kind is registered: "(bitbucket-cloud) …". */
function perKind(kinds: string[], text: string): string {
  return sourceKinds().length > 1 ? `${text} (${kinds.join(', ')})` : text;
}

export function registerIntegration(program: Command, host: CliHost): void {
  const definitions = sourceDefinitions();
  const integration = program.command('integration').description(`connect, list and remove integrations (${definitions.map((d) => d.title).join(', ')})`);

  const add = integration
    .command('add')
    .description('connect an integration; the secret is read from an environment variable or stdin, never from the command line')
    .argument('<name>', 'a short name for this integration, e.g. acme-prod')
    .addOption(new Option('--kind <kind>', `the source: ${definitions.map((d) => `${d.kind} (${d.title})`).join(', ')}`).choices(sourceKinds()).default(defaultConnectorKind()));
  const withWorkspace = definitions.filter((d) => d.settings.workspace);
  if (withWorkspace.length > 0) add.option('--workspace <slug>', perKind(withWorkspace.map((d) => d.kind), withWorkspace.map((d) => d.settings.workspace?.description).join('; ')));
  const credentials = definitions.flatMap((d) => d.credentials.map((c) => ({ connector: d.kind, ...c })));
  add
    .addOption(new Option('--credential-kind <kind>', `what the secret is: ${credentials.map((c) => `${c.kind} = ${c.description}`).join('; ')}`).choices([...new Set(credentials.map((c) => c.kind))]).makeOptionMandatory())
    .option('--username <value>', credentials.filter((c) => usernameOf(c)).map((c) => `${usernameOf(c)} (${c.kind})`).join(', '))
    .option('--secret-env <VAR>', 'read the secret from this environment variable')
    .option('--secret-stdin', 'read the secret from standard input (default when stdin is not a terminal)')
    .option('--base-url <url>', `API base URL (${definitions.map((d) => `${d.kind}: ${d.settings.baseUrl.default ?? 'required'}`).join('; ')})`)
    .option('--schedule <cron>', 'when `roster serve` syncs it', DEFAULT_SCHEDULE)
    .option('--timezone <tz>', 'timezone of the schedule', 'UTC');
  // Each kind's options, from its table: one flag for every option name, described with its default and limits.
  const flags = new Map<string, { description: string; kinds: string[] }>();
  for (const d of definitions) {
    for (const o of d.options) {
      const described = o.type === 'integer' ? `${o.description} (default ${o.default.toLocaleString('en-US')}, ${o.min.toLocaleString('en-US')} to ${o.max.toLocaleString('en-US')})` : o.description;
      const arg = o.type === 'url' ? '<url>' : o.type === 'text' ? '<value>' : o.type === 'choice' ? `<${o.choices.join('|')}>` : '<n>';
      const seen = flags.get(`${o.flag}|${arg}`) ?? { description: described, kinds: [] };
      seen.kinds.push(d.kind);
      flags.set(`${o.flag}|${arg}`, seen);
    }
  }
  for (const [key, { description, kinds }] of flags) {
    const [flag, arg] = key.split('|');
    add.option(`${flag} ${arg}`, kinds.length === definitions.length ? description : perKind(kinds, description));
  }
  add
    .option('--replace', 'overwrite an existing integration of that name (its history is kept)')
    .action(
      host.run(async (ctx, name: string, options: AddOptions) => {
        // Commander has checked --kind against the registered kinds (access connectors and identity sources).
        const definition = definitions.find((d) => d.kind === options.kind);
        const optionOf: Record<string, string> = { ...OPTION_OF, ...Object.fromEntries((definition?.options ?? []).map((o) => [o.name, o.flag])) };
        const parsed = parseIntegrationConfig({
          name,
          kind: options.kind,
          workspace: options.workspace,
          credentialKind: options.credentialKind,
          baseUrl: options.baseUrl,
          schedule: options.schedule,
          timezone: options.timezone,
          username: options.username,
          ...Object.fromEntries((definition?.options ?? []).map((o) => [o.name, numberOption(options[attributeOf(o.flag)])])),
        });
        if (!parsed.success) {
          const problems = parsed.issues.map((issue) => `  - ${optionOf[String(issue.path[0])] ?? (issue.path.join('.') || 'NAME')}: ${issue.message}`);
          throw new RosterError('input_invalid', `Cannot add integration "${name}":\n${problems.join('\n')}`);
        }
        const config = parsed.data;
        // Options another kind takes but this one does not: named, never silently dropped.
        const foreign = [...flags.keys()].map((k) => k.split('|')[0] as string).filter((flag) => options[attributeOf(flag)] !== undefined && !definition?.options.some((o) => o.flag === flag));
        if (foreign.length > 0) throw new RosterError('input_invalid', `Cannot add integration "${name}": ${definition?.title ?? config.kind} takes no ${foreign.join(', ')}.`);
        const secret = await readSecret(ctx, host.io, options);
        const handle = await ctx.database();
        const { integration: saved, replaced } = await saveIntegration(
          handle.db,
          ctx.keyring(),
          {
            name,
            kind: config.kind,
            workspace: config.workspace,
            baseUrl: config.baseUrl,
            credentialKind: config.credentialKind,
            schedule: config.schedule,
            timezone: config.timezone,
            options: config.options,
            credential: { secret, username: options.username ?? null },
          },
          options.replace === true,
        );
        ctx.out(`${replaced ? 'Replaced' : 'Added'} integration "${saved.name}" for ${saved.workspace ? `workspace ${saved.workspace}` : saved.base_url} (${saved.credential_kind}, schedule "${saved.schedule}" ${saved.timezone}). The credential is stored encrypted.`);
        for (const note of config.notes) ctx.out(note);
        const warning = credentialWarningOf(saved.kind, saved.credential_kind);
        if (warning) ctx.err(`roster: warning: ${warning}`);
        ctx.out(`Next: roster sync --integration ${saved.name}`);
        return 0;
      }),
    );

  integration
    .command('list')
    .description('list connected workspaces (never shows secrets)')
    .option('--json', 'machine-readable output')
    .action(
      host.run(async (ctx, options: { json?: boolean }) => {
        const handle = await ctx.database();
        const rows = await listIntegrations(handle.db);
        const lastRuns = await handle.db
          .selectFrom('sync_runs')
          .select(['integration_id', 'status', 'finished_at', 'started_at'])
          .where('id', 'in', (eb) => eb.selectFrom('sync_runs').select((e) => e.fn.max('id').as('id')).groupBy('integration_id'))
          .execute();
        const lastBy = new Map(lastRuns.map((r) => [String(r.integration_id), r]));
        const view = rows.map((r) => {
          const last = lastBy.get(String(r.id));
          return {
            name: r.name,
            kind: r.kind,
            workspace: r.workspace,
            credentialKind: r.credential_kind,
            baseUrl: r.base_url,
            schedule: r.schedule,
            timezone: r.timezone,
            status: r.status,
            statusMessage: r.status_message,
            lastRun: last ? { status: last.status, startedAt: last.started_at, finishedAt: last.finished_at } : null,
            warning: credentialWarningOf(r.kind, r.credential_kind),
          };
        });
        if (options.json) {
          ctx.out(JSON.stringify(view, null, 2));
          return 0;
        }
        if (view.length === 0) {
          ctx.out('No integrations yet. Add one with `roster integration add NAME --workspace SLUG --credential-kind KIND`, or try `roster demo`.');
          return 0;
        }
        ctx.out(
          formatTable(
            ['NAME', 'WORKSPACE', 'CREDENTIAL', 'SCHEDULE', 'STATUS', 'LAST RUN'],
            // A source without workspaces (one server) is named by its URL.
            view.map((v) => [v.name, v.workspace ?? v.baseUrl, v.credentialKind + (v.warning ? ' (see warning)' : ''), `${v.schedule ?? '-'} ${v.timezone}`, v.status, v.lastRun ? `${v.lastRun.status} ${(v.lastRun.finishedAt ?? v.lastRun.startedAt).toISOString()}` : 'never']),
          ),
        );
        for (const v of view) {
          if (v.statusMessage) ctx.err(`roster: ${v.name}: ${v.statusMessage}`);
          if (v.warning) ctx.err(`roster: warning: ${v.name}: ${v.warning}`);
        }
        return 0;
      }),
    );

  // The credential pool: more credentials of the same kind and workspace (other service accounts' API
  // tokens, more OAuth consumers), each with its own hourly allowance; a sync spreads its requests
  // over all of them and carries on when one is rejected.
  const credential = integration.command('credential').description("an integration's credential pool: more credentials of the same kind, each with its own API budget");
  credential
    .command('add')
    .description('add one more credential of the integration\'s kind to its pool (the secret from an environment variable or stdin)')
    .argument('<name>', 'the integration')
    .option('--username <value>', 'the account of this credential (api-token: its e-mail; oauth: the consumer key; app-password: the username)')
    .option('--secret-env <VAR>', 'read the secret from this environment variable')
    .option('--secret-stdin', 'read the secret from standard input (default when stdin is not a terminal)')
    .action(
      host.run(async (ctx, name: string, options: { username?: string; secretEnv?: string; secretStdin?: boolean }) => {
        const handle = await ctx.database();
        const target = await findIntegration(handle.db, name);
        const secret = await readSecret(ctx, host.io, options as AddOptions);
        const n = await addPoolMember(handle.db, ctx.keyring(), target, { secret, username: options.username ?? null });
        const count = (await poolMembers(handle.db, String(target.id))).length + 1;
        ctx.out(`Added credential ${n} to the pool of "${target.name}" (${target.credential_kind}, stored encrypted): its syncs now spread their requests over ${plural(count, 'credential')}, each paced on its own budget.`);
        return 0;
      }),
    );
  credential
    .command('list')
    .description('how many credentials the pool of an integration holds (never shows secrets)')
    .argument('<name>', 'the integration')
    .action(
      host.run(async (ctx, name: string) => {
        const handle = await ctx.database();
        const target = await findIntegration(handle.db, name);
        const members = await poolMembers(handle.db, String(target.id));
        ctx.out(`"${target.name}": ${plural(members.length + 1, 'credential')} (${target.credential_kind}): the integration's own${members.length > 0 ? ` and pool members ${members.join(', ')}` : ''}.`);
        return 0;
      }),
    );

  credential
    .command('remove')
    .description("remove one member of an integration's pool, by its number in `roster integration credential list` (the integration's own credential stays: replace it with `roster integration add … --replace`)")
    .argument('<name>', 'the integration')
    .argument('<member>', 'the pool member\'s number (2, 3, …)')
    .action(
      host.run(async (ctx, name: string, member: string) => {
        const handle = await ctx.database();
        const target = await findIntegration(handle.db, name);
        const members = await poolMembers(handle.db, String(target.id));
        const n = /^\d+$/.test(member) ? Number(member) : Number.NaN;
        if (!members.includes(n)) {
          const known = members.length > 0 ? `its pool members are ${members.join(', ')}` : 'it has no pool members';
          throw new RosterError('input_invalid', `"${member}" is not a pool member of "${target.name}": ${known}${n === 1 ? " (1 is the integration's own credential, which stays; replace it with roster integration add … --replace)" : ''}. See roster integration credential list ${target.name}.`);
        }
        await removePoolMember(handle.db, String(target.id), n);
        ctx.out(`Removed credential ${n} from the pool of "${target.name}": its syncs now use ${plural(members.length, 'credential')}.`);
        return 0;
      }),
    );

  integration
    .command('remove')
    .description('remove an integration with its credential and all of its history')
    .argument('<name>')
    .option('--yes', 'do not ask for confirmation')
    .action(
      host.run(async (ctx, name: string, options: { yes?: boolean }) => {
        if (!options.yes) {
          throw new RosterError('input_invalid', `Removing "${name}" deletes its credential and its whole access history. Run again with --yes to confirm (export evidence first with \`roster report evidence --out DIR\`).`);
        }
        const handle = await ctx.database();
        await removeIntegration(handle.db, name);
        ctx.out(`Removed integration "${name}" and its history.`);
        return 0;
      }),
    );
}

async function readSecret(ctx: CliContext, io: Io, options: AddOptions): Promise<Secret> {
  let value: string | undefined;
  if (options.secretEnv) {
    value = ctx.env[options.secretEnv];
    if (!value) throw new RosterError('input_invalid', `Environment variable ${options.secretEnv} (from --secret-env) is empty or not set.`);
  } else if (options.secretStdin || !io.stdin.isTTY) {
    value = await readAll(io.stdin);
    if (!value) throw new RosterError('input_invalid', 'No secret on standard input. Pipe it in (e.g. `printenv BITBUCKET_TOKEN | roster integration add …`) or use --secret-env VAR.');
  } else {
    throw new RosterError('input_invalid', 'Give the secret with --secret-env VAR or on standard input (--secret-stdin). Secrets are never accepted as command-line arguments, which other users can see in the process list.');
  }
  return new Secret(value.trim());
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8').trim();
}
