/**
 * The measured scenarios. Each runs inside a worker process (`worker.ts`), opens its own database
 * connection, and returns plain numbers; the driver (`run.ts`) compares them with targets.
 */
import { Writable } from 'node:stream';
import { sql } from 'kysely';
import { runReport } from '../reports/index.ts';
import { type RosterDatabase, openDatabase } from '../src/db/index.ts';
import { addPoolMember, saveIntegration } from '../src/db/integrations.ts';
import { ADMIN_API_TOKEN_SCOPES } from '../connectors/bitbucket-cloud/simulator/credentials.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import type { Integration } from '../src/db/types.ts';
import { Secret, loadKeyring } from '../src/secrets/index.ts';
import type { ConnectorTuning as ConnectorOverrides } from '../src/interfaces.ts';
import { connectIntegration } from '../src/sync/connect.ts';
import { type LoadCounts, type StagedScope, loadScopes } from '../src/sync/loader.ts';
import { BITBUCKET_CLOUD_MODEL } from '../connectors/bitbucket-cloud/model.ts';
import { type EngineEvent, runSync } from '../src/sync/runner.ts';
import { createClock, startSimulator } from '../connectors/bitbucket-cloud/simulator/index.ts';
import { measureFloor } from './floor.ts';
import type { BenchDbTarget, IngestResult, RateLimitedResult, ReportRunResult, Scenario, ScenarioResult, SimEndpoint, SyncResult } from './types.ts';

/** A fixed, throwaway key: the bench's databases are scratch databases. `roster serve` replicas of the bench get it too. */
export const BENCH_ENCRYPTION_KEY = 'YmVuY2gtYmVuY2gtYmVuY2gtYmVuY2gtYmVuY2gtMDE=';
const keyring = loadKeyring({ ROSTER_ENCRYPTION_KEY: BENCH_ENCRYPTION_KEY }, null);

/** Peak RSS of this process once its database was open: what the scenario's own work adds is the rest. */
let openRssMb = 0;

export async function runScenario(scenario: Scenario): Promise<{ result: ScenarioResult; openRssMb: number }> {
  const result = await dispatch(scenario);
  return { result, openRssMb };
}

function dispatch(scenario: Scenario): Promise<ScenarioResult> {
  switch (scenario.kind) {
    case 'prepare':
      return withDatabase(scenario.db, async () => ({ migrated: true }));
    case 'sync':
      return withDatabase(scenario.db, (handle) => syncScenario(handle, scenario.sim, scenario.integration, scenario.mode));
    case 'report':
      return withDatabase(scenario.db, (handle) => reportScenario(handle, scenario.report));
    case 'floor':
      // On connections of its own: an embedded data directory must not be open twice.
      return measureFloor(scenario.db, scenario.report, scenario.rounds);
    case 'ingest':
      return withDatabase(scenario.db, (handle) => ingestScenario(handle, scenario.rows, scenario.batch, scenario.rounds));
    case 'rate-limited':
      return withDatabase(scenario.db, (handle) => rateLimitedScenario(handle, scenario));
  }
}

async function withDatabase<T>(target: BenchDbTarget, body: (handle: RosterDatabase) => Promise<T>): Promise<T> {
  const handle = await openDatabase(target.kind === 'server' ? { kind: 'server', url: target.url } : { kind: 'embedded', dataDir: target.dataDir });
  try {
    await migrateToLatest(handle.db);
    openRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
    return await body(handle);
  } finally {
    await handle.close();
  }
}

/**
 * The bench's integration of a simulator; its budget is the run's tuning (beyond what an operator may
 * set), not a stored option. `schedule`: a cron expression for `roster serve` (default none).
 */
export async function ensureIntegration(handle: RosterDatabase, name: string, sim: SimEndpoint, schedule: string | null = null): Promise<Integration> {
  const existing = await handle.db.selectFrom('integrations').selectAll().where('name', '=', name).executeTakeFirst();
  if (existing) return existing;
  const { integration } = await saveIntegration(
    handle.db,
    keyring,
    {
      name,
      kind: 'bitbucket-cloud',
      workspace: sim.workspace,
      baseUrl: sim.baseUrl,
      credentialKind: 'api-token',
      schedule,
      timezone: 'UTC',
      options: {},
      credential: { secret: new Secret(sim.token), username: sim.email },
    },
    false,
  );
  return integration;
}

