/**
 * Credentials the simulator knows, how a request's `Authorization` header maps to a principal,
 * scope checks, and the OAuth 2.0 token endpoint (client credentials and refresh-token grants).
 *
 * Two scope systems, as on Bitbucket:
 * - classic OAuth scopes (`repository`, `project:admin`, `account`, …) for OAuth bearer tokens,
 *   access tokens and app passwords — the operation's `security.oauth2` list in the spec, with
 *   Bitbucket's documented implications (`project` ⇒ `repository`, `repository:write` ⇒ `repository`);
 * - granular scopes (`read:repository:bitbucket`, …) for Atlassian API tokens — the operation's
 *   `x-atlassian-oauth2-scopes`, which imply nothing.
 */
import { Random } from './random.ts';
import type {
  AccessTokenCredential,
  SimClock,
  SimCredentialName,
  SimCredentials,
} from './types.ts';
import type { UserRec, Workspace } from './workspace.ts';
import type { GeneratedWorkspace } from './generate.ts';

export type CredentialKind = 'api-token' | 'app-password' | 'oauth-client-credentials' | 'workspace-access-token' | 'project-access-token' | 'repository-access-token' | 'anonymous';

export type Binding = { type: 'workspace' } | { type: 'project'; projectKey: string } | { type: 'repository'; repoUuid: string };

export interface Principal {
  /** Stats key: the `SimCredentials` name, or `custom:<n>` for credentials added later. */
  name: string;
  kind: CredentialKind;
  /** The account the request acts as; null for access tokens (they act as their own bot user). */
  user: UserRec | null;
  scopeSystem: 'classic' | 'granular';
  /** Scopes as granted (for headers and error details). */
  scopes: readonly string[];
  /** Scopes including implied ones (for checks). */
  effectiveScopes: ReadonlySet<string>;
  binding: Binding | null;
}

/** A request without credentials, on the routes that serve public repositories to anyone. */
export const ANONYMOUS: Principal = {
  name: 'anonymous',
  kind: 'anonymous',
  user: null,
  scopeSystem: 'classic',
  scopes: [],
  effectiveScopes: new Set(),
  binding: null,
};

export type AuthResult = { ok: true; principal: Principal } | { ok: false; status: 401; message: string; detail?: string };

/** Classic scope implications documented under "Bitbucket OAuth 2.0 scopes". */
const IMPLIES: Record<string, readonly string[]> = {
  'repository:write': ['repository'],
  project: ['repository'],
  'project:write': ['project', 'repository'],
  pullrequest: ['repository'],
  'pullrequest:write': ['pullrequest', 'repository:write', 'repository'],
  'account:write': ['account'],
  'team:write': ['team'],
  'snippet:write': ['snippet'],
  'issue:write': ['issue'],
  'pipeline:write': ['pipeline'],
  'runner:write': ['runner'],
};

function expandClassic(scopes: readonly string[]): Set<string> {
  const out = new Set<string>();
  const visit = (s: string): void => {
    if (out.has(s)) return;
    out.add(s);
    for (const t of IMPLIES[s] ?? []) visit(t);
  };
  scopes.forEach(visit);
  return out;
}

/** Scopes the standard credentials hold. */
export const ADMIN_API_TOKEN_SCOPES = [
  'read:user:bitbucket',
  'read:workspace:bitbucket',
  'read:project:bitbucket',
  'read:repository:bitbucket',
  'admin:project:bitbucket',
  'admin:repository:bitbucket',
];
/** An OAuth consumer with Account, Workspace membership, Projects (admin) and Repositories (admin) permissions. */
export const OAUTH_CONSUMER_SCOPES = ['account', 'project', 'project:admin', 'repository', 'repository:admin', 'pullrequest', 'webhook'];
/** Access tokens cannot hold `account` (repository and project tokens) and the standard ones don't. */
export const WORKSPACE_TOKEN_SCOPES = ['project', 'project:admin', 'repository', 'repository:admin', 'pullrequest', 'webhook'];
export const PROJECT_TOKEN_SCOPES = ['project', 'repository', 'repository:admin', 'pullrequest', 'webhook'];
export const REPOSITORY_TOKEN_SCOPES = ['repository', 'repository:admin', 'pullrequest', 'webhook'];

