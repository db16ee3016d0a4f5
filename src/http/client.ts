import { performance } from 'node:perf_hooks';
import pLimit, { type LimitFunction } from 'p-limit';
import { Agent, errors as undiciErrors } from 'undici';
import { ConnectorError, RosterError } from '../errors.ts';
import type { ConnectorStats, ProgressEvent } from '../interfaces.ts';
import { scrubSecrets, type Logger } from '../log.ts';
import { backoffDelay, DEFAULT_BACKOFF, parseRateLimitHeaders, parseRetryAfter, type BackoffPolicy } from './backoff.ts';
import type { RequestBudget } from './budget.ts';
import { systemClock, type Clock } from './clock.ts';
import { plural } from '../text.ts';

export interface HttpClientOptions {
  /** Origins this client may talk to (`https://api.bitbucket.org`, the OAuth token host). Anything else is refused. */
  allowedOrigins: readonly string[];
  /** The credential's request budget (see `sharedBudget`). */
  budget: RequestBudget;
  /** Requests in flight at once. Default 4. */
  concurrency?: number;
  /** Socket timeout per request for headers and for body, in real ms. Default 30 000. */
  timeoutMs?: number;
  /** Retries after the first attempt for 429, 5xx and network failures. Default 5. */
  maxRetries?: number;
  /** Longest pause (clock ms) the client accepts for budget or a 429; beyond it: `budget_exhausted`. Default 15 min. */
  maxRateLimitWaitMs?: number;
  /** Default the real clock. */
  clock?: Clock;
  backoff?: Partial<BackoffPolicy>;
  logger?: Logger;
  onProgress?: (event: ProgressEvent) => void;
}

export interface HttpRequest {
  method: 'GET' | 'POST';
  url: URL;
  /** Label for errors, logs and progress: the path without host or query, e.g. `/2.0/repositories/acme`. */
  endpoint: string;
  /** Headers for one attempt; a function so a refreshed credential is picked up between retries. */
  headers?: () => Promise<Record<string, string>> | Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /**
   * A later page of a listing already under way. It may wait up to one budget window for its turn
   * (longer than `maxRateLimitWaitMs`): stopping half-way would waste the pages already read, and a
   * listing picked up an hour later can no longer be trusted to be one consistent listing.
   */
  continuation?: boolean;
  /**
   * Whether the request draws on the credential's API budget. Default true. False only for requests
   * to another host with its own limits (the OAuth token endpoint); they are still counted.
   */
  paced?: boolean;
}

export interface HttpResponse {
  status: number;
  /** Lower-cased names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  body: string;
}

const RETRYABLE_NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/**
 * The shared HTTP client: one keep-alive connection pool per integration, bounded concurrency, pacing
 * against the credential's budget, and retries for 429, 5xx and dropped connections. 2xx–4xx (other
 * than 429) come back as responses for the caller to interpret; exhausted retries and spent budgets
 * throw `ConnectorError`. It never logs or reports a header value.
 */
export class HttpClient {
  private readonly agent: Agent;
  private readonly limit: LimitFunction;
  private readonly clock: Clock;
  private readonly budget: RequestBudget;
  private readonly maxRetries: number;
  private readonly maxWaitMs: number;
  private readonly backoff: BackoffPolicy;
  private readonly allowed: Set<string>;
  private readonly logger: Logger | undefined;
  private readonly onProgress: ((event: ProgressEvent) => void) | undefined;
  private readonly counters: ConnectorStats = { requests: 0, retries: 0, rateLimitWaits: 0, rateLimitWaitMs: 0, responses429: 0 };
  private closed = false;

  constructor(options: HttpClientOptions) {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const concurrency = options.concurrency ?? 4;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
    this.agent = new Agent({
      connections: concurrency,
      keepAliveTimeout: 30_000,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      connectTimeout: timeoutMs,
    });
    this.limit = pLimit(concurrency);
    this.clock = options.clock ?? systemClock;
    this.budget = options.budget;
    this.maxRetries = options.maxRetries ?? 5;
    this.maxWaitMs = options.maxRateLimitWaitMs ?? 15 * 60_000;
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.allowed = new Set(options.allowedOrigins.map((o) => new URL(o).origin));
    this.logger = options.logger;
    this.onProgress = options.onProgress;
  }

  stats(): ConnectorStats {
    return { ...this.counters };
  }

