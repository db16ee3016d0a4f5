import cron from 'node-cron';
import { type Kysely, sql } from 'kysely';
import type { Database, Integration } from '../db/types.ts';
import { RosterError } from '../errors.ts';
import { RECONCILE_DEFAULT_WEEKLY_ABOVE, isReconcileSetting } from './reconcile-cadence.ts';
import type { Connector, ReconcileSetting } from '../interfaces.ts';
import { plural } from '../text.ts';

/**
 * `roster sync --plan`: what a full and an incremental sync of one integration will cost in API
 * requests, and in hours at its budget — from the last run's shape when there is one (what it took,
 * no request made), else from the connector's probe of the source's counts (a few requests) — and
 * which settings would change it. `roster status` uses `scheduleFit` to warn when the configured
 * schedule asks for runs more often than the budget can serve them.
 */

/** Bitbucket's documented allowance per credential (API token, app password, OAuth consumer). */
export const DEFAULT_BUDGET_PER_HOUR = 1000;

export interface PlanBasis {
  kind: 'last-run' | 'probe';
  /** One sentence: which run, or how many requests the probe made. */
  description: string;
  /** `last-run`: the full run the plan rests on, and the incremental one if any. */
  fullRunId: string | null;
  incrementalRunId: string | null;
  /** `probe`: requests the probe made. */
  probeRequests: number;
}

export interface SyncPlan {
  integration: string;
  basis: PlanBasis;
  /** Requests of a full and of an incremental run as the integration is configured now. */
  full: number;
  incremental: number;
  /** Of each run, the requests of the source's own effective answer (read only to reconcile). */
  reconcile: number;
  /** The reconciliation cadence in force (sync flag, integration option or default) and what it means for these figures. */
  reconcileSetting: { setting: ReconcileSetting; from: 'sync flag' | 'integration option' | 'default'; note: string };
  /** The integration's budget per credential, and how many credentials share the work. */
  budgetPerHour: number;
  credentials: number;
  /** Hours of budget each run takes: requests ÷ (credentials × budget). */
  hours: { full: number; incremental: number };
  /** Scheduled runs (incremental) against the time between them; null without a schedule. */
  schedule: ScheduleFit | null;
  /** Settings that would change the figures, one line each with what they would make of them. */
  settings: string[];
  /** What the figures assume. */
  assumptions: string[];
}

export interface ScheduleFit {
  schedule: string;
  timezone: string;
  /** The shortest time between two scheduled runs, in hours. */
  intervalHours: number;
  /** Hours of budget one run takes. */
  runHours: number;
  fits: boolean;
}

interface IntegrationOptions {
  budgetPerHour?: number;
}

export function budgetOf(integration: Integration): number {
  const budget = (integration.options as IntegrationOptions).budgetPerHour;
  return typeof budget === 'number' && budget > 0 ? budget : DEFAULT_BUDGET_PER_HOUR;
}

/** The shortest gap between the schedule's next runs (a week's worth, at most 200), in hours; null when it never fires. */
export function scheduleIntervalHours(schedule: string, timezone: string, from: Date = new Date()): number | null {
  const task = cron.createTask(schedule, () => {}, { timezone });
  try {
    void from;
    const runs = task.getNextRuns(200);
    let shortest: number | null = null;
    for (let i = 1; i < runs.length; i++) {
      const gap = ((runs[i] as Date).getTime() - (runs[i - 1] as Date).getTime()) / 3_600_000;
      if (shortest === null || gap < shortest) shortest = gap;
    }
    // A schedule that fires once in the listed future (a yearly one): a year between runs.
    return shortest ?? (runs.length === 1 ? 24 * 365 : null);
  } finally {
    void task.destroy();
  }
}

/** Whether runs of `requestsPerRun` fit between the scheduled times at the budget. */
export function scheduleFit(integration: Pick<Integration, 'schedule' | 'timezone'>, requestsPerRun: number, budgetPerHour: number, credentials: number): ScheduleFit | null {
  if (!integration.schedule) return null;
  const interval = scheduleIntervalHours(integration.schedule, integration.timezone);
  if (interval === null) return null;
  const runHours = requestsPerRun / (budgetPerHour * Math.max(1, credentials));
  return { schedule: integration.schedule, timezone: integration.timezone, intervalHours: interval, runHours, fits: runHours <= interval };
}

