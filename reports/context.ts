import { CREDENTIAL_GAP, SKIPPED_BY_SETTING } from '../src/interfaces.ts';
import { type Kysely, sql } from 'kysely';
import type { Database, Integration } from '../src/db/types.ts';
import { RosterError } from '../src/errors.ts';
import type { RunStatus } from '../src/interfaces.ts';
import { logger } from '../src/log.ts';
import { isIdentitySource } from '../src/connectors.ts';
import type { CoverageGapInfo, RunInfo } from './types.ts';
import { plural } from '../src/text.ts';

/** Shared lookups: which integration, which run, what that run could not read, and who a user is. */

/** `roster status` uses the same default: a daily schedule plus slack. */
export const DEFAULT_MAX_AGE_MS = 26 * 3600_000;

export async function resolveIntegration(db: Kysely<Database>, name: string | undefined): Promise<Integration> {
  const every = await db.selectFrom('integrations').selectAll().orderBy('name').execute();
  // An identity source (the Atlassian organization) is read beside the integration a report is about, never as it.
  const all = every.filter((i) => !isIdentitySource(i.kind));
  if (name !== undefined) {
    const found = all.find((i) => i.name === name);
    if (found) return found;
    const identity = every.find((i) => i.name === name);
    if (identity) {
      throw new RosterError('input_invalid', `"${name}" is an identity source (${identity.kind}): reports are about a Bitbucket integration${all.length > 0 ? ` (${all.map((i) => i.name).join(', ')})` : ''}, and show what "${name}" knows in identity-findings and the identity columns.`);
    }
    throw new RosterError('integration_not_found', `No integration named "${name}".${all.length > 0 ? ` Known: ${all.map((i) => i.name).join(', ')}.` : ' Add one with roster integration add.'}`);
  }
  const only = all[0];
  if (all.length === 1 && only) return only;
  if (all.length === 0) throw new RosterError('integration_not_found', 'No integration is configured yet. Add one with roster integration add, then run roster sync.');
  throw new RosterError('input_invalid', `Several integrations are configured; choose one with --integration: ${all.map((i) => i.name).join(', ')}.`);
}

interface RunRow {
  id: string;
  integration_id: string;
  status: RunStatus;
  started_at: Date;
  finished_at: Date;
}

const toRunInfo = (r: RunRow): RunInfo => ({ id: r.id, integrationId: r.integration_id, status: r.status, startedAt: new Date(r.started_at), finishedAt: new Date(r.finished_at) });

/** Finished runs of an integration, oldest first. Small: one row per sync. */
export async function finishedRuns(db: Kysely<Database>, integrationId: string): Promise<RunInfo[]> {
  const rows = await sql<RunRow>`
    select r.id::text as id, r.integration_id::text as integration_id, r.status, r.started_at, r.finished_at
      from sync_runs r
     where r.integration_id = ${integrationId} and r.finished_at is not null and r.status in ('succeeded', 'partial', 'failed')
     -- The table's bigint, not the text alias of the select list: as text, run 10 sorts before run 9.
     order by r.id`.execute(db);
  return rows.rows.map(toRunInfo);
}

/**
 * The run a report reflects: the latest finished run, or the latest one finished at or before
 * `asOf`. Only finished runs count, so the rows an in-flight run has written so far never show.
 */
export function chooseRun(runs: readonly RunInfo[], integration: Integration, asOf: Date | undefined): RunInfo {
  const candidates = asOf ? runs.filter((r) => r.finishedAt.getTime() <= asOf.getTime()) : runs;
  const run = candidates[candidates.length - 1];
  if (run) return run;
  if (asOf) {
    const first = runs[0];
    throw new RosterError(
      'input_invalid',
      first
        ? `No sync of "${integration.name}" had finished by ${asOf.toISOString()}; the first one finished at ${first.finishedAt.toISOString()} (run ${first.id}). Choose a later --as-of.`
        : `No sync of "${integration.name}" has finished yet, so there is no state as of ${asOf.toISOString()}. Run roster sync first.`,
    );
  }
  throw new RosterError('input_invalid', `No sync of "${integration.name}" has finished yet: run roster sync --integration ${integration.name} first.`);
}

