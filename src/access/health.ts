import type { Kysely } from 'kysely';
import type { Database, RunSegment, SyncRun } from '../db/types.ts';
import { credentialWarningOf } from '../connectors.ts';
import { CREDENTIAL_GAP, type CredentialKind, type IntegrationKind, SKIPPED_BY_SETTING } from '../interfaces.ts';
import { HOLDER, integrationsLockedNow } from '../db/lock.ts';
import { poolMembers } from '../db/integrations.ts';
import { activeSeconds, formatAge } from './run-time.ts';
import { type ScheduleFit, budgetOf, scheduleFit, scheduleWarning } from '../sync/plan.ts';

export { formatAge } from './run-time.ts';

/**
 * The verdicts of `roster status`, `GET /status`, `/metrics` and the sync-status report — one
 * vocabulary, decided in one place (`judgeIntegration`). The README's status table is the contract:
 *
 * - `healthy`: the last run succeeded within the maximum age and read everything the workspace has.
 * - `degraded`: fresh and succeeded, but named scopes are not covered by this credential (a non-admin
 *   API token, an access token). A limit of Bitbucket's API that no credential lifts (workspace-level
 *   SSH keys and access tokens cannot be listed) is not a coverage gap and never degrades.
 * - `stale`: no run finished within the maximum age (or none ever did).
 * - `failing`: the last run failed or was partial, or the credential was rejected.
 * - `cannot tell` (only for the whole answer): the database or the config could not be read.
 */
export const VERDICTS = ['healthy', 'degraded', 'stale', 'failing'] as const;
export type Verdict = (typeof VERDICTS)[number];
export type StatusVerdict = Verdict | 'cannot tell';
/** The verdict of one integration (the sync-status report's `health` column). */
export type Health = Verdict;

const SEVERITY: Record<Verdict, number> = { healthy: 0, degraded: 1, stale: 2, failing: 3 };

/** Exit codes of `roster status` (and HTTP 200 vs 503 of `GET /status`: 200 exactly when the exit code is 0). */
export function exitCodeFor(verdict: StatusVerdict, options: { allowPartialCoverage: boolean }): number {
  switch (verdict) {
    case 'healthy':
      return 0;
    case 'degraded':
      return options.allowPartialCoverage ? 0 : 1;
    case 'stale':
    case 'failing':
      return 1;
    case 'cannot tell':
      return 2;
  }
}

export interface ScopeProblem {
  scope: string;
  stream: string;
  label: string;
  status: string;
  httpStatus: number | null;
  code: string | null;
  message: string | null;
  advice: string | null;
}

/** A run as the health verdict needs it; JSON-safe (the embedded database's status file carries it). */
export interface RunFacts {
  id: string;
  status: SyncRun['status'];
  startedAt: string;
  finishedAt: string | null;
  heartbeatAt: string;
  holder: string | null;
  resumeAfter: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  apiRequests: number;
  responses429: number;
  rateLimitWaits: number;
  rateLimitWaitSeconds: number;
  summary: string | null;
  segments: RunSegment[];
}

/** Everything the verdict of one integration rests on, read from the database in one go. */
export interface HealthFacts {
  integration: { id: string; name: string; kind: IntegrationKind; workspace: string | null; credentialKind: CredentialKind; status: string; statusMessage: string | null };
  lastRun: RunFacts | null;
  openRun: RunFacts | null;
  lastSuccessAt: string | null;
  /** Scopes of the last finished run that were not read completely. */
  scopes: ScopeProblem[];
  /** The configured schedule against the budget, at the last finished run's requests; null without a schedule or a run. Absent in older status files. */
  schedule?: ScheduleFit | null;
}

/** What the process running a sync knows between two database writes (kept in the status file). */
export interface LiveProgress {
  runId: string;
  scopesDone: number;
  scopesTotal: number;
  scopesNotRead: number;
  requests: number;
  rateLimitWaits: number;
  waitingUntil: string | null;
  lastEventAt: string;
}

export type OpenRunState = 'in-progress' | 'paused' | 'interrupted';

