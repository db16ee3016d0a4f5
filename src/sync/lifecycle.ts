import { decideReconcile } from './reconcile-cadence.ts';
import type { RosterDatabase } from '../db/index.ts';
import { setIntegrationStatus } from '../db/integrations.ts';
import type { RunSegment, SyncRun } from '../db/types.ts';
import { ConnectorError, RosterError } from '../errors.ts';
import type { Capabilities, Connector } from '../interfaces.ts';
import { type Logger, logger as rootLogger } from '../log.ts';
import type { EngineEvent, SyncOutcome, SyncRequest } from './contract.ts';
import { finalizeRun } from './finalize.ts';
import type { LoadCounts } from './loader.ts';
import { tryLockIntegration } from '../db/lock.ts';
import { errorLogFields, toRosterError } from './run-errors.ts';
import { RunProgress } from './run-progress.ts';
import { describeDuration } from '../access/run-time.ts';
import { beginSegment, endSegment } from './segments.ts';
import { reactivateRevokedIntegration } from './sql/integration-status.ts';
import { findOpenRun, findRunServingSlot, insertRun, lastSucceededStart, pauseRun, reopenRun, saveCapabilities } from './sql/run-rows.ts';
import { clearUnfinishedScopes } from './sql/scope-rows.ts';
import { readStreams } from './stream-scheduler.ts';
import { describeStop } from './summary.ts';

/**
 * A sync attempt as the lifecycle sees it: a run happened (whatever its status), or none could start.
 * Expected cases are outcomes, not throws; `runSync` turns the refusals into the `sync_locked` and
 * `sync_aborted` errors its callers know.
 */
export type SyncAttempt =
  | { kind: 'ran'; outcome: SyncOutcome }
  /** Another process holds the integration's lock, and the request did not ask to wait. */
  | { kind: 'locked'; message: string }
  /** A run of this integration already served the request's schedule slot or a later one. */
  | { kind: 'slot_served'; message: string }
  /** The request's signal aborted while it waited for the lock. */
  | { kind: 'wait_interrupted'; message: string };

/** How long to wait between attempts at a lock another process holds (`wait: true`). */
const LOCK_RETRY_MS = 2000;

/**
 * An incremental run re-reads only the repositories whose `updated_on` moved since this long before the
 * last successful full run; after that, it is a full run. Bitbucket does not document which changes
 * move `updated_on` (permission changes do not; renames and settings changes do): a change it misses —
 * say, a project transfer that left it alone — is picked up by the next full run, at most this late.
 */
const FULL_SYNC_AT_LEAST_EVERY_MS = 7 * 24 * 3600_000;

/**
 * Runs one sync of one integration under its lock. Never throws for source failures: the outcome and
 * the run row say what happened.
 */
export async function attemptSync(handle: RosterDatabase, request: SyncRequest): Promise<SyncAttempt> {
  const integrationId = String(request.integration.id);
  let lock = await tryLockIntegration(handle, integrationId);
  while (!lock) {
    if (!request.wait) {
      const holder = await findOpenRun(handle.db, integrationId);
      return {
        kind: 'locked',
        message: `Integration "${request.integration.name}" is being synced by ${holder?.holder ?? 'another process'}${holder ? ` (run ${holder.id}, started ${holder.started_at.toISOString()})` : ''}. Wait for it to finish, or run with --wait.`,
      };
    }
    if (await waitInterrupted(LOCK_RETRY_MS, request.signal)) return { kind: 'wait_interrupted', message: 'Interrupted while waiting for the integration lock.' };
    lock = await tryLockIntegration(handle, integrationId);
  }
  try {
    return await runLocked(handle, request, integrationId);
  } finally {
    await lock.release();
  }
}

