import { createHash } from 'node:crypto';
import type { RateLimitHeaders } from './backoff.ts';

export const HOUR_MS = 3_600_000;
const LEARNED_LIMIT_TTL_MS = 24 * HOUR_MS;

/**
 * A credential's request budget over a rolling window (one hour by default). The client asks
 * `delay(now)` before every request and sends only when it is zero, so it paces itself below the
 * source's limit instead of running into 429s. The server's own figures (`X-RateLimit-*`,
 * `Retry-After`) can only make it stricter, never looser.
 */
export class RequestBudget {
  readonly windowMs: number;
  private configuredLimit: number;
  private serverLimit: number | null = null;
  /** Send times inside the window, oldest first. */
  private sent: number[] = [];
  private blockedUntil = 0;
  private blockReason = '';
  private serverRemaining: number | null = null;
  private serverResetAt: number | null = null;
  /** Learned from a 429 that came with no hint: the server's limit is what it accepted in the window. */
  private learnedLimit: number | null = null;
  private learnedUntil = 0;

  constructor(perWindow: number, windowMs: number = HOUR_MS) {
    if (!Number.isFinite(perWindow) || perWindow < 1) throw new RangeError(`budget must be at least 1 request per window, got ${perWindow}`);
    this.configuredLimit = Math.floor(perWindow);
    this.windowMs = windowMs;
  }

  get limit(): number {
    let limit = this.serverLimit === null ? this.configuredLimit : Math.min(this.configuredLimit, this.serverLimit);
    if (this.learnedLimit !== null) limit = Math.min(limit, this.learnedLimit);
    return limit;
  }

  setConfiguredLimit(perWindow: number): void {
    this.configuredLimit = Math.max(1, Math.floor(perWindow));
  }

  /** Requests sent inside the window ending at `now`. */
  used(now: number): number {
    this.prune(now);
    return this.sent.length;
  }

  /** How long from `now` until one more request fits, and why; `ms: 0` means send now. */
  delay(now: number): { ms: number; reason: string } {
    this.prune(now);
    let until = 0;
    let reason = '';
    if (this.blockedUntil > now) {
      until = this.blockedUntil;
      reason = this.blockReason;
    }
    const limit = this.limit;
    if (this.sent.length >= limit) {
      // The request that has to leave the window before one more fits.
      const leaving = this.sent[this.sent.length - limit];
      if (leaving !== undefined && leaving + this.windowMs > until) {
        until = leaving + this.windowMs;
        reason = `hourly budget of ${limit} requests spent`;
      }
    }
    if (this.serverRemaining !== null && this.serverRemaining <= 0 && this.serverResetAt !== null && this.serverResetAt > until) {
      until = this.serverResetAt;
      reason = 'the server reports no requests remaining in its window';
    }
    return until > now ? { ms: until - now, reason } : { ms: 0, reason: '' };
  }

  /**
   * When at least `slots` requests fit again (for a paused run: resuming for a single freed slot would
   * only pause again at once). Never earlier than `delay(now)`.
   */
  resumeTime(now: number, slots: number): number {
    const first = now + this.delay(now).ms;
    this.prune(now);
    const limit = this.limit;
    const want = Math.min(Math.max(1, slots), limit);
    // With `want` free slots, `sent.length - (limit - want)` of today's entries must have left the window.
    const mustLeave = this.sent.length - (limit - want);
    if (mustLeave <= 0) return first;
    const leaving = this.sent[mustLeave - 1];
    return leaving === undefined ? first : Math.max(first, leaving + this.windowMs);
  }

  /**
   * Seeds the window with requests another process made with this credential (known from the
   * database), so a fresh process does not spend a budget that is already used. Only fills a window
   * this process has not used yet.
   */
  seed(requests: ReadonlyArray<{ at: number; count: number }>, now: number): void {
    if (this.used(now) > 0) return;
    for (const { at, count } of requests) {
      if (at + this.windowMs <= now) continue;
      for (let i = 0; i < count; i++) this.sent.push(Math.min(at, now));
    }
    this.sent.sort((a, b) => a - b);
  }

