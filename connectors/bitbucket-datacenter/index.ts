/**
 * The Bitbucket Data Center connector: reads who has access to what on one Data Center instance and
 * yields normalized batches per scope. It never touches the database; the engine owns writes,
 * checkpoints and deletion inference. See README.md in this folder for the endpoints, the
 * permission model, coverage per credential and the Atlassian pages it rests on.
 */
import { ConnectorError, RosterError } from '../../src/errors.ts';
import { HttpClient, sharedBudget, systemClock, type Clock } from '../../src/http/index.ts';
import type { Capabilities, Connector, ConnectorStats, ProgressEvent } from '../../src/interfaces.ts';
import type { Logger } from '../../src/log.ts';
import { DcApi, type DcCredential, isNotPermitted } from './api.ts';
import { buildStreams, type DcStreamState } from './streams.ts';

export type { DcCredential } from './api.ts';
export { BITBUCKET_DATACENTER_MODEL } from './model.ts';
export { BITBUCKET_DATACENTER_API_LIMITS } from './limits.ts';

export const DC_KIND = 'bitbucket-datacenter';
/** Credential kinds: an HTTP access token (Bearer), or a username with its password (Basic). */
export const DC_CREDENTIAL_KINDS = ['http-access-token', 'basic-auth'] as const;
export type DcCredentialKind = (typeof DC_CREDENTIAL_KINDS)[number];

/** Option limits (one table for config, CLI and connector). */
export const DC_OPTION_LIMITS = {
  concurrency: { default: 4, min: 1, max: 64 },
  /** Data Center's rate limiting refills a user's bucket at 5 a second by default ("Improving instance stability with rate limiting"). */
  requestsPerSecond: { default: 5, min: 1, max: 10_000 },
  timeoutMs: { default: 30_000, min: 1, max: 600_000 },
  maxRetries: { default: 5, min: 0, max: 20 },
} as const;

export interface BitbucketDataCenterOptions {
  /** The instance's base URL, e.g. `https://bitbucket.example.com` (or with a context path, `https://example.com/bitbucket`); the REST API is under `/rest`. */
  baseUrl: string;
  credential: DcCredential;
  /** Requests in flight at once. Default 4. */
  concurrency?: number;
  /** Sustained requests per second for this credential (pacing below Data Center's token bucket). Default 5. */
  requestsPerSecond?: number;
  /** The engine's budget knob, as requests per rolling hour; when set it wins over `requestsPerSecond`. */
  budgetPerHour?: number;
  /** Longest wait for budget or a 429; beyond it the run pauses at its checkpoint. Default 15 min. */
  maxRateLimitWaitMs?: number;
  clock?: Clock;
  timeoutMs?: number;
  maxRetries?: number;
  retryBaseMs?: number;
  logger?: Logger;
  onProgress?: (e: ProgressEvent) => void;
}

function checkOptions(opts: BitbucketDataCenterOptions): void {
  const problems: string[] = [];
  try {
    const url = new URL(opts.baseUrl);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') problems.push(`baseUrl must be http(s), got ${url.protocol}`);
    if (/\/rest(\/|$)/.test(url.pathname)) problems.push('baseUrl must not include /rest (give the instance URL, e.g. https://bitbucket.example.com)');
  } catch {
    problems.push(`baseUrl is not a URL: ${JSON.stringify(opts.baseUrl)}`);
  }
  const int = (name: keyof typeof DC_OPTION_LIMITS, v: number | undefined): void => {
    const l = DC_OPTION_LIMITS[name];
    if (v !== undefined && (!Number.isInteger(v) || v < l.min || v > l.max)) problems.push(`${name} must be an integer from ${l.min} to ${l.max}, got ${v}`);
  };
  int('concurrency', opts.concurrency);
  int('requestsPerSecond', opts.requestsPerSecond);
  int('timeoutMs', opts.timeoutMs);
  int('maxRetries', opts.maxRetries);
  const c = opts.credential as { kind?: string; token?: string; username?: string; password?: string };
  if (c.kind === 'http-access-token') {
    if (!c.token) problems.push('credential.token is empty');
  } else if (c.kind === 'basic') {
    if (!c.username) problems.push('credential.username is empty');
    if (!c.password) problems.push('credential.password is empty');
  } else problems.push(`credential.kind ${JSON.stringify(c.kind)} is not a Data Center credential (http-access-token or basic)`);
  if (problems.length > 0) throw new RosterError('config_invalid', `Invalid Bitbucket Data Center connector options:\n- ${problems.join('\n- ')}`, { details: { problems } });
}