/** The warning `roster status` prints for a schedule the budget cannot serve, or null. */
export function scheduleWarning(fit: ScheduleFit | null, integrationName: string): string | null {
  if (!fit || fit.fits) return null;
  return `the schedule "${fit.schedule}" (${fit.timezone}) starts a run every ${hoursText(fit.intervalHours)}, but a run takes about ${hoursText(fit.runHours)} of API budget: runs will queue behind each other and the data will age past one interval. See \`roster sync --integration ${integrationName} --plan\` for what would make it fit.`;
}

export function hoursText(hours: number): string {
  if (hours < 1) return `${Math.max(1, Math.round(hours * 60))} min`;
  return `${hours < 10 ? hours.toFixed(1) : Math.round(hours)} h`;
}

interface RunRow {
  id: string;
  mode: 'full' | 'incremental';
  api_requests: number;
  finished_at: Date;
}

/** Requests per stream of a run, as its scopes counted pages (one page, one request). */
async function streamPages(db: Kysely<Database>, runId: string): Promise<Map<string, number>> {
  const rows = await sql<{ stream: string; pages: number }>`
    select stream, sum(pages)::int as pages from sync_scopes where run_id = ${runId} group by stream`.execute(db);
  return new Map(rows.rows.map((r) => [r.stream, Number(r.pages)]));
}

/**
 * The plan of one integration. `connect` builds its connector (no request is made unless the plan
 * needs the probe); the connector's stream table says which stream is the source's effective answer.
 */
export async function planSync(db: Kysely<Database>, integration: Integration, connect: () => Promise<Connector>, options: { signal?: AbortSignal; credentials?: number; reconcile?: ReconcileSetting } = {}): Promise<SyncPlan> {
  const signal = options.signal ?? new AbortController().signal;
  const credentials = Math.max(1, options.credentials ?? 1);
  const budgetPerHour = budgetOf(integration);
  const connector = await connect();
  try {
    const effectiveStreams = new Set(connector.streams.filter((s) => s.effectiveAnswer).map((s) => s.name));
    const listingStreams = new Set(connector.streams.filter((s) => s.lists !== undefined).map((s) => s.name));
    const runs = await sql<RunRow>`
      select id::text as id, mode, api_requests, finished_at from sync_runs
       where integration_id = ${integration.id} and finished_at is not null and status in ('succeeded', 'partial')
       order by id desc limit 50`.execute(db);
    const lastFull = runs.rows.find((r) => r.mode === 'full' && r.api_requests > 0);
    const assumptions: string[] = [];
    let basis: PlanBasis;
    let full: number;
    let incremental: number;
    let reconcile: number;
    if (lastFull) {
      const pages = await streamPages(db, lastFull.id);
      // Runs are listed newest first: an incremental run newer than the full one.
      const lastIncremental = runs.rows.find((r) => r.mode === 'incremental' && r.api_requests > 0 && BigInt(r.id) > BigInt(lastFull.id));
      full = lastFull.api_requests;
      reconcile = [...pages].filter(([stream]) => effectiveStreams.has(stream)).reduce((n, [, p]) => n + p, 0);
      if (lastIncremental) {
        incremental = lastIncremental.api_requests;
      } else {
        // No incremental run yet: the full one, with each listing stream's pages down to the one page
        // of what changed (the per-resource listings are read in full either way).
        const saved = [...pages].filter(([stream]) => listingStreams.has(stream)).reduce((n, [, p]) => n + Math.max(0, p - 1), 0);
        incremental = full - saved;
        assumptions.push('no incremental run yet: an incremental run is counted as the full one with its listings shrunk to one page of changes');
      }
      assumptions.push('the workspace has not grown or shrunk much since those runs; retries they needed are included');
      basis = {
        kind: 'last-run',
        description: `the last full run ${lastFull.id} (finished ${new Date(lastFull.finished_at).toISOString()}, ${plural(full, 'request')})${lastIncremental ? ` and the last incremental run ${lastIncremental.id} (${plural(lastIncremental.api_requests, 'request')})` : ''}`,
        fullRunId: lastFull.id,
        incrementalRunId: lastIncremental?.id ?? null,
        probeRequests: 0,
      };
    } else {
      if (!connector.estimateRequests) {
        throw new RosterError('input_invalid', `The ${integration.kind} connector cannot estimate a sync before the first one: run roster sync --integration ${integration.name} once, then plan.`);
      }
      const estimate = await connector.estimateRequests(signal);
      full = estimate.streams.reduce((n, s) => n + s.full, 0);
      incremental = estimate.streams.reduce((n, s) => n + s.incremental, 0);
      reconcile = estimate.streams.filter((s) => s.stream !== null && effectiveStreams.has(s.stream)).reduce((n, s) => n + s.full, 0);
      assumptions.push(...estimate.assumptions);
      basis = {
        kind: 'probe',
        description: `never synced: a probe of the source's counts (${plural(estimate.probeRequests, 'request')})`,
        fullRunId: null,
        incrementalRunId: null,
        probeRequests: estimate.probeRequests,
      };
    }
    // The cadence as a run would decide it now (no run reads it before a first sync: the default then is always).
    const option = (integration.options as { reconcile?: unknown } | null)?.reconcile;
    const setting: ReconcileSetting = options.reconcile ?? (isReconcileSetting(option) ? option : reconcile > RECONCILE_DEFAULT_WEEKLY_ABOVE ? 'weekly' : 'always');
    const from = options.reconcile ? 'sync flag' : isReconcileSetting(option) ? 'integration option' : 'default';
    let note: string;
    if (setting === 'off') {
      full -= reconcile;
      incremental -= reconcile;
      note = `off: the figures leave out the ${plural(reconcile, 'request')} of the source's own effective permissions`;
    } else if (setting === 'weekly') {
      note = `weekly: the figures are for a run that reconciles; the others of the week take ${plural(reconcile, 'request')} fewer`;
    } else {
      note = `always: every run reads the source's own effective permissions (${plural(reconcile, 'request')})`;
    }
    const capacity = budgetPerHour * credentials;
    const hours = { full: full / capacity, incremental: incremental / capacity };
    const settings: string[] = [];
    if (reconcile > 0 && setting !== 'off') {
      settings.push(
        `--reconcile off (weekly: on every run but one a week): ${plural(reconcile, 'request')} fewer per run — full ${plural(full - reconcile, 'request')} (${hoursText((full - reconcile) / capacity)}), incremental ${plural(incremental - reconcile, 'request')} (${hoursText((incremental - reconcile) / capacity)}); the source's own effective permissions are then not cross-checked on those runs`,
      );
    }
    for (const n of [2, 4].filter((k) => k > credentials)) {
      settings.push(`${n} credentials in the pool (each with its own hourly allowance): full ${hoursText(full / (budgetPerHour * n))}, incremental ${hoursText(incremental / (budgetPerHour * n))}`);
    }
    settings.push(`budgetPerHour (now ${budgetPerHour.toLocaleString('en-US')} per credential; set it to what Bitbucket allows this credential): at 10,000/h a full run takes ${hoursText(full / (10_000 * credentials))}`);
    const schedule = scheduleFit(integration, incremental, budgetPerHour, credentials);
    return { integration: integration.name, basis, full, incremental, reconcile, reconcileSetting: { setting, from, note }, budgetPerHour, credentials, hours, schedule, settings, assumptions };
  } finally {
    await connector.close();
  }
}

