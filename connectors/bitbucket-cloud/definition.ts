/**
 * Bitbucket Cloud as the engine sees it: one `ConnectorDefinition` (src/interfaces.ts), registered by
 * one line in src/connectors.ts. Everything Roster's CLI, config, storage, status and simulator
 * commands know of Bitbucket Cloud comes from here.
 */
import { z } from 'zod';
import { RosterError } from '../../src/errors.ts';
import type { ConnectorDefinition, CredentialKindDefinition, IntegrationSpec, SealedCredential, SimFlags } from '../../src/interfaces.ts';
import { Secret } from '../../src/secrets/index.ts';
import { APP_PASSWORD_EOL_WARNING, type BitbucketCredential, type CredentialKind } from './credentials.ts';
import { createBitbucketCloudConnector } from './index.ts';
import { BITBUCKET_CLOUD_API_LIMITS } from './limits.ts';
import { BITBUCKET_CLOUD_MODEL } from './model.ts';
import { bitbucketCloudRemediation } from './remediation.ts';
import { BITBUCKET_CLOUD_API, BITBUCKET_CLOUD_OPTIONS, BITBUCKET_TOKEN_URL, checkWorkspaceSlug, tokenUrlFor } from './settings.ts';

/** A credential part: a `Secret` (it never prints) that is not empty. */
const part = (what: string) => z.instanceof(Secret, { error: `${what} is missing` }).refine((s) => s.reveal().trim() !== '', `${what} is empty`);

const secretOnly = (kind: CredentialKind, description: string): CredentialKindDefinition => ({
  kind,
  description,
  fields: { token: { from: 'secret', slot: 'secret', description: 'the token' } },
  schema: z.object({ token: part('the token') }),
});

/** A kind of two parts: one from --username, the secret. */
function withUsername(kind: CredentialKind, description: string, user: Part, secret: Part, warning?: string): CredentialKindDefinition {
  return {
    kind,
    description,
    fields: { [user.name]: { from: 'username', slot: user.slot, description: user.description }, [secret.name]: { from: 'secret', slot: secret.slot, description: secret.description } },
    schema: z.object({ [user.name]: part(`${user.description} (--username)`), [secret.name]: part(secret.description) }),
    ...(warning ? { warning } : {}),
  };
}

interface Part {
  name: string;
  slot: string;
  description: string;
}

/** Fields each kind takes; the slots are the names stored credentials have always had. */
export const BITBUCKET_CLOUD_CREDENTIALS: readonly CredentialKindDefinition[] = [
  withUsername(
    'api-token',
    'Atlassian API token (recommended: of a workspace admin); --username is its Atlassian account e-mail',
    { name: 'email', slot: 'username', description: 'the Atlassian account e-mail' },
    { name: 'token', slot: 'secret', description: 'the API token' },
  ),
  withUsername(
    'oauth-client-credentials',
    'OAuth consumer of a workspace admin (client credentials); --username is the consumer key, the secret its secret',
    { name: 'clientId', slot: 'client_id', description: 'the OAuth consumer key' },
    { name: 'clientSecret', slot: 'client_secret', description: 'the OAuth consumer secret' },
  ),
  secretOnly('workspace-access-token', 'workspace access token (no members, groups or permissions)'),
  secretOnly('project-access-token', 'project access token (one project)'),
  secretOnly('repository-access-token', 'repository access token (one repository)'),
  withUsername(
    'app-password',
    'app password (end-of-life); --username is the Bitbucket username',
    { name: 'username', slot: 'username', description: 'the Bitbucket username' },
    { name: 'password', slot: 'secret', description: 'the app password' },
    APP_PASSWORD_EOL_WARNING,
  ),
];

const OAUTH_STATE = { accessToken: 'access_token', refreshToken: 'refresh_token' } as const;

/** The opened credential in the connector's shape. */
async function openCredential(integration: IntegrationSpec, sealed: SealedCredential): Promise<BitbucketCredential> {
  const parts = await sealed.open();
  const text = (name: string): string => parts[name]?.reveal() ?? '';
  const kind = sealed.kind as CredentialKind;
  switch (kind) {
    case 'workspace-access-token':
    case 'project-access-token':
    case 'repository-access-token':
      return { kind, token: text('token') };
    case 'api-token':
      return { kind, email: text('email'), token: text('token') };
    case 'app-password':
      return { kind, username: text('username'), password: text('password') };
    case 'oauth-client-credentials': {
      const access = await sealed.openState(OAUTH_STATE.accessToken);
      const refresh = await sealed.openState(OAUTH_STATE.refreshToken);
      return {
        kind,
        clientId: text('clientId'),
        clientSecret: text('clientSecret'),
        accessToken: access?.value.reveal(),
        refreshToken: refresh?.value.reveal(),
        expiresAt: access?.expiresAt ?? undefined,
      };
    }
    default:
      throw new RosterError('config_invalid', `Integration "${integration.name}" has credential kind "${String(kind)}", which Bitbucket Cloud does not take. Add it again with \`roster integration add ${integration.name} --replace\`.`);
  }
}

