import { type Command, Option } from 'commander';
import { BITBUCKET_CLOUD_API, BITBUCKET_TOKEN_URL, DEFAULT_SCHEDULE, integrationConfigSchema, tokenUrlFor } from '../../config/index.ts';
import { CREDENTIAL_USERNAME, listIntegrations, removeIntegration, saveIntegration } from '../../db/integrations.ts';
import { RosterError } from '../../errors.ts';
import { ATLASSIAN_API } from '../../../connectors/atlassian-org/client.ts';
import { CREDENTIAL_KINDS, type CredentialKind, IDENTITY_CREDENTIAL_KINDS } from '../../interfaces.ts';
import { Secret } from '../../secrets/index.ts';
import { CREDENTIAL_WARNINGS } from '../../sync/health.ts';
import type { CliContext } from '../context.ts';
import type { CliHost, Io } from '../main.ts';
import { formatTable } from '../table.ts';

interface AddOptions {
  kind: 'bitbucket-cloud' | 'atlassian-org';
  workspace?: string;
  orgId?: string;
  credentialKind: CredentialKind | 'org-api-key';
  username?: string;
  secretEnv?: string;
  secretStdin?: boolean;
  baseUrl?: string;
  tokenUrl?: string;
  schedule: string;
  timezone: string;
  concurrency?: string;
  budget?: string;
  replace?: boolean;
}

/** The option each field of the integration schema comes from, for messages. */
const OPTION_OF: Record<string, string> = {
  name: 'NAME',
  workspace: '--workspace',
  credentialKind: '--credential-kind',
  baseUrl: '--base-url',
  tokenUrl: '--token-url',
  schedule: '--schedule',
  timezone: '--timezone',
  concurrency: '--concurrency',
  budgetPerHour: '--budget',
  username: '--username',
};

/** A number option as the schema should see it: a number when it reads as one, else the text (named in the message). */
function numberOption(value: string | undefined): number | string | undefined {
  if (value === undefined) return undefined;
  return /^\s*-?\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value;
}

