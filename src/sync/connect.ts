import { type BitbucketCloudOptions, type OAuthTokens, createBitbucketCloudConnector } from '../../connectors/bitbucket-cloud/index.ts';
import type { RosterDatabase } from '../db/index.ts';
import { readCredential, saveOAuthTokens } from '../db/integrations.ts';
import type { Integration } from '../db/types.ts';
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
  }
  const integrationId = String(integration.id);
  return createBitbucketCloudConnector({
    baseUrl: integration.base_url,
    workspace: integration.workspace,
    credential: bitbucketCredential,
    tokenUrl: options.tokenUrl,
    concurrency: options.concurrency,
    budgetPerHour: options.budgetPerHour,
    // Rotated OAuth tokens are sealed and stored before the connector uses them.
    onTokens: (tokens: OAuthTokens) => saveOAuthTokens(handle.db, keyring, integrationId, tokens),
    logger: hooks.logger,
    onProgress: hooks.onProgress,
    ...overrides,
  });
}
