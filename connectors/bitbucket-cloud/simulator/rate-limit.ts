/**
 * Bitbucket's request limits: a budget per credential over a rolling hour. API tokens and app
 * passwords count against their user, OAuth against the consumer, access tokens each on their own
 * ("API request limits" on support.atlassian.com). Unauthenticated requests (public repositories
 * only) share one budget, 60 an hour by default ("Anonymous requests are subject to a strict rate
 * limit of 60 requests per hour across all API resources").
 */
import type { SimClock } from './types.ts';

const HOUR_MS = 3600_000;

class Window {
  private readonly times: number[] = [];
  private head = 0;

  count(now: number): number {
    while (this.head < this.times.length && (this.times[this.head] as number) <= now - HOUR_MS) this.head++;
    if (this.head > 4096 && this.head * 2 > this.times.length) {
      this.times.splice(0, this.head);
      this.head = 0;
    }
    return this.times.length - this.head;
  }

  oldest(): number | undefined {
    return this.times[this.head];
  }

  push(now: number): void {
    this.times.push(now);
  }
}

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Requests counted in the window, this one included when allowed (the `X-Request-Count` value). */
  used: number;
  /** Seconds until a slot frees up (only when refused). */
  retryAfterSeconds: number;
}

export class RateLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(private readonly clock: SimClock) {}

  /** Counts one request against `key` if the budget allows it. */
  take(key: string, limit: number): RateDecision {
    let w = this.windows.get(key);
    if (!w) this.windows.set(key, (w = new Window()));
    const now = this.clock.now();
    const used = w.count(now);
    if (used >= limit) {
      const oldest = w.oldest() ?? now;
      return { allowed: false, limit, remaining: 0, used, retryAfterSeconds: Math.max(1, Math.ceil((oldest + HOUR_MS - now) / 1000)) };
    }
    w.push(now);
    return { allowed: true, limit, remaining: limit - used - 1, used: used + 1, retryAfterSeconds: 0 };
  }

  reset(): void {
    this.windows.clear();
  }
}

/** Scaled limits for Standard/Premium workspaces: 1,000 + 10 per paid seat above 100, at most 10,000. */
export function scaledLimit(seats: number): number {
  return Math.min(10_000, 1000 + Math.max(0, seats - 100) * 10);
}
