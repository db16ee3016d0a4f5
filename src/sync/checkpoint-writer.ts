import type { Kysely } from 'kysely';
import type { Database } from '../db/types.ts';
import { ConnectorError, RosterError, errorMessage } from '../errors.ts';
import type { Batch, PermissionModel, Scope } from '../interfaces.ts';
import { scrubSecrets } from '../log.ts';
import { CREDENTIAL_GAP, type EngineEvent } from './contract.ts';
import { SKIPPED_BY_SETTING } from '../interfaces.ts';
import { type LoadCounts, type StagedScope, loadScopes } from './loader.ts';
import { type ScopeRow, upsertScopeRows } from './sql/scope-rows.ts';

/** How one scope of the run ended, with its staged records when it was read completely. */
export interface ScopeResult {
  scope: Scope;
  status: 'complete' | 'failed' | 'not_covered';
  staged: StagedScope | null;
  items: number;
  pages: number;
  error: ConnectorError | RosterError | null;
}

/** A batch is written when this many scopes, or this many staged records, are waiting, or this long after the last. */
const FLUSH_SCOPES = 400;
const FLUSH_RECORDS = 20_000;
const FLUSH_INTERVAL_MS = 1000;
/**
 * Batches that may wait behind the one being written before readers wait (backpressure). Reading goes
 * on while a batch is written — the two overlap — and memory stays bounded: the batch being written,
 * at most this many waiting behind it, and the one gathering.
 */
const MAX_BACKLOG = 1;

export interface CheckpointWriterOptions {
  db: Kysely<Database>;
  integrationId: string;
  runId: string;
  model: PermissionModel;
  /** Ids of the run's completely read scopes; grows as batches commit. */
  done: Set<string>;
  /** Counts of what was loaded, added to as batches commit. */
  loaded: LoadCounts;
  /** After every batch: the run row's request figures and heartbeat. Its failure stops the run. */
  afterBatch: () => Promise<void>;
  emit: (event: EngineEvent) => void;
  /** The first write that failed for another reason than its records: the run must stop. */
  onFailure: (error: unknown) => void;
}

/**
 * Completed scopes are written together, each with its checkpoint row (`sync_scopes`), in one
 * transaction per batch; failed and not-covered scopes get their row the same way. Writes run one
 * after another on a chain, so a batch never overtakes the one before it.
 */
export class CheckpointWriter {
  readonly #o: CheckpointWriterOptions;
  #pending: ScopeResult[] = [];
  #pendingRecords = 0;
  #chain: Promise<void> = Promise.resolve();
  /** Batch writes queued and not yet finished, oldest first (they finish in order, on the chain). */
  readonly #backlog: Array<Promise<void>> = [];
  #lastFlush = Date.now();
  /** The first error a batch write met (null while all went well); the run stops with it. */
  error: unknown = null;

  constructor(options: CheckpointWriterOptions) {
    this.#o = options;
  }

  /** Queues a scope's result; `records` is how many staged records it brings. */
  add(result: ScopeResult, records = 0): void {
    this.#pending.push(result);
    this.#pendingRecords += records;
  }

