/**
 * `npm run bench -- --smoke` end to end, so the benchmark cannot rot: every section runs, and the
 * numbers it prints are sane. No timings are asserted here — those belong to the bench itself.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type BenchReport, SECTIONS, type SectionId } from '../../bench/figures.ts';
import type { RequestBreakdown } from '../../bench/minimum.ts';
import type { ReplicaRoundResult } from '../../bench/replicas.ts';
import type { IngestResult, RateLimitedResult, FloorRunResult, ReportRunResult, SyncResult, WorkerOutput } from '../../bench/types.ts';
import { testDbKind } from '../helpers/db.ts';
import type { BenchResult as SimBenchResult } from '../../connectors/bitbucket-cloud/simulator/bench.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const kind = testDbKind();
const serverUrl = inject('serverUrl');
const skip = kind === 'server' && !serverUrl;

(skip ? describe.skip : describe)(`npm run bench -- --smoke [${kind}${skip ? ': no server, skipped' : ''}]`, () => {
  let dir: string;
  let stdout = '';
  let stderr = '';
  let exitCode: number | null = null;
  let report: BenchReport;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-bench-smoke-'));
    const json = path.join(dir, 'bench.json');
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--smoke', '--db', kind, '--json', json], {
      cwd: ROOT,
      env: { ...process.env, ...(serverUrl ? { BENCH_DATABASE_URL: serverUrl } : {}), ROSTER_LOG_LEVEL: 'error' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    exitCode = await new Promise<number | null>((resolve) => child.once('close', resolve));
    if (exitCode === 0) report = JSON.parse(readFileSync(json, 'utf8')) as BenchReport;
  }, 300_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const raw = <T>(key: string): T => {
    const value = report.raw[key];
    if (value === undefined) throw new Error(`no raw result ${key}; have ${Object.keys(report.raw).join(', ')}`);
    return value as T;
  };

  it('finishes and prints every section with its table', () => {
    expect(exitCode, stderr.slice(-4000)).toBe(0);
    for (const title of Object.values(SECTIONS)) expect(stdout).toContain(title);
    expect(stdout).toMatch(/targets met, \d+ missed/);
    expect(report.mode).toBe('smoke');
    for (const id of Object.keys(SECTIONS) as SectionId[]) {
      expect(report.figures.filter((f) => f.section === id).length, id).toBeGreaterThan(0);
    }
    for (const f of report.figures) {
      expect(f.value, f.label).not.toMatch(/NaN|Infinity|undefined/);
      if (f.target) expect(['pass', 'miss'], f.label).toContain(f.status);
    }
  });

  it('simulator: starts, and serves the sync walk and the warm mix with nothing but 200s', () => {
    const sim = raw<SimBenchResult>('simulator');
    expect(sim.startupMs.small).toBeGreaterThan(0);
    expect(sim.syncWalk.requests).toBeGreaterThan(8);
    expect(sim.syncWalk.errors).toBe(0);
    expect(sim.requests).toBeGreaterThan(0);
    expect(sim.errors).toBe(0);
  });

  it('requests: never fewer than the minimum, and the run row agrees with the simulator', () => {
    const minimum = raw<RequestBreakdown>('minimum:small');
    const full = raw<WorkerOutput<SyncResult>>(`sync-full:small:${kind}`);
    expect(full.result.status).toBe('succeeded');
    expect(minimum.total).toBeGreaterThan(10);
    const ratio = full.result.apiRequests / minimum.total;
    expect(ratio).toBeGreaterThanOrEqual(1);
    expect(report.figures.find((f) => f.label === 'small: requests Roster made / minimum')?.value).toContain('sync_runs = simulator');
    expect(full.peakRssMb).toBeGreaterThanOrEqual(full.openRssMb);
    expect(full.openRssMb).toBeGreaterThan(0);
  });

  it('incremental: reads the change and makes no more requests than a full sync', () => {
    const full = raw<WorkerOutput<SyncResult>>(`sync-full:small:${kind}`);
    const incremental = raw<WorkerOutput<SyncResult>>(`sync-incremental:small:${kind}`);
    expect(incremental.result.status).toBe('succeeded');
    expect(incremental.result.apiRequests).toBeGreaterThan(0);
    expect(incremental.result.apiRequests).toBeLessThanOrEqual(full.result.apiRequests);
    expect(incremental.result.added.grants).toBeGreaterThanOrEqual(2);
  });

  it('rate-limited: paced, no 429, not faster than an empty window allows', () => {
    const key = Object.keys(report.raw).find((k) => k.startsWith('rate-limited:small@10:'));
    expect(key).toBeDefined();
    const r = raw<WorkerOutput<RateLimitedResult>>(key as string).result;
    expect(r.status).toBe('succeeded');
    expect(r.responses429).toBe(0);
    expect(r.requests).toBe(r.simRequests);
    expect(r.rateLimitWaits).toBeGreaterThan(0);
    // With 10 requests an hour, the last of r.requests cannot go out before this many hours.
    expect(r.simHoursToLastRequest).toBeGreaterThanOrEqual(Math.ceil(r.requests / 10) - 1);
  });

  it('more than one machine: on the server, each replica count syncs every slot exactly once, none failed, within each cap', () => {
    if (kind === 'embedded') {
      // The embedded database is single-process: the section says so instead of measuring.
      expect(report.figures.find((f) => f.section === 'replicas')?.value).toContain('replicas need the PostgreSQL server');
      return;
    }
    for (const k of [1, 2]) {
      const r = raw<ReplicaRoundResult>(`replicas:${k}`);
      expect(r.replicas).toBe(k);
      expect(r.timedOut).toBe(false);
      expect(Object.values(r.runsPerIntegration)).toEqual([1, 1, 1, 1]);
      expect(r.allRuns).toBe(4);
      expect(r.notSucceeded).toBe(0);
      expect(r.runsPerReplica).toHaveLength(k);
      expect(r.runsPerReplica.reduce((a, b) => a + b, 0)).toBe(4);
      for (const n of r.maxAtOncePerReplica) expect(n).toBeLessThanOrEqual(r.maxConcurrentSyncs);
      expect(r.wallSeconds).toBeGreaterThan(0);
    }
  });

  it('ingest and reports: rows went through', () => {
    const ingest = raw<WorkerOutput<IngestResult>>(`ingest:${kind}`).result;
    expect(ingest.loaderRowsPerSecond).toBeGreaterThan(0);
    expect(ingest.rawRowsPerSecond).toBeGreaterThan(0);
    for (const name of ['access-review', 'user-access']) {
      const out = raw<WorkerOutput<ReportRunResult>>(`report:${name}:small:${kind}`).result;
      expect(out.rows, name).toBeGreaterThan(10);
      expect(out.bytes, name).toBeGreaterThan(out.rows * 20);
      // The floor wrote the same rows: about as many bytes (its flags and labels are plainer).
      const floor = raw<WorkerOutput<FloorRunResult>>(`floor:${name}:small:${kind}`).result;
      expect(floor.bytes, name).toBeGreaterThan(out.bytes * 0.5);
      expect(floor.bytes, name).toBeLessThan(out.bytes * 1.5);
    }
  });
});
