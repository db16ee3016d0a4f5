import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectorError } from '../../src/errors.ts';
import { HttpClient, RequestBudget, type Clock } from '../../src/http/index.ts';
import type { ProgressEvent } from '../../src/interfaces.ts';

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

interface Stub {
  url: string;
  hits: () => number;
  close: () => Promise<void>;
}

const servers: Server[] = [];
const clients: HttpClient[] = [];

async function stub(handler: Handler): Promise<Stub> {
  let n = 0;
  const server = createServer((req, res) => {
    n += 1;
    handler(req, res, n);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits: () => n,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A clock that never really waits: sleeping moves time forward and is recorded. */
function fakeClock(start = 0): Clock & { sleeps: number[] } {
  let t = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => t,
    sleep: (ms) => {
      sleeps.push(ms);
      t += ms;
      return Promise.resolve();
    },
  };
}

function client(base: string, opts: Partial<ConstructorParameters<typeof HttpClient>[0]> = {}): HttpClient {
  const c = new HttpClient({
    allowedOrigins: [base],
    budget: new RequestBudget(1000),
    clock: fakeClock(),
    backoff: { baseMs: 100, capMs: 1000, random: () => 0.5 },
    ...opts,
  });
  clients.push(c);
  return c;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => { s.closeAllConnections(); s.close(() => resolve()); })));
});

const get = (base: string, path = '/2.0/x') => ({ method: 'GET' as const, url: new URL(path, base), endpoint: path });

