/**
 * Bitbucket Data Center as the engine sees it: one `ConnectorDefinition` (src/interfaces.ts),
 * registered by one line in src/connectors.ts. Everything Roster's CLI, config, storage, status and
 * simulator commands know of Data Center comes from here.
 */
import { z } from 'zod';
import { RosterError } from '../../src/errors.ts';
import type { ConnectorDefinition, CredentialKindDefinition, IntegrationSpec, OptionDefinition, SealedCredential, SimFlags } from '../../src/interfaces.ts';
import { Secret } from '../../src/secrets/index.ts';
import type { DcCredential } from './api.ts';
import { DC_OPTION_LIMITS, createBitbucketDataCenterConnector } from './index.ts';
import { BITBUCKET_DATACENTER_API_LIMITS } from './limits.ts';
import { BITBUCKET_DATACENTER_MODEL } from './model.ts';

const part = (what: string) => z.instanceof(Secret, { error: `${what} is missing` }).refine((s) => s.reveal().trim() !== '', `${what} is empty`);

export const BITBUCKET_DATACENTER_CREDENTIALS: readonly CredentialKindDefinition[] = [
  {
    kind: 'http-access-token',
    description:
      'HTTP access token (Bearer), recommended: a personal token of a user with the SYS_ADMIN (or ADMIN) global permission, project and repository permission Admin (Profile → Manage account → HTTP access tokens)',
    fields: { token: { from: 'secret', slot: 'secret', description: 'the HTTP access token' } },
    schema: z.object({ token: part('the HTTP access token') }),
  },
  {
    kind: 'basic-auth',
    description: 'username and password (Basic) of a SYS_ADMIN or ADMIN user; --username is the Bitbucket username',
    fields: {
      username: { from: 'username', slot: 'username', description: 'the Bitbucket username' },
      password: { from: 'secret', slot: 'secret', description: 'the password' },
    },
    schema: z.object({ username: part('the Bitbucket username (--username)'), password: part('the password') }),
  },
];

/** The one option table: config keys are the names, CLI flags the `flag`s. */
export const BITBUCKET_DATACENTER_OPTIONS = [
  { name: 'concurrency', type: 'integer', flag: '--concurrency', description: 'parallel API requests', min: 1, max: 32, default: DC_OPTION_LIMITS.concurrency.default },
  {
    name: 'requestsPerSecond',
    type: 'integer',
    flag: '--requests-per-second',
    description: "sustained requests per second (Data Center's rate limiting refills 5 a second by default; raise it if the Roster user is exempt)",
    min: DC_OPTION_LIMITS.requestsPerSecond.min,
    max: DC_OPTION_LIMITS.requestsPerSecond.max,
    default: DC_OPTION_LIMITS.requestsPerSecond.default,
  },
] as const satisfies readonly OptionDefinition[];

async function openCredential(integration: IntegrationSpec, sealed: SealedCredential): Promise<DcCredential> {
  const parts = await sealed.open();
  const text = (name: string): string => parts[name]?.reveal() ?? '';
  if (sealed.kind === 'http-access-token') return { kind: 'http-access-token', token: text('token') };
  if (sealed.kind === 'basic-auth') return { kind: 'basic', username: text('username'), password: text('password') };
  throw new RosterError('config_invalid', `Integration "${integration.name}" has credential kind "${sealed.kind}", which Bitbucket Data Center does not take (http-access-token or basic-auth). Add it again with \`roster integration add ${integration.name} --replace\`.`);
}

export const BITBUCKET_DATACENTER: ConnectorDefinition = {
  kind: 'bitbucket-datacenter',
  title: 'Bitbucket Data Center',
  permissionModel: BITBUCKET_DATACENTER_MODEL,
  apiLimits: BITBUCKET_DATACENTER_API_LIMITS,
  settings: {
    workspace: null,
    baseUrl: { description: 'the address you open Bitbucket Data Center at, with its context path if any, without /rest (e.g. https://bitbucket.example.com)', default: null },
  },
  credentials: BITBUCKET_DATACENTER_CREDENTIALS,
  options: BITBUCKET_DATACENTER_OPTIONS,

  async create(integration, sealed, deps) {
    const options = integration.options as { concurrency?: number; requestsPerSecond?: number };
    return createBitbucketDataCenterConnector({
      baseUrl: integration.baseUrl,
      credential: await openCredential(integration, sealed),
      concurrency: options.concurrency,
      requestsPerSecond: options.requestsPerSecond,
      logger: deps.logger,
      onProgress: deps.onProgress,
      ...deps.tuning,
    });
  },

  simulator: async () => {
    const { DC_PROFILES, DcSimFlagError, parseDcRateLimitFlag, runDcSimCommand, startDcSimulator } = await import('./simulator/index.ts');
    return {
      profiles: DC_PROFILES,
      async serve(flags: SimFlags) {
        if (flags.reportedPermissions !== undefined) throw new RosterError('input_invalid', '--reported-permissions is a Bitbucket Cloud simulator flag; Data Center has no reported effective permissions listing.');
        let rateLimit: ReturnType<typeof parseDcRateLimitFlag> | undefined;
        try {
          if (flags.rateLimit !== undefined) rateLimit = parseDcRateLimitFlag(flags.rateLimit);
          await runDcSimCommand({ port: flags.port, profile: flags.profile, seed: flags.seed, faults: flags.faults, ...(rateLimit !== undefined ? { rateLimit } : {}) });
        } catch (error) {
          if (error instanceof DcSimFlagError || (error instanceof Error && error.name === 'DcFaultSpecError')) throw new RosterError('input_invalid', `${error.message}.`);
          throw error;
        }
      },
      async start({ profile, seed }) {
        // No rate limit on the demo's own simulator, so the integration need not pace at Data Center's default.
        const sim = await startDcSimulator({ profile: profile as (typeof DC_PROFILES)[number], seed, rateLimit: false });
        const admin = sim.credentials.adminToken;
        return {
          baseUrl: sim.baseUrl,
          workspace: null,
          label: 'Bitbucket Data Center server',
          integration: { credentialKind: 'http-access-token', credential: { secret: new Secret(admin.kind === 'http-access-token' ? admin.token : ''), username: null }, options: { requestsPerSecond: 10_000 } },
          close: () => sim.close(),
        };
      },
    };
  },
};
