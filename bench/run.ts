/**
 * `npm run bench [-- options]`: measures Roster where its users feel it and prints every figure beside
 * its target. See BENCHMARKS.md for the latest figures and what they mean.
 *
 *   --smoke                 seconds: the small profile everywhere, nothing written (the test suite runs this)
 *   --enterprise            also the enterprise profile (sync, reports) and a rate-limited run of large at 1,000/h
 *   --db embedded|server|both   databases to run on (default both; the server is skipped, with a note, when it does not answer)
 *   --profile a,b           profiles for sections 1, 2, 4 and 6 (default medium,large; with --enterprise also enterprise)
 *   --rate-limited p@n,…    rate-limited runs: profile@requests-per-hour[xCREDENTIALS][:off] (default medium@1000,medium@100;
 *                           with --enterprise also large and enterprise @1000, @1000x4 and @1000x4:off)
 *   --ingest-rows N         grant rows per ingest round (default 200000)
 *   --replicas 1,2,4        section 9: numbers of `roster serve` replicas to run on one server database (default 1,2,4; smoke 1,2)
 *   --replica-integrations N   section 9: integrations, each on a simulator of its own (default 20 medium, each replica
 *                           at the default --max-concurrent-syncs; smoke 4 small at 2, so the queue is used)
 *   --seed N                simulator seed (default 1)
 *   --out PATH              where to write the Markdown (default BENCHMARKS.md; smoke: nowhere)
 *   --no-write              print only
 *   --json PATH             also write every figure and raw result as JSON
 *
 * Server: BENCH_DATABASE_URL, else DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test; a fresh
 * database is created per scenario group and dropped afterwards.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { benchSimulator } from '../connectors/bitbucket-cloud/simulator/bench.ts';
import { SIM_PROFILES, type SimDeployKey, type SimGroup, type SimProfile, type SimProject, type SimRepo, type SimStats } from '../connectors/bitbucket-cloud/simulator/types.ts';
import type { ProjectGroupGrant, ProjectUserGrant, RepoGroupGrant, RepoUserGrant } from '../connectors/bitbucket-cloud/simulator/types.ts';
import { createScratchDatabase, serverProblem, serverUrl } from './databases.ts';
import { datacenterSection } from './datacenter.ts';
import { type BenchReport, type Figure, type MachineInfo, SECTIONS, type SectionId, fmt, machineLine, markdownTable, textTable } from './figures.ts';
import { ROUTES, type RequestBreakdown, minimumRequests } from './minimum.ts';
import { type SimProcess, startSimProcess } from './sim-process.ts';
import type { DbKind, FloorRunResult, IngestResult, RateLimitedResult, ReportRunResult, SyncResult } from './types.ts';
import { DEFAULT_MAX_CONCURRENT_SYNCS } from '../src/db/index.ts';
import { replicasSection } from './replicas.ts';
import { runWorker } from './workers.ts';

export interface BenchOptions {
  smoke: boolean;
  enterprise: boolean;
  dbs: DbKind[];
  profiles: SimProfile[];
  rateLimited: Array<{ profile: SimProfile; budget: number; credentials: number; reconcile: 'always' | 'off' }>;
  ingestRows: number;
  /** Section 9: replica counts, and how many integrations they share. */
  replicas: number[];
  replicaIntegrations: number;
  seed: number;
  out: string | null;
  json: string | null;
  log: (line: string) => void;
}

const REPORTS = ['access-review', 'user-access'] as const;
const TARGETS = {
  requestRatio: 1.05,
  incrementalShare: 0.1,
  floorSlack: 1.05,
  largeSyncMs: 60_000,
  enterpriseSyncMs: 300_000,
  enterpriseRssMb: 1024,
  loaderShare: 0.5,
  accessReviewMs: 30_000,
  accessReviewRssMb: 512,
  /** A report's time over its floor (a plain COPY of the same rows from the same database). */
  floorRatio: 2,
  simStartMs: 10_000,
  simRequestsPerSecond: 1000,
};
/** Generous limits so a stuck worker fails the bench instead of hanging it. */
const WORKER_TIMEOUT_MS = 90 * 60_000;