/**
 * A `--since` / `--until` bound: a run id (digits) names that run; a time names the latest run
 * finished at or before it (none: before the first run, "0").
 */
export function resolveBound(runs: readonly RunInfo[], bound: Date | string, what: string): string {
  if (typeof bound === 'string' && /^\d+$/.test(bound.trim())) {
    const id = bound.trim();
    if (!runs.some((r) => r.id === id)) {
      throw new RosterError('input_invalid', `${what}: run ${id} is not a finished run of this integration (finished runs: ${describeRunIds(runs)}).`);
    }
    return id;
  }
  const date = typeof bound === 'string' ? new Date(bound) : bound;
  if (Number.isNaN(date.getTime())) throw new RosterError('input_invalid', `${what}: "${String(bound)}" is neither a run id nor a date (use e.g. 2026-11-01 or 2026-11-01T12:00:00Z).`);
  const before = runs.filter((r) => r.finishedAt.getTime() <= date.getTime());
  return before[before.length - 1]?.id ?? '0';
}

function describeRunIds(runs: readonly RunInfo[]): string {
  if (runs.length === 0) return 'none';
  if (runs.length <= 8) return runs.map((r) => r.id).join(', ');
  return `${runs[0]?.id}…${runs[runs.length - 1]?.id}`;
}

/**
 * Scopes of `run` that were not read, with the last run that did read each (where its data comes from).
 *
 * A failed run may have stopped before it planned its scopes (a revoked token fails the first
 * request): it has no row for what it never reached, and the listings of the previous run that
 * planned scopes stand in for them — each one not read by this run, with the run's own error. Without
 * them, coverage of a run that read nothing would list nothing, as if everything had been read.
 */
export async function coverageGaps(db: Kysely<Database>, integration: Integration, run: RunInfo): Promise<CoverageGapInfo[]> {
  const rows = await sql<{
    stream: string;
    scope: string;
    label: string;
    status: 'failed' | 'not_covered';
    error_code: string | null;
    endpoint: string | null;
    http_status: number | null;
    message: string | null;
    advice: string | null;
    data_from_run: string | null;
    data_from_finished: Date | null;
  }>`
    with own as (
      select s.stream, s.scope, s.label, s.status, s.error_code, s.endpoint, s.http_status, s.message, s.advice
        from sync_scopes s where s.run_id = ${run.id} and s.status <> 'complete'
    ),
    unplanned as (
      select p.stream, p.scope, p.label, 'failed' as status, f.error_code, null::text as endpoint, null::int as http_status, f.error_message as message,
             'The run stopped before reading this listing; the next run that gets this far reads it again.' as advice
        from sync_runs f
        join sync_scopes p on p.run_id = (
          select max(e.run_id) from sync_scopes e join sync_runs er on er.id = e.run_id
           where er.integration_id = ${integration.id} and e.run_id < ${run.id})
       where f.id = ${run.id} and f.status = 'failed'
         and not exists (select 1 from sync_scopes t where t.run_id = ${run.id} and t.scope = p.scope)
         -- The listings of a resource that run found gone are no listings any more. The notice names
         -- one of them (one notice per record); the others of the same resource share its label.
         and not exists (
           select 1 from sync_notices n join sync_scopes g on g.run_id = n.run_id and g.scope = n.scope
            where n.run_id = p.run_id and n.kind = 'gone' and (g.scope = p.scope or g.label = p.label))
    )
    select s.stream, s.scope, s.label, s.status, s.error_code, s.endpoint, s.http_status, s.message, s.advice,
           last.run_id::text as data_from_run, last.finished_at as data_from_finished
      from (select * from own union all select * from unplanned) s
      left join lateral (
        select c.run_id, r.finished_at from sync_scopes c join sync_runs r on r.id = c.run_id
         where c.scope = s.scope and c.status = 'complete' and r.integration_id = ${integration.id}
           and c.run_id < ${run.id} and r.finished_at is not null
         order by c.run_id desc limit 1) last on true
     order by s.stream collate "C", s.scope collate "C"`.execute(db);
  return rows.rows.map((r) => ({
    integration: integration.name,
    runId: run.id,
    stream: r.stream,
    scope: r.scope,
    label: r.label,
    status: r.status,
    kind: r.error_code === CREDENTIAL_GAP ? 'credential-gap' : r.error_code === SKIPPED_BY_SETTING ? 'skipped-by-setting' : 'failure',
    endpoint: r.endpoint,
    httpStatus: r.http_status,
    errorCode: r.error_code,
    message: r.message,
    advice: r.advice,
    dataFromRun: r.data_from_run,
    dataFromRunFinishedAt: r.data_from_finished ? new Date(r.data_from_finished).toISOString() : null,
  }));
}