export const BITBUCKET_CLOUD: ConnectorDefinition = {
  kind: 'bitbucket-cloud',
  title: 'Bitbucket Cloud',
  permissionModel: BITBUCKET_CLOUD_MODEL,
  apiLimits: BITBUCKET_CLOUD_API_LIMITS,
  settings: {
    workspace: { description: 'Bitbucket workspace slug (the part after bitbucket.org/)', check: checkWorkspaceSlug },
    baseUrl: { description: 'API base URL', default: BITBUCKET_CLOUD_API },
  },
  credentials: BITBUCKET_CLOUD_CREDENTIALS,
  options: BITBUCKET_CLOUD_OPTIONS,

  resolveOptions({ baseUrl, credentialKind, options }) {
    // Stored explicitly, so a base URL that is not Bitbucket's never sends OAuth to bitbucket.org.
    const given = typeof options.tokenUrl === 'string' ? options.tokenUrl : undefined;
    const tokenUrl = tokenUrlFor(baseUrl, given);
    const notes =
      credentialKind === 'oauth-client-credentials' && !given && tokenUrl !== BITBUCKET_TOKEN_URL
        ? [`OAuth tokens will be requested from ${tokenUrl} (derived from --base-url; give --token-url to use another endpoint).`]
        : [];
    return { options: { ...options, tokenUrl }, notes };
  },

  async create(integration, sealed, deps) {
    if (!integration.workspace) {
      throw new RosterError('config_invalid', `Integration "${integration.name}" has no workspace: a Bitbucket Cloud integration needs its workspace slug (roster integration add --workspace SLUG --replace).`);
    }
    const options = integration.options as { tokenUrl?: string; concurrency?: number; budgetPerHour?: number };
    return createBitbucketCloudConnector({
      baseUrl: integration.baseUrl,
      workspace: integration.workspace,
      credential: await openCredential(integration, sealed),
      // The credential pool: more credentials of the same kind, opened the same way.
      pool: await Promise.all((await sealed.openPool()).map((parts) => openCredential(integration, { ...sealed, open: async () => parts, openState: async () => null }))),
      // Integrations stored before the token URL was derived: never bitbucket.org for another base URL.
      tokenUrl: tokenUrlFor(integration.baseUrl, options.tokenUrl),
      concurrency: options.concurrency,
      budgetPerHour: options.budgetPerHour,
      // Rotated OAuth tokens are sealed and stored before the connector uses them.
      onTokens: (tokens) =>
        sealed.saveState([
          { slot: OAUTH_STATE.accessToken, value: tokens.accessToken, expiresAt: tokens.expiresAt },
          ...(tokens.refreshToken ? [{ slot: OAUTH_STATE.refreshToken, value: tokens.refreshToken, expiresAt: null }] : []),
        ]),
      logger: deps.logger,
      onProgress: deps.onProgress,
      // A test clock runs in another time: requests counted in real time would not fit it.
      priorRequests: deps.tuning.clock ? undefined : deps.priorRequests,
      ...deps.tuning,
    });
  },

  remediation: bitbucketCloudRemediation,

  simulator: async () => {
    // The simulator is loaded only when asked for (`roster sim`, `roster demo`).
    const { SIM_PROFILES, SimFlagError, parseRateLimitFlag, parseReportedPermissionsFlag, runSimCommand, startSimulator } = await import('./simulator/index.ts');
    return {
      profiles: SIM_PROFILES,
      async serve(flags: SimFlags) {
        let rateLimit: number | false | undefined;
        let reportedPermissions: ReturnType<typeof parseReportedPermissionsFlag> | undefined;
        try {
          if (flags.rateLimit !== undefined) rateLimit = parseRateLimitFlag(flags.rateLimit);
          if (flags.reportedPermissions !== undefined) reportedPermissions = parseReportedPermissionsFlag(flags.reportedPermissions);
        } catch (error) {
          if (error instanceof SimFlagError) throw new RosterError('input_invalid', `${error.message}.`);
          throw error;
        }
        await runSimCommand({
          port: flags.port,
          profile: flags.profile,
          seed: flags.seed,
          faults: flags.faults,
          ...(rateLimit !== undefined ? { rateLimit } : {}),
          ...(reportedPermissions ? { reportedPermissions } : {}),
        });
      },
      async start({ profile, seed }) {
        const sim = await startSimulator({ profile: profile as (typeof SIM_PROFILES)[number], seed, rateLimit: false });
        const admin = sim.credentials.adminApiToken;
        return {
          baseUrl: sim.baseUrl,
          workspace: sim.workspace,
          label: `Bitbucket Cloud workspace "${sim.workspace}"`,
          integration: {
            credentialKind: 'api-token',
            credential: { secret: new Secret(admin.token), username: admin.email },
            options: { tokenUrl: `${sim.baseUrl}/site/oauth2/access_token` },
          },
          close: () => sim.close(),
        };
      },
    };
  },
};