export function parseOptions(argv: string[], log: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      smoke: { type: 'boolean', default: false },
      enterprise: { type: 'boolean', default: false },
      db: { type: 'string', default: 'both' },
      profile: { type: 'string' },
      'rate-limited': { type: 'string' },
      'ingest-rows': { type: 'string' },
      replicas: { type: 'string' },
      'replica-integrations': { type: 'string' },
      seed: { type: 'string', default: '1' },
      out: { type: 'string' },
      'no-write': { type: 'boolean', default: false },
      json: { type: 'string' },
    },
    strict: true,
  });
  const problems: string[] = [];
  const dbs: DbKind[] = values.db === 'both' ? ['embedded', 'server'] : values.db === 'embedded' || values.db === 'server' ? [values.db] : [];
  if (dbs.length === 0) problems.push(`--db must be embedded, server or both, got ${values.db}`);
  const isProfile = (p: string): p is SimProfile => (SIM_PROFILES as readonly string[]).includes(p);
  const smoke = values.smoke === true;
  const enterprise = values.enterprise === true;
  const defaultProfiles: SimProfile[] = smoke ? ['small'] : enterprise ? ['medium', 'large', 'enterprise'] : ['medium', 'large'];
  const profiles = (values.profile?.split(',').map((p) => p.trim()) ?? defaultProfiles).filter((p) => {
    if (!isProfile(p)) problems.push(`unknown profile ${p} (use ${SIM_PROFILES.join(', ')})`);
    return isProfile(p);
  }) as SimProfile[];
  const rateSpec = values['rate-limited'] ?? (smoke ? 'small@10' : enterprise ? 'medium@1000,medium@100,large@1000,large@1000x4,large@1000x4:off,enterprise@1000x4:off,enterprise@1000x4,enterprise@1000' : 'medium@1000,medium@100');
  const rateLimited = rateSpec
    .split(',')
    .filter((s) => s.trim() !== '')
    .flatMap((spec) => {
      // profile@budget[xCREDENTIALS][:off] — e.g. large@1000x4:off: four credentials, reconciliation off.
      const m = /^(\w+)@(\d+)(?:x(\d+))?(:off)?$/.exec(spec.trim());
      const profile = m?.[1] ?? '';
      const n = Number(m?.[2]);
      const credentials = Number(m?.[3] ?? 1);
      if (!m || !isProfile(profile) || !Number.isInteger(n) || n < 1 || !(credentials >= 1 && credentials <= 8)) {
        problems.push(`--rate-limited takes profile@requests-per-hour[xCREDENTIALS][:off] (e.g. large@1000x4:off), got ${spec}`);
        return [];
      }
      return [{ profile, budget: n, credentials, reconcile: m[4] ? ('off' as const) : ('always' as const) }];
    });
  const ingestRows = Number(values['ingest-rows'] ?? (smoke ? 4000 : 200_000));
  if (!Number.isInteger(ingestRows) || ingestRows < 100) problems.push(`--ingest-rows must be an integer >= 100`);
  const replicas = (values.replicas ?? (smoke ? '1,2' : '1,2,4')).split(',').filter((r) => r.trim() !== '').map((r) => Number(r.trim()));
  if (replicas.some((k) => !Number.isInteger(k) || k < 1 || k > 16)) problems.push(`--replicas takes replica counts from 1 to 16, e.g. 1,2,4; got ${values.replicas}`);
  const replicaIntegrations = Number(values['replica-integrations'] ?? (smoke ? 4 : 20));
  if (!Number.isInteger(replicaIntegrations) || replicaIntegrations < 1 || replicaIntegrations > 100) problems.push(`--replica-integrations must be an integer from 1 to 100`);
  const seed = Number(values.seed);
  if (!Number.isInteger(seed)) problems.push(`--seed must be an integer`);
  if (problems.length > 0) throw new Error(`bench: ${problems.join('; ')}`);
  return {
    smoke,
    enterprise,
    dbs,
    profiles,
    rateLimited,
    ingestRows,
    replicas,
    replicaIntegrations,
    seed,
    out: values['no-write'] ? null : (values.out ?? (smoke ? null : 'BENCHMARKS.md')),
    json: values.json ?? null,
    log,
  };
}

// ─── The workspace's shape and its minimum ───────────────────────────────────────────────────

interface Shape {
  minimum: RequestBreakdown;
  withoutBulk: RequestBreakdown;
  repos: SimRepo[];
  groups: SimGroup[];
}

async function workspaceShape(sim: SimProcess): Promise<Shape> {
  const summary = await sim.summary();
  const [projects, repositories, deployKeys, projectUserGrants, projectGroupGrants, repoUserGrants, repoGroupGrants, groups] = await Promise.all([
    sim.truth<SimProject>('projects'),
    sim.truth<SimRepo>('repositories'),
    sim.truth<SimDeployKey>('deployKeys'),
    sim.truth<ProjectUserGrant>('projectUserGrants'),
    sim.truth<ProjectGroupGrant>('projectGroupGrants'),
    sim.truth<RepoUserGrant>('repoUserGrants'),
    sim.truth<RepoGroupGrant>('repoGroupGrants'),
    sim.truth<SimGroup>('groups'),
  ]);
  // Bitbucket's effective-permission listing is as long as the simulator says (`size` of its first page).
  const reportedRows = await sim.listingSize(`/workspaces/${sim.endpoint.workspace}/permissions/repositories`);
  const input = { users: summary.users, projects, repositories, deployKeys, projectUserGrants, projectGroupGrants, repoUserGrants, repoGroupGrants, reportedRows };
  return {
    minimum: minimumRequests(input),
    withoutBulk: minimumRequests(input, { bulkGroupPrivileges: false }),
    repos: repositories,
    groups,
  };
}