  /** Records a request as sent at `now`. Call only when `delay(now).ms === 0`. */
  record(now: number): void {
    this.sent.push(now);
    if (this.serverRemaining !== null) this.serverRemaining -= 1;
  }

  /**
   * Moves a request's entry from when it was sent to when its answer arrived. The server counted it
   * somewhere in between, so counting from the answer frees the slot no earlier than the server does.
   */
  settle(sentAt: number, answeredAt: number): void {
    const i = this.sent.lastIndexOf(sentAt);
    if (i < 0 || answeredAt <= sentAt) return;
    this.sent.splice(i, 1);
    let j = this.sent.length;
    while (j > 0 && (this.sent[j - 1] ?? 0) > answeredAt) j -= 1;
    this.sent.splice(j, 0, answeredAt);
  }

  /** Takes back a request the server refused with 429 (it did not count against its window). */
  unrecord(sentAt: number): void {
    const i = this.sent.lastIndexOf(sentAt);
    if (i >= 0) this.sent.splice(i, 1);
  }

  /**
   * A 429 without `Retry-After` or `X-RateLimit-*` (what Bitbucket sends): the server's limit is at
   * most what it accepted from us in the window, so pace to that for a day (a lower figure seen from
   * a shared credential only makes Roster slower, never makes it hit the limit). Returns false when there is nothing to learn from (no request of ours in the window).
   */
  learnFrom429(now: number): boolean {
    this.prune(now);
    if (this.sent.length === 0) return false;
    this.learnedLimit = Math.min(this.learnedLimit ?? Infinity, this.sent.length);
    this.learnedUntil = now + LEARNED_LIMIT_TTL_MS;
    return true;
  }

  /** Nothing is sent before `until` (a `Retry-After`, or a 429 with no hint). */
  blockUntil(until: number, reason: string): void {
    if (until > this.blockedUntil) {
      this.blockedUntil = until;
      this.blockReason = reason;
    }
  }

  /** Folds in the server's `X-RateLimit-*` view. */
  observe(headers: RateLimitHeaders, now: number): void {
    if (headers.limit !== null && headers.limit > 0) this.serverLimit = headers.limit;
    if (headers.remaining !== null) {
      this.serverRemaining = headers.remaining;
      this.serverResetAt = headers.resetAt ?? this.oldestExpiry(now);
    }
  }

  private oldestExpiry(now: number): number {
    const oldest = this.sent[0];
    return oldest === undefined ? now + this.windowMs : oldest + this.windowMs;
  }

  private prune(now: number): void {
    const cutoff = now - this.windowMs;
    let drop = 0;
    while (drop < this.sent.length && (this.sent[drop] ?? Infinity) <= cutoff) drop += 1;
    if (drop > 0) this.sent = this.sent.slice(drop);
    if (this.learnedLimit !== null && now >= this.learnedUntil) this.learnedLimit = null;
    if (this.serverResetAt !== null && now >= this.serverResetAt) {
      this.serverRemaining = null;
      this.serverResetAt = null;
    }
  }
}

const budgets = new Map<string, RequestBudget>();

/**
 * The budget shared by every client of one credential in this process, so two runs (or a run and its
 * resumption) with the same credential draw on one window. `identity` is hashed; it may be secret.
 */
export function sharedBudget(identity: string, perWindow: number, windowMs: number = HOUR_MS): RequestBudget {
  const key = `${windowMs}:${createHash('sha256').update(identity).digest('hex')}`;
  let budget = budgets.get(key);
  if (!budget) {
    budget = new RequestBudget(perWindow, windowMs);
    budgets.set(key, budget);
  } else {
    budget.setConfiguredLimit(perWindow);
  }
  return budget;
}
