/**
 * Section 9 of `npm run bench`: more than one machine. Several real `roster serve` processes
 * (replicas) against one fresh PostgreSQL database, the database their only coordinator: N
 * integrations, each on a simulator of its own (a different seed: the workspaces differ), all on one
 * schedule that fires once, a few seconds after the replicas are up. For K = 1, 2, 4 replicas: was
 * every slot synced exactly once, how long from the slot to the last run's end, the longest any
 * integration waited, how the runs spread over the replicas, and how many failed.
 *
 * The replicas share this machine's cores (and the simulators' and the server's): the wall time
 * shows what coordination costs, not how a fleet of machines scales.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SimProfile } from '../connectors/bitbucket-cloud/simulator/types.ts';
import { openDatabase } from '../src/db/index.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { createScratchDatabase } from './databases.ts';
import { type Figure, type SectionId, fmt } from './figures.ts';
import { BENCH_ENCRYPTION_KEY, ensureIntegration } from './scenarios.ts';
import { type SimProcess, startSimProcess, stopChild } from './sim-process.ts';

const ROSTER_BIN = fileURLToPath(new URL('../bin/roster.js', import.meta.url));

type AddFigure = (section: SectionId, label: string, value: string, target: string, status: Figure['status']) => void;

export interface ReplicasOptions {
  smoke: boolean;
  /** Replica counts to measure, e.g. [1, 2, 4]. */
  replicas: number[];
  /** Integrations (each with a simulator of its own). */
  integrations: number;
  profile: SimProfile;
  /** Each replica's `--max-concurrent-syncs`. */
  maxConcurrentSyncs: number;
  seed: number;
  url: string;
  log: (line: string) => void;
}

/** One run of the slot, as `sync_runs` has it. */
interface SlotRun {
  integration: string;
  status: string;
  holder: string | null;
  startedAt: number;
  finishedAt: number | null;
}

export interface ReplicaRoundResult {
  replicas: number;
  integrations: number;
  maxConcurrentSyncs: number;
  slot: string;
  /** From spawning the replicas to the last one serving. */
  startupSeconds: number;
  /** Replicas whose scheduler was up before the slot fired. */
  upBeforeSlot: number;
  /** Runs of the slot per integration (every integration, 0 included). */
  runsPerIntegration: Record<string, number>;
  /** Runs of any slot or none (a resume, a second run): should equal the runs of the slot. */
  allRuns: number;
  notSucceeded: number;
  /** Seconds from the slot to the last run's end (null: not every run finished in time). */
  wallSeconds: number | null;
  /** Seconds from the slot to each run's start (its queue wait included), longest first. */
  longestWaitSeconds: number;
  medianWaitSeconds: number;
  /** Runs per replica, by replica number (1…K), and the most any one ran at once. */
  runsPerReplica: number[];
  maxAtOncePerReplica: number[];
  timedOut: boolean;
  /** What a replica wrote to stderr at warn level or above (the last few lines), when it did. */
  replicaErrors: string[];
}

export async function replicasSection(options: ReplicasOptions, add: AddFigure, raw: Record<string, unknown>): Promise<void> {
  const { log } = options;
  log(`\n[more than one machine: ${options.integrations} ${options.profile} integrations, ${options.replicas.join(' / ')} roster serve replicas on the server]`);
  const sims: SimProcess[] = [];
  try {
    // Started a few at a time: twenty workspaces generated at once would only queue for the two cores.
    for (let i = 0; i < options.integrations; i += 4) {
      const batch = Array.from({ length: Math.min(4, options.integrations - i) }, (_, j) => startSimProcess(options.profile, options.seed + i + j));
      sims.push(...(await Promise.all(batch)));
    }
    const results: ReplicaRoundResult[] = [];
    for (const k of options.replicas) {
      const result = await replicaRound(options, sims, k);
      results.push(result);
      raw[`replicas:${k}`] = result;
      reportRound(result, results[0] ?? result, add);
    }
  } finally {
    await Promise.all(sims.map((s) => s.close()));
  }
}

