import type { ReconcileSetting } from '../interfaces.ts';
import type { Integration, SyncRun } from '../db/types.ts';
import type { Connector, ProgressEvent } from '../interfaces.ts';
import type { Logger } from '../log.ts';

/**
 * What callers of a sync run give and get back (`runSync` in runner.ts is the entry point). The
 * modules of the run — lifecycle, stream scheduler, scope reader, checkpoint writer, finalize,
 * summary — share these types and nothing else from each other's insides.
 */

export { CREDENTIAL_GAP } from '../interfaces.ts';

export type SyncMode = 'full' | 'incremental';

export interface SyncRequest {
  integration: Integration;
  /** `full` re-reads everything; `incremental` lets the connector filter listings since the last good run. */
  mode: SyncMode;
  trigger: 'manual' | 'schedule' | 'demo' | 'test';
  /** Builds the connector for this run (credentials are the caller's business). */
  connect: (hooks: { onProgress: (event: ProgressEvent) => void; logger: Logger }) => Promise<Connector>;
  /** Wait for another holder of the integration's lock instead of failing at once. */
  wait?: boolean;
  signal?: AbortSignal;
  onProgress?: (event: EngineEvent) => void;
  logger?: Logger;
  /** Scopes read concurrently (the connector bounds HTTP concurrency on its own). Default 16. */
  scopeConcurrency?: number;
  /** A scope staging more records than this writes them before it ends. Default 20,000. */
  spillRecords?: number;
  /**
   * For scheduled runs: the schedule slot. If a run of this integration already served this slot
   * (or a later one), this request is refused as `sync_locked`. Checked while holding the lock, and
   * the slot is unique per integration in the database, so two schedulers never both run one slot.
   */
  slot?: Date;
  /** `roster sync --reconcile`: overrides the integration's `reconcile` option for this run (see reconcile-cadence.ts). */
  reconcile?: ReconcileSetting;
}

export type EngineEvent =
  | ProgressEvent
  | { type: 'run-start'; runId: string; resumed: boolean; mode: SyncMode }
  | { type: 'stream-start'; stream: string; scopes: number }
  | { type: 'stream-gap'; stream: string; reason: string }
  | { type: 'flush'; scopes: number; ms: number }
  | { type: 'finalize'; step: string };

export interface SyncOutcome {
  runId: string;
  status: SyncRun['status'];
  summary: string;
  resumed: boolean;
  resumeAfter: Date | null;
  error: { code: string; message: string } | null;
}
