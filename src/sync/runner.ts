import type { RosterDatabase } from '../db/index.ts';
import { RosterError } from '../errors.ts';
import type { SyncOutcome, SyncRequest } from './contract.ts';
import { attemptSync } from './lifecycle.ts';

/**
 * The entry point of a sync run. The run itself is split by concern:
 *
 *   lifecycle.ts         lock wait, the run row from start or resume to its end, pause and interruption
 *   stream-scheduler.ts  streams in dependency order, scopes `scopeConcurrency` at a time
 *   scope-reader.ts      one scope read to its end (spilling huge ones), what stops the run
 *   checkpoint-writer.ts batches of completed scopes with their checkpoint rows, one bad record fails one scope
 *   finalize.ts          removals, versions, effective access, reconciliation, counts
 *   summary.ts           the run's prose
 *   sql/                 the statements, one small module per table or purpose
 */

export { CREDENTIAL_GAP, type EngineEvent, type SyncMode, type SyncOutcome, type SyncRequest } from './contract.ts';

/**
 * Runs one sync of one integration. Never throws for source failures: the outcome and the run row
 * say what happened. Throws `sync_locked` when another process holds the integration (or the
 * request's schedule slot was already served), and `sync_aborted` when interrupted while waiting
 * for the lock — the lifecycle returns these as outcomes; callers have always caught them as errors.
 */
export async function runSync(handle: RosterDatabase, request: SyncRequest): Promise<SyncOutcome> {
  const attempt = await attemptSync(handle, request);
  switch (attempt.kind) {
    case 'ran':
      return attempt.outcome;
    case 'locked':
      throw new RosterError('sync_locked', attempt.message, { retryable: true });
    case 'slot_served':
      throw new RosterError('sync_locked', attempt.message, { retryable: false });
    case 'wait_interrupted':
      throw new RosterError('sync_aborted', attempt.message);
  }
}