/** What each access-token kind may hold ("Access tokens" in the spec's authentication narrative). */
export const ACCESS_TOKEN_ALLOWED_SCOPES: Record<AccessTokenCredential['kind'], readonly string[]> = {
  'repository-access-token': ['repository', 'repository:write', 'repository:admin', 'repository:delete', 'pullrequest', 'pullrequest:write', 'webhook', 'pipeline', 'pipeline:write', 'pipeline:variable', 'runner', 'runner:write'],
  'project-access-token': ['project', 'repository', 'repository:write', 'repository:admin', 'repository:delete', 'pullrequest', 'pullrequest:write', 'webhook', 'pipeline', 'pipeline:write', 'pipeline:variable', 'runner', 'runner:write'],
  'workspace-access-token': ['project', 'project:admin', 'repository', 'repository:write', 'repository:admin', 'repository:delete', 'pullrequest', 'pullrequest:write', 'webhook', 'account', 'pipeline', 'pipeline:write', 'pipeline:variable', 'runner', 'runner:write'],
};

interface ApiTokenRec { name: string; email: string; token: string; userUuid: string; scopes: string[]; revoked: boolean }
interface AppPasswordRec { name: string; username: string; password: string; userUuid: string; scopes: string[]; revoked: boolean }
interface AccessTokenRec { name: string; kind: AccessTokenCredential['kind']; token: string; scopes: string[]; binding: Binding; revoked: boolean }
interface ConsumerRec { name: string; clientId: string; secret: string; ownerUuid: string; scopes: string[]; revoked: boolean }
interface OAuthTokenRec { clientId: string; expiresAt: number; scopes: string[] }
interface RefreshTokenRec { clientId: string; expiresAt: number; used: boolean }

export const MESSAGES = {
  unauthorized: 'Unauthorized',
  invalidBasic: 'Invalid credentials. Check the email address (API tokens) or username (app passwords) and the secret.',
  invalidToken: 'Token is invalid, expired, or not supported for this endpoint.',
  expiredToken: 'Access token expired. Use your refresh token to obtain a new access token.',
  appPasswordsDisabled:
    'App passwords are no longer supported: Atlassian disabled them in July 2026. Use an API token instead (https://support.atlassian.com/bitbucket-cloud/docs/api-tokens/).',
  insufficientScopes: 'Your credentials lack one or more required privilege scopes.',
} as const;

const REFRESH_TOKEN_TTL_MS = 90 * 24 * 3600 * 1000;

export class CredentialStore {
  private readonly apiTokens = new Map<string, ApiTokenRec>();
  private readonly appPasswords = new Map<string, AppPasswordRec>();
  private readonly accessTokens = new Map<string, AccessTokenRec>();
  private readonly consumers = new Map<string, ConsumerRec>();
  private readonly oauthTokens = new Map<string, OAuthTokenRec>();
  private readonly refreshTokens = new Map<string, RefreshTokenRec>();
  private readonly secrets: Random;
  readonly credentials: SimCredentials;