function delta(after: SimStats, before: SimStats): { requests: number; r429: number; byRoute: Record<string, number> } {
  const byRoute: Record<string, number> = {};
  for (const [route, n] of Object.entries(after.byPath)) {
    const d = n - (before.byPath[route] ?? 0);
    if (d !== 0) byRoute[route] = d;
  }
  return { requests: after.requests - before.requests, r429: after.responses429 - before.responses429, byRoute };
}

/** Routes where Roster made more requests than the minimum, as `route +n`. */
function excess(made: Record<string, number>, minimum: Record<string, number>): string[] {
  const routes = new Set([...Object.keys(made), ...Object.keys(minimum)]);
  return [...routes].flatMap((r) => {
    const d = (made[r] ?? 0) - (minimum[r] ?? 0);
    return d === 0 ? [] : [`${r.replace(/^GET /, '')} ${d > 0 ? '+' : ''}${d}`];
  });
}

type AddFigure = (section: SectionId, label: string, value: string, target: string, status: Figure['status']) => void;

/**
 * Section 7, the simulator on its own (`connectors/bitbucket-cloud/simulator/bench.ts`): start-up per profile, then a cold
 * sync-shaped walk and a timed warm mix against a server in a child process. Exported so a figure
 * set from an earlier run can be completed with it.
 */
export async function simulatorSection(options: Pick<BenchOptions, 'profiles' | 'smoke'>, add: AddFigure, raw: Record<string, unknown>): Promise<void> {
  const loadProfile: SimProfile = options.profiles.includes('large') ? 'large' : (options.profiles.at(-1) ?? 'small');
  const sim = await benchSimulator({ profiles: options.profiles, loadProfile, durationMs: options.smoke ? 500 : 5000, concurrency: 16 });
  raw['simulator'] = sim;
  const judged = (profile: SimProfile): boolean => profile === 'large';
  for (const profile of options.profiles) {
    const ms = sim.startupMs[profile] ?? 0;
    add('simulator', `${profile}: start-up (generate the workspace, listen)`, fmt.s(ms), judged(profile) ? `< ${TARGETS.simStartMs / 1000} s` : '', judged(profile) ? (ms < TARGETS.simStartMs ? 'pass' : 'miss') : 'info');
  }
  const target = judged(loadProfile) ? `≥ ${fmt.int(TARGETS.simRequestsPerSecond)} req/s` : '';
  const verdict = (perSecond: number, errors: number): Figure['status'] => (errors > 0 ? 'miss' : judged(loadProfile) ? (perSecond >= TARGETS.simRequestsPerSecond ? 'pass' : 'miss') : 'info');
  const walk = sim.syncWalk;
  add('simulator', `${loadProfile}: cold sync walk (every repository page, then each repository's permissions and deploy keys)`, `${fmt.int(walk.requestsPerSecond)} req/s (${fmt.int(walk.requests)} requests in ${fmt.s(walk.seconds * 1000)}, ${sim.concurrency} in flight${walk.errors > 0 ? `, ${walk.errors} not 200` : ''})`, target, verdict(walk.requestsPerSecond, walk.errors));
  add('simulator', `${loadProfile}: warm mix for ${fmt.s(sim.durationMs)}`, `${fmt.int(sim.requestsPerSecond)} req/s, ${sim.megabytesPerSecond} MB/s, latency p50 ${sim.latencyMs.p50} ms / p99 ${sim.latencyMs.p99} ms${sim.errors > 0 ? `, ${sim.errors} not 200` : ''}`, target, verdict(sim.requestsPerSecond, sim.errors));
}

// ─── The run ──────────────────────────────────────────────────────────────────────────────────

