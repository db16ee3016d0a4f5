import fs from 'node:fs';
import path from 'node:path';
import cron from 'node-cron';
import YAML from 'yaml';
import { z } from 'zod';
import { DEFAULT_MAX_CONCURRENT_SYNCS } from '../db/index.ts';
import { RosterError } from '../errors.ts';
import { defaultConnectorKind, optionSchemas, sourceKinds, sourceOf, wholeNumber } from '../connectors.ts';

export const DEFAULT_SCHEDULE = '0 3 * * *';
/** Upper limits of `server.maxConcurrentSyncs` and of the pool size: far above any sane value, low enough to catch a typo. */
export const MAX_CONCURRENT_SYNCS_LIMIT = 64;
export const POOL_SIZE_LIMIT = 1000;
export const CONFIG_FILE_NAMES = ['roster.config.yaml', 'roster.config.yml', 'roster.config.json'];

const CRON_FIELDS: Record<string, string> = {
  second: 'second (0-59)',
  minute: 'minute (0-59)',
  hour: 'hour (0-23)',
  day: 'day of the month (1-31)',
  dayOfMonth: 'day of the month (1-31)',
  month: 'month (1-12 or jan-dec)',
  weekday: 'day of the week (0-7 or sun-sat)',
  dayOfWeek: 'day of the week (0-7 or sun-sat)',
};

/** Checks a cron expression (5 or 6 fields) and explains what is wrong with it. */
export function checkCron(expression: string): string | null {
  const result = cron.validateDetailed(expression);
  if (result.valid) return null;
  // node-cron's own wording ("25 is a invalid expression for hour") is replaced by the field and its range.
  const problems = (result.errors as Array<{ field?: string; value?: string; message?: string }>)
    .map((e) => (e.field && CRON_FIELDS[e.field] ? `"${e.value ?? ''}" is not a valid ${CRON_FIELDS[e.field]}` : e.message?.replace(/\ba invalid\b/g, 'an invalid') ?? e.field))
    .filter(Boolean);
  return `invalid cron expression "${expression}"${problems.length ? `: ${problems.join('; ')}` : ''} (expected 5 fields "minute hour day-of-month month day-of-week", e.g. "0 3 * * *")`;
}

export function checkTimezone(timezone: string): string | null {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return null;
  } catch {
    return `unknown timezone "${timezone}" (use an IANA name such as "UTC" or "Europe/Berlin")`;
  }
}