export function registerIntegration(program: Command, host: CliHost): void {
  const integration = program.command('integration').description('connect, list and remove Bitbucket workspaces');

  integration
    .command('add')
    .description('connect a workspace; the secret is read from an environment variable or stdin, never from the command line')
    .argument('<name>', 'a short name for this integration, e.g. acme-prod')
    .addOption(new Option('--kind <kind>', 'the source').choices(['bitbucket-cloud', 'atlassian-org']).default('bitbucket-cloud'))
    .option('--workspace <slug>', 'Bitbucket workspace slug (the part after bitbucket.org/); required for bitbucket-cloud')
    .option('--org-id <id>', 'atlassian-org: the organization id (admin.atlassian.com/o/ID/…)')
    .addOption(new Option('--credential-kind <kind>', 'what the secret is (atlassian-org: org-api-key)').choices([...CREDENTIAL_KINDS, ...IDENTITY_CREDENTIAL_KINDS]).makeOptionMandatory())
    .option('--username <value>', 'Atlassian account e-mail (api-token), username (app-password) or OAuth consumer key (oauth-client-credentials)')
    .option('--secret-env <VAR>', 'read the secret from this environment variable')
    .option('--secret-stdin', 'read the secret from standard input (default when stdin is not a terminal)')
    .option('--base-url <url>', `API base URL (default: ${BITBUCKET_CLOUD_API}; atlassian-org: ${ATLASSIAN_API})`)
    .option('--token-url <url>', `OAuth token endpoint (default: ${BITBUCKET_TOKEN_URL} for Bitbucket's API, else <base-url>/site/oauth2/access_token)`)
    .option('--schedule <cron>', 'when `roster serve` syncs it', DEFAULT_SCHEDULE)
    .option('--timezone <tz>', 'timezone of the schedule', 'UTC')
    .option('--concurrency <n>', 'parallel API requests (default 4)')
    .option('--budget <n>', 'API requests per hour this credential may use (default 1000)')
    .option('--replace', 'overwrite an existing integration of that name (its history is kept)')
    .action(
      host.run(async (ctx, name: string, options: AddOptions) => {
        if (options.kind === 'atlassian-org') return addOrganization(ctx, host.io, name, options);
        if (options.credentialKind === 'org-api-key') throw new RosterError('input_invalid', '--credential-kind org-api-key is for an Atlassian organization: add --kind atlassian-org --org-id ID.');
        if (!options.workspace) throw new RosterError('input_invalid', `Cannot add integration "${name}": --workspace SLUG is required for a Bitbucket Cloud workspace (the part after bitbucket.org/).`);
        const problems: string[] = [];
        const parsed = integrationConfigSchema.safeParse({
          name,
          workspace: options.workspace,
          credentialKind: options.credentialKind,
          baseUrl: options.baseUrl ?? BITBUCKET_CLOUD_API,
          tokenUrl: options.tokenUrl,
          schedule: options.schedule,
          timezone: options.timezone,
          concurrency: numberOption(options.concurrency),
          budgetPerHour: numberOption(options.budget),
          username: options.username,
        });
        if (!parsed.success) {
          for (const issue of parsed.error.issues) problems.push(`  - ${OPTION_OF[String(issue.path[0])] ?? (issue.path.join('.') || 'NAME')}: ${issue.message}`);
          throw new RosterError('input_invalid', `Cannot add integration "${name}":\n${problems.join('\n')}`);
        }
        const config = parsed.data;
        // Stored explicitly, so a base URL that is not Bitbucket's never sends OAuth to bitbucket.org.
        const tokenUrl = tokenUrlFor(config.baseUrl, config.tokenUrl);
        const needsUsername = CREDENTIAL_USERNAME[config.credentialKind];
        if (needsUsername && !options.username) throw new RosterError('input_invalid', `--credential-kind ${config.credentialKind} needs --username: ${needsUsername}.`);
        const secret = await readSecret(ctx, host.io, options);
        const handle = await ctx.database();
        const { integration: saved, replaced } = await saveIntegration(
          handle.db,
          ctx.keyring(),
          {
            name,
            workspace: config.workspace,
            baseUrl: config.baseUrl,
            credentialKind: config.credentialKind,
            schedule: config.schedule,
            timezone: config.timezone,
            options: { tokenUrl, concurrency: config.concurrency, budgetPerHour: config.budgetPerHour },
            credential: { secret, username: options.username ?? null },
          },
          options.replace === true,
        );
        ctx.out(`${replaced ? 'Replaced' : 'Added'} integration "${saved.name}" for workspace ${saved.workspace} (${saved.credential_kind}, schedule "${saved.schedule}" ${saved.timezone}). The credential is stored encrypted.`);
        if (config.credentialKind === 'oauth-client-credentials' && !config.tokenUrl && tokenUrl !== BITBUCKET_TOKEN_URL) {
          ctx.out(`OAuth tokens will be requested from ${tokenUrl} (derived from --base-url; give --token-url to use another endpoint).`);
        }
        const eol = CREDENTIAL_WARNINGS[saved.credential_kind];
        if (eol) ctx.err(`roster: warning: ${eol}`);
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
            workspace: r.workspace,
            credentialKind: r.credential_kind,
            baseUrl: r.base_url,
            schedule: r.schedule,
            timezone: r.timezone,
            status: r.status,
            statusMessage: r.status_message,
            lastRun: last ? { status: last.status, startedAt: last.started_at, finishedAt: last.finished_at } : null,
            warning: CREDENTIAL_WARNINGS[r.credential_kind] ?? null,
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
            view.map((v) => [v.name, v.workspace ?? '-', v.credentialKind + (v.warning ? ' (end-of-life)' : ''), `${v.schedule ?? '-'} ${v.timezone}`, v.status, v.lastRun ? `${v.lastRun.status} ${(v.lastRun.finishedAt ?? v.lastRun.startedAt).toISOString()}` : 'never']),
          ),
        );
        for (const v of view) {
          if (v.statusMessage) ctx.err(`roster: ${v.name}: ${v.statusMessage}`);
          if (v.warning) ctx.err(`roster: warning: ${v.name}: ${v.warning}`);
        }
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

/** `--kind atlassian-org`: an organization of the Atlassian Administration API, with its API key. */
async function addOrganization(ctx: CliContext, io: Io, name: string, options: AddOptions): Promise<number> {
  const problems: string[] = [];
  if (!/^[a-z0-9][a-z0-9._-]{0,62}$/.test(name)) problems.push('NAME: lower-case letters, digits, ".", "_" or "-", up to 63');
  if (!options.orgId) problems.push('--org-id: required: the organization id (in admin.atlassian.com the part after /o/ of the URL, also shown where the API key is created)');
  else if (!/^[A-Za-z0-9-]{1,64}$/.test(options.orgId)) problems.push(`--org-id: "${options.orgId}" is not an organization id (letters, digits and "-")`);
  if (options.credentialKind !== 'org-api-key') problems.push(`--credential-kind: an organization takes org-api-key (an organization API key, sent as Bearer), not ${options.credentialKind}`);
  if (options.workspace) problems.push('--workspace: an organization has no workspace; its accounts are matched to every Bitbucket integration by account id');
  if (options.username) problems.push('--username: an organization API key needs none');
  const baseUrl = options.baseUrl ?? ATLASSIAN_API;
  try {
    const u = new URL(baseUrl);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') problems.push(`--base-url: must be http(s), got ${u.protocol}`);
  } catch {
    problems.push(`--base-url: "${baseUrl}" is not a URL`);
  }
  const parsed = integrationConfigSchema.shape.schedule.safeParse(options.schedule);
  if (!parsed.success) problems.push(`--schedule: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  if (problems.length > 0) throw new RosterError('input_invalid', `Cannot add integration "${name}":\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  const secret = await readSecret(ctx, io, options);
  const handle = await ctx.database();
  const { integration: saved, replaced } = await saveIntegration(
    handle.db,
    ctx.keyring(),
    {
      name,
      kind: 'atlassian-org',
      workspace: null,
      baseUrl,
      credentialKind: 'org-api-key',
      schedule: options.schedule,
      timezone: options.timezone,
      options: { orgId: options.orgId },
      credential: { secret },
    },
    options.replace === true,
  );
  ctx.out(`${replaced ? 'Replaced' : 'Added'} integration "${saved.name}" for Atlassian organization ${options.orgId} (org-api-key, schedule "${saved.schedule}" ${saved.timezone}). The key is stored encrypted.`);
  ctx.out(`Next: roster sync --integration ${saved.name}; its accounts show in roster report identity-findings.`);
  return 0;
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
