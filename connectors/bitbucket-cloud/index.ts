/**
 * The Bitbucket Cloud connector: reads who has access to what in one workspace and yields normalized
 * batches per scope. It never touches the database; the engine owns writes, checkpoints and deletion
 * inference. See README.md in this folder for endpoints, request counts and the coverage matrix.
 */
import { RosterError } from '../../src/errors.ts';
import { HttpClient, sharedBudget, systemClock, type Clock } from '../../src/http/index.ts';
import type { Capabilities, Connector, ConnectorStats, ProgressEvent, RequestEstimate } from '../../src/interfaces.ts';
import type { Logger } from '../../src/log.ts';
import { BitbucketApi } from './api.ts';
import { detectCapabilities } from './capabilities.ts';
import { createAuthorizer, type BitbucketCredential, type OAuthTokens } from './credentials.ts';
import { BITBUCKET_TOKEN_URL, optionLimits } from './settings.ts';
import type { StreamState } from './listings.ts';
import { estimateBitbucketRequests } from './plan.ts';
import { buildStreams } from './streams.ts';

export type { BitbucketCredential, OAuthTokens } from './credentials.ts';
export { REQUIREMENTS, gapFor, missingScopes } from './capabilities.ts';
export { PAGELEN } from './listings.ts';
export { sshKeyFacts } from './normalize.ts';

export interface BitbucketCloudOptions {
  /** API root without `/2.0`, e.g. `https://api.bitbucket.org`; 2.0 is `${baseUrl}/2.0`, 1.0 is `${baseUrl}/1.0`. */
  baseUrl: string;
  /** Workspace slug. Every request this connector makes is for this workspace. */
  workspace: string;
  credential: BitbucketCredential;
  /**
   * More credentials of the same kind and workspace (e.g. API tokens of other service accounts): the
   * credential pool. Requests are spread over all of them, each paced on its own budget. Default none.
   */
  pool?: readonly BitbucketCredential[];
  /** OAuth token endpoint. Default `https://bitbucket.org/site/oauth2/access_token`. */
  tokenUrl?: string;
  /** Called with every OAuth token pair issued or rotated, before it is used; persist it encrypted. */
  onTokens?: (t: OAuthTokens) => Promise<void>;
  /** Requests in flight at once for this integration. Default and operator limits: `BITBUCKET_CLOUD_OPTIONS` (settings.ts). */
  concurrency?: number;
  /** Requests per rolling hour for this credential. Default and operator limits: `BITBUCKET_CLOUD_OPTIONS` (settings.ts). */
  budgetPerHour?: number;
  /** Longest wait for budget or a 429; beyond it `ConnectorError('budget_exhausted', { resumeAt })`. Default 15 min. */
  maxRateLimitWaitMs?: number;
  /** Default real time. Tests pass the simulator's accelerated clock. */
  clock?: { now(): number; sleep(ms: number, signal?: AbortSignal): Promise<void> };
  /** Socket timeout per request (headers, body). Default 30 000 ms. */
  timeoutMs?: number;
  /** Retries for 429, 5xx and network failures. Default 5. */
  maxRetries?: number;
  logger?: Logger;
  onProgress?: (e: ProgressEvent) => void;
  /** Ask for trimmed payloads with `fields=` removals. Default true. */
  trimFields?: boolean;
  /** Backoff base for retries in clock ms. Default 500. */
  retryBaseMs?: number;
  /**
   * Requests this credential made recently in other processes (e.g. earlier `roster sync` runs), as
   * counts at times in clock ms. They fill a fresh budget window so pacing starts from the truth.
   */
  priorRequests?: ReadonlyArray<{ at: number; count: number }>;
}