  /**
   * Requests that still fit the credential's budget now (negative: over it, waiting). A credential
   * pool sends each request on the member with the most room, so each is paced on its own allowance.
   */
  budgetRoom(): number {
    const now = this.clock.now();
    return this.budget.delay(now).ms > 0 ? -this.budget.delay(now).ms : this.budget.limit - this.budget.used(now);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.agent.close();
  }

  request(req: HttpRequest): Promise<HttpResponse> {
    if (!this.allowed.has(req.url.origin)) {
      // A client is bound to its integration's hosts: credentials never travel anywhere else.
      return Promise.reject(
        new ConnectorError('malformed_response', `Refusing to send a request for ${req.endpoint} to a host this integration is not bound to`, {
          endpoint: req.endpoint,
          advice: 'The source returned a link to another host. Check the integration base URL; report it if it persists.',
        }),
      );
    }
    return this.limit(() => this.send(req));
  }

  private async send(req: HttpRequest): Promise<HttpResponse> {
    for (let attempt = 0; ; attempt += 1) {
      this.throwIfAborted(req);
      const sentAt = req.paced !== false ? await this.acquire(req) : null;
      let headers: Record<string, string>;
      try {
        headers = req.headers ? await req.headers() : {};
        // Aborted while waiting for budget or a token: nothing is sent, so nothing is counted.
        this.throwIfAborted(req);
      } catch (error) {
        if (sentAt !== null) this.budget.cancel();
        throw error;
      }
      this.counters.requests += 1;
      const started = performance.now();
      let status: number;
      let responseHeaders: Record<string, string>;
      let body: string;
      try {
        const res = await this.agent.request({
          origin: req.url.origin,
          path: req.url.pathname + req.url.search,
          method: req.method,
          headers: { accept: 'application/json', 'user-agent': 'roster', ...headers },
          body: req.body,
          signal: req.signal,
        });
        status = res.statusCode;
        responseHeaders = normalizeHeaders(res.headers);
        body = await res.body.text();
      } catch (error) {
        // It may have reached the server: it counts, from now.
        if (sentAt !== null) this.budget.settle(sentAt, this.clock.now());
        this.throwIfAborted(req, error);
        const reason = describeNetworkError(error);
        if (!isRetryableNetworkError(error) || attempt >= this.maxRetries) {
          throw new ConnectorError('network_error', `${req.method} ${req.endpoint} failed after ${plural(attempt + 1, 'attempt')}: ${reason}`, {
            endpoint: req.endpoint,
            retryable: true,
            cause: error,
            advice: 'The source could not be reached reliably. The next run retries; check network access to the API host if it persists.',
          });
        }
        await this.retryAfter(req, attempt, reason, backoffDelay(attempt, this.backoff));
        continue;
      }
      const ms = Math.round(performance.now() - started);
      const now = this.clock.now();
      if (sentAt !== null) this.budget.settle(sentAt, now);
      this.budget.observe(parseRateLimitHeaders(responseHeaders, now), now);
      this.onProgress?.({ type: 'request', method: req.method, path: req.endpoint, status, ms });
      this.logger?.debug({ method: req.method, endpoint: req.endpoint, status, ms, attempt }, 'http request');

      if (status === 429) {
        this.counters.responses429 += 1;
        if (sentAt !== null) this.budget.unrecord(now);
        const hinted = parseRetryAfter(responseHeaders['retry-after'], now) ?? this.resetHint(responseHeaders, now);
        // Without a hint, pace to what the server accepted this window; failing that, back off long.
        const learned = hinted === null && this.budget.learnFrom429(now);
        const wait = hinted ?? (learned ? this.budget.delay(now).ms : rateLimitBackoff(attempt, this.backoff.random));
        if (attempt >= this.maxRetries) {
          throw new ConnectorError('rate_limited', `${req.method} ${req.endpoint} was rate limited (429) ${attempt + 1} times`, {
            endpoint: req.endpoint,
            httpStatus: 429,
            retryable: true,
            resumeAt: new Date(now + wait),
            advice: 'The credential is over its request limit. Lower the per-hour budget for this integration so Roster paces below it.',
          });
        }
        // The next attempt's `acquire` waits out the block, and so does every other request on this credential.
        if (!learned) this.budget.blockUntil(now + wait, 'the server answered 429 Too Many Requests');
        this.counters.retries += 1;
        this.onProgress?.({ type: 'retry', path: req.endpoint, attempt: attempt + 1, reason: '429 Too Many Requests', delayMs: wait });
        continue;
      }
      if (status >= 500) {
        if (attempt >= this.maxRetries) {
          throw new ConnectorError('server_error', `${req.method} ${req.endpoint} answered ${status} after ${plural(attempt + 1, 'attempt')}`, {
            endpoint: req.endpoint,
            httpStatus: status,
            retryable: true,
            advice: 'The source is failing on its side. The next run retries; nothing from this scope was revoked.',
          });
        }
        const hinted = parseRetryAfter(responseHeaders['retry-after'], now);
        await this.retryAfter(req, attempt, `HTTP ${status}`, Math.max(hinted ?? 0, backoffDelay(attempt, this.backoff)));
        continue;
      }
      return { status, headers: responseHeaders, body };
    }
  }