interface TimedSync {
  result: SyncResult;
  finalizeAt: number | null;
}

async function timedSync(handle: RosterDatabase, integration: Integration, mode: 'full' | 'incremental', overrides: ConnectorOverrides, onEvent?: (event: EngineEvent) => void, reconcile?: 'always' | 'off'): Promise<TimedSync> {
  let finalizeAt: number | null = null;
  const started = performance.now();
  const outcome = await runSync(handle, {
    integration,
    mode,
    trigger: 'manual',
    reconcile,
    onProgress: (event) => {
      if (event.type === 'finalize' && finalizeAt === null) finalizeAt = performance.now();
      onEvent?.(event);
    },
    connect: (hooks) => connectIntegration(handle, keyring, integration, hooks, overrides),
  });
  const ended = performance.now();
  const run = await handle.db.selectFrom('sync_runs').select(['api_requests', 'responses_429', 'rate_limit_waits', 'counts']).where('id', '=', outcome.runId).executeTakeFirstOrThrow();
  const counts = await sql<{ effective: number; grants: number }>`
    select (select count(*) from effective_access where integration_id = ${integration.id})::int as effective,
           (select count(*) from grants where integration_id = ${integration.id} and removed_run is null)::int as grants`.execute(handle.db);
  return {
    finalizeAt,
    result: {
      runId: outcome.runId,
      status: outcome.status,
      summary: outcome.summary,
      apiRequests: run.api_requests,
      responses429: run.responses_429,
      rateLimitWaits: run.rate_limit_waits,
      wallMs: Math.round(ended - started),
      finalizeMs: finalizeAt === null ? 0 : Math.round(ended - finalizeAt),
      effectiveAccessRows: counts.rows[0]?.effective ?? 0,
      grants: counts.rows[0]?.grants ?? 0,
      added: (run.counts as { added?: Record<string, number> } | null)?.added ?? {},
    },
  };
}

/** A sync with Roster's defaults (connector concurrency, scope concurrency) and no rate limit. */
async function syncScenario(handle: RosterDatabase, sim: SimEndpoint, name: string, mode: 'full' | 'incremental'): Promise<SyncResult> {
  const integration = await ensureIntegration(handle, name, sim);
  const { result } = await timedSync(handle, integration, mode, { budgetPerHour: 1_000_000 });
  return result;
}

/** One report as CSV into a sink that only counts bytes (the disk is not what is measured). */
async function reportScenario(handle: RosterDatabase, report: string): Promise<ReportRunResult> {
  let bytes = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      callback();
    },
  });
  const started = performance.now();
  const result = await runReport(handle.db, report, { format: 'csv', maxAgeMs: Number.MAX_SAFE_INTEGER }, sink);
  return { report, rows: result.rows, bytes, wallMs: Math.round(performance.now() - started), warnings: result.warnings.length };
}

/**
 * Grant rows per second through `loadScopes` (what a sync's flush runs: keys resolved by join, upsert
 * with history columns) beside a raw `insert … select from unnest` of the same rows with their ids
 * already resolved, in the same process and database, alternating, in batches the size of a flush.
 */