export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const { log } = options;
  const figures: Figure[] = [];
  const notes: string[] = [];
  const raw: Record<string, unknown> = {};
  const add: AddFigure = (section, label, value, target, status) => {
    figures.push({ section, label, value, target, status });
    log(`  ${label}: ${value}${target ? ` (target ${target})` : ''}${status === 'miss' ? ' — MISS' : ''}`);
  };
  const startedAt = new Date();
  const loadStart = os.loadavg();

  const url = serverUrl();
  let dbs = options.dbs;
  let postgresVersion: string | null = null;
  if (dbs.includes('server')) {
    const problem = await serverProblem(url);
    if (problem) {
      const note = `PostgreSQL server at ${url.replace(/:[^:@/]*@/, ':*****@')} did not answer (${problem}): server runs SKIPPED.`;
      notes.push(note);
      log(`NOTE: ${note}`);
      dbs = dbs.filter((d) => d !== 'server');
    } else {
      postgresVersion = await serverVersion(url);
    }
  }
  log(`Roster bench (${options.smoke ? 'smoke' : 'full'}): profiles ${options.profiles.join(', ')}; databases ${dbs.join(', ') || 'none'}; rate-limited ${options.rateLimited.map((r) => `${r.profile}@${r.budget}/h`).join(', ') || 'none'}`);

  const shapes = new Map<SimProfile, Shape>();
  const shapeOf = async (profile: SimProfile, sim?: SimProcess): Promise<Shape> => {
    const known = shapes.get(profile);
    if (known) return known;
    const own = sim ?? (await startSimProcess(profile, options.seed));
    try {
      const shape = await workspaceShape(own);
      shapes.set(profile, shape);
      return shape;
    } finally {
      if (!sim) await own.close();
    }
  };

  // ── Sections 1, 2, 4, 6: per profile and database, a fresh simulator and a fresh database. ──
  const reportProfiles = new Set<SimProfile>(options.smoke ? ['small'] : ['large', 'enterprise']);
  for (const profile of options.profiles) {
    const requestsSeen: Array<{ db: DbKind; roster: number; sim: number; r429: number; byRoute: Record<string, number> }> = [];
    for (const kind of dbs) {
      log(`\n[${profile} on ${kind}]`);
      const sim = await startSimProcess(profile, options.seed);
      const db = await createScratchDatabase(kind, url);
      try {
        await runWorker({ kind: 'prepare', db: db.target }, { timeoutMs: WORKER_TIMEOUT_MS });
        const shape = await shapeOf(profile, sim);
        const before = await sim.stats();
        const full = await runWorker<SyncResult>({ kind: 'sync', db: db.target, sim: sim.endpoint, mode: 'full', integration: `bench-${profile}` }, { timeoutMs: WORKER_TIMEOUT_MS });
        const afterFull = await sim.stats();
        const fullDelta = delta(afterFull, before);
        raw[`sync-full:${profile}:${kind}`] = full;
        requestsSeen.push({ db: kind, roster: full.result.apiRequests, sim: fullDelta.requests, r429: fullDelta.r429, byRoute: fullDelta.byRoute });
        log(`  full sync: ${full.result.status}, ${fmt.int(full.result.apiRequests)} requests, ${fmt.s(full.result.wallMs)} (finalize ${fmt.s(full.result.finalizeMs)}), peak RSS ${fmt.mib(full.peakRssMb)}`);

        // Section 4: throughput without a rate limit. The issue's targets: enterprise on the server
        // (time and peak RSS; the embedded database holds ~430 MiB of PGlite in process), large on both.
        const enterpriseTargeted = profile === 'enterprise' && kind === 'server';
        const syncLimit = enterpriseTargeted ? TARGETS.enterpriseSyncMs : profile === 'large' ? TARGETS.largeSyncMs : null;
        const syncTarget = syncLimit === null ? '' : `< ${syncLimit / 60_000} min`;
        add('throughput', `${profile} full sync, ${kind}: wall time`, `${fmt.s(full.result.wallMs)} (finalize ${fmt.s(full.result.finalizeMs)}; ${fmt.int(full.result.apiRequests / (full.result.wallMs / 1000))} req/s)`, syncTarget, syncLimit === null ? 'info' : full.result.wallMs < syncLimit && full.result.status === 'succeeded' ? 'pass' : 'miss');
        add(
          'throughput',
          `${profile} full sync, ${kind}: peak RSS`,
          rss(full, kind),
          enterpriseTargeted ? `< ${fmt.mib(TARGETS.enterpriseRssMb)}` : '',
          enterpriseTargeted ? (full.peakRssMb < TARGETS.enterpriseRssMb ? 'pass' : 'miss') : 'info',
        );

        // Section 2: a small change, then an incremental sync.
        const changed = await smallChange(sim, shape);
        const beforeIncr = await sim.stats();
        const incr = await runWorker<SyncResult>({ kind: 'sync', db: db.target, sim: sim.endpoint, mode: 'incremental', integration: `bench-${profile}` }, { timeoutMs: WORKER_TIMEOUT_MS });
        const incrDelta = delta(await sim.stats(), beforeIncr);
        raw[`sync-incremental:${profile}:${kind}`] = { ...incr, simRequests: incrDelta.requests, byRoute: incrDelta.byRoute };
        const share = incr.result.apiRequests / full.result.apiRequests;
        const sawChange = (incr.result.added.grants ?? 0) >= changed.grants && (incr.result.added.memberships ?? 0) >= changed.memberships;
        add('incremental', `${profile}, ${kind}: requests, incremental / full`, `${fmt.int(incr.result.apiRequests)} / ${fmt.int(full.result.apiRequests)} = ${fmt.pct(share)}`, `≤ ${fmt.pct(TARGETS.incrementalShare, 0)} where the API allows`, share <= TARGETS.incrementalShare ? 'pass' : 'miss');
        add('incremental', `${profile}, ${kind}: time, incremental / full`, `${fmt.s(incr.result.wallMs)} / ${fmt.s(full.result.wallMs)} = ${fmt.pct(incr.result.wallMs / full.result.wallMs)}`, '', 'info');
        add('incremental', `${profile}, ${kind}: the change was picked up`, sawChange ? `yes (+${incr.result.added.grants ?? 0} grants, +${incr.result.added.memberships ?? 0} memberships)` : `NO (+${incr.result.added.grants ?? 0} grants, +${incr.result.added.memberships ?? 0} memberships; expected ≥ ${changed.grants}, ≥ ${changed.memberships})`, 'yes', sawChange ? 'pass' : 'miss');

        // Section 6: reports on the synced state.
        if (reportProfiles.has(profile)) {
          for (const report of REPORTS) {
            const out = await runWorker<ReportRunResult>({ kind: 'report', db: db.target, report }, { timeoutMs: WORKER_TIMEOUT_MS });
            raw[`report:${report}:${profile}:${kind}`] = out;
            // The floor, in the same database right after the report (its statistics analyzed, its pages warm):
            // best of two rounds except on enterprise, where one round already takes a minute.
            const floor = await runWorker<FloorRunResult>({ kind: 'floor', db: db.target, report, rounds: profile === 'enterprise' ? 1 : 2 }, { timeoutMs: WORKER_TIMEOUT_MS });
            raw[`floor:${report}:${profile}:${kind}`] = floor;
            const ratio = out.result.wallMs / Math.max(1, floor.result.wallMs);
            const judgedFloor = profile === 'large' || profile === 'enterprise';
            add(
              'reports',
              `${report} CSV, ${profile}, ${kind}: Roster / floor (COPY (…) TO STDOUT (FORMAT csv) of the same rows, columns and order)`,
              `${fmt.s(out.result.wallMs)} / ${fmt.s(floor.result.wallMs)} = ${fmt.num(ratio, 2)}× (floor ${fmt.bytes(floor.result.bytes)} vs report ${fmt.bytes(out.result.bytes)}; floor peak RSS ${fmt.mib(floor.peakRssMb)})`,
              judgedFloor ? `≤ ${TARGETS.floorRatio}× floor` : '',
              judgedFloor ? (ratio <= TARGETS.floorRatio ? 'pass' : 'miss') : 'info',
            );
            // Time: enterprise access-review on the server. Memory: every large report on the server
            // (embedded, PGlite's own ~400 MiB sits in the same process: shown, not judged).
            const timed = report === 'access-review' && profile === 'enterprise' && kind === 'server';
            const sized = kind === 'server' && judgedFloor;
            const targets = [timed ? `< ${TARGETS.accessReviewMs / 1000} s` : '', sized ? `peak RSS < ${fmt.mib(TARGETS.accessReviewRssMb)}` : ''].filter(Boolean);
            const met = (!timed || out.result.wallMs < TARGETS.accessReviewMs) && (!sized || out.peakRssMb < TARGETS.accessReviewRssMb);
            add(
              'reports',
              `${report} CSV, ${profile}, ${kind}`,
              `${fmt.s(out.result.wallMs)}, ${fmt.int(out.result.rows)} rows, ${fmt.bytes(out.result.bytes)}; peak RSS ${rss(out, kind)}`,
              targets.join(', '),
              targets.length > 0 ? (met ? 'pass' : 'miss') : 'info',
            );
          }
        }
      } finally {
        await db.drop().catch((error: unknown) => log(`  (could not drop scratch database: ${String(error)})`));
        await sim.close();
      }
    }

    // Section 1: requests vs the minimum (the same for every database: shown once, checked across all).
    const shape = await shapeOf(profile);
    const first = requestsSeen[0];
    if (first) {
      const agree = requestsSeen.every((r) => r.roster === r.sim && r.roster === first.roster);
      const ratio = first.roster / shape.minimum.total;
      const extra = excess(first.byRoute, shape.minimum.byRoute);
      raw[`minimum:${profile}`] = shape.minimum;
      add(
        'requests',
        `${profile}: requests Roster made / minimum`,
        `${fmt.int(first.roster)} / ${fmt.int(shape.minimum.total)} = ${fmt.num(ratio, 3)}${agree ? ' (sync_runs = simulator' : ' (sync_runs ≠ simulator:'}${requestsSeen.map((r) => ` ${r.db} ${fmt.int(r.roster)}/${fmt.int(r.sim)}`).join(',')})${extra.length > 0 ? `; over the minimum on ${extra.join(', ')}` : ''}`,
        `≤ ${TARGETS.requestRatio} × minimum`,
        ratio <= TARGETS.requestRatio && agree ? 'pass' : 'miss',
      );
      const saved = shape.withoutBulk.total - shape.minimum.total;
      add(
        'requests',
        `${profile}: 1.0 group-privileges (bulk) instead of per-repository group listings`,
        `saves ${fmt.int(saved)} requests (${fmt.pct(saved / shape.withoutBulk.total)} of ${fmt.int(shape.withoutBulk.total)}; ${fmt.num(saved / 1000, 1)} h at 1,000/h)`,
        'use bulk where readable',
        (first.byRoute[ROUTES.repoGroupsBulk] ?? 0) === 1 && (first.byRoute[ROUTES.repoGroupsEach] ?? 0) === 0 ? 'pass' : 'miss',
      );
      const reported = shape.minimum.byRoute[ROUTES.reported] ?? 0;
      add('requests', `${profile}: of the minimum, Bitbucket's effective permissions (reconciliation)`, `${fmt.int(reported)} requests (${fmt.pct(reported / shape.minimum.total)})`, '', 'info');
      add('requests', `${profile}: 429 responses`, fmt.int(requestsSeen.reduce((n, r) => n + r.r429, 0)), '0', requestsSeen.every((r) => r.r429 === 0) ? 'pass' : 'miss');
    }
  }

  // ── Section 3: rate-limited, accelerated clock shared in-process with the simulator. ──
  for (const { profile, budget, credentials, reconcile } of options.rateLimited) {
    for (const kind of dbs.slice(0, 1)) {
      const setup = `${fmt.int(budget)}/h${credentials > 1 ? ` × ${credentials} credentials` : ''}${reconcile === 'off' ? ', reconcile off' : ''}`;
      log(`\n[rate-limited ${profile} at ${setup} on ${kind}]`);
      const shape = await shapeOf(profile);
      // The floor: the fewest requests any client needs (without Bitbucket's effective permissions when reconciliation is off) ÷ the pool's budget.
      const minimum = shape.minimum.total - (reconcile === 'off' ? (shape.minimum.byRoute[ROUTES.reported] ?? 0) : 0);
      const capacity = budget * credentials;
      const floorHours = minimum / capacity;
      const speed = clockSpeed(floorHours, capacity, options.smoke);
      const db = await createScratchDatabase(kind, url);
      try {
        const out = await runWorker<RateLimitedResult>({ kind: 'rate-limited', db: db.target, profile, budgetPerHour: budget, speed, credentials, reconcile }, { timeoutMs: WORKER_TIMEOUT_MS });
        raw[`rate-limited:${profile}@${budget}${credentials > 1 ? `x${credentials}` : ''}${reconcile === 'off' ? ':off' : ''}:${kind}`] = out;
        const r = out.result;
        const rosterFloor = r.requests / capacity;
        const lowerBound = Math.max(0, Math.ceil(r.requests / capacity) - 1);
        const fits = r.requests <= capacity;
        if (credentials > 1 || reconcile === 'off') {
          add(
            'rateLimited',
            `${profile} at ${setup}, ${kind}: simulated time to the last request / floor (minimum requests ÷ (credentials × budget))`,
            `${fmt.h(r.simHoursToLastRequest)} / ${fmt.h(floorHours)} = ${fmt.num(r.simHoursToLastRequest / floorHours, 3)} (${fmt.int(r.requests)} requests against a minimum of ${fmt.int(minimum)}; clock ×${speed})`,
            '',
            'info',
          );
        }
        add('rateLimited', `${profile} at ${setup}, ${kind}: 429 responses`, `${fmt.int(r.responses429)} (${fmt.int(r.requests)} requests, sync_runs ${r.requests === r.simRequests ? '=' : '≠'} simulator ${fmt.int(r.simRequests)}; ${fmt.int(r.rateLimitWaits)} paced waits)`, '0', r.responses429 === 0 && r.status === 'succeeded' ? 'pass' : 'miss');
        add(
          'rateLimited',
          `${profile} at ${setup}, ${kind}: simulated time to the last request / floor (requests ÷ ${credentials > 1 ? '(credentials × budget)' : 'budget'})`,
          fits
            ? `${fmt.h(r.simHoursToLastRequest)} / ${fmt.h(rosterFloor)}: fits in one hour's budget, nothing to wait for (clock ×${speed}; real ${fmt.s(r.realSeconds * 1000)})`
            : `${fmt.h(r.simHoursToLastRequest)} / ${fmt.h(rosterFloor)} = ${fmt.num(r.simHoursToLastRequest / rosterFloor, 3)} (lower bound from an empty window ${lowerBound} h; total with finalize ${fmt.h(r.simHoursTotal)}, finalize ${fmt.s(r.finalizeRealSeconds * 1000)} real; clock ×${speed})`,
          `≤ ${TARGETS.floorSlack} × floor`,
          r.simHoursToLastRequest <= TARGETS.floorSlack * rosterFloor ? 'pass' : 'miss',
        );
      } finally {
        await db.drop().catch(() => {});
      }
    }
  }

  // ── Section 5: ingest, loader vs raw unnest, same rows, same run. ──
  for (const kind of dbs) {
    log(`\n[ingest on ${kind}]`);
    const db = await createScratchDatabase(kind, url);
    try {
      const batch = options.smoke ? 2000 : 20_000;
      const out = await runWorker<IngestResult>({ kind: 'ingest', db: db.target, rows: options.ingestRows, batch, rounds: options.smoke ? 1 : 3 }, { timeoutMs: WORKER_TIMEOUT_MS });
      raw[`ingest:${kind}`] = out;
      const r = out.result;
      const share = r.loaderRowsPerSecond / r.rawRowsPerSecond;
      add('ingest', `grants, ${kind}: loader / raw unnest insert`, `${fmt.int(r.loaderRowsPerSecond)} / ${fmt.int(r.rawRowsPerSecond)} rows/s = ${fmt.pct(share)} (${fmt.int(r.rows)} rows in batches of ${fmt.int(r.batch)}, best of ${r.rounds})`, `≥ ${fmt.pct(TARGETS.loaderShare, 0)}`, share >= TARGETS.loaderShare ? 'pass' : 'miss');
    } finally {
      await db.drop().catch(() => {});
    }
  }

  // ── Section 7: the simulator on its own (start-up, requests served per second). ──
  log('\n[simulator]');
  await simulatorSection(options, add, raw);

  // ── Section 8: Bitbucket Data Center (large; small with --smoke). ──
  await datacenterSection({ smoke: options.smoke, seed: options.seed, dbs, url, log }, add, raw);

  // ── Section 9: several `roster serve` replicas on one server database (20 medium; 4 small with --smoke). ──
  if (dbs.includes('server') && options.replicas.length > 0) {
    await replicasSection({ smoke: options.smoke, replicas: options.replicas, integrations: options.replicaIntegrations, profile: options.smoke ? 'small' : 'medium', maxConcurrentSyncs: options.smoke ? 2 : DEFAULT_MAX_CONCURRENT_SYNCS, seed: options.seed, url, log }, add, raw);
  } else {
    // The embedded database is one process's (its data directory is locked by pid): there are no replicas to measure.
    add('replicas', 'roster serve replicas', dbs.includes('server') ? 'not run (--replicas is empty)' : 'not run: replicas need the PostgreSQL server (the embedded database is single-process)', '', 'info');
  }

  const machine: MachineInfo = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
    node: process.versions.node,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    postgres: postgresVersion,
    pglite: pgliteVersion(),
    loadAverageStart: loadStart,
    loadAverageEnd: os.loadavg(),
  };
  const report: BenchReport = {
    mode: options.smoke ? 'smoke' : 'full',
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine,
    notes,
    figures,
    raw,
  };
  return report;
}

