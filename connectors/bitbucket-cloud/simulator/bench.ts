/**
 * Simulator figures for `npm run bench`: start-up time per profile (in process: generation and
 * listen), and requests per second over real HTTP against a server in a child process (keep-alive
 * pool, fixed concurrency, a sync-like mix of endpoints with the admin API token, no rate limit).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { startSimulator } from './server.ts';
import type { SimCredentials, SimProfile } from './types.ts';

export interface BenchOptions {
  /** Profiles to time start-up for. Default small, medium, large. */
  profiles?: SimProfile[];
  /** Profile the throughput run serves. Default large. */
  loadProfile?: SimProfile;
  /** Measured duration of the throughput run. Default 5000 ms (after a 1000 ms warm-up). */
  durationMs?: number;
  /** Requests in flight. Default 16. */
  concurrency?: number;
}

export interface BenchResult {
  startupMs: Partial<Record<SimProfile, number>>;
  loadProfile: SimProfile;
  concurrency: number;
  /**
   * A cold full-sync walk: every repository page (pagelen=100), then every repository's user and
   * group permissions and deploy keys, each URL once, against a freshly started server.
   */
  syncWalk: { requests: number; seconds: number; requestsPerSecond: number; errors: number };
  /** The timed mixed run (warm): listings, permission listings, deploy keys, effective permissions. */
  durationMs: number;
  requests: number;
  errors: number;
  requestsPerSecond: number;
  megabytesPerSecond: number;
  latencyMs: { p50: number; p95: number; p99: number };
}

export async function benchSimulator(opts: BenchOptions = {}): Promise<BenchResult> {
  const profiles = opts.profiles ?? ['small', 'medium', 'large'];
  const loadProfile = opts.loadProfile ?? 'large';
  const durationMs = opts.durationMs ?? 5000;
  const concurrency = opts.concurrency ?? 16;

  const startupMs: Partial<Record<SimProfile, number>> = {};
  const repoSlugs: string[] = [];
  for (const profile of profiles) {
    const t0 = performance.now();
    const sim = await startSimulator({ profile, rateLimit: false });
    startupMs[profile] = Math.round(performance.now() - t0);
    if (profile === loadProfile) repoSlugs.push(...sim.truth.repositories().map((r) => r.slug));
    await sim.close();
  }
  if (repoSlugs.length === 0) {
    const sim = await startSimulator({ profile: loadProfile, rateLimit: false });
    repoSlugs.push(...sim.truth.repositories().map((r) => r.slug));
    await sim.close();
  }

  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./main.ts', import.meta.url)), '--profile', loadProfile, '--rate-limit', 'off'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const line = await firstLine(child.stdout);
    const info = JSON.parse(line) as { baseUrl: string; workspace: string; credentials: SimCredentials };
    const { email, token } = info.credentials.adminApiToken;
    const authorization = `Basic ${Buffer.from(`${email}:${token}`).toString('base64')}`;
    const ws = info.workspace;
    const pool = new Pool(info.baseUrl, { connections: concurrency, pipelining: 1, keepAliveTimeout: 30_000 });
    let seq = 0;
    const nextPath = (): string => {
      const i = seq++;
      const slug = repoSlugs[(i * 7919) % repoSlugs.length] as string;
      const pages = Math.ceil(repoSlugs.length / 100);
      switch (i % 10) {
        case 0:
        case 1:
        case 2:
          return `/2.0/repositories/${ws}?pagelen=100&page=${(i % pages) + 1}`;
        case 3:
        case 4:
        case 5:
          return `/2.0/repositories/${ws}/${slug}/permissions-config/users`;
        case 6:
        case 7:
          return `/2.0/repositories/${ws}/${slug}/permissions-config/groups`;
        case 8:
          return `/2.0/repositories/${ws}/${slug}/deploy-keys`;
        default:
          return `/2.0/workspaces/${ws}/permissions/repositories?pagelen=100&page=${(i % 50) + 1}`;
      }
    };

    const run = async (ms: number, record: boolean): Promise<{ requests: number; errors: number; bytes: number; latencies: number[] }> => {
      const deadline = performance.now() + ms;
      const out = { requests: 0, errors: 0, bytes: 0, latencies: [] as number[] };
      const worker = async (): Promise<void> => {
        while (performance.now() < deadline) {
          const t0 = performance.now();
          const res = await pool.request({ method: 'GET', path: nextPath(), headers: { authorization } });
          const body = await res.body.arrayBuffer();
          if (!record) continue;
          out.requests++;
          out.bytes += body.byteLength;
          if (res.statusCode !== 200) out.errors++;
          out.latencies.push(performance.now() - t0);
        }
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
      return out;
    };

    // Cold walk first, so nothing is cached yet.
    const walk = [
      ...Array.from({ length: Math.ceil(repoSlugs.length / 100) }, (_, i) => `/2.0/repositories/${ws}?pagelen=100&page=${i + 1}`),
      ...repoSlugs.flatMap((slug) => [`/2.0/repositories/${ws}/${slug}/permissions-config/users`, `/2.0/repositories/${ws}/${slug}/permissions-config/groups`, `/2.0/repositories/${ws}/${slug}/deploy-keys`]),
    ];
    let walkErrors = 0;
    let cursor = 0;
    const w0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (cursor < walk.length) {
          const path = walk[cursor++] as string;
          const res = await pool.request({ method: 'GET', path, headers: { authorization } });
          await res.body.arrayBuffer();
          if (res.statusCode !== 200) walkErrors++;
        }
      }),
    );
    const walkSeconds = (performance.now() - w0) / 1000;
    const syncWalk = { requests: walk.length, seconds: Math.round(walkSeconds * 100) / 100, requestsPerSecond: Math.round(walk.length / walkSeconds), errors: walkErrors };

    await run(1000, false);
    const t0 = performance.now();
    const m = await run(durationMs, true);
    const elapsed = (performance.now() - t0) / 1000;
    await pool.close();
    m.latencies.sort((a, b) => a - b);
    const pct = (p: number): number => Math.round((m.latencies[Math.min(m.latencies.length - 1, Math.floor(m.latencies.length * p))] ?? 0) * 100) / 100;
    return {
      startupMs,
      loadProfile,
      concurrency,
      syncWalk,
      durationMs,
      requests: m.requests,
      errors: m.errors,
      requestsPerSecond: Math.round(m.requests / elapsed),
      megabytesPerSecond: Math.round((m.bytes / elapsed / 1e6) * 10) / 10,
      latencyMs: { p50: pct(0.5), p95: pct(0.95), p99: pct(0.99) },
    };
  } finally {
    child.kill('SIGTERM');
  }
}

function firstLine(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (chunk: Buffer | string): void => {
      buf += chunk.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        stream.off('data', onData);
        resolve(buf.slice(0, nl));
      }
    };
    stream.on('data', onData);
    stream.once('end', () => reject(new Error(`simulator exited before printing its address: ${buf}`)));
  });
}