/** The plan as `roster sync --plan` prints it. */
export function formatPlan(plan: SyncPlan): string {
  const capacity = `${plan.credentials > 1 ? `${plan.credentials} credentials × ` : ''}${plan.budgetPerHour.toLocaleString('en-US')}/h`;
  const lines = [
    `Plan for "${plan.integration}" (from ${plan.basis.description}):`,
    `  full sync:        ${plural(plan.full, 'request')} ≈ ${hoursText(plan.hours.full)} at ${capacity}`,
    `  incremental sync: ${plural(plan.incremental, 'request')} ≈ ${hoursText(plan.hours.incremental)} at ${capacity}`,
  ];
  if (plan.reconcile > 0) lines.push(`  reconciliation (the source's own effective permissions, ${plural(plan.reconcile, 'request')}): ${plan.reconcileSetting.note} (from the ${plan.reconcileSetting.from})`);
  if (plan.schedule) {
    lines.push(
      plan.schedule.fits
        ? `  schedule "${plan.schedule.schedule}": a run every ${hoursText(plan.schedule.intervalHours)}, each ≈ ${hoursText(plan.schedule.runHours)}: fits`
        : `  schedule "${plan.schedule.schedule}": a run every ${hoursText(plan.schedule.intervalHours)}, each ≈ ${hoursText(plan.schedule.runHours)}: DOES NOT FIT the budget`,
    );
  }
  lines.push('What would change it:', ...plan.settings.map((s) => `  - ${s}`));
  if (plan.assumptions.length > 0) lines.push('Assumes:', ...plan.assumptions.map((a) => `  - ${a}`));
  return `${lines.join('\n')}\n`;
}
