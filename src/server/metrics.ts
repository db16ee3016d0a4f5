import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SchedulerLoad } from '../scheduler/index.ts';
import type { EngineEvent } from '../sync/runner.ts';
import { type IntegrationHealth, VERDICTS } from '../access/health.ts';

/**
 * `GET /metrics` of `roster serve`, in the Prometheus text format. Two kinds of figures:
 *
 * - read from the database at every scrape (`roster_last_*`, `roster_data_age_seconds`,
 *   `roster_integration_verdict`, …): the same facts and verdict as `roster status`, whichever
 *   process ran the syncs;
 * - counted by this process as its syncs run (`*_total`, the run duration histogram): they start at
 *   zero when the process starts, as Prometheus counters do.
 *
 * The README's metrics table lists them all; keep the two in step.
 */
export const RUN_DURATION_BUCKETS = [10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14_400, 43_200, 86_400];

export class RosterMetrics {
  readonly registry = new Registry();
  readonly #lastSuccess: Gauge;
  readonly #lastFinished: Gauge;
  readonly #lastStatus: Gauge;
  readonly #dataAge: Gauge;
  readonly #verdict: Gauge;
  readonly #notCovered: Gauge;
  readonly #failed: Gauge;
  readonly #openRun: Gauge;
  readonly #lastRequests: Gauge;
  readonly #last429: Gauge;
  readonly #lastWaits: Gauge;
  readonly #lastDuration: Gauge;
  readonly #requests: Counter;
  readonly #responses429: Counter;
  readonly #waits: Counter;
  readonly #waitSeconds: Counter;
  readonly #duration: Histogram;
  readonly #syncsRunning: Gauge;
  readonly #syncsQueued: Gauge;
  readonly #syncsCapacity: Gauge;
  #schedulerLoad: (() => SchedulerLoad) | null = null;

  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    const byIntegration = ['integration'];
    this.#lastSuccess = new Gauge({ name: 'roster_last_success_timestamp_seconds', help: 'Unix time when the latest succeeded run of the integration finished (absent: never).', labelNames: byIntegration, registers });
    this.#lastFinished = new Gauge({ name: 'roster_last_run_finished_timestamp_seconds', help: 'Unix time when the latest finished run ended, whatever its status.', labelNames: byIntegration, registers });
    this.#lastStatus = new Gauge({ name: 'roster_last_run_status', help: 'Status of the latest finished run: 1 for its status (succeeded, partial or failed), 0 for the others.', labelNames: ['integration', 'status'], registers });
    this.#dataAge = new Gauge({ name: 'roster_data_age_seconds', help: 'Seconds since the latest finished run ended: the age of what the reports show (absent: never synced).', labelNames: byIntegration, registers });
    this.#verdict = new Gauge({ name: 'roster_integration_verdict', help: 'The verdict of roster status: 1 for the current one (healthy, degraded, stale, failing), 0 for the others.', labelNames: ['integration', 'verdict'], registers });
    this.#notCovered = new Gauge({ name: 'roster_scopes_not_covered', help: 'Scopes the latest finished run could not read with this credential (coverage gaps; degraded when above 0).', labelNames: byIntegration, registers });
    this.#failed = new Gauge({ name: 'roster_scopes_failed', help: 'Scopes the latest finished run failed to read (partial when above 0).', labelNames: byIntegration, registers });
    this.#openRun = new Gauge({ name: 'roster_run_open', help: 'A run not finished yet: 1 for its state (in-progress, paused, interrupted), 0 for the others.', labelNames: ['integration', 'state'], registers });
    this.#lastRequests = new Gauge({ name: 'roster_last_run_api_requests', help: 'API requests the latest finished run made (all its segments).', labelNames: byIntegration, registers });
    this.#last429 = new Gauge({ name: 'roster_last_run_responses_429', help: 'HTTP 429 responses the latest finished run received.', labelNames: byIntegration, registers });
    this.#lastWaits = new Gauge({ name: 'roster_last_run_rate_limit_waits', help: 'Times the latest finished run waited for the API rate limit.', labelNames: byIntegration, registers });
    this.#lastDuration = new Gauge({ name: 'roster_last_run_duration_seconds', help: 'Seconds of work of the latest finished run, over all its segments.', labelNames: byIntegration, registers });
    this.#requests = new Counter({ name: 'roster_api_requests_total', help: "API requests made by this process's syncs.", labelNames: byIntegration, registers });
    this.#responses429 = new Counter({ name: 'roster_api_responses_429_total', help: "HTTP 429 (rate limited) responses to this process's syncs.", labelNames: byIntegration, registers });
    this.#waits = new Counter({ name: 'roster_rate_limit_waits_total', help: "Waits for the API rate limit in this process's syncs.", labelNames: byIntegration, registers });
    this.#waitSeconds = new Counter({ name: 'roster_rate_limit_wait_seconds_total', help: "Seconds this process's syncs spent waiting for the API rate limit.", labelNames: byIntegration, registers });
    this.#duration = new Histogram({ name: 'roster_sync_run_duration_seconds', help: 'Seconds of work of each run this process finished (all segments of a resumed run), by final status.', labelNames: ['integration', 'status'], buckets: RUN_DURATION_BUCKETS, registers });
    this.#syncsRunning = new Gauge({ name: 'roster_syncs_running', help: 'Syncs this process is running now.', registers });
    this.#syncsQueued = new Gauge({ name: 'roster_syncs_queued', help: 'Syncs this process has been triggered for that wait for a free place (--max-concurrent-syncs); they hold no lock.', registers });
    this.#syncsCapacity = new Gauge({ name: 'roster_syncs_max_concurrent', help: 'Syncs this process runs at once at most (--max-concurrent-syncs).', registers });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** A listener for the engine events of one run of `integration`. */
  track(integration: string): (event: EngineEvent) => void {
    const labels = { integration };
    // A counter appears at 0 as soon as its integration syncs, so rate() works from the first scrape.
    this.#requests.inc(labels, 0);
    this.#responses429.inc(labels, 0);
    this.#waits.inc(labels, 0);
    this.#waitSeconds.inc(labels, 0);
    return (event) => {
      if (event.type === 'request') {
        this.#requests.inc(labels);
        if (event.status === 429) this.#responses429.inc(labels);
      } else if (event.type === 'rate-limit-wait') {
        this.#waits.inc(labels);
        this.#waitSeconds.inc(labels, event.ms / 1000);
      }
    };
  }

