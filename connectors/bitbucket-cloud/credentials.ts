import { ConnectorError } from '../../src/errors.ts';
import type { Clock, HttpClient } from '../../src/http/index.ts';
import { registerSecret, type Logger } from '../../src/log.ts';
import { errorBodySchema, oauthTokenSchema } from './schemas.ts';

/** The credentials Bitbucket Cloud accepts, discriminated by `kind` (a `CredentialKind`). */
export type BitbucketCredential =
  | { kind: 'workspace-access-token' | 'project-access-token' | 'repository-access-token'; token: string }
  | { kind: 'api-token'; email: string; token: string }
  | { kind: 'app-password'; username: string; password: string }
  | {
      kind: 'oauth-client-credentials';
      clientId: string;
      clientSecret: string;
      accessToken?: string | null;
      refreshToken?: string | null;
      expiresAt?: Date | string | null;
    };

/** Bitbucket Cloud's credential kinds (the definition declares each, with its fields and schema). */
export type CredentialKind = BitbucketCredential['kind'];

export const ACCESS_TOKEN_KINDS = ['workspace-access-token', 'project-access-token', 'repository-access-token'] as const;
export type AccessTokenKind = (typeof ACCESS_TOKEN_KINDS)[number];

export function isAccessToken(kind: CredentialKind): kind is AccessTokenKind {
  return (ACCESS_TOKEN_KINDS as readonly string[]).includes(kind);
}

export const CREDENTIAL_LABELS: Record<CredentialKind, string> = {
  'workspace-access-token': 'workspace access token',
  'project-access-token': 'project access token',
  'repository-access-token': 'repository access token',
  'oauth-client-credentials': 'OAuth consumer (client credentials)',
  'api-token': 'Atlassian API token',
  'app-password': 'app password',
};

/** The one statement that app passwords are end-of-life: capability warnings, the 401 advice, `integration add`/`list` and `status` show it. */
export const APP_PASSWORD_EOL_WARNING =
  'Bitbucket app passwords were switched off in July 2026: replace this credential with an Atlassian API token of a workspace admin (credential kind api-token).';

export interface OAuthTokens {
  accessToken: string;
  refreshToken: string | null;
  expiresAt: Date;
}

/** Produces the `Authorization` header for each attempt, and renews it when the API says 401. */
export interface Authorizer {
  readonly kind: CredentialKind;
  authorization(signal?: AbortSignal): Promise<string>;
  /**
   * Called after a 401 with the header that was rejected. Returns true when a different credential is
   * now available and the request is worth one more try (an OAuth token refreshed early).
   */
  renew(rejected: string, signal?: AbortSignal): Promise<boolean>;
  /** OAuth scopes the token endpoint granted, when it said. */
  grantedScopes(): string[] | null;
  /** The error to raise when the API keeps answering 401. */
  unauthorized(endpoint: string, sourceMessage: string | null): ConnectorError;
}

function basic(user: string, secret: string): string {
  return `Basic ${Buffer.from(`${user}:${secret}`, 'utf8').toString('base64')}`;
}

const UNAUTHORIZED_ADVICE: Record<Exclude<CredentialKind, 'oauth-client-credentials'>, string> = {
  'workspace-access-token': 'The workspace access token was rejected: it was revoked, expired, or belongs to another workspace. Create a new one (Workspace settings → Access tokens) and update the integration.',
  'project-access-token': 'The project access token was rejected: it was revoked or its project was deleted. Create a new one and update the integration.',
  'repository-access-token': 'The repository access token was rejected: it was revoked, or its repository was deleted or transferred. Create a new one and update the integration.',
  'api-token': 'The Atlassian API token was rejected: it expired (API tokens last at most a year), was revoked, or the email does not match. Create a new API token at id.atlassian.com and update the integration.',
  'app-password': `The app password was rejected. ${APP_PASSWORD_EOL_WARNING}`,
};

class StaticAuthorizer implements Authorizer {
  constructor(
    readonly kind: Exclude<CredentialKind, 'oauth-client-credentials'>,
    private readonly header: string,
  ) {
    registerSecret(header);
    registerSecret(header.replace(/^\S+\s+/, ''));
  }
  authorization(): Promise<string> {
    return Promise.resolve(this.header);
  }
  renew(): Promise<boolean> {
    return Promise.resolve(false);
  }
  grantedScopes(): null {
    return null;
  }
  unauthorized(endpoint: string, sourceMessage: string | null): ConnectorError {
    return new ConnectorError('unauthorized', `Bitbucket rejected the ${CREDENTIAL_LABELS[this.kind]} (401) at ${endpoint}${sourceMessage ? `: ${sourceMessage}` : ''}`, {
      endpoint,
      httpStatus: 401,
      advice: UNAUTHORIZED_ADVICE[this.kind],
    });
  }
}