/**
 * The most requests per real second a rate-limited run may need to keep its budget busy
 * (`budget × speed / 3600`): the worker hosts the simulator and, embedded, the database in one
 * process, and enterprise there keeps about 70 a second up. At ×547, enterprise at 1,000/h asked for
 * 152 a second: the run was bound by this machine's CPU, not by its budget (1.052 × its floor).
 */
export const SUSTAINED_REAL_REQUESTS_PER_SECOND = 70;

/**
 * How fast the simulated clock runs. Real processing is scaled too, so a window's burst of `budget`
 * requests (at ~200 requests per real second) must stay under 1 % of the floor in simulated time, and
 * the budget must not ask for more requests per real second than the worker sustains; within that,
 * aim for about a minute and a half of real time (seconds in smoke).
 */
export function clockSpeed(floorHours: number, budget: number, smoke: boolean): number {
  const floorSeconds = floorHours * 3600;
  const burstRealSeconds = budget / 200;
  const sustained = (SUSTAINED_REAL_REQUESTS_PER_SECOND * 3600) / budget;
  const speed = Math.min(floorSeconds / (smoke ? 3 : 90), (0.01 * floorSeconds) / burstRealSeconds, sustained);
  return Math.round(Math.min(36_000, Math.max(60, speed)));
}

