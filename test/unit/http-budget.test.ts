import { describe, expect, it } from 'vitest';
import { backoffDelay, parseRateLimitHeaders, parseRetryAfter, RequestBudget, sharedBudget } from '../../src/http/index.ts';

const HOUR = 3_600_000;

/** A request sent at `t` whose answer came at once. */
function answered(budget: RequestBudget, t: number): void {
  budget.record(t);
  budget.settle(t, t);
}

describe('RequestBudget', () => {
  it('admits requests up to the budget, then waits until the oldest leaves the rolling hour', () => {
    const budget = new RequestBudget(3);
    for (const t of [0, 1000, 2000]) {
      expect(budget.delay(t).ms).toBe(0);
      answered(budget, t);
    }
    expect(budget.delay(2500)).toEqual({ ms: HOUR - 2500, reason: 'hourly budget of 3 requests spent' });
    // Exactly one hour after the first request a slot frees; the second frees a second later.
    expect(budget.delay(HOUR).ms).toBe(0);
    answered(budget, HOUR);
    expect(budget.delay(HOUR).ms).toBe(1000);
    expect(budget.used(HOUR)).toBe(3);
  });

  it('honours a block (Retry-After) even with budget left', () => {
    const budget = new RequestBudget(100);
    budget.blockUntil(5000, 'the server answered 429');
    expect(budget.delay(1000)).toEqual({ ms: 4000, reason: 'the server answered 429' });
    expect(budget.delay(5000).ms).toBe(0);
  });

  it('becomes stricter, never looser, from X-RateLimit headers', () => {
    const budget = new RequestBudget(1000);
    budget.observe({ limit: 2, remaining: null, resetAt: null, nearLimit: false }, 0);
    expect(budget.limit).toBe(2);
    budget.observe({ limit: 5000, remaining: null, resetAt: null, nearLimit: false }, 0);
    expect(budget.limit).toBe(1000);
    budget.observe({ limit: null, remaining: 1, resetAt: 60_000, nearLimit: false }, 0);
    expect(budget.delay(0).ms).toBe(0);
    budget.record(0);
    expect(budget.delay(10).ms).toBe(60_000 - 10);
    // Past the reset the server figure is dropped again.
    expect(budget.delay(60_000).ms).toBe(0);
  });

  it('is shared per credential identity, with the latest configured limit', () => {
    const a = sharedBudget('http://x|token|secret-1', 10);
    const b = sharedBudget('http://x|token|secret-1', 20);
    const c = sharedBudget('http://x|token|secret-2', 10);
    expect(a).toBe(b);
    expect(a.limit).toBe(20);
    expect(c).not.toBe(a);
  });

  it('counts a request from when its answer arrived, so a slot frees no earlier than on the server', () => {
    const budget = new RequestBudget(1);
    budget.record(0);
    budget.settle(0, 5000);
    expect(budget.delay(HOUR).ms).toBe(5000);
    budget.unrecord(5000);
    expect(budget.delay(HOUR).ms).toBe(0);
  });

  it('never frees the slot of a request still in flight, however long ago it was sent', () => {
    const budget = new RequestBudget(2);
    answered(budget, 0);
    budget.record(0); // sent, no answer yet
    expect(budget.used(0)).toBe(2);
    // An hour later the answered one has left the window; the one in flight still counts (the server
    // counts it when it arrives, which may be now), so one slot is free, not two.
    expect(budget.used(HOUR)).toBe(1);
    expect(budget.delay(HOUR).ms).toBe(0);
    budget.record(HOUR);
    expect(budget.delay(HOUR)).toEqual({ ms: HOUR, reason: 'hourly budget of 2 requests spent' });
    // Never sent after all: its slot is free again.
    budget.cancel();
    expect(budget.used(HOUR)).toBe(1);
  });

  it('tells a paused run to resume when a share of the budget is back, not a single slot', () => {
    const budget = new RequestBudget(10);
    for (let t = 0; t < 10; t += 1) answered(budget, t * 60_000);
    expect(budget.resumeTime(10 * 60_000, 1)).toBe(HOUR);
    expect(budget.resumeTime(10 * 60_000, 3)).toBe(HOUR + 2 * 60_000);
    expect(budget.resumeTime(10 * 60_000, 50)).toBe(HOUR + 9 * 60_000);
  });

  it('rejects a budget below one request', () => {
    expect(() => new RequestBudget(0)).toThrow(RangeError);
  });
});

describe('retry timing', () => {
  it('uses full jitter under an exponential, capped ceiling', () => {
    const policy = { baseMs: 100, capMs: 1000, random: () => 0.999 };
    expect(backoffDelay(0, policy)).toBe(99);
    expect(backoffDelay(3, policy)).toBe(799);
    expect(backoffDelay(10, policy)).toBe(999);
    expect(backoffDelay(5, { ...policy, random: () => 0 })).toBe(0);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('120', 0)).toBe(120_000);
    expect(parseRetryAfter('1.5', 0)).toBe(1500);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('soon', 0)).toBeNull();
    expect(parseRetryAfter(undefined, 0)).toBeNull();
  });

  it('reads X-RateLimit-* with Reset as epoch seconds or as seconds from now', () => {
    expect(parseRateLimitHeaders({ 'x-ratelimit-limit': '1000', 'x-ratelimit-remaining': '3', 'x-ratelimit-reset': '30' }, 1000)).toEqual({
      limit: 1000,
      remaining: 3,
      resetAt: 31_000,
      nearLimit: false,
    });
    expect(parseRateLimitHeaders({ 'x-ratelimit-reset': '1767225600', 'x-ratelimit-nearlimit': 'true' }, 0)).toMatchObject({ resetAt: 1_767_225_600_000, nearLimit: true });
    expect(parseRateLimitHeaders({ 'x-ratelimit-limit': 'lots' }, 0).limit).toBeNull();
  });
});