export function createBitbucketDataCenterConnector(opts: BitbucketDataCenterOptions): Connector {
  checkOptions(opts);
  const clock: Clock = opts.clock ?? systemClock;
  const baseUrl = opts.baseUrl.replace(/\/+$/, '');
  // Data Center's bucket is per user: every credential of one user shares it.
  const identity = `${baseUrl}|${opts.credential.kind === 'basic' ? `user|${opts.credential.username.toLowerCase()}` : `token|${opts.credential.token}`}`;
  // A rolling 10-second window of 10 × rate never empties a bucket of ≥ 60 refilled at `rate` a second.
  const budget =
    opts.budgetPerHour !== undefined
      ? sharedBudget(identity, opts.budgetPerHour)
      : sharedBudget(identity, 10 * (opts.requestsPerSecond ?? DC_OPTION_LIMITS.requestsPerSecond.default), 10_000);
  const http = new HttpClient({
    allowedOrigins: [new URL(baseUrl).origin],
    budget,
    concurrency: opts.concurrency ?? DC_OPTION_LIMITS.concurrency.default,
    timeoutMs: opts.timeoutMs,
    maxRetries: opts.maxRetries,
    maxRateLimitWaitMs: opts.maxRateLimitWaitMs,
    clock,
    backoff: opts.retryBaseMs === undefined ? undefined : { baseMs: opts.retryBaseMs },
    logger: opts.logger,
    onProgress: opts.onProgress,
  });
  const api = new DcApi(http, baseUrl, opts.credential);
  const state: DcStreamState = { api, isAdmin: null, displayName: null };
  const credentialKind: DcCredentialKind = opts.credential.kind === 'basic' ? 'basic-auth' : 'http-access-token';
  return {
    kind: DC_KIND,
    streams: buildStreams(state),
    async detectCapabilities(signal: AbortSignal): Promise<Capabilities> {
      // Global ADMIN or SYS_ADMIN is what reading global permissions takes; asking is the test.
      const url = api.url('/api/latest/admin/permissions/users', { limit: '1' });
      const res = await api.getRaw(url, signal);
      let isAdmin: boolean;
      if (res.status === 200) isAdmin = true;
      else if (isNotPermitted(res)) isAdmin = false;
      else if (res.status === 404) {
        throw new ConnectorError('not_found', `GET ${api.endpointOf(url)} answered 404: this is not a Bitbucket Data Center REST API`, {
          endpoint: api.endpointOf(url),
          httpStatus: 404,
          advice: `Check the base URL ${baseUrl}: it is the address you open Bitbucket at (with its context path, if any), without /rest.`,
        });
      } else throw api.failure(url, res, '');
      state.isAdmin = isAdmin;
      const warnings: string[] = [];
      if (!isAdmin) {
        warnings.push(
          "The credential's user holds no ADMIN or SYS_ADMIN global permission: global permissions, who is licensed (and so a project's default permission), other users' HTTP access tokens, and the permissions, keys and tokens of projects and repositories it does not administer are not covered. Use an HTTP access token of a system administrator.",
        );
      }
      if (opts.credential.kind === 'basic') warnings.push('Username and password (Basic) work, but an HTTP access token is revocable on its own and expires: prefer one.');
      const capabilities: Capabilities = {
        credentialKind,
        actor: api.lastUserId ? { externalId: api.lastUserId, displayName: api.lastUsername } : null,
        oauthScopes: null,
        isWorkspaceAdmin: isAdmin,
        warnings,
      };
      opts.logger?.info({ isAdmin, actor: api.lastUsername }, 'bitbucket data center capabilities detected');
      return capabilities;
    },
    stats(): ConnectorStats {
      return http.stats();
    },
    close: () => http.close(),
  };
}