  constructor(
    private readonly ws: Workspace,
    anchors: GeneratedWorkspace['anchors'],
    seed: number,
    private readonly clock: SimClock,
    private readonly opts: { appPasswords: 'enabled' | 'disabled'; oauthTtlSeconds: number },
  ) {
    this.secrets = new Random(seed * 31 + 0xc0ffee);
    const admin = ws.userByUuid.get(anchors.adminUuid);
    const member = ws.userByUuid.get(anchors.memberUuid);
    const repo = ws.findRepo(anchors.tokenRepoSlug);
    if (!admin || !member || !repo) throw new Error('generator anchors are missing');

    const adminApiToken = this.addApiToken('adminApiToken', admin, [...ADMIN_API_TOKEN_SCOPES]);
    const memberApiToken = this.addApiToken('memberApiToken', member, [...ADMIN_API_TOKEN_SCOPES]);
    const clientId = this.secrets.alnum(18);
    const clientSecret = this.secrets.alnum(32);
    this.consumers.set(clientId, { name: 'oauth', clientId, secret: clientSecret, ownerUuid: admin.uuid, scopes: [...OAUTH_CONSUMER_SCOPES], revoked: false });
    const wat = this.addAccessToken('workspaceAccessToken', 'workspace-access-token', [...WORKSPACE_TOKEN_SCOPES], { type: 'workspace' });
    const pat = this.addAccessToken('projectAccessToken', 'project-access-token', [...PROJECT_TOKEN_SCOPES], { type: 'project', projectKey: anchors.tokenProjectKey });
    const rat = this.addAccessToken('repositoryAccessToken', 'repository-access-token', [...REPOSITORY_TOKEN_SCOPES], { type: 'repository', repoUuid: repo.uuid });
    const password = `ATBB${this.secrets.alnum(24)}${this.secrets.hex(8).toUpperCase()}`;
    this.appPasswords.set(admin.username, { name: 'appPassword', username: admin.username, password, userUuid: admin.uuid, scopes: [...OAUTH_CONSUMER_SCOPES], revoked: false });

    this.credentials = {
      adminApiToken,
      memberApiToken,
      oauth: { kind: 'oauth-client-credentials', clientId, clientSecret },
      workspaceAccessToken: { kind: 'workspace-access-token', token: wat.token, scopes: [...wat.scopes] },
      projectAccessToken: { kind: 'project-access-token', token: pat.token, scopes: [...pat.scopes], projectKey: anchors.tokenProjectKey },
      repositoryAccessToken: { kind: 'repository-access-token', token: rat.token, scopes: [...rat.scopes], repositorySlug: repo.slug },
      appPassword: { kind: 'app-password', username: admin.username, password },
    };
  }

  private addApiToken(name: string, user: UserRec, scopes: string[]): SimCredentials['adminApiToken'] {
    const token = `ATATT3xFfGF0${this.secrets.alnum(172)}=${this.secrets.hex(8).toUpperCase()}`;
    this.apiTokens.set(`${user.email}\n${token}`, { name, email: user.email, token, userUuid: user.uuid, scopes, revoked: false });
    return { kind: 'api-token', email: user.email, token, accountId: user.accountId, scopes: [...scopes] };
  }

  private addAccessToken(name: string, kind: AccessTokenRec['kind'], scopes: string[], binding: Binding): AccessTokenRec {
    const allowed = ACCESS_TOKEN_ALLOWED_SCOPES[kind];
    const bad = scopes.filter((s) => !allowed.includes(s));
    if (bad.length > 0) throw new Error(`${kind} cannot hold ${bad.join(', ')}`);
    const token = `ATCTT3xFfGN0${this.secrets.alnum(172)}=${this.secrets.hex(8).toUpperCase()}`;
    const rec: AccessTokenRec = { name, kind, token, scopes, binding, revoked: false };
    this.accessTokens.set(token, rec);
    return rec;
  }

  /** Issues an extra access token (e.g. a workspace token with `account`), for credential-rule tests. */
  issueAccessToken(kind: AccessTokenRec['kind'], scopes: string[], target?: { projectKey?: string; repository?: string }): AccessTokenCredential {
    let binding: Binding = { type: 'workspace' };
    if (kind === 'project-access-token') {
      const key = target?.projectKey;
      if (!key || !this.ws.projectByKey.has(key)) throw new Error(`project access token needs an existing projectKey, got ${key}`);
      binding = { type: 'project', projectKey: key };
    } else if (kind === 'repository-access-token') {
      const repo = target?.repository ? this.ws.findRepo(target.repository) : undefined;
      if (!repo) throw new Error(`repository access token needs an existing repository, got ${target?.repository}`);
      binding = { type: 'repository', repoUuid: repo.uuid };
    }
    const rec = this.addAccessToken(`custom:${this.accessTokens.size + 1}`, kind, scopes, binding);
    return { kind, token: rec.token, scopes: [...scopes], ...(binding.type === 'project' ? { projectKey: binding.projectKey } : {}), ...(target?.repository ? { repositorySlug: target.repository } : {}) };
  }