/** Peak RSS, and what the process held once its database was open (Node, tsx and, embedded, PGlite itself). */
function rss(out: { peakRssMb: number; openRssMb: number }, kind: DbKind): string {
  return `${fmt.mib(out.peakRssMb)} (${fmt.mib(out.openRssMb)} with the database just opened${kind === 'embedded' ? ', PGlite in process' : ''})`;
}

/** A small change of the kind a day brings: a newcomer joins a group and gets a direct grant; one repository is pushed to. */
async function smallChange(sim: SimProcess, shape: Shape): Promise<{ grants: number; memberships: number }> {
  const user = await sim.mutate('addMember', { displayName: 'Bench Newcomer' });
  const repo = shape.repos[0];
  const touched = shape.repos[1] ?? shape.repos[0];
  const group = shape.groups.find((g) => g.memberUuids.length > 0) ?? shape.groups[0];
  if (!repo || !touched || !group) throw new Error('workspace too small for the incremental change');
  await sim.mutate('setRepoUserPermission', repo.slug, user.uuid, 'write');
  await sim.mutate('addGroupMember', group.slug, user.uuid);
  await sim.mutate('touchRepository', touched.slug);
  // The workspace membership grant and the repository grant; the group membership.
  return { grants: 2, memberships: 1 };
}

