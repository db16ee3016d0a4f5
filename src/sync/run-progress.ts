import type { Kysely } from 'kysely';
import type { Database, SyncRun } from '../db/types.ts';
import type { Connector } from '../interfaces.ts';
import type { Logger } from '../log.ts';
import { errorLogFields } from './run-errors.ts';
import { updateRunStats } from './sql/run-rows.ts';

/** How often a reading run says it is alive, so `roster status` and `roster serve` can tell it from a dead one. */
const HEARTBEAT_MS = 30_000;

/**
 * The run row while the run reads: its request figures (added to those of earlier segments of a
 * resumed run), its heartbeat, and when it expects to go on after a budget wait.
 */
export class RunProgress {
  readonly #db: Kysely<Database>;
  readonly #runId: string;
  readonly #log: Logger;
  readonly #baseline: { requests: number; retries: number; waits: number; waitMs: number; r429: number };
  #connector: Connector | null = null;
  #heartbeat: ReturnType<typeof setInterval> | null = null;
  /** Writes nobody awaits (heartbeats, budget-wait notes), settled before the run's last updates. */
  readonly #background = new Set<Promise<void>>();

  constructor(db: Kysely<Database>, run: SyncRun, log: Logger) {
    this.#db = db;
    this.#runId = String(run.id);
    this.#log = log;
    this.#baseline = { requests: run.api_requests, retries: run.api_retries, waits: run.rate_limit_waits, waitMs: Number(run.rate_limit_wait_ms), r429: run.responses_429 };
  }

  /** The connector whose figures are written; nothing is written before it exists. */
  attach(connector: Connector): void {
    this.#connector = connector;
  }

  /** Writes the figures and a heartbeat now. Rejects when the database does. */
  async persist(extra: { resume_after?: Date | null } = {}): Promise<void> {
    if (!this.#connector) return;
    const s = this.#connector.stats();
    await updateRunStats(this.#db, this.#runId, {
      api_requests: this.#baseline.requests + s.requests,
      api_retries: this.#baseline.retries + s.retries,
      rate_limit_waits: this.#baseline.waits + s.rateLimitWaits,
      rate_limit_wait_ms: this.#baseline.waitMs + Math.round(s.rateLimitWaitMs),
      responses_429: this.#baseline.r429 + s.responses429,
      ...extra,
    });
  }

  /** The run row says when it expects to go on, for `roster status` and `/status`. */
  noteBudgetWait(until: Date): void {
    this.#inBackground(this.persist({ resume_after: until }), 'could not record the budget wait on the run row');
  }

  startHeartbeat(): void {
    this.#heartbeat = setInterval(() => this.#inBackground(this.persist(), 'could not write the run heartbeat'), HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  stopHeartbeat(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
  }

  /** Waits for the writes nobody awaited, so none lands after the run's final status. */
  async settle(): Promise<void> {
    await Promise.all(this.#background);
  }

  /**
   * A write nobody awaits: a failure is logged, not thrown. Safe to lose: the next heartbeat, flush or
   * the run's last update writes the same figures again, and a database that is really gone fails
   * those, which the run reports.
   */
  #inBackground(write: Promise<void>, message: string): void {
    const settled = write.catch((error: unknown) => this.#log.warn(errorLogFields(error), message));
    this.#background.add(settled);
    void settled.finally(() => this.#background.delete(settled));
  }
}
