/**
 * The simulator on its own: how long a profile takes to start (generate the workspace, listen) and
 * how many requests per second it serves over keep-alive connections, on the listings a sync spends
 * most of its requests on — repository pages and per-repository permission listings. Measured on a
 * simulator of its own, so these requests never count against a sync's figures.
 */
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import type { SimProfile } from '../test/sim/types.ts';
import { startSimProcess } from './sim-process.ts';

export interface SimProbeLoad {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  /** Mean response body, bytes. */
  meanBytes: number;
  /** Responses other than 200: must be zero. */
  failures: number;
}

export interface SimProbeResult {
  profile: SimProfile;
  startMs: number;
  concurrency: number;
  /** Per-repository permission and deploy-key listings: two thirds of a sync's requests. */
  listings: SimProbeLoad;
  /** Whole repository pages at pagelen 100, untrimmed (~250 KB each). */
  pages: SimProbeLoad;
}

export async function probeSimulator(profile: SimProfile, seed: number, requests: number, concurrency = 8): Promise<SimProbeResult> {
  const started = performance.now();
  const sim = await startSimProcess(profile, seed);
  const startMs = performance.now() - started;
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 30_000 });
  const { baseUrl, workspace, email, token } = sim.endpoint;
  const authorization = `Basic ${Buffer.from(`${email}:${token}`).toString('base64')}`;
  const get = async (path: string): Promise<{ status: number; text: string }> => {
    const response = await request(`${baseUrl}${path}`, { dispatcher: agent, headers: { authorization } });
    return { status: response.statusCode, text: await response.body.text() };
  };
  const load = async (paths: string[]): Promise<SimProbeLoad> => {
    let next = 0;
    let failures = 0;
    let bytes = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < paths.length) {
          const response = await get(paths[next++] as string);
          bytes += Buffer.byteLength(response.text);
          if (response.status !== 200) failures++;
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    return { requests: paths.length, seconds, requestsPerSecond: paths.length / seconds, meanBytes: bytes / paths.length, failures };
  };
  try {
    const first = await get(`/2.0/repositories/${workspace}?pagelen=100&fields=size,values.slug`);
    if (first.status !== 200) throw new Error(`simulator probe: HTTP ${first.status} listing repositories`);
    const page = JSON.parse(first.text) as { size: number; values: Array<{ slug: string }> };
    const pages = Math.max(1, Math.ceil(page.size / 100));
    const slugs = page.values.map((v) => encodeURIComponent(v.slug));
    const listings = await load(
      Array.from({ length: requests }, (_, i) => `/2.0/repositories/${workspace}/${slugs[(i >> 1) % slugs.length] ?? ''}/${i % 2 === 0 ? 'permissions-config/users?pagelen=100' : 'deploy-keys?pagelen=100'}`),
    );
    const fullPages = await load(Array.from({ length: Math.ceil(requests / 5) }, (_, i) => `/2.0/repositories/${workspace}?pagelen=100&page=${(i % pages) + 1}`));
    return { profile, startMs, concurrency, listings, pages: fullPages };
  } finally {
    await agent.close();
    await sim.close();
  }
}