function reportRound(r: ReplicaRoundResult, first: ReplicaRoundResult, add: AddFigure): void {
  const who = `${r.replicas} replica${r.replicas === 1 ? '' : 's'}`;
  const counts = Object.values(r.runsPerIntegration);
  const once = counts.filter((n) => n === 1).length;
  const twice = counts.filter((n) => n > 1).length;
  const never = counts.filter((n) => n === 0).length;
  const exactlyOnce = once === r.integrations && r.allRuns === r.integrations;
  add(
    'replicas',
    `${who}: every slot synced exactly once (${r.integrations} integrations, one slot)`,
    `${once} of ${r.integrations} once${twice ? `, ${twice} more than once` : ''}${never ? `, ${never} never` : ''}; ${r.allRuns} runs in all`,
    'each exactly once',
    exactlyOnce ? 'pass' : 'miss',
  );
  const ratio = r.wallSeconds !== null && first.wallSeconds ? ` = ${fmt.num(r.wallSeconds / first.wallSeconds, 2)} × one replica's` : '';
  add(
    'replicas',
    `${who}: wall time from the slot to the last run's end (${os.cpus().length} cores shared by the replicas, simulators and server: not expected to fall with more replicas)`,
    r.wallSeconds === null ? `not every run finished (timed out)` : `${fmt.s(r.wallSeconds * 1000)}${r.replicas === first.replicas ? '' : ratio}`,
    '',
    'info',
  );
  const allSynced = never === 0 && !r.timedOut;
  add(
    'replicas',
    `${who}: starvation — longest wait from the slot to a run's start (queue included), and every integration synced`,
    `longest ${fmt.s(r.longestWaitSeconds * 1000)}, median ${fmt.s(r.medianWaitSeconds * 1000)}; ${allSynced ? 'all synced' : `${never} never synced`}`,
    'all synced',
    allSynced ? 'pass' : 'miss',
  );
  const capped = r.maxAtOncePerReplica.every((n) => n <= r.maxConcurrentSyncs);
  add(
    'replicas',
    `${who}: runs per replica (sync_runs.holder), and the most one ran at once (--max-concurrent-syncs ${r.maxConcurrentSyncs})`,
    `${r.runsPerReplica.map((n, i) => `#${i + 1}: ${n} runs, ≤ ${r.maxAtOncePerReplica[i] ?? 0} at once`).join('; ')}${r.upBeforeSlot < r.replicas ? `; only ${r.upBeforeSlot} of ${r.replicas} were up before the slot` : ''}`,
    `≤ ${r.maxConcurrentSyncs} at once`,
    capped ? 'pass' : 'miss',
  );
  add(
    'replicas',
    `${who}: runs that did not succeed`,
    `${r.notSucceeded}${r.replicaErrors.length ? ` (replica stderr: ${r.replicaErrors.slice(-3).join(' | ').slice(0, 300)})` : ''}`,
    '0',
    r.notSucceeded === 0 && !r.timedOut ? 'pass' : 'miss',
  );
}

/** A cron expression (with seconds) that fires once, at `at` (UTC), and not again for a year. */
export function cronAt(at: Date): string {
  return `${at.getUTCSeconds()} ${at.getUTCMinutes()} ${at.getUTCHours()} ${at.getUTCDate()} ${at.getUTCMonth() + 1} *`;
}

