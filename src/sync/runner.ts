import { sql } from 'kysely';
import pLimit from 'p-limit';
import type { RosterDatabase } from '../db/index.ts';
import { setIntegrationStatus } from '../db/integrations.ts';
import type { Integration, SyncRun } from '../db/types.ts';
import { ConnectorError, RosterError, errorMessage, isRunFatal } from '../errors.ts';
import type {
  Batch,
  Capabilities,
  Connector,
  PrincipalKind,
  PrincipalRecord,
  ProgressEvent,
  ResourceKind,
  ResourceRecord,
  Scope,
  StreamContext,
  StreamDeclaration,
} from '../interfaces.ts';
import { type Logger, logger as rootLogger, scrubSecrets } from '../log.ts';
import { type ReconcileOutcome, describeReconciliation, rebuildEffectiveAccess, reconcileReportedAccess } from './effective.ts';
import { type RemovalCounts, inferRemovals } from './history.ts';
import { type LoadCounts, type StagedScope, loadScopes } from './loader.ts';
import { finalizeVersions } from './versions.ts';
import { connectorTitleOf, permissionModelOf } from '../connectors.ts';
import { HOLDER, type IntegrationLock, tryLockIntegration } from './lock.ts';
import { beginSegment, describeDuration, endSegment } from './segments.ts';

/** Error code stored on `not_covered` rows that the credential kind explains (expected, not a failure). */
export const CREDENTIAL_GAP = 'credential_gap';

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

interface ScopeResult {
  scope: Scope;
  status: 'complete' | 'failed' | 'not_covered';
  staged: StagedScope | null;
  items: number;
  pages: number;
  error: ConnectorError | RosterError | null;
}

const FLUSH_SCOPES = 400;
const FLUSH_RECORDS = 20_000;
const FLUSH_INTERVAL_MS = 1000;
/** A scope holding more staged records than this writes them before it ends (see `writePartial`). */
const SPILL_RECORDS = 20_000;

/**
 * Runs one sync of one integration. Never throws for source failures: the outcome and the run row
 * say what happened. Throws `sync_locked` when another process holds the integration.
 */
export async function runSync(handle: RosterDatabase, request: SyncRequest): Promise<SyncOutcome> {
  const { db } = handle;
  const integrationId = String(request.integration.id);
  let lock: IntegrationLock | null = await tryLockIntegration(handle, integrationId);
  while (!lock) {
    const holder = await db
      .selectFrom('sync_runs')
      .select(['id', 'holder', 'started_at', 'status', 'resume_after'])
      .where('integration_id', '=', integrationId)
      .where('status', 'in', ['running', 'paused'])
      .executeTakeFirst();
    if (!request.wait) {
      throw new RosterError('sync_locked', `Integration "${request.integration.name}" is being synced by ${holder?.holder ?? 'another process'}${holder ? ` (run ${holder.id}, started ${holder.started_at.toISOString()})` : ''}. Wait for it to finish, or run with --wait.`, { retryable: true });
    }
    await sleep(2000, request.signal);
    lock = await tryLockIntegration(handle, integrationId);
  }
  try {
    return await runLocked(handle, request, integrationId);
  } finally {
    await lock.release();
  }
}