  /** A run this process worked on finished (not paused): its whole time goes into the histogram. */
  runFinished(integration: string, status: string, seconds: number): void {
    this.#duration.observe({ integration, status }, seconds);
  }

  /** Where this process's running and queued syncs are read at each scrape. */
  watchScheduler(load: () => SchedulerLoad): void {
    this.#schedulerLoad = load;
  }

  /** Sets the figures read from the database; called before every scrape. */
  update(integrations: IntegrationHealth[], now = new Date()): void {
    const load = this.#schedulerLoad?.();
    if (load) {
      this.#syncsRunning.set(load.running);
      this.#syncsQueued.set(load.queued);
      this.#syncsCapacity.set(load.capacity);
    }
    for (const gauge of [this.#lastSuccess, this.#lastFinished, this.#lastStatus, this.#dataAge, this.#verdict, this.#notCovered, this.#failed, this.#openRun, this.#lastRequests, this.#last429, this.#lastWaits, this.#lastDuration]) gauge.reset();
    for (const h of integrations) {
      const integration = h.integration;
      const labels = { integration };
      if (h.lastSuccessAt) this.#lastSuccess.set(labels, Date.parse(h.lastSuccessAt) / 1000);
      for (const verdict of VERDICTS) this.#verdict.set({ integration, verdict }, h.verdict === verdict ? 1 : 0);
      for (const state of ['in-progress', 'paused', 'interrupted']) this.#openRun.set({ integration, state }, h.openRun?.state === state ? 1 : 0);
      this.#notCovered.set(labels, h.coverageGaps.length);
      this.#failed.set(labels, h.failedScopes.length);
      const run = h.lastRun;
      if (!run) continue;
      if (run.finishedAt) this.#lastFinished.set(labels, Date.parse(run.finishedAt) / 1000);
      for (const status of ['succeeded', 'partial', 'failed']) this.#lastStatus.set({ integration, status }, run.status === status ? 1 : 0);
      if (run.finishedAt) this.#dataAge.set(labels, Math.max(0, (now.getTime() - Date.parse(run.finishedAt)) / 1000));
      this.#lastRequests.set(labels, run.apiRequests);
      this.#last429.set(labels, run.responses429);
      this.#lastWaits.set(labels, run.rateLimitWaits);
      this.#lastDuration.set(labels, run.durationSeconds);
    }
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
