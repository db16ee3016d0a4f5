import { type Kysely, sql } from 'kysely';
import type { ReconcileSetting } from '../../src/interfaces.ts';
import type { RosterDatabase } from '../../src/db/index.ts';
import { saveIntegration } from '../../src/db/integrations.ts';
import type { Database, Integration } from '../../src/db/types.ts';
import { Secret, loadKeyring } from '../../src/secrets/index.ts';
import type { ConnectorTuning as ConnectorOverrides } from '../../src/interfaces.ts';
import { connectIntegration } from '../../src/sync/connect.ts';
import { type EngineEvent, type SyncOutcome, runSync } from '../../src/sync/runner.ts';
import type { SimCredentialName, Simulator } from '../../connectors/bitbucket-cloud/simulator/index.ts';

export const TEST_KEY = 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=';
export const keyring = loadKeyring({ ROSTER_ENCRYPTION_KEY: TEST_KEY }, null);

/** Connects (or re-connects, replacing the credential) an integration to a simulator credential. */
export async function connectSim(handle: RosterDatabase, sim: Simulator, name: string, credentialName: SimCredentialName = 'adminApiToken', options: { budgetPerHour?: number; reconcile?: string } = {}): Promise<Integration> {
  const c = sim.credentials[credentialName];
  const credential =
    c.kind === 'api-token'
      ? { secret: new Secret(c.token), username: c.email }
      : c.kind === 'oauth-client-credentials'
        ? { secret: new Secret(c.clientSecret), username: c.clientId }
        : c.kind === 'app-password'
          ? { secret: new Secret(c.password), username: c.username }
          : { secret: new Secret(c.token), username: null };
  const { integration } = await saveIntegration(
    handle.db,
    keyring,
    { name, kind: 'bitbucket-cloud', workspace: sim.workspace, baseUrl: sim.baseUrl, credentialKind: c.kind, schedule: null, timezone: 'UTC', options: { tokenUrl: `${sim.baseUrl}/site/oauth2/access_token`, budgetPerHour: options.budgetPerHour, reconcile: options.reconcile }, credential },
    true,
  );
  return integration;
}

export async function syncSim(handle: RosterDatabase, integration: Integration, options: { overrides?: ConnectorOverrides; mode?: 'full' | 'incremental'; signal?: AbortSignal; onProgress?: (e: EngineEvent) => void; spillRecords?: number; reconcile?: ReconcileSetting } = {}): Promise<SyncOutcome> {
  return runSync(handle, {
    reconcile: options.reconcile,
    spillRecords: options.spillRecords,
    integration,
    mode: options.mode ?? 'full',
    trigger: 'test',
    signal: options.signal,
    onProgress: options.onProgress,
    // The connector's budget is shared per credential across the process; tests that do not test
    // pacing must not wait on each other's requests.
    connect: (hooks) => connectIntegration(handle, keyring, integration, hooks, { retryBaseMs: 5, budgetPerHour: 1_000_000, ...options.overrides }),
  });
}

/** Roster's effective access as comparable lines: `user repo permission | path; path; …`. */
export interface EffectiveAccessLine {
  user: string;
  repo: string;
  path_kind: string;
  via_group: string | null;
  via_project: string | null;
  permission: string;
}

/** The materialized effective access of an integration, by the source's ids and handles. */
export async function effectiveAccessLines(db: Kysely<Database>, integrationId: string): Promise<EffectiveAccessLine[]> {
  const rows = await sql<EffectiveAccessLine>`
    select u.external_id as user, r.external_id as repo, e.path_kind, g.external_id as via_group, p.handle as via_project, e.permission
    from effective_access e
    join principals u on u.id = e.user_id
    join resources r on r.id = e.repository_id
    left join principals g on g.id = e.via_group_id
    left join resources p on p.id = e.via_project_id
    where e.integration_id = ${integrationId}
    order by 1, 2, 3, 4`.execute(db);
  return rows.rows;
}

export async function rosterAccess(handle: RosterDatabase, integrationId: string): Promise<string[]> {
  const lines = await effectiveAccessLines(handle.db, integrationId);
  const byPair = new Map<string, { user: string; repo: string; paths: string[]; rank: number }>();
  const rank = { read: 1, write: 2, admin: 3 } as Record<string, number>;
  for (const r of lines) {
    const key = `${r.user} ${r.repo}`;
    const entry = byPair.get(key) ?? { user: r.user, repo: r.repo, paths: [], rank: 0 };
    entry.paths.push(pathLine(r.path_kind, r.via_group, r.via_project, r.permission));
    entry.rank = Math.max(entry.rank, rank[r.permission] ?? 0);
    byPair.set(key, entry);
  }
  return [...byPair.values()].map((e) => `${e.user} ${e.repo} ${['', 'read', 'write', 'admin'][e.rank]} | ${e.paths.sort().join('; ')}`).sort();
}

/** The simulator's ground truth in the same shape. */
export function truthAccess(sim: Simulator): string[] {
  return sim.truth
    .effectiveAccess()
    .map((e) => `${e.userUuid} ${e.repoUuid} ${e.permission} | ${e.paths.map((p) => pathLine(p.kind, p.group ?? null, p.projectKey ?? null, p.permission)).sort().join('; ')}`)
    .sort();
}

function pathLine(kind: string, group: string | null, project: string | null, permission: string): string {
  return `${kind}${group ? ` group=${group}` : ''}${project ? ` project=${project}` : ''} ${permission}`;
}

/** Counts of rows each table marked removed in a run. */
export async function removedIn(handle: RosterDatabase, runId: string): Promise<Record<string, number>> {
  const result = await sql<Record<string, number>>`
    select (select count(*) from principals where removed_run = ${runId})::int as principals,
           (select count(*) from resources where removed_run = ${runId})::int as resources,
           (select count(*) from memberships where removed_run = ${runId})::int as memberships,
           (select count(*) from grants where removed_run = ${runId})::int as grants`.execute(handle.db);
  return result.rows[0] ?? {};
}

/**
 * Rows a run removed although the scope that lists them was not read completely in that run — and
 * that are not cascades of a principal or resource removed in the same run, nor resources the
 * source confirmed gone. Must always be empty.
 */
export async function removalsOutsideCleanScopes(handle: RosterDatabase, runId: string): Promise<string[]> {
  const result = await sql<{ what: string }>`
    with clean as (select scope from sync_scopes where run_id = ${runId} and status = 'complete' and not filtered)
    select 'principal ' || external_id as what from principals where removed_run = ${runId} and scope not in (select scope from clean)
    union all select 'resource ' || external_id from resources where removed_run = ${runId} and scope not in (select scope from clean)
      -- Confirmed gone by the source (its uuid answered 404) is not an inference from a listing.
      and not exists (select 1 from sync_notices n where n.run_id = ${runId} and n.kind = 'gone' and n.record_kind = resources.kind and n.record_id = resources.external_id)
    union all select 'membership ' || m.id from memberships m where m.removed_run = ${runId} and m.scope not in (select scope from clean)
      and not exists (select 1 from principals p where p.id in (m.group_id, m.member_id) and p.removed_run = ${runId})
    union all select 'grant ' || g.id from grants g where g.removed_run = ${runId} and g.scope not in (select scope from clean)
      and not exists (select 1 from principals p where p.id = g.principal_id and p.removed_run = ${runId})
      and not exists (select 1 from resources r where r.id = g.resource_id and r.removed_run = ${runId})`.execute(handle.db);
  return result.rows.map((r) => r.what);
}
