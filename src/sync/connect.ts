import { type BitbucketCloudOptions, type OAuthTokens, createBitbucketCloudConnector } from '../../connectors/bitbucket-cloud/index.ts';
import { tokenUrlFor } from '../config/index.ts';
import type { RosterDatabase } from '../db/index.ts';
import { readCredential, saveOAuthTokens } from '../db/integrations.ts';
import type { Integration } from '../db/types.ts';
import { RosterError } from '../errors.ts';
import type { Connector, ProgressEvent } from '../interfaces.ts';
import type { Logger } from '../log.ts';
import type { Keyring } from '../secrets/index.ts';

/** Knobs tests and the benchmark may set on a connector (clock, budget, waits); never credentials. */
export type ConnectorOverrides = Partial<Pick<BitbucketCloudOptions, 'clock' | 'budgetPerHour' | 'maxRateLimitWaitMs' | 'concurrency' | 'timeoutMs' | 'maxRetries' | 'retryBaseMs'>>;

interface IntegrationOptions {
  tokenUrl?: string;
  concurrency?: number;
  budgetPerHour?: number;
}

/**
 * Builds the connector for one integration, bound to its own workspace and credential. This is the
 * only place where a stored secret is decrypted for use.
 */
export async function connectIntegration(
  handle: RosterDatabase,
  keyring: Keyring,
  integration: Integration,
  hooks: { onProgress: (event: ProgressEvent) => void; logger: Logger },
  overrides: ConnectorOverrides = {},
): Promise<Connector> {
  if (!integration.workspace) throw new RosterError('config_invalid', `Integration "${integration.name}" has no workspace: a Bitbucket Cloud integration needs its workspace slug (roster integration add --workspace SLUG --replace).`);
  const credential = await readCredential(handle.db, keyring, integration);
  const options = integration.options as IntegrationOptions;
  const secret = credential.secret.reveal();
  let bitbucketCredential: BitbucketCloudOptions['credential'];
  switch (credential.kind) {
    case 'workspace-access-token':
    case 'project-access-token':
    case 'repository-access-token':
      bitbucketCredential = { kind: credential.kind, token: secret };
      break;
    case 'api-token':
      bitbucketCredential = { kind: 'api-token', email: credential.username ?? '', token: secret };
      break;
    case 'app-password':
      bitbucketCredential = { kind: 'app-password', username: credential.username ?? '', password: secret };
      break;
    case 'oauth-client-credentials':
      bitbucketCredential = {
        kind: 'oauth-client-credentials',
        clientId: credential.username ?? '',
        clientSecret: secret,
        accessToken: credential.accessToken?.value.reveal(),
        refreshToken: credential.refreshToken?.reveal(),
        expiresAt: credential.accessToken?.expiresAt ?? undefined,
      };
      break;
    case 'org-api-key':
      throw new RosterError('config_invalid', `Integration "${integration.name}" holds an organization API key: it is an Atlassian organization (an identity source), synced by roster sync, not a Bitbucket workspace.`);
  }
  const integrationId = String(integration.id);
  // Requests of this integration's runs in the last hour, made by other processes: a fresh process
  // must not assume a full budget. Counted at the run's last sign of life, which errs on the side of
  // waiting longer, never of a 429.
  const recent = await handle.db
    .selectFrom('sync_runs')
    .select(['api_requests', 'heartbeat_at', 'finished_at'])
    .where('integration_id', '=', integrationId)
    .where('heartbeat_at', '>', new Date(Date.now() - 3_600_000))
    .execute();
  const priorRequests = recent.map((r) => ({ at: (r.finished_at ?? r.heartbeat_at).getTime(), count: r.api_requests }));
  return createBitbucketCloudConnector({
    baseUrl: integration.base_url,
    workspace: integration.workspace,
    credential: bitbucketCredential,
    // Integrations stored before the token URL was derived: never bitbucket.org for another base URL.
    tokenUrl: tokenUrlFor(integration.base_url, options.tokenUrl),
    concurrency: options.concurrency,
    budgetPerHour: options.budgetPerHour,
    // Rotated OAuth tokens are sealed and stored before the connector uses them.
    onTokens: (tokens: OAuthTokens) => saveOAuthTokens(handle.db, keyring, integrationId, tokens),
    logger: hooks.logger,
    onProgress: hooks.onProgress,
    priorRequests: overrides.clock ? undefined : priorRequests,
    ...overrides,
  });
}