describe('HttpClient', () => {
  it('retries 5xx with backoff and returns the eventual answer', async () => {
    const s = await stub((_req, res, n) => (n <= 2 ? json(res, 503, { error: { message: 'down' } }) : json(res, 200, { ok: true })));
    const clock = fakeClock();
    const events: ProgressEvent[] = [];
    const c = client(s.url, { clock, onProgress: (e) => events.push(e) });
    const res = await c.request(get(s.url));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ ok: true });
    expect(s.hits()).toBe(3);
    expect(c.stats()).toMatchObject({ requests: 3, retries: 2, responses429: 0 });
    // Full jitter at random()=0.5 under ceilings 100 and 200.
    expect(clock.sleeps).toEqual([50, 100]);
    expect(events.filter((e) => e.type === 'retry')).toHaveLength(2);
  });

  it('gives up on persistent 5xx with a retryable server_error naming the endpoint', async () => {
    const s = await stub((_req, res) => json(res, 500, {}));
    const c = client(s.url, { maxRetries: 2 });
    const error = await c.request(get(s.url, '/2.0/repositories/acme')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectorError);
    expect(error).toMatchObject({ code: 'server_error', retryable: true, httpStatus: 500, endpoint: '/2.0/repositories/acme' });
    expect(s.hits()).toBe(3);
  });

  it('honours Retry-After on 429 and counts the 429 and the wait', async () => {
    const s = await stub((_req, res, n) => (n === 1 ? json(res, 429, {}, { 'retry-after': '42' }) : json(res, 200, [])));
    const clock = fakeClock();
    const c = client(s.url, { clock });
    expect((await c.request(get(s.url))).status).toBe(200);
    expect(clock.sleeps).toEqual([42_000]);
    expect(c.stats()).toMatchObject({ requests: 2, responses429: 1, rateLimitWaits: 1, rateLimitWaitMs: 42_000, retries: 1 });
  });

  it('turns a 429 asking for a longer wait than allowed into budget_exhausted with the resume time', async () => {
    const s = await stub((_req, res) => json(res, 429, {}, { 'retry-after': '3600' }));
    const clock = fakeClock(1_000_000);
    const c = client(s.url, { clock, maxRateLimitWaitMs: 60_000 });
    const error = await c.request(get(s.url)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'budget_exhausted', retryable: true });
    expect((error as ConnectorError).resumeAt?.getTime()).toBe(1_000_000 + 3_600_000);
    expect(s.hits()).toBe(1);
  });

  it('learns the real limit from a 429 with no hint (as Bitbucket sends) and paces to it', async () => {
    const clock = fakeClock();
    const accepted: number[] = [];
    // A server allowing 2 requests per rolling hour, answering 429 with no Retry-After or X-RateLimit-*.
    const s = await stub((_req, res) => {
      const now = clock.now();
      if (accepted.filter((t) => t > now - 3_600_000).length >= 2) return json(res, 429, {});
      accepted.push(now);
      json(res, 200, {});
    });
    const c = client(s.url, { clock, maxRateLimitWaitMs: 2 * 3_600_000 });
    for (let i = 0; i < 5; i += 1) await c.request(get(s.url));
    expect(accepted).toHaveLength(5);
    // One 429 teaches the limit; afterwards the client waits instead of running into more.
    expect(c.stats().responses429).toBe(1);
    expect(c.stats().requests).toBe(6);
  });

  it('paces below the hourly budget instead of sending (no 429s), on the injected clock', async () => {
    const s = await stub((_req, res) => json(res, 200, {}));
    const clock = fakeClock();
    const waits: ProgressEvent[] = [];
    const c = client(s.url, { clock, budget: new RequestBudget(3), maxRateLimitWaitMs: 2 * 3_600_000, onProgress: (e) => e.type === 'rate-limit-wait' && waits.push(e) });
    for (let i = 0; i < 7; i += 1) await c.request(get(s.url));
    expect(s.hits()).toBe(7);
    // 3 in the first hour, 3 in the second, 1 in the third: two waits of one hour each.
    expect(clock.sleeps).toEqual([3_600_000, 3_600_000]);
    expect(c.stats()).toMatchObject({ requests: 7, rateLimitWaits: 2, rateLimitWaitMs: 7_200_000, responses429: 0 });
    expect(waits[0]).toMatchObject({ type: 'rate-limit-wait', ms: 3_600_000, reason: 'hourly budget of 3 requests spent' });
  });

  it('throws budget_exhausted, without sending, when the budget returns later than it may wait', async () => {
    const s = await stub((_req, res) => json(res, 200, {}));
    const clock = fakeClock(0);
    const c = client(s.url, { clock, budget: new RequestBudget(2), maxRateLimitWaitMs: 1000 });
    await c.request(get(s.url));
    await c.request(get(s.url));
    const error = await c.request(get(s.url)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'budget_exhausted' });
    expect((error as ConnectorError).resumeAt?.getTime()).toBe(3_600_000);
    expect(s.hits()).toBe(2);
    expect(c.stats().requests).toBe(2);
  });

  it('lets a later page of a listing wait up to one window, where a new request would stop', async () => {
    const s = await stub((_req, res) => json(res, 200, {}));
    const clock = fakeClock(0);
    const c = client(s.url, { clock, budget: new RequestBudget(1), maxRateLimitWaitMs: 0 });
    await c.request(get(s.url));
    await expect(c.request(get(s.url))).rejects.toMatchObject({ code: 'budget_exhausted' });
    expect((await c.request({ ...get(s.url), continuation: true })).status).toBe(200);
    expect(clock.sleeps).toEqual([3_600_000]);
  });

  it('retries a connection reset, then reports network_error', async () => {
    const flaky = await stub((req, res, n) => (n === 1 ? req.socket.destroy() : json(res, 200, { ok: 1 })));
    const c1 = client(flaky.url);
    expect((await c1.request(get(flaky.url))).status).toBe(200);
    expect(c1.stats()).toMatchObject({ requests: 2, retries: 1 });

    const dead = await stub((req) => req.socket.destroy());
    const c2 = client(dead.url, { maxRetries: 1 });
    const error = await c2.request(get(dead.url, '/2.0/workspaces/acme')).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'network_error', retryable: true, endpoint: '/2.0/workspaces/acme' });
    expect(dead.hits()).toBe(2);
  });

  it('times out a request that never answers', async () => {
    const s = await stub(() => {
      /* never answers */
    });
    const c = client(s.url, { timeoutMs: 150, maxRetries: 1 });
    const error = await c.request(get(s.url)).catch((e: unknown) => e);
    // What proves the timeout: the error says so, and each attempt was given up and retried once
    // (a request that hung forever would make the test time out instead).
    expect(error).toMatchObject({ code: 'network_error' });
    expect(String((error as Error).message)).toMatch(/timeout/i);
    expect(s.hits()).toBe(2);
    expect(c.stats()).toMatchObject({ requests: 2, retries: 1 });
  });

  it('refuses hosts the client is not bound to and never sends the credential there', async () => {
    const mine = await stub((_req, res) => json(res, 200, {}));
    const other = await stub((_req, res) => json(res, 200, {}));
    const c = client(mine.url);
    const error = await c.request({ ...get(other.url), headers: () => ({ authorization: 'Bearer secret-token-value' }) }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'malformed_response' });
    expect(other.hits()).toBe(0);
  });

  it('keeps at most `concurrency` requests in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    const s = await stub((_req, res) => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      setTimeout(() => {
        inFlight -= 1;
        json(res, 200, {});
      }, 20);
    });
    const c = client(s.url, { concurrency: 2 });
    await Promise.all(Array.from({ length: 8 }, () => c.request(get(s.url))));
    expect(peak).toBe(2);
    expect(c.stats().requests).toBe(8);
  });

  it('fetches the headers per attempt, so a renewed credential is used on retry', async () => {
    const seen: string[] = [];
    const s = await stub((req, res, n) => {
      seen.push(String(req.headers.authorization));
      if (n === 1) json(res, 502, {});
      else json(res, 200, {});
    });
    let i = 0;
    const c = client(s.url);
    await c.request({ ...get(s.url), headers: () => ({ authorization: `Bearer t${++i}` }) });
    expect(seen).toEqual(['Bearer t1', 'Bearer t2']);
  });

  it('stops at once when the caller aborts', async () => {
    const s = await stub((_req, res) => json(res, 503, {}));
    const controller = new AbortController();
    const c = client(s.url, {
      clock: {
        now: () => 0,
        sleep: (_ms, signal) => {
          controller.abort(new Error('stop'));
          return Promise.reject(signal?.reason);
        },
      },
    });
    const error = await c.request({ ...get(s.url), signal: controller.signal }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'sync_aborted' });
  });
});
