/**
 * The simulator in a child process of its own (`sim-main.ts`), so its memory and CPU do not
 * count against the Roster process being measured. Control goes through its `/__sim/…` surface,
 * which is neither rate-limited nor counted in its request stats.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SimCredentials, SimMutations, SimProfile, SimStats, TruthSummary } from '../connectors/bitbucket-cloud/simulator/types.ts';
import type { SimEndpoint } from './types.ts';

const SIM_MAIN = fileURLToPath(new URL('./sim-main.ts', import.meta.url));

export interface SimProcess {
  profile: SimProfile;
  endpoint: SimEndpoint;
  pid: number;
  stats(): Promise<SimStats>;
  summary(): Promise<TruthSummary>;
  /** A ground-truth list (`projects`, `repoUserGrants`, …) as the simulator serves it. */
  truth<T>(name: string): Promise<T[]>;
  mutate<K extends keyof SimMutations>(op: K, ...args: Parameters<SimMutations[K]>): Promise<ReturnType<SimMutations[K]>>;
  /** `size` of the first page of a 2.0 listing (one counted, unthrottled request with the admin token). */
  listingSize(path: string): Promise<number>;
  close(): Promise<void>;
}

export async function startSimProcess(profile: SimProfile, seed = 1): Promise<SimProcess> {
  // No rate limit: the rate-limited runs use an in-process simulator on an accelerated clock.
  // The enterprise workspace's truth, page cache and effective permissions outgrow Node's default heap.
  const child = spawn(process.execPath, ['--max-old-space-size=12288', '--import', 'tsx', SIM_MAIN, '--profile', profile, '--seed', String(seed)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let line: string;
  try {
    line = await firstLine(child);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const info = JSON.parse(line) as { baseUrl: string; workspace: string; credentials: SimCredentials };
  const admin = info.credentials.adminApiToken;
  const endpoint: SimEndpoint = { baseUrl: info.baseUrl, workspace: info.workspace, email: admin.email, token: admin.token };
  const control = async <T>(path: string, init?: { method: string; body: unknown }): Promise<T> => {
    const response = await fetch(`${info.baseUrl}${path}`, init ? { method: init.method, body: JSON.stringify(init.body), headers: { 'content-type': 'application/json' } } : undefined);
    const text = await response.text();
    if (!response.ok) throw new Error(`simulator ${path}: HTTP ${response.status} ${text.slice(0, 200)}`);
    return JSON.parse(text) as T;
  };
  return {
    profile,
    endpoint,
    pid: child.pid ?? -1,
    stats: () => control<SimStats>('/__sim/stats'),
    summary: async () => (await control<{ summary: TruthSummary }>('/__sim/truth')).summary,
    truth: <T>(name: string) => control<T[]>(`/__sim/truth/${name}`),
    mutate: async (op, ...args) => (await control<{ result: never }>('/__sim/mutate', { method: 'POST', body: { op, args } })).result,
    listingSize: async (path: string) => {
      const url = `${info.baseUrl}/2.0${path}${path.includes('?') ? '&' : '?'}pagelen=1`;
      const response = await fetch(url, { headers: { authorization: `Basic ${Buffer.from(`${admin.email}:${admin.token}`).toString('base64')}` } });
      const body = (await response.json()) as { size?: number };
      if (!response.ok || typeof body.size !== 'number') throw new Error(`simulator ${path}: HTTP ${response.status}, no size`);
      return body.size;
    },
    close: () => stopChild(child),
  };
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString('utf8');
      const newline = buffer.indexOf('\n');
      if (newline >= 0) {
        child.stdout?.off('data', onData);
        child.off('exit', onExit);
        resolve(buffer.slice(0, newline));
      }
    };
    const onExit = (code: number | null): void => reject(new Error(`simulator exited (code ${code}) before printing its address`));
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

/** SIGTERM, then SIGKILL if it has not exited within 10 s. Only ever this child, by its handle. */
export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