/** Option limits, checked together so a bad configuration lists every problem at once. */
function checkOptions(opts: BitbucketCloudOptions): void {
  const problems: string[] = [];
  const positiveInt = (name: string, v: number | undefined, max?: number): void => {
    if (v !== undefined && (!Number.isInteger(v) || v < 1 || (max !== undefined && v > max))) problems.push(`${name} must be an integer ${max === undefined ? 'of at least 1' : `from 1 to ${max}`}, got ${v}`);
  };
  let base: URL | null = null;
  try {
    base = new URL(opts.baseUrl);
    if (base.protocol !== 'https:' && base.protocol !== 'http:') problems.push(`baseUrl must be http(s), got ${base.protocol}`);
    if (/\/2\.0\/?$/.test(base.pathname)) problems.push('baseUrl must not end in /2.0 (give the API root, e.g. https://api.bitbucket.org)');
  } catch {
    problems.push(`baseUrl is not a URL: ${JSON.stringify(opts.baseUrl)}`);
  }
  if (opts.tokenUrl !== undefined) {
    try {
      new URL(opts.tokenUrl);
    } catch {
      problems.push(`tokenUrl is not a URL: ${JSON.stringify(opts.tokenUrl)}`);
    }
  }
  if (!/^[A-Za-z0-9_.-]+$/.test(opts.workspace) && !/^\{[0-9a-fA-F-]{36}\}$/.test(opts.workspace)) problems.push(`workspace must be a slug, got ${JSON.stringify(opts.workspace)}`);
  // What an operator may set is the options table's (settings.ts), checked where they set it; here only
  // that the value is usable, because tests and the benchmark tune beyond it (a budget of 5, or of a million).
  positiveInt('concurrency', opts.concurrency);
  positiveInt('budgetPerHour', opts.budgetPerHour);
  positiveInt('timeoutMs', opts.timeoutMs, 10 * 60_000);
  if (opts.maxRetries !== undefined && (!Number.isInteger(opts.maxRetries) || opts.maxRetries < 0 || opts.maxRetries > 20)) problems.push(`maxRetries must be an integer from 0 to 20, got ${opts.maxRetries}`);
  if (opts.maxRateLimitWaitMs !== undefined && !(opts.maxRateLimitWaitMs >= 0)) problems.push(`maxRateLimitWaitMs must be >= 0, got ${opts.maxRateLimitWaitMs}`);
  const c = opts.credential;
  const empty = (name: string, v: string | undefined): void => {
    if (!v) problems.push(`credential.${name} is empty`);
  };
  switch (c.kind) {
    case 'workspace-access-token':
    case 'project-access-token':
    case 'repository-access-token':
      empty('token', c.token);
      break;
    case 'api-token':
      empty('email', c.email);
      empty('token', c.token);
      break;
    case 'app-password':
      empty('username', c.username);
      empty('password', c.password);
      break;
    case 'oauth-client-credentials':
      empty('clientId', c.clientId);
      empty('clientSecret', c.clientSecret);
      break;
    default:
      problems.push(`credential.kind ${JSON.stringify((c as { kind: unknown }).kind)} is not a Bitbucket Cloud credential`);
  }
  if (problems.length > 0) {
    throw new RosterError('config_invalid', `Invalid Bitbucket Cloud connector options:\n- ${problems.join('\n- ')}`, { details: { problems } });
  }
}