  /**
   * Writes what is queued, when forced or when enough has gathered. Forced, it resolves once every
   * queued batch is written; otherwise as soon as no more than `MAX_BACKLOG` batches wait behind the
   * one being written, so readers go on reading while the database writes. Never rejects: a failed
   * batch is kept in `error` and reported through `onFailure`, which stops the run (the scopes it held
   * have no checkpoint row, so a resumed run reads them again).
   */
  flush(force: boolean): Promise<void> {
    const due = force || this.#pending.length >= FLUSH_SCOPES || this.#pendingRecords >= FLUSH_RECORDS || Date.now() - this.#lastFlush >= FLUSH_INTERVAL_MS;
    if (this.#pending.length > 0 && due) {
      const batch = this.#pending;
      this.#pending = [];
      this.#pendingRecords = 0;
      this.#lastFlush = Date.now();
      const written = this.#chain
        .then(() => this.#writeResults(batch))
        .catch((error: unknown) => {
          this.error ??= error;
          this.#o.onFailure(error);
        });
      this.#chain = written;
      this.#backlog.push(written);
      void written.then(() => this.#backlog.shift());
    }
    if (force) return this.#chain;
    const waitFor = this.#backlog.length - 2 - MAX_BACKLOG;
    return waitFor >= 0 ? (this.#backlog[waitFor] as Promise<void>) : Promise.resolve();
  }

  /**
   * Writes part of a scope that is still being read. Safe before the scope completes: upserts only
   * add rows or confirm them (`last_seen_run`), readers look at the last finished run, and removals
   * are inferred only from scopes whose checkpoint row says complete. Keeps memory flat for huge
   * listings (Bitbucket's effective permissions run to millions of rows).
   */
  writePartial(scopeId: string, batches: Batch[]): Promise<void> {
    const { db, integrationId, runId, model, loaded } = this.#o;
    const write = this.#chain.then(async () => {
      const counts = await db.transaction().execute((trx) => loadScopes(trx, integrationId, runId, [{ scopeId, batches }], model));
      addCounts(loaded, counts);
    });
    // Not swallowed: the scope awaits `write` itself and fails with this error. The chain only has
    // to go on for the other scopes' batches, whether or not this write failed.
    this.#chain = write.catch(() => {});
    return write;
  }

  async #writeResults(results: ScopeResult[]): Promise<void> {
    const started = Date.now();
    const isStaged = (r: ScopeResult): boolean => r.status === 'complete' && r.staged !== null;
    const complete = results.filter(isStaged);
    try {
      await this.#write(complete, results.filter((r) => !isStaged(r)));
    } catch (error) {
      if (!isRecordError(error)) throw error;
      // One scope's records cannot be stored: find it by writing scope by scope, and fail only it.
      for (const result of results) {
        try {
          await this.#write(isStaged(result) ? [result] : [], isStaged(result) ? [] : [result]);
        } catch (inner) {
          if (!isRecordError(inner)) throw inner;
          const err = inner instanceof RosterError ? inner : new RosterError('internal', `Scope ${result.scope.id} holds a record the database refused: ${scrubSecrets(errorMessage(inner))}`, { cause: inner });
          await this.#write([], [{ ...result, status: 'failed', staged: null, error: err }]);
        }
      }
    }
    for (const r of complete) this.#o.done.add(r.scope.id);
    await this.#o.afterBatch();
    this.#o.emit({ type: 'flush', scopes: results.length, ms: Date.now() - started });
  }

  /** One transaction: the records of `staged` scopes, then the rows of those and of `others`. */
  async #write(staged: ScopeResult[], others: ScopeResult[]): Promise<void> {
    const { db, integrationId, runId, model, loaded } = this.#o;
    await db.transaction().execute(async (trx) => {
      const counts = await loadScopes(trx, integrationId, runId, staged.map((r) => r.staged as StagedScope), model);
      addCounts(loaded, counts);
      await upsertScopeRows(trx, [...staged, ...others].map((r) => scopeRow(runId, r)));
    });
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

function addCounts(target: LoadCounts, add: LoadCounts): void {
  target.principals += add.principals;
  target.resources += add.resources;
  target.memberships += add.memberships;
  target.grants += add.grants;
  target.reportedAccess += add.reportedAccess;
}

function scopeRow(runId: string, result: ScopeResult): ScopeRow {
  const error = result.error;
  const isGap = error instanceof RosterError && error.details.gap === true;
  const isSkipped = error instanceof RosterError && error.details.skipped === true;
  return {
    run_id: runId,
    scope: result.scope.id,
    stream: result.scope.stream,
    label: result.scope.label,
    status: result.status,
    filtered: result.scope.filtered === true,
    endpoint: error instanceof ConnectorError ? error.endpoint : null,
    http_status: error instanceof ConnectorError ? error.httpStatus : null,
    error_code: isGap ? CREDENTIAL_GAP : isSkipped ? SKIPPED_BY_SETTING : (error?.code ?? null),
    message: error ? scrubSecrets(error.message) : null,
    advice: error instanceof ConnectorError ? error.advice : typeof error?.details.advice === 'string' ? error.details.advice : null,
    items: result.items,
    pages: result.pages,
    finished_at: new Date(),
  };
}
