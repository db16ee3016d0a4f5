import { PassThrough } from 'node:stream';
import type { Kysely } from 'kysely';
import { type ReportOptions, type ReportResult, runReport } from '../../reports/index.ts';
import type { RosterDatabase } from '../../src/db/index.ts';
import type { Database, Integration } from '../../src/db/types.ts';
import { type SyncOutcome, runSync } from '../../src/sync/runner.ts';
import type { GroundTruth, ProjectGroupGrant, ProjectUserGrant, RepoGroupGrant, RepoUserGrant, SimDeployKey, SimGroup, SimProject, SimRepo, SimUser } from '../../connectors/bitbucket-cloud/simulator/types.ts';

import { type TruthConnectorOptions, truthConnector } from '../../connectors/bitbucket-cloud/simulator/truth-connector.ts';

export { type TruthConnectorOptions, truthConnector };

/** A hand-written workspace for tests that check reports against hand-computed expectations. */
export interface HandWorkspace {
  users: Array<Omit<SimUser, 'member'> & { member?: boolean }>;
  groups: SimGroup[];
  /** `isPrivate` defaults to true. */
  projects: Array<Omit<SimProject, 'isPrivate'> & { isPrivate?: boolean }>;
  /** `isPrivate` defaults to true, `updatedOn` to a fixed date. */
  repos: Array<Omit<SimRepo, 'isPrivate' | 'updatedOn'> & Partial<Pick<SimRepo, 'isPrivate' | 'updatedOn'>>>;
  deployKeys: SimDeployKey[];
  projectUserGrants: ProjectUserGrant[];
  projectGroupGrants: ProjectGroupGrant[];
  repoUserGrants: RepoUserGrant[];
  repoGroupGrants: RepoGroupGrant[];
}

/**
 * Ground truth over a hand-written workspace (read live, so tests can change it between syncs).
 * Users with `member: false` are not in the member list but can hold grants (as Bitbucket allows).
 */
export function handTruth(ws: HandWorkspace): GroundTruth {
  const unused = (): never => {
    throw new Error('not computed for hand-written workspaces');
  };
  return {
    workspace: { uuid: '{ws-acme}', slug: 'acme', name: 'Acme Corp' },
    users: () => ws.users.filter((u) => u.member !== false).map((u) => ({ ...u, member: true })),
    groups: () => ws.groups,
    projects: () => ws.projects.map((p) => ({ ...p, isPrivate: p.isPrivate ?? true })),
    repositories: () => ws.repos.map(fullRepo),
    publicRepositories: () => ws.repos.map(fullRepo).filter((r) => !r.isPrivate),
    deployKeys: () => ws.deployKeys,
    projectUserGrants: () => ws.projectUserGrants,
    projectGroupGrants: () => ws.projectGroupGrants,
    repoUserGrants: () => ws.repoUserGrants,
    repoGroupGrants: () => ws.repoGroupGrants,
    effectiveAccess: unused,
    reportedRepositoryPermissions: unused,
    reportedPermissionsReading: () => ({ includeOwners: false, includeProjectInherited: true }),
    plantedReportedPermissions: () => [],
    summary: unused,
  };
}

function fullRepo(r: HandWorkspace['repos'][number]): SimRepo {
  return { ...r, isPrivate: r.isPrivate ?? true, updatedOn: r.updatedOn ?? '2026-01-01T00:00:00.000000+00:00' };
}

export async function addIntegration(db: Kysely<Database>, name: string, workspace = 'acme'): Promise<Integration> {
  return db
    .insertInto('integrations')
    .values({ name, kind: 'bitbucket-cloud', workspace, base_url: 'http://127.0.0.1:1', credential_kind: 'api-token', schedule: null, options: '{}' })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function syncTruth(handle: RosterDatabase, integration: Integration, truth: GroundTruth, options: TruthConnectorOptions = {}): Promise<SyncOutcome> {
  return runSync(handle, { integration, mode: 'full', trigger: 'test', connect: async () => truthConnector(truth, options) });
}

// ─── Running a report in a test ──────────────────────────────────────────────────────────────

export async function captureReport(db: Kysely<Database>, name: string, options: Partial<ReportOptions> = {}): Promise<{ text: string; result: ReportResult }> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const result = await runReport(db, name, { format: 'json', maxAgeMs: 1e15, ...options }, out);
  return { text: Buffer.concat(chunks).toString('utf8'), result };
}

export type ReportRow = Record<string, unknown>;

export async function reportRows(db: Kysely<Database>, name: string, options: Partial<ReportOptions> = {}): Promise<{ rows: ReportRow[]; result: ReportResult }> {
  const { text, result } = await captureReport(db, name, { ...options, format: 'json' });
  return { rows: JSON.parse(text) as ReportRow[], result };
}