export interface IntegrationHealth {
  integration: string;
  workspace: string | null;
  credentialKind: CredentialKind;
  integrationStatus: string;
  integrationMessage: string | null;
  verdict: Verdict;
  /** One sentence: why this verdict. */
  reason: string;
  /** The latest finished run: what the reports show and what the verdict is about. */
  lastRun: {
    id: string;
    status: string;
    startedAt: string;
    finishedAt: string | null;
    /** Seconds of work over all its segments. */
    durationSeconds: number;
    segments: number;
    apiRequests: number;
    responses429: number;
    rateLimitWaits: number;
    summary: string | null;
    error: string | null;
  } | null;
  lastSuccessAt: string | null;
  /** Age of the data, in seconds since the last finished run ended. */
  dataAgeSeconds: number | null;
  /** A run not finished yet: in progress, paused for the rate limit, or interrupted (its process is gone). */
  openRun: {
    id: string;
    state: OpenRunState;
    startedAt: string;
    holder: string | null;
    heartbeatAt: string;
    /** When it last made progress: its last heartbeat, or a later event its process reported. */
    lastProgressAt: string;
    resumeAfter: string | null;
    segments: number;
    progress: { scopesDone: number; scopesTotal: number; scopesNotRead: number; requests: number; rateLimitWaits: number; waitingUntil: string | null } | null;
  } | null;
  /** Scopes this credential cannot read, with the advice that would cover them. */
  coverageGaps: ScopeProblem[];
  /** Scopes of the last run that failed: their data is from an earlier run. */
  failedScopes: ScopeProblem[];
  warnings: string[];
}

export interface StatusDocument {
  verdict: StatusVerdict;
  exitCode: number;
  /** One sentence for the whole answer. */
  reason: string;
  generatedAt: string;
  maxAgeSeconds: number | null;
  allowPartialCoverage: boolean;
  /** Where the facts came from: the database, or the status file its holder keeps (embedded database in use). */
  source: 'database' | 'status-file' | null;
  statusFile: { path: string; writtenAt: string; writerPid: number | null } | null;
  /** Why Roster cannot tell; null otherwise. */
  error: string | null;
  integrations: IntegrationHealth[];
}

function runFacts(run: SyncRun): RunFacts {
  return {
    id: String(run.id),
    status: run.status,
    startedAt: run.started_at.toISOString(),
    finishedAt: run.finished_at?.toISOString() ?? null,
    heartbeatAt: run.heartbeat_at.toISOString(),
    holder: run.holder,
    resumeAfter: run.resume_after?.toISOString() ?? null,
    errorCode: run.error_code,
    errorMessage: run.error_message,
    apiRequests: run.api_requests,
    responses429: run.responses_429,
    rateLimitWaits: run.rate_limit_waits,
    rateLimitWaitSeconds: Number(run.rate_limit_wait_ms) / 1000,
    summary: run.summary,
    segments: Array.isArray(run.segments) ? run.segments : [],
  };
}

/** Reads what the verdict of every integration (or one) rests on. */
export async function readHealthFacts(db: Kysely<Database>, options: { integration?: string } = {}): Promise<HealthFacts[]> {
  const integrations = await db
    .selectFrom('integrations')
    .selectAll()
    .$if(options.integration !== undefined, (qb) => qb.where('name', '=', options.integration as string))
    .orderBy('name')
    .execute();
  const result: HealthFacts[] = [];
  for (const integration of integrations) {
    // Ids compare as numbers (bigint), never as text: run 10 comes after run 9.
    const lastRun = await db.selectFrom('sync_runs').selectAll().where('integration_id', '=', integration.id).where('finished_at', 'is not', null).orderBy('id', 'desc').limit(1).executeTakeFirst();
    const openRun = await db.selectFrom('sync_runs').selectAll().where('integration_id', '=', integration.id).where('status', 'in', ['running', 'paused']).executeTakeFirst();
    const lastSuccess = await db.selectFrom('sync_runs').select('finished_at').where('integration_id', '=', integration.id).where('status', '=', 'succeeded').orderBy('id', 'desc').limit(1).executeTakeFirst();
    const scopes = lastRun ? await db.selectFrom('sync_scopes').selectAll().where('run_id', '=', lastRun.id).where('status', '<>', 'complete').orderBy('scope').execute() : [];
    result.push({
      integration: { id: String(integration.id), name: integration.name, kind: integration.kind, workspace: integration.workspace, credentialKind: integration.credential_kind, status: integration.status, statusMessage: integration.status_message },
      lastRun: lastRun ? runFacts(lastRun) : null,
      openRun: openRun ? runFacts(openRun) : null,
      lastSuccessAt: lastSuccess?.finished_at?.toISOString() ?? null,
      scopes: scopes.map((s) => ({ scope: s.scope, stream: s.stream, label: s.label, status: s.status, httpStatus: s.http_status, code: s.error_code, message: s.message, advice: s.advice })),
      // What the last run took is what each scheduled run will take (scheduled runs are incremental,
      // and an incremental run of Bitbucket reads nearly everything a full one does).
      schedule: lastRun && lastRun.api_requests > 0 ? scheduleFit(integration, lastRun.api_requests, budgetOf(integration), 1 + (await poolMembers(db, String(integration.id))).length) : null,
    });
  }
  return result;
}

export interface JudgeOptions {
  maxAgeMs: number;
  now?: Date;
  /** Whether the process running an open `running` run is still there. */
  alive: (run: RunFacts, facts: HealthFacts) => boolean;
  /** Live progress of open runs, by run id (from the status file or this process). */
  progress?: Record<string, LiveProgress>;
}

