import { setMaxListeners } from 'node:events';
import type { Kysely } from 'kysely';
import pLimit from 'p-limit';
import { permissionModelOf } from '../connectors.ts';
import type { Database } from '../db/types.ts';
import { RosterError, isRunFatal } from '../errors.ts';
import type { Capabilities, Connector, Scope, StreamContext, StreamDeclaration } from '../interfaces.ts';
import type { Logger } from '../log.ts';
import { CheckpointWriter } from './checkpoint-writer.ts';
import type { EngineEvent, SyncRequest } from './contract.ts';
import type { LoadCounts } from './loader.ts';
import { errorLogFields, toRosterError } from './run-errors.ts';
import { RunStop, SPILL_RECORDS, readScope } from './scope-reader.ts';
import { liveResources, livePrincipals } from './sql/live-records.ts';
import { completedScopeIds, isListingComplete } from './sql/scope-rows.ts';
import type { ReconcileDecision } from './reconcile-cadence.ts';

export interface StreamRunOptions {
  db: Kysely<Database>;
  request: SyncRequest;
  connector: Connector;
  capabilities: Capabilities;
  runId: string;
  integrationId: string;
  /** Incremental runs: listings may be filtered to what changed since then. */
  since: Date | null;
  /** Added to as scopes commit. */
  loaded: LoadCounts;
  emit: (event: EngineEvent) => void;
  log: Logger;
  /** After every committed batch (request figures and heartbeat on the run row). */
  afterBatch: () => Promise<void>;
  /** Whether the source's own effective answer is read this run (default: read). */
  reconcile?: ReconcileDecision;
}

/**
 * Reads every stream of the connector: a stream starts as soon as the streams it depends on have
 * committed, its scopes are read `scopeConcurrency` at a time, and scopes this run already
 * checkpointed are skipped. Throws what stopped the run (a run-fatal error, or a failed write); what
 * completed before it is still committed.
 */