export interface OAuthOptions {
  tokenUrl: string;
  http: HttpClient;
  clock: Clock;
  onTokens?: (tokens: OAuthTokens) => Promise<void>;
  logger?: Logger;
  /** Whether token requests draw on the API budget (true when the token endpoint is on the API host). */
  paced: boolean;
}

const OAUTH_REVOKED_ADVICE =
  'The OAuth consumer no longer has a grant: it was deleted, its secret was rotated, or its access was revoked. Create a consumer (Workspace settings → OAuth consumers, "This is a private consumer", with account, project:admin, repository and repository:admin) and update the integration.';

/**
 * OAuth 2.0 client-credentials consumer. Refreshes the access token *before* it expires (the refresh
 * margin is five minutes, or a quarter of the lifetime for short-lived tokens), hands every issued
 * token pair to `onTokens` — which persists it encrypted — before using it, and treats a refused grant
 * as `oauth_revoked`.
 */
export class OAuthAuthorizer implements Authorizer {
  readonly kind = 'oauth-client-credentials' as const;
  private accessToken: string | null;
  private refreshToken: string | null;
  private expiresAt: number;
  private lifetimeMs: number;
  private scopes: string[] | null = null;
  private inflight: Promise<string> | null = null;

  constructor(
    private readonly credential: Extract<BitbucketCredential, { kind: 'oauth-client-credentials' }>,
    private readonly options: OAuthOptions,
  ) {
    registerSecret(credential.clientSecret);
    registerSecret(credential.accessToken);
    registerSecret(credential.refreshToken);
    registerSecret(basic(credential.clientId, credential.clientSecret));
    this.accessToken = credential.accessToken ?? null;
    this.refreshToken = credential.refreshToken ?? null;
    const expires = credential.expiresAt ? new Date(credential.expiresAt).getTime() : NaN;
    this.expiresAt = Number.isFinite(expires) ? expires : 0;
    this.lifetimeMs = 60 * 60_000;
  }

  grantedScopes(): string[] | null {
    return this.scopes;
  }

  async authorization(signal?: AbortSignal): Promise<string> {
    const now = this.options.clock.now();
    if (this.accessToken && now < this.expiresAt - this.marginMs()) return `Bearer ${this.accessToken}`;
    return `Bearer ${await this.refresh(signal)}`;
  }

  async renew(rejected: string, signal?: AbortSignal): Promise<boolean> {
    // Another request may already have refreshed; only force a refresh if the rejected token is current.
    if (this.accessToken && rejected !== `Bearer ${this.accessToken}`) return true;
    this.expiresAt = 0;
    await this.refresh(signal);
    return true;
  }

  unauthorized(endpoint: string, sourceMessage: string | null): ConnectorError {
    return new ConnectorError('oauth_revoked', `Bitbucket rejected a freshly issued OAuth access token (401) at ${endpoint}${sourceMessage ? `: ${sourceMessage}` : ''}`, {
      endpoint,
      httpStatus: 401,
      advice: OAUTH_REVOKED_ADVICE,
    });
  }

  private marginMs(): number {
    return Math.min(5 * 60_000, this.lifetimeMs / 4);
  }