  /** Issues an extra Atlassian API token for a user, with the given granular scopes. */
  issueApiToken(userUuid: string, scopes: string[]): SimCredentials['adminApiToken'] {
    const user = this.ws.userByUuid.get(userUuid);
    if (!user) throw new Error(`no user ${userUuid}`);
    return this.addApiToken(`custom:api-token:${this.apiTokens.size + 1}`, user, [...scopes]);
  }

  revoke(name: SimCredentialName): void {
    for (const m of [this.apiTokens, this.appPasswords, this.accessTokens, this.consumers] as Array<Map<string, { name: string; revoked: boolean }>>) {
      for (const rec of m.values()) if (rec.name === name) rec.revoked = true;
    }
  }

  /** Names of every credential that can currently make requests. */
  names(): string[] {
    const out: string[] = [];
    for (const m of [this.apiTokens, this.appPasswords, this.accessTokens, this.consumers] as Array<Map<string, { name: string }>>) {
      for (const rec of m.values()) out.push(rec.name);
    }
    return out;
  }

  // ─── Authentication ───────────────────────────────────────────────────────────────────

  authenticate(header: string | undefined): AuthResult | null {
    if (!header) return null;
    const space = header.indexOf(' ');
    const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
    const value = space < 0 ? '' : header.slice(space + 1).trim();
    if (scheme === 'basic') return this.authenticateBasic(value);
    if (scheme === 'bearer') return this.authenticateBearer(value);
    return { ok: false, status: 401, message: MESSAGES.unauthorized, detail: `Unsupported authorization scheme ${JSON.stringify(scheme)}.` };
  }

  private authenticateBasic(value: string): AuthResult {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return { ok: false, status: 401, message: MESSAGES.invalidBasic };
    const username = decoded.slice(0, colon);
    const secret = decoded.slice(colon + 1);
    const api = this.apiTokens.get(`${username}\n${secret}`);
    if (api) {
      const user = this.ws.userByUuid.get(api.userUuid);
      if (api.revoked || !user) return { ok: false, status: 401, message: MESSAGES.invalidBasic };
      return { ok: true, principal: { name: api.name, kind: 'api-token', user, scopeSystem: 'granular', scopes: api.scopes, effectiveScopes: new Set(api.scopes), binding: null } };
    }
    const app = this.appPasswords.get(username);
    if (app && app.password === secret) {
      if (this.opts.appPasswords === 'disabled') return { ok: false, status: 401, message: MESSAGES.appPasswordsDisabled };
      const user = this.ws.userByUuid.get(app.userUuid);
      if (app.revoked || !user) return { ok: false, status: 401, message: MESSAGES.invalidBasic };
      return { ok: true, principal: { name: app.name, kind: 'app-password', user, scopeSystem: 'classic', scopes: app.scopes, effectiveScopes: expandClassic(app.scopes), binding: null } };
    }
    return { ok: false, status: 401, message: MESSAGES.invalidBasic };
  }

  private authenticateBearer(token: string): AuthResult {
    const at = this.accessTokens.get(token);
    if (at) {
      // Access tokens die with the resource they are bound to.
      const alive =
        at.binding.type === 'workspace' ||
        (at.binding.type === 'project' && this.ws.projectByKey.has(at.binding.projectKey)) ||
        (at.binding.type === 'repository' && this.ws.repoByUuid.has(at.binding.repoUuid));
      if (at.revoked || !alive) return { ok: false, status: 401, message: MESSAGES.invalidToken };
      return { ok: true, principal: { name: at.name, kind: at.kind, user: null, scopeSystem: 'classic', scopes: at.scopes, effectiveScopes: expandClassic(at.scopes), binding: at.binding } };
    }
    const ot = this.oauthTokens.get(token);
    if (ot) {
      const consumer = this.consumers.get(ot.clientId);
      const user = consumer ? this.ws.userByUuid.get(consumer.ownerUuid) : undefined;
      if (!consumer || consumer.revoked || !user) return { ok: false, status: 401, message: MESSAGES.invalidToken };
      if (this.clock.now() >= ot.expiresAt) return { ok: false, status: 401, message: MESSAGES.expiredToken };
      return { ok: true, principal: { name: consumer.name, kind: 'oauth-client-credentials', user, scopeSystem: 'classic', scopes: ot.scopes, effectiveScopes: expandClassic(ot.scopes), binding: null } };
    }
    return { ok: false, status: 401, message: MESSAGES.invalidToken };
  }