async function ingestScenario(handle: RosterDatabase, rows: number, batch: number, rounds: number): Promise<IngestResult> {
  const { db } = handle;
  const integration = await db
    .insertInto('integrations')
    .values({ name: `ingest-${Date.now()}`, kind: 'bitbucket-cloud', workspace: 'bench', base_url: 'http://127.0.0.1:1', credential_kind: 'api-token', schedule: null, timezone: 'UTC', options: '{}' })
    .returning('id')
    .executeTakeFirstOrThrow();
  const integrationId = String(integration.id);
  // One open run per integration: each round's run is closed before the next one opens.
  const newRun = async (): Promise<string> => {
    await db.updateTable('sync_runs').set({ status: 'succeeded', finished_at: new Date() }).where('integration_id', '=', integrationId).where('status', '=', 'running').execute();
    return String((await db.insertInto('sync_runs').values({ integration_id: integrationId, trigger: 'manual', mode: 'full', since: null, status: 'running', holder: 'bench', counts: '{}' }).returning('id').executeTakeFirstOrThrow()).id);
  };

  // Principals and repositories the grants point at: sqrt-ish shape so every grant is distinct.
  const users = Math.ceil(Math.sqrt(rows * 2));
  const repos = Math.ceil(rows / users) + 1;
  const setupRun = await newRun();
  const userIds = Array.from({ length: users }, (_, i) => `{u-${i}}`);
  const repoIds = Array.from({ length: repos }, (_, i) => `{r-${i}}`);
  await loadScopes(db, integrationId, setupRun, [
    {
      scopeId: 'setup',
      batches: [
        {
          principals: userIds.map((externalId, i) => ({ kind: 'user' as const, externalId, displayName: `User ${i}`, handle: `user${i}`, accountId: `acc-${i}` })),
          resources: repoIds.map((externalId, i) => ({ kind: 'repository' as const, externalId, name: `repo-${i}`, handle: `repo-${i}`, parent: null })),
        },
      ],
    },
  ], BITBUCKET_CLOUD_MODEL);
  const permissions = ['read', 'write', 'admin'] as const;
  const grants = Array.from({ length: rows }, (_, i) => ({ user: userIds[i % users] as string, repo: repoIds[Math.floor(i / users)] as string, permission: permissions[i % 3] as 'read' | 'write' | 'admin' }));
  const idOf = async (table: 'principals' | 'resources'): Promise<Map<string, string>> => {
    const found = await db.selectFrom(table).select(['id', 'external_id']).where('integration_id', '=', integrationId).execute();
    return new Map(found.map((r) => [r.external_id, String(r.id)]));
  };
  const principalIds = await idOf('principals');
  const resourceIds = await idOf('resources');

  const clear = async (): Promise<void> => {
    await db.deleteFrom('grants').where('integration_id', '=', integrationId).execute();
    await sql`vacuum analyze grants`.execute(db);
  };

  const viaLoader = async (): Promise<number> => {
    const runId = await newRun();
    const started = performance.now();
    let loaded: LoadCounts | null = null;
    for (let offset = 0; offset < rows; offset += batch) {
      const slice = grants.slice(offset, offset + batch);
      // What a flush of per-repository scopes looks like: many scopes, their grants, the users they reference.
      const scopes: StagedScope[] = [];
      for (let s = 0; s < slice.length; s += 25) {
        const part = slice.slice(s, s + 25);
        scopes.push({
          scopeId: `repository-user-permissions:${offset + s}`,
          batches: [
            {
              referencedPrincipals: part.map((g) => ({ kind: 'user' as const, externalId: g.user, displayName: null, handle: null })),
              grants: part.map((g) => ({ principal: { kind: 'user' as const, externalId: g.user }, resource: { kind: 'repository' as const, externalId: g.repo }, permission: g.permission })),
            },
          ],
        });
      }
      loaded = await db.transaction().execute((trx) => loadScopes(trx, integrationId, runId, scopes, BITBUCKET_CLOUD_MODEL));
    }
    const seconds = (performance.now() - started) / 1000;
    if (!loaded) throw new Error('nothing loaded');
    return rows / seconds;
  };

  const viaRawUnnest = async (): Promise<number> => {
    const runId = await newRun();
    const started = performance.now();
    for (let offset = 0; offset < rows; offset += batch) {
      const slice = grants.slice(offset, offset + batch);
      await db.transaction().execute(async (trx) => {
        await sql`
          insert into grants (integration_id, principal_id, resource_id, resource_kind, permission, scope, first_seen_run, last_seen_run)
          select ${integrationId}, t.principal_id, t.resource_id, 'repository', t.permission, t.scope, ${runId}, ${runId}
          from unnest(${slice.map((g) => principalIds.get(g.user) ?? null)}::bigint[], ${slice.map((g) => resourceIds.get(g.repo) ?? null)}::bigint[],
                      ${slice.map((g) => g.permission)}::text[], ${slice.map((_, s) => `repository-user-permissions:${offset + s - (s % 25)}`)}::text[])
            as t(principal_id, resource_id, permission, scope)`.execute(trx);
      });
    }
    const seconds = (performance.now() - started) / 1000;
    return rows / seconds;
  };

  const loaderRounds: number[] = [];
  const rawRounds: number[] = [];
  for (let round = 0; round < rounds; round++) {
    // Alternate which goes first, so a warm cache or a burst of outside load does not favour one side.
    const order = round % 2 === 0 ? ['raw', 'loader'] : ['loader', 'raw'];
    for (const which of order) {
      await clear();
      if (which === 'raw') rawRounds.push(Math.round(await viaRawUnnest()));
      else loaderRounds.push(Math.round(await viaLoader()));
    }
  }
  return { rows, batch, rounds, loaderRowsPerSecond: Math.max(...loaderRounds), rawRowsPerSecond: Math.max(...rawRounds), loaderRounds, rawRounds };
}

