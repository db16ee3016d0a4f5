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
  /** When the answers of requests inside the window arrived, oldest first. */
  private sent: number[] = [];
  /**
   * Requests sent and not answered yet. They count in full until they settle: the server counts a
   * request when it arrives, which may be after its send time has left the window (a long wait, a
   * clock that jumps), so a request in flight must never free its slot.
   */
  private inFlight = 0;
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

  /** Requests inside the window ending at `now`, those still in flight included. */
  used(now: number): number {
    this.prune(now);
    return this.sent.length + this.inFlight;
  }

  /** When the `n`-th oldest request (1-based) leaves the window; one in flight leaves a window after now at the earliest. */
  private leavesAt(n: number, now: number): number {
    const settled = this.sent[n - 1];
    return settled !== undefined && n <= this.sent.length ? settled + this.windowMs : now + this.windowMs;
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
    const used = this.sent.length + this.inFlight;
    if (used >= limit) {
      // The request that has to leave the window before one more fits (in-flight ones are the youngest).
      const leaving = this.leavesAt(used - limit + 1, now);
      if (leaving > until) {
        until = leaving;
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
    // With `want` free slots, `used - (limit - want)` of the window's requests must have left it.
    const mustLeave = this.sent.length + this.inFlight - (limit - want);
    if (mustLeave <= 0) return first;
    return Math.max(first, this.leavesAt(mustLeave, now));
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

  /** Records a request as sent at `now` (in flight until it settles). Call only when `delay(now).ms === 0`. */
  record(_now: number): void {
    this.inFlight += 1;
    if (this.serverRemaining !== null) this.serverRemaining -= 1;
  }

  /** A recorded request that was never sent after all (aborted before it left): it frees its slot. */
  cancel(): void {
    if (this.inFlight > 0) this.inFlight -= 1;
  }

  /**
   * A request's answer arrived (or its connection failed) at `answeredAt`: it counts from then. The
   * server counted it somewhere between send and answer, so counting from the answer frees the slot no
   * earlier than the server does.
   */
  settle(_sentAt: number, answeredAt: number): void {
    if (this.inFlight > 0) this.inFlight -= 1;
    let j = this.sent.length;
    while (j > 0 && (this.sent[j - 1] ?? 0) > answeredAt) j -= 1;
    this.sent.splice(j, 0, answeredAt);
  }

  /** Takes back a settled request the server refused with 429 (it did not count against its window). */
  unrecord(answeredAt: number): void {
    const i = this.sent.lastIndexOf(answeredAt);
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