export function createBitbucketCloudConnector(opts: BitbucketCloudOptions): Connector {
  checkOptions(opts);
  const clock: Clock = opts.clock ?? systemClock;
  const baseUrl = opts.baseUrl.replace(/\/+$/, '');
  const tokenUrl = opts.tokenUrl ?? BITBUCKET_TOKEN_URL;
  const isOAuth = opts.credential.kind === 'oauth-client-credentials';
  const origins = [new URL(baseUrl).origin, ...(isOAuth ? [new URL(tokenUrl).origin] : [])];

  /** One member of the credential pool: its own budget (by Bitbucket's identity: user, consumer, token), client and authorizer. */
  const member = (credential: BitbucketCredential, primary: boolean): { http: HttpClient; auth: ReturnType<typeof createAuthorizer> } => {
    const budget = sharedBudget(budgetIdentity(credential, baseUrl), opts.budgetPerHour ?? optionLimits('budgetPerHour').default);
    // The runs' recent requests are counted against the first member: conservative for a pool.
    if (primary && opts.priorRequests) budget.seed(opts.priorRequests, clock.now());
    const client = new HttpClient({
      allowedOrigins: origins,
      budget,
      concurrency: opts.concurrency ?? optionLimits('concurrency').default,
      timeoutMs: opts.timeoutMs,
      maxRetries: opts.maxRetries,
      maxRateLimitWaitMs: opts.maxRateLimitWaitMs,
      clock,
      backoff: opts.retryBaseMs === undefined ? undefined : { baseMs: opts.retryBaseMs },
      logger: opts.logger,
      onProgress: opts.onProgress,
    });
    const authorizer = createAuthorizer(
      credential,
      credential.kind === 'oauth-client-credentials'
        ? {
            tokenUrl,
            http: client,
            clock,
            // Only the integration's own consumer keeps its tokens; a pool member asks for new ones each run.
            onTokens: primary ? opts.onTokens : undefined,
            logger: opts.logger,
            // A token endpoint on the API host (the simulator) shares its budget; bitbucket.org has its own.
            paced: new URL(tokenUrl).origin === new URL(baseUrl).origin,
          }
        : null,
    );
    return { http: client, auth: authorizer };
  };
  const { http, auth } = member(opts.credential, true);
  const pool = (opts.pool ?? []).map((credential, i) => ({ ...member(credential, false), label: poolLabel(credential, i + 2) }));
  const api = new BitbucketApi(http, auth, baseUrl, opts.workspace, pool, (lost) =>
    opts.logger?.warn({ member: lost.label, endpoint: lost.endpoint, left: lost.left }, 'a credential of the pool was rejected (401); carrying on with the others'),
  );
  const state: StreamState = {
    api,
    workspace: opts.workspace,
    detection: null,
    logger: opts.logger,
    handles: new Map(),
    trimFields: opts.trimFields ?? true,
  };
  const streams = buildStreams(state);

  return {
    kind: 'bitbucket-cloud',
    streams,
    async detectCapabilities(signal: AbortSignal): Promise<Capabilities> {
      // Detection runs on the integration's own credential: its answers decide what every member reads.
      api.pinned = true;
      let detection;
      try {
        detection = await detectCapabilities(api, auth, opts.credential.kind, signal);
      } finally {
        api.pinned = false;
      }
      state.detection = detection;
      opts.logger?.info(
        { credentialKind: detection.capabilities.credentialKind, scopes: detection.capabilities.oauthScopes, isWorkspaceAdmin: detection.capabilities.isWorkspaceAdmin },
        'bitbucket capabilities detected',
      );
      return detection.capabilities;
    },
    async estimateRequests(signal: AbortSignal): Promise<RequestEstimate> {
      const before = this.stats().requests;
      const capabilities = state.detection?.capabilities ?? (await this.detectCapabilities(signal));
      const estimate = await estimateBitbucketRequests(state, streams, capabilities, signal);
      return { ...estimate, probeRequests: this.stats().requests - before };
    },
    stats(): ConnectorStats {
      const all = [http, ...pool.map((m) => m.http)].map((c) => c.stats());
      const sum = (k: keyof Omit<ConnectorStats, 'notices'>): number => all.reduce((n, x) => n + x[k], 0);
      return {
        requests: sum('requests'),
        retries: sum('retries'),
        rateLimitWaits: sum('rateLimitWaits'),
        rateLimitWaitMs: sum('rateLimitWaitMs'),
        responses429: sum('responses429'),
        notices: api.lost.map((l) => `Credential pool: ${l.label} was rejected (401 at ${l.endpoint}) and left the pool; the run carried on with the other ${api.liveMembers === 1 ? 'member' : `${api.liveMembers} members`}. Replace or remove it (roster integration credential list|add|remove).`),
      };
    },
    close: async () => {
      await Promise.all([http, ...pool.map((m) => m.http)].map((c) => c.close()));
    },
  };
}

/** How messages name a pool member: never its secret. */
function poolLabel(c: BitbucketCredential, n: number): string {
  switch (c.kind) {
    case 'api-token':
      return `pool member ${n} (API token of ${c.email})`;
    case 'app-password':
      return `pool member ${n} (app password of ${c.username})`;
    case 'oauth-client-credentials':
      return `pool member ${n} (OAuth consumer ${c.clientId})`;
    default:
      return `pool member ${n} (${c.kind})`;
  }
}

/**
 * Which budget a credential draws on. Bitbucket counts API tokens and app passwords against their
 * user (every token of one account shares a window), OAuth against the consumer, and each access
 * token on its own. The identity is hashed before use.
 */
function budgetIdentity(c: BitbucketCredential, baseUrl: string): string {
  switch (c.kind) {
    case 'workspace-access-token':
    case 'project-access-token':
    case 'repository-access-token':
      return `${baseUrl}|token|${c.token}`;
    case 'api-token':
      return `${baseUrl}|user|${c.email.toLowerCase()}`;
    case 'app-password':
      return `${baseUrl}|user|${c.username.toLowerCase()}`;
    case 'oauth-client-credentials':
      return `${baseUrl}|oauth|${c.clientId}`;
  }
}
