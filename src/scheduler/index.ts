import { isIdentitySource } from '../connectors.ts';
import cron, { type ScheduledTask } from 'node-cron';
import { DEFAULT_MAX_CONCURRENT_SYNCS, type RosterDatabase } from '../db/index.ts';
import { listIntegrations } from '../db/integrations.ts';
import type { Integration } from '../db/types.ts';
import { RosterError, errorMessage } from '../errors.ts';
import type { Connector, ProgressEvent } from '../interfaces.ts';
import type { Logger } from '../log.ts';
import { type EngineEvent, type SyncOutcome, runSync } from '../sync/runner.ts';

export interface SchedulerOptions {
  handle: RosterDatabase;
  logger: Logger;
  connect: (integration: Integration, hooks: { onProgress: (event: ProgressEvent) => void; logger: Logger }) => Promise<Connector>;
  /** How often to look for paused or interrupted runs to resume, and for new integrations. Default 60 s. */
  pollMs?: number;
  /** Watches each run (metrics, the status file): its engine events, then its outcome (null: it did not run). */
  observe?: (integration: Integration) => { onEvent(event: EngineEvent): void; onEnd(outcome: SyncOutcome | null): Promise<void> };
  /**
   * Syncs an identity source (the Atlassian organization), which has no streams for the engine's
   * runner: its own run on the same run rows and lock. Without it, identity sources are not scheduled.
   */
  syncIdentity?: (integration: Integration) => Promise<{ runId: string; status: string; summary: string }>;
  /**
   * Syncs this process runs at once (default `DEFAULT_MAX_CONCURRENT_SYNCS`). Each holds its lock's
   * connection and writes on others, so the pool must be sized for it (`poolSizeFor`); triggers
   * beyond it wait in a queue ordered by slot.
   */
  maxConcurrentSyncs?: number;
}

/** A trigger waiting for a free place: nothing held (no lock, no connection) until it gets one. */
interface Waiting {
  /** The slot's time (a resume: when it was asked for): the queue's order. */
  at: number;
  /** true: its turn has come; false: the scheduler stopped first. */
  admit: (go: boolean) => void;
}

/** What the scheduler is doing right now, for /metrics. */
export interface SchedulerLoad {
  running: number;
  queued: number;
  capacity: number;
}

/**
 * Runs each integration on its cron schedule. node-cron only triggers; the database decides who
 * runs: the integration's advisory lock plus the schedule slot (see `SyncRequest.slot`) make sure two
 * `roster serve` processes never sync the same integration for the same slot.
 *
 * At most `maxConcurrentSyncs` syncs run at once; the rest wait in a FIFO queue by slot time, holding
 * nothing. A saturated replica so claims no slot it cannot run now: another replica with room takes
 * the integration's lock first, and when this one's turn comes the slot is found served and skipped.
 */
export class Scheduler {
  readonly #options: SchedulerOptions;
  readonly #tasks = new Map<string, { task: ScheduledTask; key: string }>();
  /** Every integration triggered and not done: running, or waiting in the queue. */
  readonly #running = new Map<string, Promise<SyncOutcome | null>>();
  readonly #queue: Waiting[] = [];
  readonly #capacity: number;
  #active = 0;
  readonly #controller = new AbortController();
  #poll: NodeJS.Timeout | null = null;

