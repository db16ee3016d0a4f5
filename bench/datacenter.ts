/**
 * Section 8 of `npm run bench`: Bitbucket Data Center. A full sync of the `large` instance (`small`
 * with --smoke) from the Data Center simulator, per database: requests Roster made vs the minimum the
 * API allows (`minimumDcRequests`), and the sync's wall time. The simulator and the sync share this
 * process (the figures are comparable run to run, not with section 4's separate processes).
 */
import { sql } from 'kysely';
import { type RosterDatabase, openDatabase } from '../src/db/index.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { runSync } from '../src/sync/runner.ts';
import { createBitbucketDataCenterConnector } from '../connectors/bitbucket-datacenter/index.ts';
import { minimumDcRequests, startDcSimulator, type DcProfile } from '../connectors/bitbucket-datacenter/simulator/index.ts';
import { createScratchDatabase } from './databases.ts';
import { type Figure, type SectionId, fmt } from './figures.ts';
import type { DbKind } from './types.ts';

/** Every path of the materialized effective access, as `user repo path group project permission` by source ids. */
async function effectiveLines(handle: RosterDatabase, integrationId: string): Promise<Set<string>> {
  const rows = await sql<{ line: string }>`
    select u.external_id || ' ' || r.external_id || ' ' || e.path_kind || ' ' || coalesce(g.external_id, '') || ' ' || coalesce(p.handle, '') || ' ' || e.permission as line
      from effective_access e join principals u on u.id = e.user_id join resources r on r.id = e.repository_id
      left join principals g on g.id = e.via_group_id left join resources p on p.id = e.via_project_id
     where e.integration_id = ${integrationId}`.execute(handle.db);
  return new Set(rows.rows.map((r) => r.line));
}

type AddFigure = (section: SectionId, label: string, value: string, target: string, status: Figure['status']) => void;

const REQUEST_RATIO = 1.05;

export async function datacenterSection(options: { smoke: boolean; seed: number; dbs: DbKind[]; url: string; log: (line: string) => void }, add: AddFigure, raw: Record<string, unknown>): Promise<void> {
  const profile: DcProfile = options.smoke ? 'small' : 'large';
  for (const kind of options.dbs) {
    options.log(`\n[Data Center ${profile} on ${kind}]`);
    const sim = await startDcSimulator({ profile, seed: options.seed });
    const scratch = await createScratchDatabase(kind, options.url);
    const handle = await openDatabase(scratch.target.kind === 'server' ? { kind: 'server', url: scratch.target.url } : { kind: 'embedded', dataDir: scratch.target.dataDir });
    try {
      await migrateToLatest(handle.db);
      const integration = await handle.db
        .insertInto('integrations')
        .values({ name: `bench-dc-${profile}`, kind: 'bitbucket-datacenter', workspace: null, base_url: sim.baseUrl, credential_kind: 'http-access-token', schedule: null, options: '{}' })
        .returningAll()
        .executeTakeFirstOrThrow();
      const admin = sim.credentials.adminToken;
      const token = admin.kind === 'http-access-token' ? admin.token : '';
      const started = performance.now();
      const outcome = await runSync(handle, {
        integration,
        mode: 'full',
        trigger: 'manual',
        connect: async (hooks) => createBitbucketDataCenterConnector({ baseUrl: sim.baseUrl, credential: { kind: 'http-access-token', token }, budgetPerHour: 100_000_000, concurrency: 8, logger: hooks.logger, onProgress: hooks.onProgress }),
      });
      const wallMs = performance.now() - started;
      const run = await handle.db.selectFrom('sync_runs').select(['api_requests']).where('id', '=', outcome.runId).executeTakeFirstOrThrow();
      const minimum = minimumDcRequests(sim.truth.instance);
      const served = sim.stats().requests;
      raw[`datacenter:${profile}:${kind}`] = { status: outcome.status, wallMs, apiRequests: run.api_requests, simRequests: served, minimum };
      const ratio = run.api_requests / minimum.total;
      add('datacenter', `${profile}: requests Roster made / minimum, ${kind}`, `${fmt.int(run.api_requests)} / ${fmt.int(minimum.total)} = ${fmt.num(ratio, 3)} (simulator served ${fmt.int(served)})`, `≤ ${REQUEST_RATIO} × minimum`, ratio <= REQUEST_RATIO && outcome.status === 'succeeded' ? 'pass' : 'miss');
      // Roster's effective access against the simulator's ground truth, every path (the tests do small and medium).
      const roster = await effectiveLines(handle, String(integration.id));
      const truth = sim.truth.effectiveAccess();
      const truthLines = new Set(truth.flatMap((e) => e.paths.map((p) => `${e.userId} ${e.repositoryId} ${p.kind} ${p.group ?? ''} ${p.projectKey ?? ''} ${p.permission}`)));
      const missing = [...truthLines].filter((l) => !roster.has(l)).length;
      const extra = [...roster].filter((l) => !truthLines.has(l)).length;
      add('datacenter', `${profile}: effective access equals the simulator's truth, ${kind}`, missing + extra === 0 ? `yes (${fmt.int(truth.length)} user × repository pairs, ${fmt.int(truthLines.size)} paths)` : `NO: ${fmt.int(missing)} paths missing, ${fmt.int(extra)} extra`, 'equal', missing + extra === 0 ? 'pass' : 'miss');
      add('datacenter', `${profile} full sync, ${kind}: wall time`, `${fmt.s(wallMs)} (${outcome.status}; ${fmt.int(run.api_requests / (wallMs / 1000))} req/s; simulator in the same process)`, '', outcome.status === 'succeeded' ? 'info' : 'miss');
    } finally {
      await handle.close();
      await scratch.drop().catch(() => {});
      await sim.close();
    }
  }
}
