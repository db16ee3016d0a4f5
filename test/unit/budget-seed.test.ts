import { describe, expect, it } from 'vitest';
import { RequestBudget } from '../../src/http/index.ts';

describe('RequestBudget.seed', () => {
  const HOUR = 3_600_000;

  it('counts requests other processes made in the window, and ignores older ones', () => {
    const budget = new RequestBudget(100, HOUR);
    const now = 10 * HOUR;
    budget.seed([{ at: now - 30 * 60_000, count: 80 }, { at: now - 2 * HOUR, count: 500 }], now);
    expect(budget.used(now)).toBe(80);
    expect(budget.delay(now).ms).toBe(0);
    for (let i = 0; i < 20; i++) budget.record(now);
    // Full: the next slot frees when the seeded requests leave the window, 30 minutes from now.
    expect(budget.delay(now).ms).toBe(30 * 60_000);
  });

  it('does not double-count a window this process already uses', () => {
    const budget = new RequestBudget(100, HOUR);
    const now = 10 * HOUR;
    budget.record(now - 1000);
    budget.seed([{ at: now - 1000, count: 50 }], now);
    expect(budget.used(now)).toBe(1);
  });
});