  constructor(options: SchedulerOptions) {
    this.#options = options;
    this.#capacity = options.maxConcurrentSyncs ?? DEFAULT_MAX_CONCURRENT_SYNCS;
    if (!Number.isInteger(this.#capacity) || this.#capacity < 1) throw new RosterError('input_invalid', `maxConcurrentSyncs must be a whole number of at least 1 (got ${this.#capacity}).`);
  }

  /** Syncs running and waiting in this process. */
  load(): SchedulerLoad {
    return { running: this.#active, queued: this.#queue.length, capacity: this.#capacity };
  }

  async start(): Promise<void> {
    await this.refresh();
    this.#poll = setInterval(() => void this.tick().catch((error) => this.#options.logger.error({ err: errorMessage(error) }, 'scheduler tick failed')), this.#options.pollMs ?? 60_000);
  }

  /** (Re)registers cron tasks for the integrations in the database. */
  async refresh(): Promise<void> {
    const integrations = (await listIntegrations(this.#options.handle.db)).filter((i) => i.status !== 'disabled' && i.schedule);
    const seen = new Set<string>();
    for (const integration of integrations) {
      seen.add(integration.name);
      const key = `${integration.schedule}|${integration.timezone}`;
      const existing = this.#tasks.get(integration.name);
      if (existing?.key === key) continue;
      await existing?.task.destroy();
      const task = cron.schedule(integration.schedule as string, (context) => void this.trigger(integration.name, context.date), { timezone: integration.timezone, name: `sync:${integration.name}` });
      this.#tasks.set(integration.name, { task, key });
      this.#options.logger.info({ integration: integration.name, schedule: integration.schedule, timezone: integration.timezone }, 'scheduled');
    }
    for (const [name, { task }] of this.#tasks) {
      if (!seen.has(name)) {
        await task.destroy();
        this.#tasks.delete(name);
      }
    }
  }

  /** Resumes runs that were paused for the rate limit (once their time has come) or cut off by a crash. */
  async tick(): Promise<void> {
    await this.refresh();
    const open = await this.#options.handle.db
      .selectFrom('sync_runs')
      .innerJoin('integrations', 'integrations.id', 'sync_runs.integration_id')
      .select(['integrations.name', 'sync_runs.status', 'sync_runs.resume_after', 'sync_runs.heartbeat_at'])
      .where('sync_runs.status', 'in', ['running', 'paused'])
      .execute();
    const now = Date.now();
    for (const run of open) {
      const due = run.status === 'paused' ? (run.resume_after?.getTime() ?? 0) <= now : now - run.heartbeat_at.getTime() > 120_000;
      if (due) void this.trigger(run.name, null);
    }
  }

  /**
   * Runs one integration as soon as there is room, unless this process or another is already at it
   * (or served its slot meanwhile). A trigger for an integration already running or queued here
   * joins that one. Null: it did not run here.
   */
  trigger(name: string, slot: Date | null): Promise<SyncOutcome | null> {
    const inFlight = this.#running.get(name);
    if (inFlight) return inFlight;
    if (this.#controller.signal.aborted) return Promise.resolve(null);
    const promise = (async (): Promise<SyncOutcome | null> => {
      if (!(await this.#place(name, slot))) return null;
      try {
        return await this.#sync(name, slot);
      } catch (error) {
        // The cron callback does not wait for this promise: a rejection would end the process.
        this.#options.logger.error({ integration: name, err: errorMessage(error) }, 'scheduled sync failed');
        return null;
      } finally {
        this.#active--;
        this.#admitNext();
      }
    })().finally(() => {
      if (this.#running.get(name) === promise) this.#running.delete(name);
    });
    this.#running.set(name, promise);
    return promise;
  }

  /** Resolves true once this trigger may run (at once when there is room), false when stopped first. */
  #place(name: string, slot: Date | null): Promise<boolean> {
    if (this.#active < this.#capacity && this.#queue.length === 0) {
      this.#active++;
      return Promise.resolve(true);
    }
    const at = slot?.getTime() ?? Date.now();
    return new Promise<boolean>((admit) => {
      // Ordered by slot, first come first served within one: a later slot never overtakes an earlier one.
      const after = this.#queue.findIndex((w) => w.at > at);
      this.#queue.splice(after < 0 ? this.#queue.length : after, 0, { at, admit });
      this.#options.logger.info({ integration: name, slot: slot?.toISOString() ?? null, queued: this.#queue.length, running: this.#active }, `sync queued: ${this.#active} of ${this.#capacity} syncs running`);
    });
  }

  #admitNext(): void {
    while (this.#active < this.#capacity) {
      const next = this.#queue.shift();
      if (!next) return;
      this.#active++;
      next.admit(true);
    }
  }

  /** One sync of one integration, in its place. */
  async #sync(name: string, slot: Date | null): Promise<SyncOutcome | null> {
    const { handle, logger } = this.#options;
    const integration = await handle.db.selectFrom('integrations').selectAll().where('name', '=', name).executeTakeFirst();
    if (!integration || integration.status === 'disabled') return null;
    if (isIdentitySource(integration.kind)) {
      try {
        const outcome = this.#options.syncIdentity ? await this.#options.syncIdentity(integration) : null;
        if (outcome) logger.info({ integration: name, run_id: outcome.runId, status: outcome.status }, outcome.summary);
      } catch (error) {
        if (!(error instanceof RosterError && error.code === 'sync_locked')) logger.error({ integration: name, err: errorMessage(error) }, 'scheduled sync failed');
      }
      return null;
    }
    const observer = this.#options.observe?.(integration);
    let result: SyncOutcome | null = null;
    try {
      const outcome = await runSync(handle, {
        integration,
        mode: 'incremental',
        trigger: 'schedule',
        slot: slot ?? undefined,
        signal: this.#controller.signal,
        logger,
        onProgress: observer?.onEvent,
        connect: (hooks) => this.#options.connect(integration, hooks),
      });
      logger.info({ integration: name, run_id: outcome.runId, status: outcome.status }, outcome.summary);
      result = outcome;
      return outcome;
    } catch (error) {
      if (error instanceof RosterError && error.code === 'sync_locked') {
        logger.info({ integration: name }, error.message);
        return null;
      }
      logger.error({ integration: name, err: errorMessage(error) }, 'scheduled sync failed');
      return null;
    } finally {
      await observer?.onEnd(result).catch((error: unknown) => logger.warn({ integration: name, err: errorMessage(error) }, 'could not record the run for monitoring'));
    }
  }

  /** Stops triggering, drops the queue (nothing of it started) and interrupts running syncs, which keep their checkpoints. */
  async stop(): Promise<void> {
    if (this.#poll) clearInterval(this.#poll);
    for (const { task } of this.#tasks.values()) await task.destroy();
    this.#tasks.clear();
    this.#controller.abort();
    for (const waiting of this.#queue.splice(0)) waiting.admit(false);
    await Promise.allSettled([...this.#running.values()]);
  }
}
