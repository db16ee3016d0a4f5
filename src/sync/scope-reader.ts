import { ConnectorError, RosterError, isRunFatal } from '../errors.ts';
import type { Batch, Scope, StreamContext, StreamDeclaration } from '../interfaces.ts';
import { type Logger, scrubSecrets } from '../log.ts';
import type { CheckpointWriter } from './checkpoint-writer.ts';
import type { EngineEvent } from './contract.ts';
import { toRosterError } from './run-errors.ts';

/**
 * A scope holding more staged records than this writes them before it ends (see
 * `CheckpointWriter.writePartial`). Small, so staged records die young instead of filling the old
 * generation: a full sync of the bench's `enterprise` workspace (its effective-permissions listing
 * alone is 2.47 million rows) peaked at 1,060–1,112 MiB RSS at 20,000, 979–1,026 MiB at 5,000 and
 * 933–958 MiB at 2,000, for about 8 % more time reading (all well under the 5-minute target).
 */
export const SPILL_RECORDS = 2_000;

/**
 * What stops the whole run, not just one scope: the first run-fatal error any scope met (a revoked
 * credential, the budget spent, an interruption, a failed write).
 */
export class RunStop {
  reason: RosterError | null = null;

  record(error: RosterError): void {
    this.reason ??= error;
  }
}

export interface ScopeReaderOptions {
  ctx: StreamContext;
  /** The run's own controller: aborting it stops every listing under way. */
  abort: AbortController;
  stop: RunStop;
  writer: CheckpointWriter;
  spillRecords: number;
  emit: (event: EngineEvent) => void;
  log: Logger;
}

/**
 * Reads one scope to its end and queues it for the checkpoint writer: complete with its records, or
 * failed / not covered with the reason and the fix — a scope that could not be read removes nothing.
 * A run-fatal error is recorded in `stop` instead, and the scope gets no row (a resumed run reads it).
 */
export async function readScope(o: ScopeReaderOptions, stream: StreamDeclaration, scope: Scope): Promise<void> {
  const { abort, stop, writer, emit } = o;
  if (stop.reason || abort.signal.aborted) return;
  emit({ type: 'scope-start', scope });
  let batches: Batch[] = [];
  let staged = 0;
  let items = 0;
  let pages = 0;
  // Partial writes of this scope not yet confirmed, oldest first: reading goes on while one is written.
  const spilled: Array<Promise<void>> = [];
  try {
    for await (const batch of stream.read(scope, o.ctx)) {
      batches.push(batch);
      const n = countItems(batch);
      items += n;
      staged += n;
      pages++;
      if (abort.signal.aborted) throw abort.signal.reason ?? new RosterError('sync_aborted', 'The sync was interrupted.');
      if (staged >= o.spillRecords) {
        const write = writer.writePartial(scope.id, batches);
        // Awaited below; until then a failure must not count as unhandled.
        write.catch(() => {});
        spilled.push(write);
        batches = [];
        staged = 0;
        // Backpressure: at most one partial write of this scope waits behind the one being written.
        if (spilled.length > 1) await spilled.shift();
      }
    }
    // The scope is complete only once everything it spilled is written (a failed write fails it).
    await Promise.all(spilled);
    writer.add({ scope, status: 'complete', staged: { scopeId: scope.id, batches }, items, pages, error: null }, staged);
    emit({ type: 'scope-end', scope, status: 'complete', items, pages });
  } catch (error) {
    const err = toRosterError(error);
    if (err.code === 'budget_exhausted' && !abort.signal.aborted) {
      // Out of budget: start nothing new, but let the listings under way finish and commit, so
      // the resumed run does not read them again.
      stop.record(err);
      return;
    }
    if (isRunFatal(err) || abort.signal.aborted) {
      stop.record(err);
      abort.abort(err);
      return;
    }
    // A scope that could not be read removes nothing; it is recorded with the reason and the fix.
    const status = err instanceof ConnectorError && err.code === 'forbidden' ? 'not_covered' : 'failed';
    writer.add({ scope, status, staged: null, items: 0, pages, error: err });
    emit({ type: 'scope-end', scope, status, items: 0, pages });
    o.log.warn({ scope: scope.id, code: err.code, err: scrubSecrets(err.message) }, 'scope not read');
  }
  await writer.flush(false);
}

function countItems(batch: Batch): number {
  return (
    (batch.principals?.length ?? 0) +
    (batch.resources?.length ?? 0) +
    (batch.memberships?.length ?? 0) +
    (batch.grants?.length ?? 0) +
    (batch.reportedAccess?.length ?? 0) +
    (batch.referencedPrincipals?.length ?? 0) +
    (batch.referencedResources?.length ?? 0)
  );
}