async function runLocked(handle: RosterDatabase, request: SyncRequest, integrationId: string): Promise<SyncOutcome> {
  const { db } = handle;
  const emit = (event: EngineEvent): void => request.onProgress?.(event);
  const startedMs = Date.now();
  if (request.slot) {
    const served = await db.selectFrom('sync_runs').select(['id', 'holder']).where('integration_id', '=', integrationId).where('slot', '>=', request.slot).executeTakeFirst();
    if (served) throw new RosterError('sync_locked', `The ${request.slot.toISOString()} slot of "${request.integration.name}" was already served by run ${served.id} (${served.holder ?? 'another process'}).`, { retryable: false });
  }

  // We hold the lock, so any unfinished run of this integration belongs to a process that is gone
  // (crash, kill) or was paused for the rate limit: continue it from its checkpoint.
  const open = await db.selectFrom('sync_runs').selectAll().where('integration_id', '=', integrationId).where('status', 'in', ['running', 'paused']).executeTakeFirst();
  let run: SyncRun;
  const resumed = open !== undefined;
  if (open) {
    run = await db
      .updateTable('sync_runs')
      .set({ status: 'running', holder: HOLDER, heartbeat_at: new Date(), resume_after: null })
      .where('id', '=', open.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    // Failed scopes are tried again; complete ones are the checkpoint.
    await db.deleteFrom('sync_scopes').where('run_id', '=', run.id).where('status', '<>', 'complete').execute();
  } else {
    const since = request.mode === 'incremental' ? await incrementalSince(handle, integrationId) : null;
    run = await db
      .insertInto('sync_runs')
      .values({ integration_id: integrationId, trigger: request.trigger, mode: since ? 'incremental' : 'full', since, slot: request.slot ?? null, status: 'running', holder: HOLDER, counts: '{}' })
      .returningAll()
      .executeTakeFirstOrThrow();
  }
  const runId = String(run.id);
  // A resumed run is one run in several segments: its summary and status give all of them.
  const segments = await beginSegment(db, runId, open ?? null);
  const log = (request.logger ?? rootLogger).child({ run_id: runId, integration: request.integration.name });
  emit({ type: 'run-start', runId, resumed, mode: run.mode });
  log.info({ resumed, mode: run.mode }, resumed ? 'resuming sync run' : 'sync run started');

  const baseline = { requests: run.api_requests, retries: run.api_retries, waits: run.rate_limit_waits, waitMs: Number(run.rate_limit_wait_ms), r429: run.responses_429 };
  let connector: Connector | null = null;
  let runError: RosterError | null = null;
  let resumeAfter: Date | null = null;
  let capabilities: Capabilities | null = (run.capabilities as Capabilities | null) ?? null;
  const loaded: LoadCounts = { principals: 0, resources: 0, memberships: 0, grants: 0, reportedAccess: 0 };

  const persistStats = async (extra: Partial<{ resume_after: Date | null }> = {}): Promise<void> => {
    if (!connector) return;
    const s = connector.stats();
    await db
      .updateTable('sync_runs')
      .set({
        heartbeat_at: new Date(),
        api_requests: baseline.requests + s.requests,
        api_retries: baseline.retries + s.retries,
        rate_limit_waits: baseline.waits + s.rateLimitWaits,
        rate_limit_wait_ms: baseline.waitMs + Math.round(s.rateLimitWaitMs),
        responses_429: baseline.r429 + s.responses429,
        ...extra,
      })
      .where('id', '=', runId)
      .execute();
  };

  try {
    connector = await request.connect({
      logger: log,
      onProgress: (event) => {
        emit(event);
        if (event.type === 'rate-limit-wait') {
          // The run row says when it expects to go on, for `roster status` and `/status`.
          void persistStats({ resume_after: event.until }).catch(() => {});
        }
      },
    });
    if (!capabilities) {
      capabilities = await connector.detectCapabilities(request.signal ?? new AbortController().signal);
      await db.updateTable('sync_runs').set({ capabilities: JSON.stringify(capabilities) }).where('id', '=', runId).execute();
    }
    await readStreams(handle, request, connector, capabilities, run, loaded, emit, log, persistStats);
  } catch (error) {
    runError = toRosterError(error);
    if (runError instanceof ConnectorError && runError.code === 'budget_exhausted') resumeAfter = runError.resumeAt;
    log.warn({ code: runError.code, err: scrubSecrets(runError.message) }, 'sync run stopped');
  }

  try {
    await persistStats();
  } catch {
    // Reported through the final update below if the database is really gone.
  }

  // Paused for the rate limit, or interrupted (Ctrl-C, shutdown): keep the checkpoint, finalize
  // nothing, and let the next sync of this integration continue from here.
  if (runError?.code === 'budget_exhausted' || runError?.code === 'sync_aborted') {
    await db
      .updateTable('sync_runs')
      .set({ status: 'paused', resume_after: resumeAfter, error_code: runError.code, error_message: runError.message, heartbeat_at: new Date() })
      .where('id', '=', runId)
      .execute();
    await endSegment(db, runId, runError.code === 'budget_exhausted' ? 'paused' : 'interrupted');
    await connector?.close().catch(() => {});
    const summary =
      runError.code === 'sync_aborted'
        ? `Run ${runId} was interrupted; what it read so far is kept as a checkpoint, and the next \`roster sync\` of "${request.integration.name}" continues from there.`
        : `Run ${runId} paused: the API budget for this credential is spent. It resumes from its checkpoint${resumeAfter ? ` after ${resumeAfter.toISOString()}` : ''} (roster serve does this on its own; or run roster sync again then).`;
    return { runId, status: 'paused', summary, resumed, resumeAfter, error: { code: runError.code, message: runError.message } };
  }

  if (runError?.code === 'oauth_revoked' || runError?.code === 'unauthorized') {
    await setIntegrationStatus(db, integrationId, 'revoked', runError.message);
  } else if (!runError) {
    // The credential works again (it was replaced, or the outage is over).
    await db.updateTable('integrations').set({ status: 'active', status_message: null, updated_at: new Date() }).where('id', '=', integrationId).where('status', '=', 'revoked').execute();
  }

  emit({ type: 'finalize', step: 'history' });
  const answerStream = connector?.streams.find((st) => st.effectiveAnswer)?.name ?? null;
  const final = await finalizeRun(handle, request, runId, runError, capabilities, loaded, describeDuration(segments, (Date.now() - startedMs) / 1000), answerStream);
  await endSegment(db, runId, 'finished');
  await connector?.close().catch(() => {});
  log.info({ status: final.status }, 'sync run finished');
  return { runId, status: final.status, summary: final.summary, resumed, resumeAfter: null, error: runError ? { code: runError.code, message: runError.message } : null };
}

async function readStreams(
  handle: RosterDatabase,
  request: SyncRequest,
  connector: Connector,
  capabilities: Capabilities,
  run: SyncRun,
  loaded: LoadCounts,
  emit: (event: EngineEvent) => void,
  log: Logger,
  persistStats: () => Promise<void>,
): Promise<void> {
  const { db } = handle;
  const runId = String(run.id);
  const integrationId = String(run.integration_id);
  const model = permissionModelOf(request.integration.kind);
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(new RosterError('sync_aborted', 'The sync was interrupted.'));
  request.signal?.addEventListener('abort', onOuterAbort, { once: true });

  const doneScopes = new Set((await db.selectFrom('sync_scopes').select('scope').where('run_id', '=', runId).where('status', '=', 'complete').execute()).map((r) => r.scope));
  const listingComplete = async (stream: string): Promise<boolean> => {
    const row = await db.selectFrom('sync_scopes').select('filtered').where('run_id', '=', runId).where('stream', '=', stream).where('status', '=', 'complete').executeTakeFirst();
    return row !== undefined && !row.filtered;
  };
  // Which stream lists each resource kind, as the connector declares it.
  const listingStream = new Map(connector.streams.flatMap((s) => (s.lists ? [[s.lists, s.name] as const] : [])));

  const ctx: StreamContext = {
    capabilities,
    since: run.since,
    signal: abort.signal,
    // What earlier streams committed. When this run listed the kind completely, only what it saw
    // counts (so a deleted repository's permissions are not read); otherwise the last known state.
    resources: async (kind: ResourceKind): Promise<ResourceRecord[]> => {
      const lister = listingStream.get(kind);
      const thisRunOnly = lister !== undefined && (await listingComplete(lister));
      const rows = await db
        .selectFrom('resources as r')
        .leftJoin('resources as parent', 'parent.id', 'r.parent_id')
        .select(['r.kind', 'r.external_id', 'r.name', 'r.handle', 'r.attributes', 'parent.kind as parent_kind', 'parent.external_id as parent_external_id'])
        .where('r.integration_id', '=', integrationId)
        .where('r.kind', '=', kind)
        .where('r.removed_run', 'is', null)
        .$if(thisRunOnly, (qb) => qb.where('r.last_seen_run', '=', runId))
        .orderBy('r.id')
        .execute();
      return rows.map((r) => ({
        kind: r.kind,
        externalId: r.external_id,
        name: r.name,
        handle: r.handle,
        attributes: r.attributes,
        parent: r.parent_kind && r.parent_external_id ? { kind: r.parent_kind, externalId: r.parent_external_id } : null,
      }));
    },
    principals: async (kind: PrincipalKind): Promise<PrincipalRecord[]> => {
      const rows = await db
        .selectFrom('principals')
        .select(['kind', 'external_id', 'display_name', 'handle', 'account_id', 'attributes'])
        .where('integration_id', '=', integrationId)
        .where('kind', '=', kind)
        .where('removed_run', 'is', null)
        .orderBy('id')
        .execute();
      return rows.map((r) => ({ kind: r.kind, externalId: r.external_id, displayName: r.display_name, handle: r.handle, accountId: r.account_id, attributes: r.attributes }));
    },
  };

  // ── Flushing: completed scopes are written together, each with its checkpoint row. ──
  let pending: ScopeResult[] = [];
  let pendingRecords = 0;
  let flushing: Promise<void> = Promise.resolve();
  let lastFlush = Date.now();
  let flushError: unknown = null;

  const writeResults = async (results: ScopeResult[]): Promise<void> => {
    const started = Date.now();
    const complete = results.filter((r) => r.status === 'complete' && r.staged);
    const write = async (subset: ScopeResult[], others: ScopeResult[]): Promise<void> => {
      await db.transaction().execute(async (trx) => {
        const counts = await loadScopes(trx, integrationId, runId, subset.map((r) => r.staged as StagedScope), model);
        addCounts(loaded, counts);
        const rows = [...subset, ...others].map((r) => scopeRow(runId, r));
        if (rows.length > 0) {
          await trx
            .insertInto('sync_scopes')
            .values(rows)
            .onConflict((oc) => oc.columns(['run_id', 'scope']).doUpdateSet((eb) => ({ status: eb.ref('excluded.status'), message: eb.ref('excluded.message'), items: eb.ref('excluded.items'), pages: eb.ref('excluded.pages') })))
            .execute();
        }
      });
    };
    try {
      await write(complete, results.filter((r) => !(r.status === 'complete' && r.staged)));
    } catch (error) {
      if (!isRecordError(error)) throw error;
      // One scope's records cannot be stored: find it by writing scope by scope, and fail only it.
      for (const result of results) {
        try {
          await write(result.status === 'complete' && result.staged ? [result] : [], result.status === 'complete' && result.staged ? [] : [result]);
        } catch (inner) {
          if (!isRecordError(inner)) throw inner;
          const err = inner instanceof RosterError ? inner : new RosterError('internal', `Scope ${result.scope.id} holds a record the database refused: ${scrubSecrets(errorMessage(inner))}`, { cause: inner });
          await write([], [{ ...result, status: 'failed', staged: null, error: err }]);
        }
      }
    }
    for (const r of complete) doneScopes.add(r.scope.id);
    await persistStats();
    emit({ type: 'flush', scopes: results.length, ms: Date.now() - started });
  };

  const flush = (force: boolean): Promise<void> => {
    if (pending.length === 0 || (!force && pending.length < FLUSH_SCOPES && pendingRecords < FLUSH_RECORDS && Date.now() - lastFlush < FLUSH_INTERVAL_MS)) return flushing;
    const batch = pending;
    pending = [];
    pendingRecords = 0;
    lastFlush = Date.now();
    flushing = flushing.then(() => writeResults(batch)).catch((error: unknown) => {
      flushError ??= error;
      abort.abort(error);
    });
    return flushing;
  };

  const heartbeat = setInterval(() => void persistStats().catch(() => {}), 30_000);
  heartbeat.unref();

  const limit = pLimit(request.scopeConcurrency ?? 16);
  let fatal: RosterError | null = null;

  /**
   * Writes part of a scope that is still being read. Safe before the scope completes: upserts only
   * add rows or confirm them (`last_seen_run`), readers look at the last finished run, and removals
   * are inferred only from scopes whose checkpoint row says complete. Keeps memory flat for huge
   * listings (Bitbucket's effective permissions run to millions of rows).
   */
  const writePartial = (scopeId: string, batches: Batch[]): Promise<void> => {
    const write = flushing.then(async () => {
      const counts = await db.transaction().execute((trx) => loadScopes(trx, integrationId, runId, [{ scopeId, batches }], model));
      addCounts(loaded, counts);
    });
    // The flush chain goes on whether or not this write failed; the scope reports the failure.
    flushing = write.catch(() => {});
    return write;
  };

  const readScope = async (stream: StreamDeclaration, scope: Scope): Promise<void> => {
    if (fatal || abort.signal.aborted) return;
    emit({ type: 'scope-start', scope });
    let batches: Batch[] = [];
    let staged = 0;
    let items = 0;
    let pages = 0;
    try {
      for await (const batch of stream.read(scope, ctx)) {
        batches.push(batch);
        const n = countItems(batch);
        items += n;
        staged += n;
        pages++;
        if (abort.signal.aborted) throw abort.signal.reason ?? new RosterError('sync_aborted', 'The sync was interrupted.');
        if (staged >= (request.spillRecords ?? SPILL_RECORDS)) {
          await writePartial(scope.id, batches);
          batches = [];
          staged = 0;
        }
      }
      pending.push({ scope, status: 'complete', staged: { scopeId: scope.id, batches }, items, pages, error: null });
      pendingRecords += staged;
      emit({ type: 'scope-end', scope, status: 'complete', items, pages });
    } catch (error) {
      const err = toRosterError(error);
      if (err.code === 'budget_exhausted' && !abort.signal.aborted) {
        // Out of budget: start nothing new, but let the listings under way finish and commit, so
        // the resumed run does not read them again.
        fatal ??= err;
        return;
      }
      if (isRunFatal(err) || abort.signal.aborted) {
        fatal ??= err;
        abort.abort(err);
        return;
      }
      // A scope that could not be read removes nothing; it is recorded with the reason and the fix.
      const status = err instanceof ConnectorError && err.code === 'forbidden' ? 'not_covered' : 'failed';
      pending.push({ scope, status, staged: null, items: 0, pages, error: err });
      emit({ type: 'scope-end', scope, status, items: 0, pages });
      log.warn({ scope: scope.id, code: err.code, err: scrubSecrets(err.message) }, 'scope not read');
    }
    await flush(false);
  };

  try {
    const streams = [...connector.streams];
    const finished = new Set<string>();
    const started = new Set<string>();
    const runStream = async (stream: StreamDeclaration): Promise<void> => {
      const gap = stream.coverage(capabilities);
      if (gap) {
        emit({ type: 'stream-gap', stream: stream.name, reason: gap.reason });
        pending.push({ scope: { id: stream.name, stream: stream.name, resource: null, label: stream.description }, status: 'not_covered', staged: null, items: 0, pages: 0, error: new RosterError('forbidden', gap.reason, { details: { advice: gap.advice, gap: true } }) });
        await flush(true);
        return;
      }
      let scopes: Scope[];
      try {
        scopes = await stream.scopes(ctx);
      } catch (error) {
        const err = toRosterError(error);
        if (isRunFatal(err)) throw err;
        pending.push({ scope: { id: stream.name, stream: stream.name, resource: null, label: stream.description }, status: 'failed', staged: null, items: 0, pages: 0, error: err });
        await flush(true);
        return;
      }
      const todo = scopes.filter((s) => !doneScopes.has(s.id));
      emit({ type: 'stream-start', stream: stream.name, scopes: todo.length });
      await Promise.all(todo.map((scope) => limit(() => readScope(stream, scope))));
      await flush(true);
    };
    // Streams start as soon as the streams they depend on have committed.
    while (finished.size < streams.length) {
      if (fatal) throw fatal;
      if (flushError) throw flushError;
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
    await flush(true);
    if (fatal) throw fatal;
    if (flushError) throw flushError;
  } finally {
    clearInterval(heartbeat);
    request.signal?.removeEventListener('abort', onOuterAbort);
    // Whatever completed before a fatal error is still a clean read: keep it.
    await flush(true).catch(() => {});
  }
}

/**
 * Errors that come from the records being written, not from the database being unavailable: a
 * reference nobody listed (`internal` from the loader), or a value PostgreSQL refuses (SQLSTATE class
 * 22, data exception, or 23, integrity constraint). They fail the scope that holds the record; any
 * other error (connection lost, disk full) stops the run.
 */
function isRecordError(error: unknown): boolean {
  if (error instanceof RosterError) return error.code === 'internal';
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code);
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

function addCounts(target: LoadCounts, add: LoadCounts): void {
  target.principals += add.principals;
  target.resources += add.resources;
  target.memberships += add.memberships;
  target.grants += add.grants;
  target.reportedAccess += add.reportedAccess;
}

function scopeRow(runId: string, result: ScopeResult) {
  const error = result.error;
  const isGap = error instanceof RosterError && error.details.gap === true;
  return {
    run_id: runId,
    scope: result.scope.id,
    stream: result.scope.stream,
    label: result.scope.label,
    status: result.status,
    filtered: result.scope.filtered === true,
    endpoint: error instanceof ConnectorError ? error.endpoint : null,
    http_status: error instanceof ConnectorError ? error.httpStatus : null,
    error_code: isGap ? CREDENTIAL_GAP : (error?.code ?? null),
    message: error ? scrubSecrets(error.message) : null,
    advice: error instanceof ConnectorError ? error.advice : typeof error?.details.advice === 'string' ? error.details.advice : null,
    items: result.items,
    pages: result.pages,
    finished_at: new Date(),
  };
}

function toRosterError(error: unknown): RosterError {
  if (error instanceof RosterError) return error;
  if (error instanceof Error && error.name === 'AbortError') return new RosterError('sync_aborted', 'The sync was interrupted.', { cause: error });
  return new RosterError('internal', scrubSecrets(errorMessage(error)), { cause: error });
}

/**
 * An incremental run re-reads only the repositories whose `updated_on` moved since this long before the
 * last successful full run; after that, it is a full run. Bitbucket does not document which changes
 * move `updated_on` (permission changes do not; renames and settings changes do): a change it misses —
 * say, a project transfer that left it alone — is picked up by the next full run, at most this late.
 */
export const FULL_SYNC_AT_LEAST_EVERY_MS = 7 * 24 * 3600_000;

/** Where an incremental run starts: the last successful run's start, or null (a full run). */
async function incrementalSince(handle: RosterDatabase, integrationId: string): Promise<Date | null> {
  const last = await handle.db
    .selectFrom('sync_runs')
    .select('started_at')
    .where('integration_id', '=', integrationId)
    .where('status', '=', 'succeeded')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  const lastFull = await handle.db
    .selectFrom('sync_runs')
    .select('started_at')
    .where('integration_id', '=', integrationId)
    .where('status', '=', 'succeeded')
    .where('mode', '=', 'full')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!last || !lastFull || Date.now() - lastFull.started_at.getTime() > FULL_SYNC_AT_LEAST_EVERY_MS) return null;
  return last.started_at;
}

interface LiveCounts {
  users: number;
  groups: number;
  deploy_keys: number;
  projects: number;
  repositories: number;
  grants: number;
  memberships: number;
  effective_access_paths: number;
  findings: number;
}

async function finalizeRun(
  handle: RosterDatabase,
  request: SyncRequest,
  runId: string,
  runError: RosterError | null,
  capabilities: Capabilities | null,
  loaded: LoadCounts,
  duration: string,
  answerStream: string | null,
): Promise<{ status: SyncRun['status']; summary: string }> {
  const { db } = handle;
  const integrationId = String(request.integration.id);
  const model = permissionModelOf(request.integration.kind);
  // Fresh planner statistics first: the derivation joins tables this run may have grown tenfold,
  // and PGlite has no autovacuum to notice (nested loops made `large` 60x slower without this).
  await sql`analyze principals, resources, principal_versions, resource_versions, memberships, grants, reported_access`.execute(db);
  return db.transaction().execute(async (trx) => {
    // JIT compilation costs seconds on these one-off set-based statements and saves nothing.
    await sql`set local jit = off`.execute(trx);
    const removed: RemovalCounts = await inferRemovals(trx, integrationId, runId);
    await finalizeVersions(trx, integrationId, runId);
    await rebuildEffectiveAccess(trx, model, integrationId, runId);
    const reconcile = await reconcileReportedAccess(trx, model, integrationId, runId, answerStream);
    const scopeRows = await trx.selectFrom('sync_scopes').select(['scope', 'stream', 'label', 'status', 'error_code', 'message', 'http_status', 'advice']).where('run_id', '=', runId).execute();
    const live = await liveCounts(trx, integrationId, runId);
    const added = await changeCounts(trx, integrationId, runId);
    const failures = scopeRows.filter((s) => s.status === 'failed' || (s.status === 'not_covered' && s.error_code !== CREDENTIAL_GAP));
    const gaps = scopeRows.filter((s) => s.error_code === CREDENTIAL_GAP);
    const status: SyncRun['status'] = runError ? 'failed' : failures.length > 0 ? 'partial' : 'succeeded';
    const stats = await trx.selectFrom('sync_runs').select(['api_requests', 'api_retries', 'rate_limit_waits', 'responses_429']).where('id', '=', runId).executeTakeFirstOrThrow();
    const sanitized = await trx.selectFrom('sync_notices').select(['record_kind', 'record_id', 'detail']).where('run_id', '=', runId).where('kind', '=', 'sanitized').orderBy('id').execute();
    const summary = describeRun({ request, runId, status, duration, live, added, removed, failures, gaps, reconcile, runError, stats, capabilities, sanitized });
    const counts = {
      live,
      loaded,
      added,
      removed,
      scopes: { complete: scopeRows.filter((s) => s.status === 'complete').length, failed: failures.length, gaps: gaps.length },
      reconciled: reconcile.reconciled,
      reconciliation: reconcile,
    };
    await trx
      .updateTable('sync_runs')
      .set({
        status,
        finished_at: new Date(),
        heartbeat_at: new Date(),
        resume_after: null,
        counts: JSON.stringify(counts),
        error_code: runError?.code ?? null,
        error_message: runError ? scrubSecrets(runError.message) : null,
        summary,
      })
      .where('id', '=', runId)
      .execute();
    return { status, summary };
  });
}

async function liveCounts(trx: Parameters<typeof inferRemovals>[0], integrationId: string, runId: string): Promise<LiveCounts> {
  const result = await sql<LiveCounts>`
    select
      (select count(*) from principals where integration_id = ${integrationId} and kind = 'user' and removed_run is null)::int as users,
      (select count(*) from principals where integration_id = ${integrationId} and kind = 'group' and removed_run is null)::int as groups,
      (select count(*) from principals where integration_id = ${integrationId} and kind = 'deploy_key' and removed_run is null)::int as deploy_keys,
      (select count(*) from resources where integration_id = ${integrationId} and kind = 'project' and removed_run is null)::int as projects,
      (select count(*) from resources where integration_id = ${integrationId} and kind = 'repository' and removed_run is null)::int as repositories,
      (select count(*) from grants where integration_id = ${integrationId} and removed_run is null)::int as grants,
      (select count(*) from memberships where integration_id = ${integrationId} and removed_run is null)::int as memberships,
      (select count(*) from effective_access where integration_id = ${integrationId})::int as effective_access_paths,
      -- This run's findings: the latest run that had any may be an older one.
      (select count(*) from findings f where f.integration_id = ${integrationId} and f.run_id = ${runId})::int as findings`.execute(trx);
  const row = result.rows[0];
  if (!row) throw new RosterError('internal', 'count query returned nothing');
  return row;
}

async function changeCounts(trx: Parameters<typeof inferRemovals>[0], integrationId: string, runId: string): Promise<Record<string, number>> {
  const result = await sql<Record<string, number>>`
    select
      (select count(*) from principals where integration_id = ${integrationId} and first_seen_run = ${runId})::int as principals,
      (select count(*) from resources where integration_id = ${integrationId} and first_seen_run = ${runId})::int as resources,
      (select count(*) from memberships where integration_id = ${integrationId} and first_seen_run = ${runId})::int as memberships,
      (select count(*) from grants where integration_id = ${integrationId} and first_seen_run = ${runId})::int as grants`.execute(trx);
  return result.rows[0] ?? {};
}

function plural(n: number, word: string): string {
  const many = word.endsWith('y') && !/[aeiou]y$/.test(word) ? `${word.slice(0, -1)}ies` : `${word}s`;
  return `${n.toLocaleString('en-US')} ${n === 1 ? word : many}`;
}

function describeRun(args: {
  request: SyncRequest;
  runId: string;
  status: string;
  /** "in 37.9 s", or a resumed run's whole time with its segments. */
  duration: string;
  live: LiveCounts;
  added: Record<string, number>;
  removed: RemovalCounts;
  failures: Array<{ label: string; message: string | null; http_status: number | null }>;
  gaps: Array<{ label: string; message: string | null; advice: string | null }>;
  reconcile: ReconcileOutcome;
  runError: RosterError | null;
  stats: { api_requests: number; api_retries: number; rate_limit_waits: number; responses_429: number };
  capabilities: Capabilities | null;
  sanitized: Array<{ record_kind: string; record_id: string; detail: string }>;
}): string {
  const { request, live, added, removed, failures, gaps, reconcile, runError, stats } = args;
  const parts: string[] = [];
  parts.push(
    `Run ${args.runId} of "${request.integration.name}" (workspace ${request.integration.workspace}) ${args.status} ${args.duration} with ${plural(stats.api_requests, 'API request')} (${plural(stats.api_retries, 'retry')}, ${plural(stats.rate_limit_waits, 'rate-limit wait')}, ${plural(stats.responses_429, '429 response')}).`,
  );
  if (runError) parts.push(`It stopped early: ${scrubSecrets(runError.message).replace(/([^.!?])$/, '$1.')}`);
  const readAnything = live.users + live.repositories + live.projects > 0 || failures.length > 0;
  if (runError && !readAnything) return parts.join(' ');
  parts.push(
    `Now known: ${plural(live.users, 'user')}, ${plural(live.groups, 'group')}, ${plural(live.projects, 'project')}, ${plural(live.repositories, 'repository')}, ${plural(live.grants, 'explicit grant')}, ${plural(live.deploy_keys, 'deploy key')}; ${plural(live.effective_access_paths, 'access path')}.`,
  );
  const changes = [
    ['grant', (added.grants ?? 0), removed.grants],
    ['membership', (added.memberships ?? 0), removed.memberships],
    ['principal', (added.principals ?? 0), removed.principals],
    ['resource', (added.resources ?? 0), removed.resources],
  ] as const;
  parts.push(`Changes: ${changes.map(([what, plus, minus]) => `+${plus}/−${minus} ${what}s`).join(', ')}.`);
  if (failures.length > 0) {
    const sample = failures.slice(0, 3).map((f) => `${f.label}${f.http_status ? ` (HTTP ${f.http_status})` : ''}`);
    parts.push(`${plural(failures.length, 'scope')} could not be read and kept ${failures.length === 1 ? 'its' : 'their'} previous data: ${sample.join('; ')}${failures.length > 3 ? '; …' : ''}.`);
  }
  if (args.sanitized.length > 0) {
    const n = args.sanitized.length;
    const sample = args.sanitized.slice(0, 3).map((x) => `${x.record_kind} ${x.record_id} (${x.detail.replace(/:.*$/, '')})`);
    parts.push(`${plural(n, 'record')} ${n === 1 ? 'was' : 'were'} stored with characters replaced (NUL or unpaired surrogates, which PostgreSQL cannot store): ${sample.join('; ')}${n > 3 ? '; …' : ''}.`);
  }
  if (gaps.length > 0) {
    parts.push(`Not covered by this credential: ${gaps.map((g) => g.label).join('; ')} — see \`roster report coverage\` for what would cover them.`);
  }
  for (const warning of args.capabilities?.warnings ?? []) parts.push(`Warning: ${warning}`);
  parts.push(describeReconciliation(reconcile, connectorTitleOf(request.integration.kind), permissionModelOf(request.integration.kind).leaf));
  return parts.join(' ');
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new RosterError('sync_aborted', 'Interrupted while waiting for the integration lock.'));
    }, { once: true });
  });
}
