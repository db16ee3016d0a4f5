/** Retry timing: exponential backoff with full jitter, and the server's own hints. */

export interface BackoffPolicy {
  /** First retry waits up to this long. Default 500 ms. */
  baseMs: number;
  /** No single backoff wait is longer than this. Default 30 s. */
  capMs: number;
  /** Source of randomness in [0, 1); injectable for tests. Default Math.random. */
  random: () => number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, capMs: 30_000, random: Math.random };

/** "Full jitter": a uniform wait in [0, min(cap, base·2^attempt)], so retrying clients spread out. */
export function backoffDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt));
  return Math.floor(policy.random() * ceiling);
}

/** `Retry-After` as milliseconds from `now`: delta-seconds or an HTTP date. Null when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: number): number | null {
  if (value === undefined) return null;
  const trimmed = value.trim();
  if (trimmed === '') return null;
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - now);
}

/** What `X-RateLimit-*` headers say, when a server sends them. Every field is optional. */
export interface RateLimitHeaders {
  limit: number | null;
  remaining: number | null;
  /** Absolute time (clock ms) when the window resets. */
  resetAt: number | null;
  nearLimit: boolean;
}

/**
 * Reads `X-RateLimit-Limit`, `-Remaining`, `-Reset` and Bitbucket's `-NearLimit`. `Reset` is accepted
 * as epoch seconds (GitHub style, a large number) or as seconds from now (a small one).
 */
export function parseRateLimitHeaders(headers: Record<string, string>, now: number): RateLimitHeaders {
  const int = (name: string): number | null => {
    const raw = headers[name];
    if (raw === undefined || !/^\s*\d+\s*$/.test(raw)) return null;
    return Number(raw);
  };
  const reset = int('x-ratelimit-reset');
  let resetAt: number | null = null;
  if (reset !== null) resetAt = reset > 1_000_000_000 ? reset * 1000 : now + reset * 1000;
  else {
    // The Atlassian Administration APIs send the reset as an ISO 8601 time (UTC).
    const iso = headers['x-ratelimit-reset']?.trim();
    const at = iso && /^\d{4}-\d{2}-\d{2}T/.test(iso) ? Date.parse(iso) : Number.NaN;
    if (!Number.isNaN(at)) resetAt = at;
  }
  return {
    limit: int('x-ratelimit-limit'),
    remaining: int('x-ratelimit-remaining'),
    resetAt,
    nearLimit: (headers['x-ratelimit-nearlimit'] ?? '').trim().toLowerCase() === 'true',
  };
}