async function replicaRound(options: ReplicasOptions, sims: SimProcess[], k: number): Promise<ReplicaRoundResult> {
  const { log } = options;
  const scratch = await createScratchDatabase('server', options.url);
  if (scratch.target.kind !== 'server') throw new Error('replicas need the server database');
  const url = scratch.target.url;
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'roster-bench-replicas-'));
  const replicas: Replica[] = [];
  try {
    // Enough time for K replicas to start (tsx, migrations checked, cron registered) on a busy machine.
    const leadMs = (options.smoke ? 4_000 : 8_000) + (options.smoke ? 2_000 : 3_000) * k;
    const slot = new Date(Math.ceil((Date.now() + leadMs) / 1000) * 1000);
    const handle = await openDatabase({ kind: 'server', url });
    const names = sims.map((_, i) => `replica-${String(i + 1).padStart(2, '0')}`);
    try {
      await migrateToLatest(handle.db);
      for (const [i, sim] of sims.entries()) await ensureIntegration(handle, names[i] as string, sim.endpoint, cronAt(slot));
    } finally {
      await handle.close();
    }
    const spawnedAt = Date.now();
    for (let i = 0; i < k; i++) replicas.push(startReplica(url, cwd, options.maxConcurrentSyncs));
    await Promise.all(replicas.map((r) => r.ready));
    const startupSeconds = (Math.max(...replicas.map((r) => r.readyAt ?? Date.now())) - spawnedAt) / 1000;
    const upBeforeSlot = replicas.filter((r) => (r.readyAt ?? Infinity) < slot.getTime()).length;
    log(`  ${k} replica${k === 1 ? '' : 's'} up (pids ${replicas.map((r) => r.child.pid).join(', ')}); slot ${slot.toISOString()} in ${fmt.s(Math.max(0, slot.getTime() - Date.now()))}`);

    const timeoutMs = (options.smoke ? 3 : 30) * 60_000;
    const deadline = slot.getTime() + timeoutMs;
    let runs: SlotRun[] = [];
    let timedOut = false;
    const watch = await openDatabase({ kind: 'server', url, poolSize: 1 });
    try {
      for (;;) {
        runs = await slotRuns(watch, slot);
        const finished = runs.filter((r) => r.finishedAt !== null && r.status !== 'running' && r.status !== 'paused');
        if (new Set(finished.map((r) => r.integration)).size >= names.length) break;
        if (Date.now() > deadline) {
          timedOut = true;
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const allRuns = Number((await watch.db.selectFrom('sync_runs').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);
      await Promise.all(replicas.map((r) => stopChild(r.child)));
      const pidOf = (holder: string | null): number => Number(holder?.split(':').at(-1));
      const replicaIndex = (run: SlotRun): number => replicas.findIndex((r) => r.child.pid === pidOf(run.holder));
      const waits = runs.map((r) => (r.startedAt - slot.getTime()) / 1000).sort((a, b) => b - a);
      const ends = runs.map((r) => r.finishedAt);
      const result: ReplicaRoundResult = {
        replicas: k,
        integrations: names.length,
        maxConcurrentSyncs: options.maxConcurrentSyncs,
        slot: slot.toISOString(),
        startupSeconds,
        upBeforeSlot,
        runsPerIntegration: Object.fromEntries(names.map((n) => [n, runs.filter((r) => r.integration === n).length])),
        allRuns,
        notSucceeded: runs.filter((r) => r.status !== 'succeeded').length,
        wallSeconds: timedOut || ends.some((e) => e === null) ? null : (Math.max(...(ends as number[])) - slot.getTime()) / 1000,
        longestWaitSeconds: waits[0] ?? 0,
        medianWaitSeconds: waits[Math.floor(waits.length / 2)] ?? 0,
        runsPerReplica: replicas.map((_, i) => runs.filter((r) => replicaIndex(r) === i).length),
        maxAtOncePerReplica: replicas.map((_, i) => maxOverlap(runs.filter((r) => replicaIndex(r) === i))),
        timedOut,
        replicaErrors: replicas.flatMap((r) => r.problems()),
      };
      log(`  ${k}: ${result.wallSeconds === null ? 'timed out' : `last run ended ${fmt.s(result.wallSeconds * 1000)} after the slot`}; runs per replica ${result.runsPerReplica.join(' / ')}; ${result.notSucceeded} not succeeded`);
      return result;
    } finally {
      await watch.close();
    }
  } finally {
    await Promise.all(replicas.map((r) => stopChild(r.child)));
    rmSync(cwd, { recursive: true, force: true });
    await scratch.drop().catch((error: unknown) => log(`  (could not drop scratch database: ${String(error)})`));
  }
}

async function slotRuns(handle: Awaited<ReturnType<typeof openDatabase>>, slot: Date): Promise<SlotRun[]> {
  const rows = await handle.db
    .selectFrom('sync_runs')
    .innerJoin('integrations', 'integrations.id', 'sync_runs.integration_id')
    .select(['integrations.name', 'sync_runs.status', 'sync_runs.holder', 'sync_runs.started_at', 'sync_runs.finished_at'])
    .where('sync_runs.slot', '=', slot)
    .execute();
  return rows.map((r) => ({ integration: r.name, status: r.status, holder: r.holder, startedAt: r.started_at.getTime(), finishedAt: r.finished_at?.getTime() ?? null }));
}

/** The most runs whose [start, end] intervals overlap at one moment. */
export function maxOverlap(runs: Array<{ startedAt: number; finishedAt: number | null }>): number {
  const edges = runs.flatMap((r) => [
    { at: r.startedAt, d: 1 },
    { at: r.finishedAt ?? Number.POSITIVE_INFINITY, d: -1 },
  ]);
  // An end and a start at the same instant do not overlap: ends first.
  edges.sort((a, b) => a.at - b.at || a.d - b.d);
  let now = 0;
  let max = 0;
  for (const e of edges) max = Math.max(max, (now += e.d));
  return max;
}

interface Replica {
  child: ChildProcess;
  /** Resolves once the replica printed that it is serving (its cron tasks are registered by then). */
  ready: Promise<void>;
  readyAt: number | null;
  /** Its stderr lines that say something went wrong (warnings and errors of its log, refusals). */
  problems(): string[];
}

/** A real `roster serve` (bin/roster.js) on the scratch database, in an empty directory (no config file). */
function startReplica(url: string, cwd: string, maxConcurrentSyncs: number): Replica {
  const child = spawn(process.execPath, [ROSTER_BIN, 'serve', '--port', '0', '--max-concurrent-syncs', String(maxConcurrentSyncs)], {
    cwd,
    env: { PATH: process.env.PATH, DATABASE_URL: url, ROSTER_ENCRYPTION_KEY: BENCH_ENCRYPTION_KEY, ROSTER_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const replica: Replica = {
    child,
    readyAt: null,
    ready: new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8');
        if (replica.readyAt === null && stdout.includes('roster serve: status at')) {
          replica.readyAt = Date.now();
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`roster serve exited (code ${code}) before it was up: ${stderr.slice(-2000)}`)));
    }),
    problems: () =>
      stderr
        .split('\n')
        .filter((l) => /"level":(40|50|60)|^roster:/.test(l))
        .slice(-5),
  };
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-50_000);
  });
  // A rejection after the round gave up on it must not go unhandled.
  replica.ready.catch(() => {});
  return replica;
}