async function runLocked(handle: RosterDatabase, request: SyncRequest, integrationId: string): Promise<SyncAttempt> {
  const { db } = handle;
  const emit = (event: EngineEvent): void => request.onProgress?.(event);
  const startedMs = Date.now();
  if (request.slot) {
    const served = await findRunServingSlot(db, integrationId, request.slot);
    if (served) return { kind: 'slot_served', message: `The ${request.slot.toISOString()} slot of "${request.integration.name}" was already served by run ${served.id} (${served.holder ?? 'another process'}).` };
  }

  const { run, resumed, segments } = await openRun(handle, request, integrationId);
  const runId = String(run.id);
  const log = (request.logger ?? rootLogger).child({ run_id: runId, integration: request.integration.name });
  emit({ type: 'run-start', runId, resumed, mode: run.mode });
  log.info({ resumed, mode: run.mode }, resumed ? 'resuming sync run' : 'sync run started');

  const progress = new RunProgress(db, run, log);
  let connector: Connector | null = null;
  let runError: RosterError | null = null;
  let resumeAfter: Date | null = null;
  let capabilities: Capabilities | null = (run.capabilities as Capabilities | null) ?? null;
  const loaded: LoadCounts = { principals: 0, resources: 0, memberships: 0, grants: 0, reportedAccess: 0 };

  try {
    try {
      connector = await request.connect({
        logger: log,
        onProgress: (event) => {
          emit(event);
          if (event.type === 'rate-limit-wait') progress.noteBudgetWait(event.until);
        },
      });
      progress.attach(connector);
      if (!capabilities) {
        capabilities = await connector.detectCapabilities(request.signal ?? new AbortController().signal);
        await saveCapabilities(db, runId, capabilities);
      }
      progress.startHeartbeat();
      try {
        const reconcile = await decideReconcile(db, {
          integrationId,
          answerStream: connector.streams.find((st) => st.effectiveAnswer)?.name ?? null,
          flag: request.reconcile,
          option: (request.integration.options as { reconcile?: unknown } | null)?.reconcile,
        });
        if (!reconcile.read) log.info({ reconcile: reconcile.setting, from: reconcile.from }, 'reconciliation skipped by setting');
        await readStreams({ db, request, connector, capabilities, runId, integrationId, since: run.since, loaded, emit, log, afterBatch: () => progress.persist(), reconcile });
      } finally {
        progress.stopHeartbeat();
      }
    } catch (error) {
      runError = stopReason(error, request.signal);
      if (runError instanceof ConnectorError && runError.code === 'budget_exhausted') resumeAfter = runError.resumeAt;
      log.warn(errorLogFields(runError), 'sync run stopped');
    }

    await progress.settle();
    try {
      await progress.persist();
    } catch (error) {
      // Only the figures of the last moments are lost; a database that is really gone fails the
      // run's final update below too, and that is what the caller sees.
      log.warn(errorLogFields(error), 'could not write the run request figures');
    }

    // Paused for the rate limit, or interrupted (Ctrl-C, shutdown): keep the checkpoint, finalize
    // nothing, and let the next sync of this integration continue from here.
    if (runError?.code === 'budget_exhausted' || runError?.code === 'sync_aborted') {
      await pauseRun(db, runId, { resumeAfter, code: runError.code, message: runError.message });
      await endSegment(db, runId, runError.code === 'budget_exhausted' ? 'paused' : 'interrupted');
      const summary = describeStop({ runId, integrationName: request.integration.name, code: runError.code, resumeAfter });
      return { kind: 'ran', outcome: { runId, status: 'paused', summary, resumed, resumeAfter, error: { code: runError.code, message: runError.message } } };
    }

    if (runError?.code === 'oauth_revoked' || runError?.code === 'unauthorized') {
      await setIntegrationStatus(db, integrationId, 'revoked', runError.message);
    } else if (!runError) {
      await reactivateRevokedIntegration(db, integrationId);
    }

    emit({ type: 'finalize', step: 'history' });
    const answerStream = connector?.streams.find((st) => st.effectiveAnswer)?.name ?? null;
    const duration = describeDuration(segments, (Date.now() - startedMs) / 1000);
    const final = await finalizeRun(handle, { request, runId, runError, capabilities, loaded, duration, answerStream, notices: connector?.stats().notices });
    await endSegment(db, runId, 'finished');
    log.info({ status: final.status }, 'sync run finished');
    return { kind: 'ran', outcome: { runId, status: final.status, summary: final.summary, resumed, resumeAfter: null, error: runError ? { code: runError.code, message: runError.message } : null } };
  } finally {
    await closeConnector(connector, log);
  }
}

/**
 * The run this request works on. We hold the lock, so any unfinished run of this integration belongs
 * to a process that is gone (crash, kill) or was paused for the rate limit: continue it from its
 * checkpoint. Otherwise a new run, incremental when the request asks and a recent full run allows.
 */
async function openRun(handle: RosterDatabase, request: SyncRequest, integrationId: string): Promise<{ run: SyncRun; resumed: boolean; segments: RunSegment[] }> {
  const { db } = handle;
  const open = await findOpenRun(db, integrationId);
  let run: SyncRun;
  if (open) {
    run = await reopenRun(db, String(open.id));
    // Failed scopes are tried again; complete ones are the checkpoint.
    await clearUnfinishedScopes(db, String(run.id));
  } else {
    const since = request.mode === 'incremental' ? await incrementalSince(handle, integrationId) : null;
    run = await insertRun(db, { integrationId, trigger: request.trigger, since, slot: request.slot ?? null });
  }
  // A resumed run is one run in several segments: its summary and status give all of them.
  const segments = await beginSegment(db, String(run.id), open ?? null);
  return { run, resumed: open !== undefined, segments };
}

/** Where an incremental run starts: the last successful run's start, or null (a full run). */
async function incrementalSince(handle: RosterDatabase, integrationId: string): Promise<Date | null> {
  const last = await lastSucceededStart(handle.db, integrationId);
  const lastFull = await lastSucceededStart(handle.db, integrationId, 'full');
  if (!last || !lastFull || Date.now() - lastFull.getTime() > FULL_SYNC_AT_LEAST_EVERY_MS) return null;
  return last;
}

/**
 * What stopped the run. An interruption of the request (SIGTERM, Ctrl-C) outranks a pause for the
 * budget that came before it: the listings still under way were waiting for the budget when the
 * signal came, and the run is interrupted — not paused until the rate limit returns.
 */
function stopReason(error: unknown, signal: AbortSignal | undefined): RosterError {
  const err = toRosterError(error);
  if (err.code === 'budget_exhausted' && signal?.aborted) return new RosterError('sync_aborted', 'The sync was interrupted.', { cause: err });
  return err;
}

async function closeConnector(connector: Connector | null, log: Logger): Promise<void> {
  try {
    await connector?.close();
  } catch (error) {
    // Everything the run read is written by now: a connection pool that does not close cleanly
    // loses nothing, so the run's outcome stands; the log says so.
    log.warn(errorLogFields(error), 'connector did not close cleanly');
  }
}

/** Sleeps `ms`; true when the signal aborted first (or already had). */
function waitInterrupted(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(false);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
