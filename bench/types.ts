/**
 * The benchmark's contract between the driver (`run.ts`) and the workers (`worker.ts`): what a
 * scenario is asked to do, and what it reports back. Every measured scenario runs in a child process
 * of its own, so its peak RSS is its own (the simulator runs in yet another process).
 */
import type { SimProfile } from '../connectors/bitbucket-cloud/simulator/types.ts';

export type DbKind = 'embedded' | 'server';

/** Where a worker finds its database: a server URL, or an embedded data directory (shared between workers, one at a time). */
export type BenchDbTarget = { kind: 'server'; url: string } | { kind: 'embedded'; dataDir: string };

/** What a worker needs to reach a simulator running in another process. */
export interface SimEndpoint {
  baseUrl: string;
  workspace: string;
  email: string;
  token: string;
}

export type Scenario =
  /** Creates the schema, as `roster migrate` would before the first sync (PGlite's initdb is not a sync's cost). */
  | { kind: 'prepare'; db: BenchDbTarget }
  | { kind: 'sync'; db: BenchDbTarget; sim: SimEndpoint; mode: 'full' | 'incremental'; integration: string }
  | { kind: 'report'; db: BenchDbTarget; report: string }
  /** The floor of an access report: a plain COPY of the same rows, columns and order (bench/floor.ts). */
  | { kind: 'floor'; db: BenchDbTarget; report: 'access-review' | 'user-access'; rounds: number }
  | { kind: 'ingest'; db: BenchDbTarget; rows: number; batch: number; rounds: number }
  /** `credentials`: the pool's size (API tokens of that many workspace owners, each its own allowance); `reconcile: off` skips Bitbucket's effective permissions. */
  | { kind: 'rate-limited'; db: BenchDbTarget; profile: SimProfile; budgetPerHour: number; speed: number; credentials?: number; reconcile?: 'always' | 'off' };

export interface SyncResult {
  runId: string;
  status: string;
  summary: string;
  /** `sync_runs.api_requests` of the run. */
  apiRequests: number;
  responses429: number;
  rateLimitWaits: number;
  wallMs: number;
  /** Of `wallMs`: from the start of finalization (history, effective access, reconciliation) to the end. */
  finalizeMs: number;
  effectiveAccessRows: number;
  grants: number;
  /** Rows first seen in this run, per table (`sync_runs.counts.added`). */
  added: Record<string, number>;
}

export interface ReportRunResult {
  report: string;
  rows: number;
  bytes: number;
  wallMs: number;
  warnings: number;
}

export interface FloorRunResult {
  report: string;
  /** Best of the rounds. */
  wallMs: number;
  bytes: number;
}

export interface IngestResult {
  rows: number;
  batch: number;
  rounds: number;
  /** Best round of each (the least disturbed by other load), rows per second. */
  loaderRowsPerSecond: number;
  rawRowsPerSecond: number;
  /** Every round, for the record. */
  loaderRounds: number[];
  rawRounds: number[];
}

export interface RateLimitedResult {
  profile: SimProfile;
  budgetPerHour: number;
  credentials: number;
  reconcile: 'always' | 'off';
  speed: number;
  status: string;
  requests: number;
  simRequests: number;
  responses429: number;
  rateLimitWaits: number;
  /** Simulated hours from the start of the run to the last API answer (pacing; processing is scaled by `speed` too). */
  simHoursToLastRequest: number;
  /** Simulated hours from the start to the end of the run, finalization included. */
  simHoursTotal: number;
  /** Real seconds of the whole run, and of finalization alone (a real deployment pays these unscaled). */
  realSeconds: number;
  finalizeRealSeconds: number;
}

export interface PrepareResult {
  migrated: boolean;
}

export type ScenarioResult = PrepareResult | SyncResult | ReportRunResult | FloorRunResult | IngestResult | RateLimitedResult;

/** The one line a worker prints on stdout, after the marker. */
export interface WorkerOutput<T extends ScenarioResult = ScenarioResult> {
  result: T;
  /** `process.resourceUsage().maxRSS`, in MiB: the worker's peak resident set. */
  peakRssMb: number;
  /** The same, right after the database was opened and before the scenario's work (Node, tsx and, embedded, PGlite). */
  openRssMb: number;
}

export const RESULT_MARKER = 'bench-result ';