const cronExpression = z.string().superRefine((value, ctx) => {
  const problem = checkCron(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const timezone = z.string().superRefine((value, ctx) => {
  const problem = checkTimezone(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const envVarName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must be the NAME of an environment variable (e.g. BITBUCKET_TOKEN), never the secret itself');

/**
 * One integration, as declared in a config file, of the kind it names (default: the registry's first).
 * What it takes besides the engine's own keys (name, kind, credential, schedule) is its kind's
 * declaration: the workspace and base URL settings, the credential kinds, and the options with their
 * limits (`src/connectors.ts`). Secrets come from environment variables.
 */
export function integrationConfigSchema(kind: string) {
  const definition = sourceOf(kind);
  const { workspace, baseUrl } = definition.settings;
  const check = (problem: (value: string) => string | null) =>
    z.string().superRefine((value, ctx) => {
      const found = problem(value);
      if (found) ctx.addIssue({ code: 'custom', message: found });
    });
  const credentialKinds = definition.credentials.map((c) => c.kind);
  return z
    .strictObject({
      name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'lowercase letters, digits, ".", "_" and "-", at most 63 characters'),
      kind: z.literal(kind).default(kind),
      workspace: workspace
        ? check(workspace.check).optional().superRefine((value, ctx) => {
            if (value === undefined) ctx.addIssue({ code: 'custom', message: `is required for ${definition.title}: ${workspace.description}` });
          })
        : z.undefined({ error: `${definition.title} has no workspaces; leave it out` }),
      baseUrl: baseUrl.default === null ? z.url({ protocol: /^https?$/, error: `is required for ${definition.title}: ${baseUrl.description} (an http(s) URL)` }) : z.url({ protocol: /^https?$/ }).default(baseUrl.default),
      credentialKind: z.string().refine((value) => credentialKinds.includes(value), { error: (issue) => `${definition.title} has no credential kind "${String(issue.input)}": use one of ${credentialKinds.join(', ')}` }),
      /** Environment variable holding the secret (token, API token, password or client secret). */
      secretEnv: envVarName.optional(),
      /** What the credential kind takes besides its secret (an account e-mail, a username, an OAuth client id). */
      username: z.string().min(1).optional(),
      schedule: cronExpression.default(DEFAULT_SCHEDULE),
      timezone: timezone.default('UTC'),
      ...optionSchemas(kind),
    })
    .transform((raw): IntegrationConfig => {
      const given = Object.fromEntries(definition.options.map((o) => [o.name, (raw as Record<string, unknown>)[o.name]]).filter(([, v]) => v !== undefined));
      const resolved = definition.resolveOptions?.({ baseUrl: raw.baseUrl as string, credentialKind: raw.credentialKind, options: given }) ?? { options: given, notes: [] };
      return {
        ...given,
        name: raw.name,
        kind,
        workspace: (raw.workspace as string | undefined) ?? null,
        baseUrl: raw.baseUrl as string,
        credentialKind: raw.credentialKind,
        secretEnv: raw.secretEnv,
        username: raw.username,
        schedule: raw.schedule,
        timezone: raw.timezone,
        options: resolved.options,
        notes: resolved.notes,
      };
    });
}

/** One integration of the config file (or of `roster integration add`), checked by its kind's declaration. */
export interface IntegrationConfig {
  name: string;
  kind: string;
  workspace: string | null;
  baseUrl: string;
  credentialKind: string;
  secretEnv?: string;
  username?: string;
  schedule: string;
  timezone: string;
  /** The kind's options, checked, with defaults and derived values filled in: what is stored. */
  options: Record<string, unknown>;
  /** What `resolveOptions` derived, for the operator (`roster integration add` prints them). */
  notes: string[];
  /** Each option also under its own name, as the file spells it (`concurrency: 4`). */
  [option: string]: unknown;
}

/** The kind an integration's raw declaration names, or the default kind; an unknown kind is a problem of its `kind` key. */
export function declaredKind(raw: unknown): { kind: string } | { problem: string } {
  const kind = raw !== null && typeof raw === 'object' && 'kind' in raw ? (raw as { kind: unknown }).kind : undefined;
  if (kind === undefined) return { kind: defaultConnectorKind() };
  if (typeof kind !== 'string' || !sourceKinds().includes(kind)) return { problem: `unknown integration kind ${JSON.stringify(kind)}: use one of ${sourceKinds().join(', ')}` };
  return { kind };
}

/** Parses one integration declaration by the schema of its kind; issues carry their key as the path. */
export function parseIntegrationConfig(raw: unknown): { success: true; data: IntegrationConfig } | { success: false; issues: z.core.$ZodIssue[] } {
  const kind = declaredKind(raw);
  if ('problem' in kind) return { success: false, issues: [{ code: 'custom', path: ['kind'], message: kind.problem, input: raw } as z.core.$ZodIssue] };
  const result = integrationConfigSchema(kind.kind).safeParse(raw);
  return result.success ? { success: true, data: result.data } : { success: false, issues: result.error.issues };
}

export const fileConfigSchema = z.strictObject({
  /** Each parsed by its kind's schema (`parseIntegrationConfig`). */
  integrations: z.array(z.unknown()).default([]),
  server: z
    .strictObject({
      port: wholeNumber(0, 65535).default(8080),
      host: z.string().default('127.0.0.1'),
      /** The address reviewers open (behind a proxy: its https URL); `roster review link` builds links on it. */
      publicUrl: z.url({ protocol: /^https?$/ }).optional(),
      /** The reviewer page believes this header (e.g. X-Forwarded-Email from oauth2-proxy) from `trustedProxies` only. */
      trustProxyHeader: z.string().regex(/^[A-Za-z0-9-]+$/, 'a header name such as X-Forwarded-Email').optional(),
      trustedProxies: z.array(z.string().min(1)).default([]),
      /** Syncs one `roster serve` runs at once; more that fire together wait their turn (`--max-concurrent-syncs`). */
      maxConcurrentSyncs: wholeNumber(1, MAX_CONCURRENT_SYNCS_LIMIT).default(DEFAULT_MAX_CONCURRENT_SYNCS),
    })
    .default({ port: 8080, host: '127.0.0.1', trustedProxies: [], maxConcurrentSyncs: DEFAULT_MAX_CONCURRENT_SYNCS }),
  database: z
    .strictObject({
      /** Connections this process may open to a PostgreSQL server (ROSTER_DB_POOL_SIZE wins); default: enough for `server.maxConcurrentSyncs`. */
      poolSize: wholeNumber(1, POOL_SIZE_LIMIT).optional(),
    })
    .default({}),
  /** A run is stale when its last success is older than this (e.g. "26h"). */
  maxAge: z.string().regex(/^\d+(\.\d+)?\s*[smhd]$/, 'a duration such as "26h", "90m" or "2d"').default('26h'),
  /** `degraded` (scopes not covered by a limited credential) exits 0 and answers HTTP 200 when true. */
  allowPartialCoverage: z.boolean().default(false),
});

/** An empty variable (`FOO=` or compose's `${FOO:-}`) counts as unset. */
function unsetWhenEmpty(value: unknown): unknown {
  return value === '' ? undefined : value;
}

/** What Roster reads from the environment. */
export const envSchema = z.object({
  DATABASE_URL: z.string().min(1).optional(),
  ROSTER_DATA_DIR: z.string().min(1).optional(),
  ROSTER_CONFIG: z.string().min(1).optional(),
  ROSTER_ENCRYPTION_KEY: z.string().min(1).optional(),
  ROSTER_ENCRYPTION_KEYS_OLD: z.string().min(1).optional(),
  ROSTER_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
  ROSTER_PORT: z
    .string()
    .optional()
    .superRefine((value, ctx) => {
      if (value !== undefined && checkInteger(value, 0, 65535)) ctx.addIssue({ code: 'custom', message: `${checkInteger(value, 0, 65535)}` });
    })
    .transform((value) => (value === undefined ? undefined : Number(value))),
  /** Connections to a PostgreSQL server per process; wins over `database.poolSize` of the config file. */
  ROSTER_DB_POOL_SIZE: z
    .string()
    .optional()
    .superRefine((value, ctx) => {
      if (value !== undefined && checkInteger(value, 1, POOL_SIZE_LIMIT)) ctx.addIssue({ code: 'custom', message: `${checkInteger(value, 1, POOL_SIZE_LIMIT)}` });
    })
    .transform((value) => (value === undefined ? undefined : Number(value))),
  /** Bearer token that `GET /status` and `GET /metrics` of `roster serve` require when set. */
  ROSTER_STATUS_TOKEN: z.preprocess(unsetWhenEmpty, z.string().min(16, 'must be at least 16 characters (generate one with `openssl rand -hex 32`)').optional()),
  /** Seconds between two progress lines of a sync whose stderr is not a terminal. */
  ROSTER_PROGRESS_INTERVAL: z
    .string()
    .optional()
    .superRefine((value, ctx) => {
      if (value !== undefined && !/^\d+(\.\d+)?$/.test(value.trim())) ctx.addIssue({ code: 'custom', message: `must be a number of seconds, e.g. 10 (got "${value}")` });
    })
    .transform((value) => (value === undefined ? undefined : Number(value))),
});

/**
 * Why `value` is not a whole number from `min` to `max`, or null when it is. Number options and
 * variables say which value was wrong ("got \"abc\""), never "expected number, received NaN".
 */
export function checkInteger(value: string, min: number, max: number): string | null {
  const trimmed = value.trim();
  if (!/^-?\d+$/.test(trimmed)) return `must be a whole number from ${min.toLocaleString('en-US')} to ${max.toLocaleString('en-US')} (got "${value}")`;
  const n = Number(trimmed);
  if (n < min || n > max) return `must be from ${min.toLocaleString('en-US')} to ${max.toLocaleString('en-US')} (got ${trimmed})`;
  return null;
}

/** A whole-number command-line option, or an `input_invalid` error naming the option and the value. */
export function parseIntegerOption(option: string, value: string, min: number, max: number): number {
  const problem = checkInteger(value, min, max);
  if (problem) throw new RosterError('input_invalid', `${option} ${problem}.`);
  return Number(value.trim());
}

export type FileConfig = Omit<z.output<typeof fileConfigSchema>, 'integrations'> & { integrations: IntegrationConfig[] };
export type EnvConfig = z.infer<typeof envSchema>;

export interface RosterConfig {
  env: EnvConfig;
  file: FileConfig;
  /** The config file that was read, if any. */
  source: string | null;
}

/** Formats every issue with its path, one per line. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], prefix = ''): string {
  return issues
    .map((issue) => {
      const where = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
      let message = issue.message;
      if (issue.code === 'unrecognized_keys') message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (check the spelling; see README "Configuration")`;
      return `  - ${where || '(top level)'}: ${message}`;
    })
    .join('\n');
}

/**
 * Reads the environment and the optional config file once. A bad config is one error listing every
 * problem with its path, so a user fixes them all in one go.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, explicitPath?: string): RosterConfig {
  const envResult = envSchema.safeParse(env);
  const problems: string[] = [];
  if (!envResult.success) problems.push(formatIssues(envResult.error.issues, 'env'));

  const file = explicitPath ?? env.ROSTER_CONFIG ?? CONFIG_FILE_NAMES.find((name) => fs.existsSync(name));
  let raw: unknown = {};
  if (file) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      throw new RosterError('config_invalid', `Cannot read config file ${file}: ${(error as Error).message}`, { cause: error });
    }
    try {
      raw = path.extname(file) === '.json' ? JSON.parse(text) : YAML.parse(text);
    } catch (error) {
      throw new RosterError('config_invalid', `Config file ${file} is not valid ${path.extname(file) === '.json' ? 'JSON' : 'YAML'}: ${(error as Error).message}`, { cause: error });
    }
    raw ??= {};
  }
  const fileResult = fileConfigSchema.safeParse(raw);
  if (!fileResult.success) problems.push(formatIssues(fileResult.error.issues));
  const integrations: IntegrationConfig[] = [];
  // Each integration is checked by its kind's schema even when the rest of the file is wrong, so one
  // message lists every problem.
  const declaredIntegrations = raw !== null && typeof raw === 'object' && Array.isArray((raw as { integrations?: unknown }).integrations) ? ((raw as { integrations: unknown[] }).integrations) : [];
  {
    const names = new Map<string, number>();
    declaredIntegrations.forEach((declared, index) => {
      const parsed = parseIntegrationConfig(declared);
      if (!parsed.success) {
        problems.push(formatIssues(parsed.issues, `integrations.${index}`));
        return;
      }
      const integration = parsed.data;
      integrations.push(integration);
      const earlier = names.get(integration.name);
      if (earlier !== undefined) problems.push(`  - integrations.${index}.name: "${integration.name}" is already used by integrations.${earlier}`);
      names.set(integration.name, index);
    });
  }
  if (problems.length > 0 || !envResult.success || !fileResult.success) {
    throw new RosterError('config_invalid', `Invalid configuration${file ? ` (${file})` : ''}:\n${problems.join('\n')}`);
  }
  return { env: envResult.data, file: { ...fileResult.data, integrations }, source: file ?? null };
}

/** Parses "26h", "90m", "2d", "30s" into milliseconds. */
export function parseDuration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([smhd])$/.exec(value.trim());
  if (!match) throw new RosterError('input_invalid', `"${value}" is not a duration; use a number and a unit, e.g. 26h, 90m, 2d or 30s`);
  const units = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
  return Number(match[1]) * units[match[2] as keyof typeof units];
}