export async function readStreams(o: StreamRunOptions): Promise<void> {
  const { db, request, connector, capabilities, runId, emit, log } = o;
  const abort = new AbortController();
  // Every scope in flight and every request of every pool member listens to this one signal: more
  // than Node's default of 10 is expected, not a leak.
  setMaxListeners(256, abort.signal);
  const onOuterAbort = () => abort.abort(new RosterError('sync_aborted', 'The sync was interrupted.'));
  request.signal?.addEventListener('abort', onOuterAbort, { once: true });
  // Aborted before the reading began (a shutdown while the connector connected): no event will come.
  if (request.signal?.aborted) onOuterAbort();

  const done = await completedScopeIds(db, runId);
  const ctx = streamContext(o, abort.signal);
  const writer = new CheckpointWriter({
    db,
    integrationId: o.integrationId,
    runId,
    model: permissionModelOf(request.integration.kind),
    done,
    loaded: o.loaded,
    afterBatch: o.afterBatch,
    emit,
    onFailure: (error) => abort.abort(error),
  });
  const stop = new RunStop();
  const reader = { ctx, abort, stop, writer, spillRecords: request.spillRecords ?? SPILL_RECORDS, emit, log };
  const limit = pLimit(request.scopeConcurrency ?? 16);

  const streamScope = (stream: StreamDeclaration): Scope => ({ id: stream.name, stream: stream.name, resource: null, label: stream.description });
  const runStream = async (stream: StreamDeclaration): Promise<void> => {
    // Left unread on purpose (reconcile: weekly or off): recorded as such, never as a failure. Its
    // earlier rows stay as they were: a scope not read this run never removes anything.
    if (stream.effectiveAnswer && o.reconcile && !o.reconcile.read && !done.has(stream.name)) {
      emit({ type: 'stream-gap', stream: stream.name, reason: o.reconcile.reason });
      writer.add({ scope: streamScope(stream), status: 'not_covered', staged: null, items: 0, pages: 0, error: new RosterError('forbidden', o.reconcile.reason, { details: { skipped: true, advice: 'roster sync --reconcile always reads it on the next run; the integration option reconcile sets the cadence.' } }) });
      await writer.flush(true);
      return;
    }
    const gap = stream.coverage(capabilities);
    if (gap) {
      emit({ type: 'stream-gap', stream: stream.name, reason: gap.reason });
      writer.add({ scope: streamScope(stream), status: 'not_covered', staged: null, items: 0, pages: 0, error: new RosterError('forbidden', gap.reason, { details: { advice: gap.advice, gap: true } }) });
      await writer.flush(true);
      return;
    }
    let scopes: Scope[];
    try {
      scopes = await stream.scopes(ctx);
    } catch (error) {
      const err = toRosterError(error);
      if (isRunFatal(err)) throw err;
      writer.add({ scope: streamScope(stream), status: 'failed', staged: null, items: 0, pages: 0, error: err });
      await writer.flush(true);
      return;
    }
    const todo = scopes.filter((s) => !done.has(s.id));
    emit({ type: 'stream-start', stream: stream.name, scopes: todo.length });
    await Promise.all(todo.map((scope) => limit(() => readScope(reader, stream, scope))));
    await writer.flush(true);
  };

  // Why the run must stop now, if it must. An abort that comes between two listings (no read under
  // way to notice it) has no `stop.reason`: without the signal's own reason here the remaining
  // streams would start, plan, skip every scope — and the run would finish as if it had read them.
  const stopped = (): unknown => {
    if (stop.reason) return stop.reason;
    if (writer.error) return writer.error;
    if (abort.signal.aborted) return toRosterError(abort.signal.reason ?? new RosterError('sync_aborted', 'The sync was interrupted.'));
    return null;
  };
  let stoppedBy: unknown = null;
  try {
    const streams = [...connector.streams];
    const finished = new Set<string>();
    const started = new Set<string>();
    while (finished.size < streams.length) {
      const why = stopped();
      if (why) throw why;
      const ready = streams.filter((s) => !started.has(s.name) && s.dependsOn.every((d) => finished.has(d) || !streams.some((x) => x.name === d)));
      if (ready.length === 0) throw new RosterError('internal', `Stream dependencies cannot be satisfied: ${streams.filter((s) => !started.has(s.name)).map((s) => s.name).join(', ')}`);
      for (const s of ready) started.add(s.name);
      await Promise.all(
        ready.map(async (s) => {
          await runStream(s);
          finished.add(s.name);
        }),
      );
    }
    await writer.flush(true);
    const why = stopped();
    if (why) throw why;
  } catch (error) {
    stoppedBy = error;
    throw error;
  } finally {
    request.signal?.removeEventListener('abort', onOuterAbort);
    // Whatever completed before a fatal error is still a clean read: keep it. (The flush never
    // rejects; a write it could not make is in `writer.error`.)
    await writer.flush(true);
    if (stoppedBy !== null && writer.error !== null && writer.error !== stoppedBy) {
      // The run already stops for another reason, which is what it reports; this write's scopes
      // have no checkpoint row and are read again by the resumed run.
      log.error(errorLogFields(writer.error), 'could not write the checkpoint of scopes read before the run stopped');
    }
  }
}

/**
 * What the engine gives streams: the run's capabilities and signal, and what earlier streams
 * committed. When this run listed a kind completely, only what it saw counts (so a deleted
 * repository's permissions are not read); otherwise the last known state.
 */
function streamContext(o: StreamRunOptions, signal: AbortSignal): StreamContext {
  const { db, runId, integrationId } = o;
  // Which stream lists each resource kind, as the connector declares it.
  const listingStream = new Map(o.connector.streams.flatMap((s) => (s.lists ? [[s.lists, s.name] as const] : [])));
  return {
    capabilities: o.capabilities,
    since: o.since,
    signal,
    resources: async (kind) => {
      const lister = listingStream.get(kind);
      const thisRunOnly = lister !== undefined && (await isListingComplete(db, runId, lister));
      return liveResources(db, integrationId, kind, thisRunOnly ? runId : null);
    },
    principals: (kind) => livePrincipals(db, integrationId, kind),
  };
}