/** What a reader must know before trusting the numbers: stale data, a partial run, unread scopes. */
export function stateWarnings(args: { integration: Integration; run: RunInfo; gaps: readonly CoverageGapInfo[]; now: Date; asOf: Date | undefined; maxAgeMs: number }): string[] {
  const { integration, run, gaps } = args;
  const warnings: string[] = [];
  const name = `"${integration.name}"`;
  const reference = args.asOf ?? args.now;
  const age = reference.getTime() - run.finishedAt.getTime();
  if (age > args.maxAgeMs) {
    warnings.push(
      args.asOf
        ? `Stale: the latest sync of ${name} before ${args.asOf.toISOString()} finished ${formatDuration(age)} earlier (run ${run.id}, ${run.finishedAt.toISOString()}).`
        : `Stale: the data of ${name} is ${formatDuration(age)} old (run ${run.id} finished ${run.finishedAt.toISOString()}; limit ${formatDuration(args.maxAgeMs)}). Run roster sync.`,
    );
  }
  if (run.status === 'partial') {
    warnings.push(`Partial: run ${run.id} of ${name} could not read ${plural(gaps.filter((g) => g.kind === 'failure').length, 'scope')}; for those the report shows what an earlier run read (see coverage).`);
  } else if (run.status === 'failed') {
    warnings.push(`Failed: run ${run.id} of ${name} stopped before reading everything; what it did not read is from earlier runs (see coverage and sync-status).`);
  }
  const credentialGaps = gaps.filter((g) => g.kind === 'credential-gap');
  if (credentialGaps.length > 0) {
    warnings.push(`Not covered: the ${integration.credential_kind} credential of ${name} cannot read ${credentialGaps.map((g) => g.label).join(', ')}; access through them is missing from this report (see coverage for the credential that would read them).`);
  }
  if (integration.status !== 'active') {
    warnings.push(`Integration ${name} is ${integration.status}${integration.status_message ? `: ${integration.status_message}` : ''}.`);
  }
  return warnings;
}

export function formatDuration(ms: number): string {
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  const minutes = Math.round(ms / 60_000);
  if (minutes < 120) return `${minutes} min`;
  const hours = Math.round(ms / 3600_000);
  if (hours < 72) return `${hours} h`;
  return `${Math.round(ms / 86_400_000)} days`;
}


// ─── Users ──────────────────────────────────────────────────────────────────────────────────

export interface ResolvedUser {
  id: string;
  externalId: string;
  displayName: string | null;
  handle: string | null;
  accountId: string | null;
}

/**
 * Finds one user by uuid (with or without braces), account_id, nickname or display name, in that
 * order of precedence; the first kind of identifier that matches anyone decides. Matching runs in
 * JavaScript so it does not depend on the database's collation. `flag` names the option in messages.
 */