  private refresh(signal?: AbortSignal): Promise<string> {
    // One refresh at a time: concurrent requests share it (a refresh token may be used only once).
    this.inflight ??= this.issue(signal).finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  private async issue(signal?: AbortSignal): Promise<string> {
    if (this.refreshToken) {
      const refreshed = await this.requestToken({ grant_type: 'refresh_token', refresh_token: this.refreshToken }, signal);
      if (refreshed !== 'refused') return refreshed;
      // The refresh token was refused (rotated elsewhere, or expired after three months). A client
      // credentials consumer can still get a new grant with its id and secret; if that is refused too,
      // the consumer itself was revoked.
      this.options.logger?.warn('OAuth refresh token refused; requesting a new client-credentials grant');
    }
    const issued = await this.requestToken({ grant_type: 'client_credentials' }, signal);
    if (issued === 'refused') throw this.revoked(this.lastRefusal);
    return issued;
  }

  private lastRefusal = '';

  private async requestToken(form: Record<string, string>, signal?: AbortSignal): Promise<string | 'refused'> {
    const url = new URL(this.options.tokenUrl);
    const endpoint = url.pathname;
    const res = await this.options.http.request({
      method: 'POST',
      url,
      endpoint,
      paced: this.options.paced,
      signal,
      headers: () => ({
        authorization: basic(this.credential.clientId, this.credential.clientSecret),
        'content-type': 'application/x-www-form-urlencoded',
      }),
      body: new URLSearchParams(form).toString(),
    });
    if (res.status === 400 || res.status === 401 || res.status === 403) {
      this.lastRefusal = describeOAuthError(res.body, res.status);
      return 'refused';
    }
    if (res.status !== 200) {
      throw new ConnectorError('server_error', `The OAuth token endpoint answered ${res.status}`, {
        endpoint,
        httpStatus: res.status,
        retryable: true,
        advice: 'The next run retries. Check the token URL if it persists.',
      });
    }
    let json: unknown;
    try {
      json = JSON.parse(res.body);
    } catch (cause) {
      throw new ConnectorError('malformed_response', 'The OAuth token endpoint returned a body that is not JSON', { endpoint, httpStatus: 200, retryable: true, cause });
    }
    const parsed = oauthTokenSchema.safeParse(json);
    if (!parsed.success) {
      throw new ConnectorError('malformed_response', `The OAuth token endpoint returned an unexpected body: ${parsed.error.issues[0]?.path.join('.') ?? ''} ${parsed.error.issues[0]?.message ?? ''}`, {
        endpoint,
        httpStatus: 200,
      });
    }
    const token = parsed.data;
    registerSecret(token.access_token);
    registerSecret(token.refresh_token);
    const now = this.options.clock.now();
    const tokens: OAuthTokens = {
      accessToken: token.access_token,
      refreshToken: token.refresh_token ?? this.refreshToken,
      expiresAt: new Date(now + token.expires_in * 1000),
    };
    // Persist first: a rotated refresh token must be saved before anything can lose it.
    await this.options.onTokens?.(tokens);
    this.accessToken = tokens.accessToken;
    this.refreshToken = tokens.refreshToken;
    this.expiresAt = tokens.expiresAt.getTime();
    this.lifetimeMs = token.expires_in * 1000;
    if (token.scopes) this.scopes = splitScopes(token.scopes);
    this.options.logger?.info({ expiresAt: tokens.expiresAt.toISOString() }, 'OAuth access token issued');
    return tokens.accessToken;
  }

  private revoked(detail: string): ConnectorError {
    return new ConnectorError('oauth_revoked', `The OAuth grant was refused by the token endpoint${detail ? `: ${detail}` : ''}`, {
      endpoint: new URL(this.options.tokenUrl).pathname,
      httpStatus: 400,
      advice: OAUTH_REVOKED_ADVICE,
    });
  }
}

function describeOAuthError(body: string, status: number): string {
  try {
    const json: unknown = JSON.parse(body);
    if (json && typeof json === 'object') {
      const o = json as Record<string, unknown>;
      const code = typeof o.error === 'string' ? o.error : null;
      const description = typeof o.error_description === 'string' ? o.error_description : null;
      if (code || description) return [code, description].filter(Boolean).join(': ');
      const parsed = errorBodySchema.safeParse(json);
      if (parsed.success && parsed.data.error.message) return parsed.data.error.message;
    }
  } catch {
    // not JSON: fall through
  }
  return `HTTP ${status}`;
}

/** `X-OAuth-Scopes` is comma-separated; the token endpoint's `scopes` is space-separated. */
export function splitScopes(value: string): string[] {
  return value
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export function createAuthorizer(credential: BitbucketCredential, oauth: OAuthOptions | null): Authorizer {
  switch (credential.kind) {
    case 'workspace-access-token':
    case 'project-access-token':
    case 'repository-access-token':
      return new StaticAuthorizer(credential.kind, `Bearer ${credential.token}`);
    case 'api-token':
      registerSecret(credential.token);
      return new StaticAuthorizer(credential.kind, basic(credential.email, credential.token));
    case 'app-password':
      registerSecret(credential.password);
      return new StaticAuthorizer(credential.kind, basic(credential.username, credential.password));
    case 'oauth-client-credentials': {
      if (!oauth) throw new Error('OAuth options are required for an OAuth consumer');
      return new OAuthAuthorizer(credential, oauth);
    }
  }
}