  // ─── OAuth 2.0 token endpoint ─────────────────────────────────────────────────────────

  /**
   * `POST /site/oauth2/access_token`. Client authentication by Basic header or by
   * `client_id`/`client_secret` form fields. Answers like Bitbucket: a JSON token on success,
   * `{error, error_description}` with 400/401 otherwise.
   */
  tokenEndpoint(authorization: string | undefined, form: URLSearchParams): { status: number; body: Record<string, unknown> } {
    let clientId = form.get('client_id') ?? '';
    let clientSecret = form.get('client_secret') ?? '';
    if (authorization?.toLowerCase().startsWith('basic ')) {
      const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      clientId = colon < 0 ? decoded : decoded.slice(0, colon);
      clientSecret = colon < 0 ? '' : decoded.slice(colon + 1);
    }
    const consumer = this.consumers.get(clientId);
    if (!consumer || consumer.secret !== clientSecret) {
      return { status: 401, body: { error: 'invalid_client', error_description: 'Invalid OAuth client credentials' } };
    }
    if (consumer.revoked) {
      // A deleted or disabled consumer: Bitbucket refuses every grant.
      return { status: 400, body: { error: 'invalid_grant', error_description: 'The OAuth consumer has been revoked or disabled.' } };
    }
    const grant = form.get('grant_type');
    if (grant === 'client_credentials') return { status: 200, body: this.issue(consumer, 'client_credentials') };
    if (grant === 'refresh_token') {
      const presented = form.get('refresh_token') ?? '';
      const rec = this.refreshTokens.get(presented);
      if (!rec || rec.clientId !== consumer.clientId || rec.used || this.clock.now() >= rec.expiresAt) {
        return { status: 400, body: { error: 'invalid_grant', error_description: 'Invalid refresh_token' } };
      }
      // Rotation: the presented refresh token is spent; the response carries a new one.
      rec.used = true;
      return { status: 200, body: this.issue(consumer, 'refresh_token') };
    }
    if (grant === 'authorization_code' || grant === 'urn:bitbucket:oauth2:jwt') {
      return { status: 400, body: { error: 'invalid_grant', error_description: `The simulator does not support ${grant}` } };
    }
    return { status: 400, body: { error: 'unsupported_grant_type', error_description: `Unsupported grant type: ${grant ?? 'none'}` } };
  }

  private issue(consumer: ConsumerRec, state: string): Record<string, unknown> {
    const now = this.clock.now();
    const accessToken = `${this.secrets.alnum(86, B64URL)}${this.secrets.alnum(20, B64URL)}${'='.repeat(this.secrets.int(0, 2))}`;
    const refreshToken = this.secrets.alnum(24);
    this.oauthTokens.set(accessToken, { clientId: consumer.clientId, expiresAt: now + this.opts.oauthTtlSeconds * 1000, scopes: consumer.scopes });
    this.refreshTokens.set(refreshToken, { clientId: consumer.clientId, expiresAt: now + REFRESH_TOKEN_TTL_MS, used: false });
    return {
      access_token: accessToken,
      scopes: consumer.scopes.join(' '),
      expires_in: this.opts.oauthTtlSeconds,
      refresh_token: refreshToken,
      token_type: 'bearer',
      state,
    };
  }
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Missing scopes for an operation, given its classic and granular requirements. */
export function missingScopes(p: Principal, classic: readonly string[], granular: readonly string[]): string[] {
  const required = p.scopeSystem === 'granular' ? granular : classic;
  return required.filter((s) => !p.effectiveScopes.has(s));
}