export async function resolveUser(db: Kysely<Database>, integration: Integration, query: string, flag = '--user'): Promise<ResolvedUser> {
  const q = query.trim();
  if (!q) throw new RosterError('input_invalid', `${flag} is empty: give a uuid, account_id, nickname or display name.`);
  const users = await db
    .selectFrom('principals')
    .select(['id', 'external_id', 'display_name', 'handle', 'account_id'])
    .where('integration_id', '=', integration.id)
    .where('kind', '=', 'user')
    .orderBy('id')
    .execute();
  const norm = (s: string | null): string => (s ?? '').normalize('NFC');
  const fold = (s: string | null): string => norm(s).toLocaleLowerCase('en-US');
  const uuid = q.replace(/^\{|\}$/g, '').toLowerCase();
  const tiers: Array<[string, (u: (typeof users)[number]) => boolean]> = [
    ['uuid', (u) => u.external_id.replace(/^\{|\}$/g, '').toLowerCase() === uuid],
    ['account_id', (u) => u.account_id === q],
    ['nickname', (u) => norm(u.handle) === norm(q)],
    ['display name', (u) => norm(u.display_name) === norm(q)],
    ['nickname or display name (ignoring case)', (u) => fold(u.handle) === fold(q) || fold(u.display_name) === fold(q)],
  ];
  for (const [what, match] of tiers) {
    const found = users.filter(match);
    if (found.length === 1 && found[0]) {
      const u = found[0];
      return { id: String(u.id), externalId: u.external_id, displayName: u.display_name, handle: u.handle, accountId: u.account_id };
    }
    if (found.length > 1) {
      const list = found.map((u) => `${u.external_id} (${u.display_name ?? '?'}, nickname ${u.handle ?? '?'}, account_id ${u.account_id ?? '?'})`).join('; ');
      throw new RosterError('input_invalid', `${flag} "${q}" matches ${found.length} users by ${what}: ${list}. Give the uuid or account_id instead.`);
    }
  }
  throw new RosterError('input_invalid', `${flag} "${q}" matches no user of "${integration.name}" (by uuid, account_id, nickname or display name).`);
}

// ─── Planner statistics ─────────────────────────────────────────────────────────────────────

const STAT_TABLES = ['principals', 'resources', 'principal_versions', 'resource_versions', 'memberships', 'grants'] as const;
/** Which live count a table's size follows: versions grow with the entities they version. */
const EXPECTED_FROM: Record<(typeof STAT_TABLES)[number], 'principals' | 'resources' | 'memberships' | 'grants'> = {
  principals: 'principals',
  resources: 'resources',
  principal_versions: 'principals',
  resource_versions: 'resources',
  memberships: 'memberships',
  grants: 'grants',
};

/**
 * The access derivation joins six sets; without table statistics the planner guesses one row each
 * and picks nested loops that take minutes instead of milliseconds on a large workspace. PGlite has
 * no autovacuum, and on a server the first report can run before autovacuum has looked. So: when a
 * table has never been analyzed, or holds far more rows than its statistics say, analyze it.
 * Cheap when the statistics are fine (catalog lookups only).
 */
export async function ensurePlannerStatistics(db: Kysely<Database>): Promise<void> {
  const stats = await sql<{ relname: string; reltuples: number }>`
    select relname, reltuples::float8 as reltuples from pg_class
     where relname in (${sql.join(STAT_TABLES.map((t) => sql`${t}`))}) and relkind = 'r' and relnamespace = to_regnamespace(current_schema())::oid`.execute(db);
  const live = await sql<{ principals: number; resources: number; memberships: number; grants: number }>`
    select coalesce(sum(coalesce((counts->'live'->>'users')::int, 0) + coalesce((counts->'live'->>'groups')::int, 0) + coalesce((counts->'live'->>'deploy_keys')::int, 0)), 0)::int as principals,
           coalesce(sum(coalesce((counts->'live'->>'projects')::int, 0) + coalesce((counts->'live'->>'repositories')::int, 0)), 0)::int as resources,
           coalesce(sum(coalesce((counts->'live'->>'memberships')::int, 0)), 0)::int as memberships,
           coalesce(sum(coalesce((counts->'live'->>'grants')::int, 0)), 0)::int as grants
      from sync_runs r
     where r.id in (select max(id) from sync_runs where finished_at is not null group by integration_id)`.execute(db);
  const expected = live.rows[0];
  const stale = STAT_TABLES.filter((table) => {
    const tuples = Number(stats.rows.find((s) => s.relname === table)?.reltuples ?? -1);
    const want = Number(expected?.[EXPECTED_FROM[table]] ?? 0);
    // Analyzing a small table takes milliseconds, so any table that has since doubled is analyzed again.
    return tuples < 0 || tuples * 2 < want;
  });
  if (stale.length === 0) return;
  const started = Date.now();
  try {
    await sql`analyze ${sql.join(stale.map((t) => sql.table(t)))}`.execute(db);
    logger.debug({ tables: stale, ms: Date.now() - started }, 'analyzed tables for report queries');
  } catch (error) {
    // A read-only replica or a role without rights: the report still runs, only slower.
    logger.warn({ tables: stale, err: error instanceof Error ? error.message : String(error) }, 'could not analyze tables; report queries may be slow');
  }
}