/**
 * A full sync against an in-process simulator on an accelerated clock shared with the connector (an
 * accelerated clock cannot cross processes), at the given budget, with waits of up to 2 h allowed so
 * Roster paces itself instead of pausing the run.
 */
async function rateLimitedScenario(handle: RosterDatabase, scenario: Extract<Scenario, { kind: 'rate-limited' }>): Promise<RateLimitedResult> {
  const clock = createClock({ speed: scenario.speed });
  const sim = await startSimulator({ profile: scenario.profile, rateLimit: { perHour: scenario.budgetPerHour }, clock });
  try {
    const admin = sim.credentials.adminApiToken;
    const endpoint: SimEndpoint = { baseUrl: sim.baseUrl, workspace: sim.workspace, email: admin.email, token: admin.token };
    const credentials = scenario.credentials ?? 1;
    const reconcile = scenario.reconcile ?? 'always';
    const integration = await ensureIntegration(handle, `rate-limited-${scenario.profile}-${credentials}-${reconcile}`, endpoint);
    // The pool: API tokens of other workspace owners (the simulator, like Bitbucket, limits per user).
    const emails = new Set([admin.email.toLowerCase()]);
    for (const owner of sim.truth.users().filter((u) => u.role === 'owner')) {
      if (emails.size >= credentials) break;
      const token = sim.issueApiToken(owner.uuid, [...ADMIN_API_TOKEN_SCOPES]);
      if (emails.has(token.email.toLowerCase())) continue;
      emails.add(token.email.toLowerCase());
      await addPoolMember(handle.db, keyring, integration, { secret: new Secret(token.token), username: token.email });
    }
    if (emails.size < credentials) throw new Error(`the ${scenario.profile} workspace has ${emails.size} owners; a pool of ${credentials} needs that many`);
    const simStart = clock.now();
    let lastAnswer = simStart;
    const realStart = performance.now();
    const { result, finalizeAt } = await timedSync(
      handle,
      integration,
      'full',
      { clock, budgetPerHour: scenario.budgetPerHour, maxRateLimitWaitMs: 2 * 3_600_000 },
      (event) => {
        if (event.type === 'request') lastAnswer = clock.now();
      },
      reconcile,
    );
    const simEnd = clock.now();
    const realEnd = performance.now();
    const stats = sim.stats();
    return {
      profile: scenario.profile,
      budgetPerHour: scenario.budgetPerHour,
      credentials,
      reconcile,
      speed: scenario.speed,
      status: result.status,
      requests: result.apiRequests,
      simRequests: stats.requests,
      responses429: stats.responses429,
      rateLimitWaits: result.rateLimitWaits,
      simHoursToLastRequest: (lastAnswer - simStart) / 3_600_000,
      simHoursTotal: (simEnd - simStart) / 3_600_000,
      realSeconds: (realEnd - realStart) / 1000,
      finalizeRealSeconds: finalizeAt === null ? 0 : (realEnd - finalizeAt) / 1000,
    };
  } finally {
    await sim.close();
  }
}