function sentence(text: string): string {
  const trimmed = text.trim();
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

function list(labels: string[], max = 3): string {
  return `${labels.slice(0, max).join('; ')}${labels.length > max ? `; and ${labels.length - max} more` : ''}`;
}

function scopes(n: number): string {
  return `${n} scope${n === 1 ? '' : 's'}`;
}

/** The verdict of one integration, from its facts. Pure: the same facts give the same answer everywhere. */
export function judgeIntegration(facts: HealthFacts, options: JudgeOptions): IntegrationHealth {
  const now = options.now ?? new Date();
  const { integration, lastRun, openRun } = facts;
  // A coverage gap is a scope this kind of credential cannot read: another credential would read it.
  const coverageGaps = facts.scopes.filter((s) => s.code === CREDENTIAL_GAP);
  // A scope a setting left unread (reconcile: weekly or off) is neither: coverage lists it, health does not count it.
  const failedScopes = facts.scopes.filter((s) => s.code !== CREDENTIAL_GAP && s.code !== SKIPPED_BY_SETTING);
  const dataAgeSeconds = lastRun?.finishedAt ? Math.max(0, Math.round((now.getTime() - Date.parse(lastRun.finishedAt)) / 1000)) : null;

  let open: IntegrationHealth['openRun'] = null;
  const warnings: string[] = [];
  if (openRun) {
    const progress = options.progress?.[openRun.id];
    const lastProgressAt = progress && Date.parse(progress.lastEventAt) > Date.parse(openRun.heartbeatAt) ? progress.lastEventAt : openRun.heartbeatAt;
    let state: OpenRunState;
    if (openRun.status === 'paused') state = openRun.errorCode === 'budget_exhausted' ? 'paused' : 'interrupted';
    else state = options.alive(openRun, facts) ? 'in-progress' : 'interrupted';
    open = {
      id: openRun.id,
      state,
      startedAt: openRun.startedAt,
      holder: openRun.holder,
      heartbeatAt: openRun.heartbeatAt,
      lastProgressAt,
      resumeAfter: openRun.resumeAfter,
      segments: Math.max(1, openRun.segments.length),
      progress: progress ? { scopesDone: progress.scopesDone, scopesTotal: progress.scopesTotal, scopesNotRead: progress.scopesNotRead, requests: progress.requests, rateLimitWaits: progress.rateLimitWaits, waitingUntil: progress.waitingUntil } : null,
    };
    if (state === 'paused') warnings.push(`run ${openRun.id} is paused for the API rate limit until ${openRun.resumeAfter ?? 'the budget returns'}; \`roster serve\` or the next \`roster sync\` continues it from its checkpoint`);
    if (state === 'interrupted') {
      const how = openRun.status === 'paused' ? 'was interrupted' : `stopped making progress at ${lastProgressAt}${openRun.holder ? ` (its process ${openRun.holder} is gone)` : ''}`;
      warnings.push(`run ${openRun.id} ${how}; the next \`roster sync\` or \`roster serve\` continues it from its checkpoint`);
    }
  }

  let verdict: Verdict;
  let reason: string;
  if (integration.status === 'revoked') {
    verdict = 'failing';
    reason = sentence(integration.statusMessage ?? 'the credential was rejected; replace it with `roster integration add --replace`');
  } else if (!lastRun) {
    verdict = 'stale';
    reason = open ? `Never synced: its first run ${open.id} is ${open.state.replace('-', ' ')}.` : 'Never synced: no sync has finished yet.';
  } else if (lastRun.status === 'failed') {
    verdict = 'failing';
    reason = `Last run ${lastRun.id} failed: ${sentence(lastRun.errorMessage ?? 'unknown error')}`;
  } else if (lastRun.status === 'partial') {
    verdict = 'failing';
    reason = `Last run ${lastRun.id} was partial: ${scopes(failedScopes.length)} could not be read (${list(failedScopes.map((s) => s.label), 2)}).`;
  } else if (dataAgeSeconds !== null && dataAgeSeconds * 1000 > options.maxAgeMs) {
    verdict = 'stale';
    reason = `Last run ${lastRun.id} succeeded ${formatAge(dataAgeSeconds)} ago, longer than the allowed ${formatAge(options.maxAgeMs / 1000)}.`;
  } else if (coverageGaps.length > 0) {
    verdict = 'degraded';
    reason = `Last run ${lastRun.id} succeeded ${formatAge(dataAgeSeconds ?? 0)} ago, but ${scopes(coverageGaps.length)} ${coverageGaps.length === 1 ? 'is' : 'are'} not covered by this ${integration.credentialKind} credential: ${list(coverageGaps.map((g) => g.label), 10)}.`;
  } else {
    verdict = 'healthy';
    reason = `Last run ${lastRun.id} succeeded ${formatAge(dataAgeSeconds ?? 0)} ago and read everything.`;
  }
  const scheduleProblem = scheduleWarning(facts.schedule ?? null, integration.name);
  if (scheduleProblem) warnings.push(scheduleProblem);
  // A standing warning of the credential kind (end-of-life), from its connector's definition.
  const credentialWarning = credentialWarningOf(integration.kind, integration.credentialKind);
  if (credentialWarning) warnings.unshift(credentialWarning);

  return {
    integration: integration.name,
    workspace: integration.workspace,
    credentialKind: integration.credentialKind,
    integrationStatus: integration.status,
    integrationMessage: integration.statusMessage,
    verdict,
    reason,
    lastRun: lastRun
      ? {
          id: lastRun.id,
          status: lastRun.status,
          startedAt: lastRun.startedAt,
          finishedAt: lastRun.finishedAt,
          durationSeconds: Math.round(10 * (lastRun.segments.length > 0 ? activeSeconds(lastRun.segments) : (Date.parse(lastRun.finishedAt ?? lastRun.heartbeatAt) - Date.parse(lastRun.startedAt)) / 1000)) / 10,
          segments: Math.max(1, lastRun.segments.length),
          apiRequests: lastRun.apiRequests,
          responses429: lastRun.responses429,
          rateLimitWaits: lastRun.rateLimitWaits,
          summary: lastRun.summary,
          error: lastRun.errorMessage,
        }
      : null,
    lastSuccessAt: facts.lastSuccessAt,
    dataAgeSeconds,
    openRun: open,
    coverageGaps,
    failedScopes,
    warnings,
  };
}

/** The whole answer: the worst verdict of the integrations, its exit code, and every integration's own. */
export function statusDocument(
  integrations: IntegrationHealth[],
  options: { maxAgeMs: number; allowPartialCoverage: boolean; now?: Date; source: StatusDocument['source']; statusFile?: StatusDocument['statusFile'] },
): StatusDocument {
  let verdict: Verdict;
  let reason: string;
  if (integrations.length === 0) {
    verdict = 'failing';
    reason = 'No integrations configured: nothing is being synced. Add one with `roster integration add`, or try `roster demo`.';
  } else {
    verdict = integrations.reduce<Verdict>((worst, i) => (SEVERITY[i.verdict] > SEVERITY[worst] ? i.verdict : worst), 'healthy');
    const counts = VERDICTS.map((v) => [v, integrations.filter((i) => i.verdict === v).length] as const).filter(([, n]) => n > 0);
    reason = `${integrations.length} integration${integrations.length === 1 ? '' : 's'}: ${counts.map(([v, n]) => `${n} ${v}`).join(', ')}.`;
  }
  return {
    verdict,
    exitCode: exitCodeFor(verdict, options),
    reason,
    generatedAt: (options.now ?? new Date()).toISOString(),
    maxAgeSeconds: options.maxAgeMs / 1000,
    allowPartialCoverage: options.allowPartialCoverage,
    source: options.source,
    statusFile: options.statusFile ?? null,
    error: null,
    integrations,
  };
}

/** The answer when Roster cannot tell (database unreachable, bad config, bad option). */
export function cannotTellDocument(message: string, options: { maxAgeMs?: number | null; allowPartialCoverage?: boolean; now?: Date } = {}): StatusDocument {
  return {
    verdict: 'cannot tell',
    exitCode: 2,
    reason: `Cannot tell: ${sentence(message)}`,
    generatedAt: (options.now ?? new Date()).toISOString(),
    maxAgeSeconds: options.maxAgeMs == null ? null : options.maxAgeMs / 1000,
    allowPartialCoverage: options.allowPartialCoverage ?? false,
    source: null,
    statusFile: null,
    error: message,
    integrations: [],
  };
}

/**
 * Whether the process of a `running` run is still at it, seen from a process that can query the
 * database: on a PostgreSQL server, whether the integration's advisory lock is held by any session
 * (it dies with its process); on the embedded database, which only one process opens, only this
 * process can be running anything.
 */
export async function databaseLiveness(db: Kysely<Database>): Promise<JudgeOptions['alive']> {
  const locked = await integrationsLockedNow(db);
  return (run, facts) => run.holder === HOLDER || locked.has(facts.integration.id);
}

/** The verdict of every integration (or one), as `roster status`, `GET /status` and the reports see it. */
export async function integrationHealth(db: Kysely<Database>, options: { maxAgeMs: number; now?: Date; integration?: string; progress?: Record<string, LiveProgress> }): Promise<IntegrationHealth[]> {
  const facts = await readHealthFacts(db, { integration: options.integration });
  const alive = await databaseLiveness(db);
  return facts.map((f) => judgeIntegration(f, { maxAgeMs: options.maxAgeMs, now: options.now, alive, progress: options.progress }));
}
