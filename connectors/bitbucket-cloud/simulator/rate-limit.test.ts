/** Rate limiting: rolling hour per credential, Bitbucket's 429, headers, and a clock tests can speed up. */
import { describe, expect, it } from 'vitest';
import { SimClient } from './client.ts';
import { createClock, startSimulator } from './index.ts';

describe('the rolling-hour budget', () => {
  it('answers 429 in text/plain once a credential has spent its budget, and frees slots an hour later', async () => {
    const clock = createClock({ speed: 0, start: Date.UTC(2026, 10, 23, 9) });
    const sim = await startSimulator({ clock, rateLimit: { perHour: 5 } });
    try {
      const c = new SimClient(sim);
      const path = `/2.0/repositories/${sim.workspace}`;
      for (let i = 0; i < 3; i++) expect((await c.get(path)).status).toBe(200);
      clock.advance(30 * 60_000);
      for (let i = 0; i < 2; i++) expect((await c.get(path)).status).toBe(200);
      const limited = await c.get(path);
      expect(limited.status).toBe(429);
      expect(limited.headers.get('content-type')).toBe('text/plain');
      expect(limited.text).toBe('Rate limit for this resource has been exceeded');
      // Bitbucket sends no Retry-After unless asked (see `rateLimit.retryAfter`).
      expect(limited.headers.get('retry-after')).toBeNull();
      // Other credentials have their own budget.
      expect((await c.get(path, 'memberApiToken')).status).toBe(200);
      // Rolling: the first three requests leave the window after an hour, the later two do not.
      clock.advance(30 * 60_000);
      for (let i = 0; i < 3; i++) expect((await c.get(path)).status).toBe(200);
      expect((await c.get(path)).status).toBe(429);
      expect(sim.stats().responses429).toBe(2);
      expect(sim.stats().perCredential.adminApiToken).toBe(10);
    } finally {
      await sim.close();
    }
  });

  it('says when to come back if asked to send Retry-After', async () => {
    const clock = createClock({ speed: 0, start: Date.UTC(2026, 10, 23, 9) });
    const sim = await startSimulator({ clock, rateLimit: { perHour: 2, retryAfter: true } });
    try {
      const c = new SimClient(sim);
      await c.get('/2.0/user');
      clock.advance(10 * 60_000);
      await c.get('/2.0/user');
      const limited = await c.get('/2.0/user');
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBe(50 * 60);
    } finally {
      await sim.close();
    }
  });

  it('lets a rate-limited client wait out the hour on an accelerated clock', async () => {
    // Simulated time and counts only; how fast this runs in real time belongs in `npm run bench`.
    const clock = createClock({ speed: 3600 });
    const sim = await startSimulator({ clock, rateLimit: { perHour: 3, retryAfter: true } });
    try {
      const c = new SimClient(sim);
      const started = clock.now();
      const seen: number[] = [];
      let waitedMs = 0;
      while (seen.filter((s) => s === 200).length < 6) {
        const res = await c.get(`/2.0/repositories/${sim.workspace}`);
        seen.push(res.status);
        if (res.status !== 200) {
          expect(res.status).toBe(429);
          const ms = Number(res.headers.get('retry-after')) * 1000;
          expect(ms).toBeGreaterThan(0);
          waitedMs += ms;
          await clock.sleep(ms);
        }
      }
      // The first three go through, the fourth is refused, and after waiting the window rolls on.
      expect(seen.slice(0, 4)).toEqual([200, 200, 200, 429]);
      expect(seen.filter((s) => s === 429).length).toBeGreaterThanOrEqual(1);
      expect(sim.stats().responses429).toBe(seen.filter((s) => s === 429).length);
      // Six answers at three an hour: the fourth came only once the first left the window, so at
      // least one simulated hour went by (the client slept as long as each 429 said).
      expect(clock.now() - started).toBeGreaterThanOrEqual(3600_000);
      expect(waitedMs).toBeGreaterThan(0);
    } finally {
      await sim.close();
    }
  });
});

describe('rate-limit headers', () => {
  it('go to access tokens on /2.0/repositories/* only, with NearLimit under 20% left', async () => {
    const sim = await startSimulator({ rateLimit: { perHour: 10 } });
    try {
      const c = new SimClient(sim);
      const repos = `/2.0/repositories/${sim.workspace}`;
      const first = await c.get(repos, 'workspaceAccessToken');
      expect(first.headers.get('x-ratelimit-limit')).toBe('10');
      expect(first.headers.get('x-ratelimit-resource')).toBe('api');
      expect(first.headers.get('x-ratelimit-nearlimit')).toBe('false');
      const projects = await c.get(`/2.0/workspaces/${sim.workspace}/projects`, 'workspaceAccessToken');
      expect(projects.headers.get('x-ratelimit-limit')).toBeNull();
      for (let i = 0; i < 6; i++) await c.get(repos, 'workspaceAccessToken');
      // 8 used, 2 left: under 20%.
      expect((await c.get(repos, 'workspaceAccessToken')).headers.get('x-ratelimit-nearlimit')).toBe('true');
      const api = await c.get(repos, 'adminApiToken');
      expect(api.headers.get('x-ratelimit-limit')).toBeNull();
    } finally {
      await sim.close();
    }
  });

  it('scale with paid seats for access tokens when `scaled` is on (capped at 10,000)', async () => {
    const sim = await startSimulator({ profile: 'medium', rateLimit: { perHour: 1000, scaled: true } });
    try {
      const c = new SimClient(sim);
      // 200 seats: 1,000 + 100 × 10.
      const res = await c.get(`/2.0/repositories/${sim.workspace}`, 'repositoryAccessToken');
      expect(res.headers.get('x-ratelimit-limit')).toBe('2000');
    } finally {
      await sim.close();
    }
  });

  it('can be switched off', async () => {
    const sim = await startSimulator({ rateLimit: false });
    try {
      const c = new SimClient(sim);
      for (let i = 0; i < 30; i++) expect((await c.get('/2.0/user')).status).toBe(200);
      expect((await c.get(`/2.0/repositories/${sim.workspace}`, 'workspaceAccessToken')).headers.get('x-ratelimit-limit')).toBeNull();
    } finally {
      await sim.close();
    }
  });
});

describe('createClock', () => {
  it('runs at the given speed, jumps with advance, and wakes sleepers', async () => {
    // A fast clock's sleep ends before a real timer of the same nominal length: order, not thresholds.
    const fast = createClock({ speed: 1000, start: 0 });
    const first = await Promise.race([fast.sleep(2000).then(() => 'simulated'), new Promise((r) => setTimeout(() => r('real'), 2000))]);
    expect(first).toBe('simulated');
    expect(fast.now()).toBeGreaterThanOrEqual(2000);

    const frozen = createClock({ speed: 0, start: 1_000 });
    expect(frozen.now()).toBe(1_000);
    let woke = false;
    const p = frozen.sleep(60_000).then(() => {
      woke = true;
    });
    frozen.advance(59_999);
    await Promise.resolve();
    expect(woke).toBe(false);
    frozen.advance(1);
    await p;
    expect(woke).toBe(true);

    const ac = new AbortController();
    const aborted = frozen.sleep(1000, ac.signal);
    ac.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
  });
});