  /** Waits until the budget allows one more request, then records it; returns the send time. */
  private async acquire(req: HttpRequest): Promise<number> {
    for (;;) {
      const now = this.clock.now();
      const { ms, reason } = this.budget.delay(now);
      if (ms <= 0) {
        this.budget.record(now);
        return now;
      }
      const until = new Date(now + ms);
      const maxWait = req.continuation ? Math.max(this.maxWaitMs, this.budget.windowMs) : this.maxWaitMs;
      if (ms > maxWait) {
        // Resume when a tenth of the budget is back, not when a single slot is: a run resumed for one
        // request would only pause again.
        const resumeAt = new Date(this.budget.resumeTime(now, Math.ceil(this.budget.limit / 10)));
        throw new ConnectorError('budget_exhausted', `Request budget exhausted (${reason}); the run can resume at ${resumeAt.toISOString()}`, {
          endpoint: req.endpoint,
          retryable: true,
          resumeAt,
          advice: 'The run pauses at its checkpoint and resumes when the budget returns. Raise the hourly budget only if the credential allows more.',
        });
      }
      this.counters.rateLimitWaits += 1;
      this.counters.rateLimitWaitMs += ms;
      this.onProgress?.({ type: 'rate-limit-wait', ms, until, reason });
      this.logger?.info({ endpoint: req.endpoint, waitMs: ms, until: until.toISOString(), reason }, 'pacing: waiting for request budget');
      await this.sleep(ms, req);
    }
  }

  private async retryAfter(req: HttpRequest, attempt: number, reason: string, delayMs: number): Promise<void> {
    this.counters.retries += 1;
    this.onProgress?.({ type: 'retry', path: req.endpoint, attempt: attempt + 1, reason, delayMs });
    this.logger?.warn({ endpoint: req.endpoint, attempt: attempt + 1, reason, delayMs }, 'retrying request');
    await this.sleep(delayMs, req);
  }

  private resetHint(headers: Record<string, string>, now: number): number | null {
    const { resetAt } = parseRateLimitHeaders(headers, now);
    return resetAt === null ? null : Math.max(0, resetAt - now);
  }

  private async sleep(ms: number, req: HttpRequest): Promise<void> {
    try {
      await this.clock.sleep(ms, req.signal);
    } catch (error) {
      this.throwIfAborted(req, error);
      throw error;
    }
  }

  private throwIfAborted(req: HttpRequest, cause?: unknown): void {
    if (req.signal?.aborted) {
      throw new RosterError('sync_aborted', `Aborted while requesting ${req.endpoint}`, { cause: cause ?? req.signal.reason });
    }
  }
}

/** A 429 with nothing to go on: one minute, doubling, at most fifteen, half of it jittered. */
function rateLimitBackoff(attempt: number, random: () => number): number {
  const ceiling = Math.min(15 * 60_000, 60_000 * 2 ** attempt);
  return Math.floor(ceiling / 2 + (random() * ceiling) / 2);
}

function normalizeHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') return error.code;
  return undefined;
}

function isRetryableNetworkError(error: unknown): boolean {
  if (error instanceof undiciErrors.UndiciError) return true;
  const code = errorCode(error) ?? errorCode((error as { cause?: unknown } | null)?.cause);
  return code !== undefined && RETRYABLE_NETWORK_CODES.has(code);
}

function describeNetworkError(error: unknown): string {
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  return scrubSecrets(code ? `${code}: ${message}` : message);
}