async function serverVersion(url: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    const result = await client.query<{ server_version: string }>('show server_version');
    return result.rows[0]?.server_version ?? null;
  } catch {
    return null;
  } finally {
    await client.end().catch(() => {});
  }
}

function pgliteVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../node_modules/@electric-sql/pglite/package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

// ─── Output ───────────────────────────────────────────────────────────────────────────────────

const BEGIN = '<!-- bench:begin (generated by npm run bench; edit outside these markers) -->';
const END = '<!-- bench:end -->';

export function figuresMarkdown(report: BenchReport): string {
  const passed = report.figures.filter((f) => f.status === 'pass').length;
  const missed = report.figures.filter((f) => f.status === 'miss').length;
  return [
    BEGIN,
    '',
    `Recorded ${report.finishedAt.slice(0, 16).replace('T', ' ')} UTC with \`${report.command}\` (${report.mode}), ${Math.round((Date.parse(report.finishedAt) - Date.parse(report.startedAt)) / 60_000)} min.`,
    '',
    `Machine: ${machineLine(report.machine)}.`,
    '',
    ...report.notes.map((n) => `> ${n}\n`),
    `Targets: ${passed} met, ${missed} missed.`,
    '',
    markdownTable(report.figures),
    END,
  ].join('\n');
}

/** Replaces the generated block of BENCHMARKS.md, keeping the hand-written text around it. */
export function writeMarkdown(path: string, report: BenchReport): void {
  let existing = '';
  try {
    existing = readFileSync(path, 'utf8');
  } catch {
    existing = '';
  }
  const block = figuresMarkdown(report);
  const start = existing.indexOf(BEGIN);
  const end = existing.indexOf(END);
  const next = start >= 0 && end > start ? `${existing.slice(0, start)}${block}${existing.slice(end + END.length)}` : `# Benchmarks\n\n${block}\n${existing}`;
  writeFileSync(path, next.endsWith('\n') ? next : `${next}\n`);
}

export function printReport(report: BenchReport, log: (line: string) => void): void {
  log('');
  log(`Machine: ${machineLine(report.machine)}`);
  for (const note of report.notes) log(`NOTE: ${note}`);
  log(textTable(report.figures));
  const missed = report.figures.filter((f) => f.status === 'miss');
  log('');
  log(`${report.figures.filter((f) => f.status === 'pass').length} targets met, ${missed.length} missed.`);
  for (const [id, title] of Object.entries(SECTIONS)) {
    if (!report.figures.some((f) => f.section === id)) log(`(section "${title}" did not run)`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const log = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  const options = parseOptions(process.argv.slice(2), log);
  const report = await runBench(options);
  printReport(report, log);
  if (options.out) {
    writeMarkdown(options.out, report);
    log(`\nWrote ${options.out}.`);
  }
  if (options.json) writeFileSync(options.json, `${JSON.stringify(report, null, 2)}\n`);
}
