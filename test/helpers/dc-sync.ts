/**
 * Test support for Bitbucket Data Center: an integration row of kind `bitbucket-datacenter` bound to
 * a Data Center simulator credential, a sync through the engine with the Data Center connector, and
 * the simulator's ground truth and Roster's effective access as comparable lines.
 */
import type { RosterDatabase } from '../../src/db/index.ts';
import type { Integration } from '../../src/db/types.ts';
import type { ProgressEvent } from '../../src/interfaces.ts';
import { type EngineEvent, type SyncOutcome, runSync } from '../../src/sync/runner.ts';
import { type BitbucketDataCenterOptions, createBitbucketDataCenterConnector } from '../../connectors/bitbucket-datacenter/index.ts';
import { REPOSITORY_PERMISSIONS } from '../../connectors/bitbucket-datacenter/model.ts';
import type { DcCredentialName, DcSimulator } from '../../connectors/bitbucket-datacenter/simulator/index.ts';
import { effectiveAccessLines } from './sim-sync.ts';

export async function insertDcIntegration(handle: RosterDatabase, sim: DcSimulator, name: string, credential: DcCredentialName = 'adminToken'): Promise<Integration> {
  const c = sim.credentials[credential];
  return handle.db
    .insertInto('integrations')
    .values({ name, kind: 'bitbucket-datacenter', workspace: null, base_url: sim.baseUrl, credential_kind: c.kind === 'basic' ? 'basic-auth' : 'http-access-token', schedule: null, options: JSON.stringify({ credential }) })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export function dcCredential(sim: DcSimulator, name: DcCredentialName): BitbucketDataCenterOptions['credential'] {
  const c = sim.credentials[name];
  return c.kind === 'basic' ? { kind: 'basic', username: c.username, password: c.password } : { kind: 'http-access-token', token: c.token };
}

export async function syncDc(
  handle: RosterDatabase,
  integration: Integration,
  sim: DcSimulator,
  options: { credential?: DcCredentialName; mode?: 'full' | 'incremental'; overrides?: Partial<BitbucketDataCenterOptions>; onProgress?: (e: EngineEvent) => void } = {},
): Promise<SyncOutcome> {
  const credential = options.credential ?? ((integration.options as { credential?: DcCredentialName }).credential ?? 'adminToken');
  return runSync(handle, {
    integration,
    mode: options.mode ?? 'full',
    trigger: 'test',
    onProgress: options.onProgress,
    connect: async (hooks: { onProgress: (e: ProgressEvent) => void; logger: BitbucketDataCenterOptions['logger'] }) =>
      createBitbucketDataCenterConnector({ baseUrl: sim.baseUrl, credential: dcCredential(sim, credential), budgetPerHour: 10_000_000, retryBaseMs: 5, logger: hooks.logger, onProgress: hooks.onProgress, ...options.overrides }),
  });
}

const line = (kind: string, group: string | null | undefined, project: string | null | undefined, permission: string): string =>
  `${kind}${group ? ` group=${group}` : ''}${project ? ` project=${project}` : ''} ${permission}`;

/** Roster's effective access: `user repo permission | path; path; …`, by Data Center ids. */
export async function rosterDcAccess(handle: RosterDatabase, integrationId: string): Promise<string[]> {
  const byPair = new Map<string, { paths: string[]; rank: number }>();
  for (const r of await effectiveAccessLines(handle.db, integrationId)) {
    const key = `${r.user} ${r.repo}`;
    const e = byPair.get(key) ?? { paths: [], rank: 0 };
    e.paths.push(line(r.path_kind, r.via_group, r.via_project, r.permission));
    e.rank = Math.max(e.rank, REPOSITORY_PERMISSIONS.indexOf(r.permission as never) + 1);
    byPair.set(key, e);
  }
  return [...byPair].map(([k, e]) => `${k} ${REPOSITORY_PERMISSIONS[e.rank - 1]} | ${e.paths.sort().join('; ')}`).sort();
}

/** The simulator's ground truth in the same shape. */
export function truthDcAccess(sim: DcSimulator): string[] {
  return sim.truth
    .effectiveAccess()
    .map((e) => `${e.userId} ${e.repositoryId} ${e.permission} | ${e.paths.map((p) => line(p.kind, p.group, p.projectKey, p.permission)).sort().join('; ')}`)
    .sort();
}
