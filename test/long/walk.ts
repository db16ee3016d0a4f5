import { expect } from 'vitest';
import { type Simulator, startSimulator } from '../../connectors/bitbucket-cloud/simulator/index.ts';
import type { RosterDatabase } from '../../src/db/index.ts';
import type { Integration } from '../../src/db/types.ts';
import type { SyncOutcome } from '../../src/sync/contract.ts';
import { type ReportRow, captureReport, reportRows } from '../integration/reports-helpers.ts';
import { connectSim, removalsOutsideCleanScopes, syncSim } from '../helpers/sim-sync.ts';
import {
  type Change,
  type FailedListing,
  type RawFacts,
  type World,
  accessReviewLines,
  allowed,
  apply,
  cloneWorld,
  factChanges,
  factLines,
  groupLines,
  privilegedLines,
  rawFactLines,
  userAccessLines,
  viewAfterSync,
  worldFrom,
} from './model.ts';

/**
 * The long-history walk: several simulated workspaces, one integration each, in one database, and
 * a seeded random walk of changes and syncs. After every step Roster's reports must equal what the
 * independent model (`model.ts`) derives; at the end every report `--as-of` each earlier run must be
 * byte-identical to what it said then, and access-changes between any two runs must be the difference
 * of the model's views at those runs.
 *
 * A failure names the seed and the step; `ROSTER_LONG_SEEDS=<seed> ROSTER_LONG_STEPS=<n>` replays it.
 */

export interface WalkOptions {
  seed: number;
  steps: number;
  integrations: number;
}

export interface WalkFigures {
  seed: number;
  steps: number;
  integrations: number;
  mutations: number;
  syncs: { full: number; incremental: number; faulted: number; aborted: number; revoked: number };
  comparisons: number;
  runIds: { first: string; last: string };
  ms: number;
  /** Of which: in syncs, and in the replay at the end. */
  syncMs: number;
  replayMs: number;
}

const NOW = new Date('2026-12-01T00:00:00Z');

/** A small seeded PRNG of the walk's own (mulberry32), so a seed replays the same walk. */
export function prng(seed: number): { next(): number; int(n: number): number; pick<T>(xs: readonly T[]): T; chance(p: number): boolean } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  return {
    next,
    int,
    pick: <T>(xs: readonly T[]): T => {
      if (xs.length === 0) throw new Error('pick from nothing');
      return xs[int(xs.length)] as T;
    },
    chance: (p: number) => next() < p,
  };
}

// ─── The simulator's control surface, over HTTP ────────────────────────────────────────────

async function control<T>(sim: Simulator, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${sim.baseUrl}${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

/** Adds faults in their string form (`POST /__sim/faults` takes the spec as its body). */
async function addFaults(sim: Simulator, spec: string): Promise<void> {
  const res = await fetch(`${sim.baseUrl}/__sim/faults`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: spec });
  if (!res.ok) throw new Error(`POST /__sim/faults ${spec} answered ${res.status}: ${await res.text()}`);
}

async function mutate<T>(sim: Simulator, op: string, ...args: unknown[]): Promise<T> {
  const answer = await control<{ ok: boolean; result: T }>(sim, 'POST', '/__sim/mutate', { op, args });
  return answer.result;
}

async function rawFacts(sim: Simulator): Promise<RawFacts> {
  const view = <T>(name: string) => control<T>(sim, 'GET', `/__sim/truth/${name}`);
  const top = await control<{ workspace: RawFacts['workspace'] }>(sim, 'GET', '/__sim/truth');
  const [users, groups, projects, repositories, deployKeys, projectUserGrants, projectGroupGrants, repoUserGrants, repoGroupGrants] = await Promise.all([
    view<RawFacts['users']>('users'),
    view<RawFacts['groups']>('groups'),
    view<RawFacts['projects']>('projects'),
    view<RawFacts['repositories']>('repositories'),
    view<RawFacts['deployKeys']>('deployKeys'),
    view<RawFacts['projectUserGrants']>('projectUserGrants'),
    view<RawFacts['projectGroupGrants']>('projectGroupGrants'),
    view<RawFacts['repoUserGrants']>('repoUserGrants'),
    view<RawFacts['repoGroupGrants']>('repoGroupGrants'),
  ]);
  return { workspace: top.workspace, users, groups, projects, repositories, deployKeys, projectUserGrants, projectGroupGrants, repoUserGrants, repoGroupGrants };
}

// ─── One integration's side of the walk ────────────────────────────────────────────────────

interface Recorded {
  runId: string;
  finishedAt: Date;
  view: World;
  said: Map<string, string>;
}

interface Side {
  name: string;
  sim: Simulator;
  integration: Integration;
  /** The workspace now (the model's facts). */
  world: World;
  /** What Roster should know: the facts as its last finished run left them. */
  view: World;
  credential: 'adminApiToken' | 'oauth';
  /** The admin credential's user: never removed or demoted (the walk would lose its reader). */
  protectedUser: string;
  deletedSlugs: string[];
  runs: Recorded[];
  counter: number;
}

/** Reports captured at each run for the `--as-of` replay (JSON, every column, byte for byte). */
const AS_OF_REPORTS = ['access-review', 'user-access', 'privileged-access', 'machine-credentials', 'groups', 'coverage'] as const;

export async function walk(handle: RosterDatabase, options: WalkOptions): Promise<WalkFigures> {
  const started = Date.now();
  const rnd = prng(options.seed);
  const figures: WalkFigures = {
    seed: options.seed,
    steps: options.steps,
    integrations: options.integrations,
    mutations: 0,
    syncs: { full: 0, incremental: 0, faulted: 0, aborted: 0, revoked: 0 },
    comparisons: 0,
    runIds: { first: '', last: '' },
    ms: 0,
    syncMs: 0,
    replayMs: 0,
  };
  const timed = async <T>(body: () => Promise<T>): Promise<T> => {
    const t = Date.now();
    try {
      return await body();
    } finally {
      figures.syncMs += Date.now() - t;
    }
  };
  const sides: Side[] = [];
  let step = 0;
  const where = (side: Side, what: string) => `seed ${options.seed}, step ${step}, ${side.name}: ${what} (replay: ROSTER_LONG_SEEDS=${options.seed} ROSTER_LONG_STEPS=${options.steps})`;
  const noteRun = (runId: string) => {
    if (figures.runIds.first === '' || BigInt(runId) < BigInt(figures.runIds.first)) figures.runIds.first = runId;
    if (figures.runIds.last === '' || BigInt(runId) > BigInt(figures.runIds.last)) figures.runIds.last = runId;
  };

  try {
    for (let i = 0; i < options.integrations; i++) {
      const sim = await startSimulator({ profile: 'small', seed: options.seed * 100 + i, rateLimit: false });
      const name = `walk-${options.seed}-${i}`;
      const integration = await connectSim(handle, sim, name);
      const world = worldFrom(await rawFacts(sim));
      const admin = sim.credentials.adminApiToken.accountId;
      const protectedUser = [...world.users.values()].find((u) => u.accountId === admin)?.uuid as string;
      sides.push({ name, sim, integration, world, view: cloneWorld(world), credential: 'adminApiToken', protectedUser, deletedSlugs: [], runs: [], counter: 0 });
    }
    // Every side starts synced, so later steps have a history to compare with.
    for (const side of sides) {
      await plainSync(side, 'full');
      figures.syncs.full++;
    }

    for (step = 1; step <= options.steps; step++) {
      const side = rnd.pick(sides);
      const roll = rnd.next();
      if (roll < 0.5) {
        const n = 1 + rnd.int(3);
        for (let k = 0; k < n; k++) await mutation(side);
        await compareNow(side);
      } else if (roll < 0.66) {
        await plainSync(side, 'full');
        figures.syncs.full++;
      } else if (roll < 0.84) {
        await plainSync(side, 'incremental');
        figures.syncs.incremental++;
      } else if (roll < 0.89) {
        await faultedSync(side);
        figures.syncs.faulted++;
      } else if (roll < 0.93) {
        if (await leaveDuringFailure(side)) figures.syncs.faulted++;
      } else if (roll < 0.98 || side.credential !== 'adminApiToken') {
        await abortedSync(side);
        figures.syncs.aborted++;
      } else {
        await revokedSync(side);
        figures.syncs.revoked++;
      }
    }

    // The past, replayed: every report as of each run says what it said then.
    const replayStarted = Date.now();
    for (const side of sides) {
      for (const run of side.runs) {
        for (const name of AS_OF_REPORTS) {
          const again = (await captureReport(handle.db, name, { integration: side.name, format: 'json', asOf: run.finishedAt })).text;
          expect(again, where(side, `${name} --as-of run ${run.runId}`)).toBe(run.said.get(name));
          figures.comparisons++;
        }
      }
      // access-changes between random pairs of runs: the difference of the model's views then.
      for (let k = 0; k < Math.min(8, side.runs.length); k++) {
        const i = rnd.int(side.runs.length);
        const j = i + rnd.int(side.runs.length - i);
        const a = side.runs[i] as Recorded;
        const b = side.runs[j] as Recorded;
        await compareChanges(side, a.runId, b.runId, factChanges(a.view, b.view));
      }
    }
    figures.replayMs = Date.now() - replayStarted;
  } finally {
    for (const side of sides) await side.sim.close();
  }
  figures.ms = Date.now() - started;
  return figures;

  // ─── Steps ──────────────────────────────────────────────────────────────────────────────

  async function mutation(side: Side): Promise<void> {
    const change = await makeChange(side);
    if (!change) return;
    apply(side.world, change);
    figures.mutations++;
    // The simulator's raw facts must still be the model's: a disagreement here is about semantics.
    expect(rawFactLines(await rawFacts(side.sim)), where(side, `the simulator's facts after ${change.op}`)).toEqual(factLines(side.world));
  }

  async function plainSync(side: Side, mode: 'full' | 'incremental'): Promise<void> {
    const outcome = await timed(() => syncSim(handle, side.integration, { mode }));
    expect({ status: outcome.status, error: outcome.error }, where(side, `${mode} sync`)).toEqual({ status: 'succeeded', error: null });
    side.view = cloneWorld(side.world);
    await afterRun(side, outcome, []);
  }

  /**
   * Someone with a direct grant leaves the workspace (or moves outside it), and the next sync cannot
   * read that repository's user permissions: nothing read says their grant there ended.
   */
  async function leaveDuringFailure(side: Side): Promise<boolean> {
    const candidates = [...side.world.repoUserGrants.keys()]
      .map((k) => k.split('\u0000') as [string, string])
      .filter(([repo, user]) => user !== side.protectedUser && side.view.repoUserGrants.has(`${repo}\u0000${user}`))
      .sort();
    if (candidates.length === 0) return false;
    const [repo, user] = rnd.pick(candidates);
    const change: Change = rnd.chance(0.5) ? { op: 'removeMember', user } : { op: 'setRole', user, role: 'collaborator' };
    await mutate(side.sim, change.op, ...argsOf(change));
    apply(side.world, change);
    figures.mutations++;
    await faultedSync(side, repo);
    return true;
  }

  async function faultedSync(side: Side, onRepo?: string): Promise<void> {
    const repos = [...side.world.repos.values()].filter((r) => side.view.repos.has(r.uuid));
    const projects = [...side.world.projects.values()].filter((p) => side.view.projects.has(p.key));
    let failed: FailedListing;
    let scope: string;
    // Most interesting: a repository where someone who has left since (or moved outside the
    // workspace) had a grant — the listing that would show the grant gone fails.
    const leftWithGrant = repos.filter((r) => [...side.view.repoUserGrants.keys()].some((k) => k.startsWith(`${r.uuid}\u0000`) && side.world.users.get(k.slice(r.uuid.length + 1))?.role !== 'member' && side.world.users.get(k.slice(r.uuid.length + 1))?.role !== 'owner'));
    if (onRepo !== undefined || (repos.length > 0 && rnd.chance(0.6))) {
      const repo = onRepo !== undefined ? (side.world.repos.get(onRepo) as (typeof repos)[number]) : leftWithGrant.length > 0 && rnd.chance(0.7) ? rnd.pick(leftWithGrant) : rnd.pick(repos);
      failed = { kind: 'repo-users', repo: repo.uuid };
      scope = `repository-user-permissions:${repo.uuid}`;
      await addFaults(side.sim, `forbid:repo=${repo.uuid}`);
    } else {
      const project = rnd.pick(projects);
      failed = { kind: 'project-users', project: project.key };
      scope = `project-user-permissions:${project.uuid}`;
      await addFaults(side.sim, `5xx:path=/2.0/workspaces/*/projects/${project.key}/permissions-config/users`);
    }
    let outcome: SyncOutcome;
    try {
      outcome = await timed(() => syncSim(handle, side.integration, { mode: rnd.chance(0.5) ? 'full' : 'incremental' }));
    } finally {
      await control(side.sim, 'DELETE', '/__sim/faults');
    }
    expect(outcome.status, where(side, `sync with ${scope} failing`)).toBe('partial');
    side.view = viewAfterSync(side.world, side.view, [failed]);
    await afterRun(side, outcome, [scope]);
  }

  async function abortedSync(side: Side): Promise<void> {
    const abort = new AbortController();
    const flushes = 1 + rnd.int(3);
    let seen = 0;
    const outcome = await timed(() => syncSim(handle, side.integration, {
      mode: rnd.chance(0.5) ? 'full' : 'incremental',
      signal: abort.signal,
      onProgress: (e) => {
        if (e.type === 'flush' && ++seen === flushes) abort.abort();
      },
    }));
    if (outcome.status === 'paused') {
      // Nothing of the cut-off run shows: the reports still reflect the last finished run.
      await compareNow(side);
      const resumed = await timed(() => syncSim(handle, side.integration, { mode: 'full' }));
      expect({ status: resumed.status, resumed: resumed.resumed, runId: resumed.runId }, where(side, 'the resumed sync')).toEqual({ status: 'succeeded', resumed: true, runId: outcome.runId });
      side.view = cloneWorld(side.world);
      await afterRun(side, resumed, []);
    } else {
      // The run ended before the abort came.
      expect(outcome.status, where(side, 'a sync that ended before its abort')).toBe('succeeded');
      side.view = cloneWorld(side.world);
      await afterRun(side, outcome, []);
    }
  }

  async function revokedSync(side: Side): Promise<void> {
    await mutate(side.sim, 'revokeCredential', 'adminApiToken');
    const outcome = await timed(() => syncSim(handle, side.integration, { mode: 'incremental' }));
    expect(outcome.status, where(side, 'sync with a revoked token')).toBe('failed');
    // Nothing was read: every listing keeps what it had, and coverage says nothing was read.
    await afterRun(side, outcome, null);
    side.integration = await connectSim(handle, side.sim, side.name, 'oauth');
    side.credential = 'oauth';
  }

  // ─── Comparisons ────────────────────────────────────────────────────────────────────────

  /** After a finished run: its rows, its removals, its coverage, and what it says for later replay. */
  async function afterRun(side: Side, outcome: SyncOutcome, failedScopes: string[] | null): Promise<void> {
    noteRun(outcome.runId);
    expect(await removalsOutsideCleanScopes(handle, outcome.runId), where(side, `removals of run ${outcome.runId} outside clean scopes`)).toEqual([]);
    figures.comparisons++;
    // What the reports say the moment the run has finished (ages and staleness count from then):
    // compared with the model now, and kept for the --as-of replay at the end.
    const finished = await handle.db.selectFrom('sync_runs').select('finished_at').where('id', '=', outcome.runId).executeTakeFirstOrThrow();
    const then = finished.finished_at as Date;
    const said = new Map<string, string>();
    for (const name of AS_OF_REPORTS) said.set(name, (await captureReport(handle.db, name, { integration: side.name, now: then, format: 'json' })).text);
    const coverage = JSON.parse(said.get('coverage') as string) as ReportRow[];
    const notRead = coverage.filter((r) => r.kind !== 'api-limit').map((r) => String(r.scope)).sort();
    if (failedScopes === null) {
      // A run that read nothing: every listing is reported not read.
      expect(notRead, where(side, `coverage of run ${outcome.runId} that read nothing`)).toEqual(everyListing(side.view));
    } else {
      expect(notRead, where(side, `coverage of run ${outcome.runId}`)).toEqual([...failedScopes].sort());
    }
    figures.comparisons++;
    await compareNow(side, said);
    const previous = side.runs[side.runs.length - 1];
    if (previous) await compareChanges(side, previous.runId, outcome.runId, factChanges(previous.view, side.view));
    side.runs.push({ runId: outcome.runId, finishedAt: then, view: cloneWorld(side.view), said });
  }

  /** access-review, user-access (everyone, and one person) and groups against the model's view. */
  async function compareNow(side: Side, said?: Map<string, string>): Promise<void> {
    const report = async (name: string): Promise<ReportRow[]> => {
      const text = said?.get(name);
      return text !== undefined ? (JSON.parse(text) as ReportRow[]) : (await reportRows(handle.db, name, { integration: side.name, now: NOW })).rows;
    };
    const expected = accessReviewLines(side.view);
    expect((await report('access-review')).map(reviewLine).sort(), where(side, 'access-review')).toEqual(expected);
    figures.comparisons++;
    if (!said) return;
    expect((await report('user-access')).map((r) => reviewLine({ ...r, principal_kind: 'user' })).sort(), where(side, 'user-access')).toEqual(userAccessLines(side.view));
    expect((await report('groups')).map(groupLine).sort(), where(side, 'groups')).toEqual(groupLines(side.view));
    expect(
      (await report('privileged-access')).map((r) => `${String(r.principal_kind)} ${String(r.principal_id)} ${String(r.resource_kind)} ${String(r.resource_id)} ${String(r.privilege)} admins=${String(r.admins_on_resource)}`).sort(),
      where(side, 'privileged-access'),
    ).toEqual(privilegedLines(side.view));
    // Someone Roster can know: a user with access (an outsider with no grant is in no listing).
    const withAccess = [...new Set(expected.filter((l) => l.split(' ')[2] === 'user').map((l) => l.split(' ')[3] as string))].sort();
    const someone = rnd.pick(withAccess);
    const { rows: mine } = await reportRows(handle.db, 'user-access', { integration: side.name, now: NOW, user: someone });
    expect(mine.map((r) => reviewLine({ ...r, principal_kind: 'user' })).sort(), where(side, `user-access --user ${someone}`)).toEqual(userAccessLines(side.view, someone));
    figures.comparisons += 4;
  }

  async function compareChanges(side: Side, since: string, until: string, expected: string[]): Promise<void> {
    const { rows } = await reportRows(handle.db, 'access-changes', { integration: side.name, now: NOW, since, until });
    // Net change per fact over the window: the first state before it, the last after it.
    const net = new Map<string, { before: string; after: string }>();
    for (const r of rows) {
      const k = `${String(r.principal_kind)} ${String(r.principal_id)} ${String(r.resource_kind)} ${String(r.resource_id)}`;
      const entry = net.get(k);
      const before = r.permission_before === null ? '-' : String(r.permission_before);
      const after = r.permission_after === null ? '-' : String(r.permission_after);
      if (entry) entry.after = after;
      else net.set(k, { before, after });
    }
    const actual = [...net].filter(([, v]) => v.before !== v.after).map(([k, v]) => `${k} ${v.before}→${v.after}`).sort();
    expect(actual, where(side, `access-changes --since ${since} --until ${until}`)).toEqual(expected);
    // Within a run, rows are by resource then principal: display name, then uuid, byte order.
    assertChangeOrder(rows, where(side, `access-changes order --since ${since} --until ${until}`));
    figures.comparisons++;
  }

  // ─── Random changes ─────────────────────────────────────────────────────────────────────

  async function makeChange(side: Side): Promise<Change | null> {
    const w = side.world;
    const n = ++side.counter;
    const users = [...w.users.values()].filter((u) => u.uuid !== side.protectedUser).sort((a, b) => (a.uuid < b.uuid ? -1 : 1));
    const groups = [...w.groups.keys()].sort();
    const projects = [...w.projects.keys()].sort();
    const repos = [...w.repos.keys()].sort();
    const keys = [...w.deployKeys.keys()].sort((a, b) => a - b);
    const anyUser = () => rnd.pick(users).uuid;
    const repoPerm = () => rnd.pick(['read', 'write', 'admin', null] as const);
    const projectPerm = () => rnd.pick(['read', 'write', 'create-repo', 'admin', null] as const);
    const names = ['Nadia Petrova', 'José Álvarez', '=SUM(A1:A9)', '王芳', 'O\'Brien, Pat', 'Null\u0000Byte', 'Zoë Ångström'];
    const ops: Array<() => Promise<Change | null>> = [
      async () => {
        const role = rnd.chance(0.3) ? 'collaborator' : 'member';
        const result = await mutate<{ uuid: string; accountId: string; displayName: string; nickname: string }>(side.sim, 'addMember', { displayName: `${rnd.pick(names)} ${n}`, role });
        return { op: 'addMember', role, result: { uuid: result.uuid, accountId: result.accountId, displayName: result.displayName, nickname: result.nickname } };
      },
      async () => (users.length > 3 ? { op: 'removeMember', user: anyUser() } : null),
      async () => (w.departed.size > 0 ? { op: 'rejoinMember', user: rnd.pick([...w.departed.keys()].sort()), role: rnd.chance(0.2) ? 'owner' : 'member' } : null),
      async () => ({ op: 'setRole', user: anyUser(), role: rnd.pick(['owner', 'member', 'collaborator'] as const) }),
      async () => ({ op: 'setDisplayName', user: anyUser(), displayName: `${rnd.pick(names)} ${n}` }),
      async () => {
        const result = await mutate<{ slug: string; name: string }>(side.sim, 'addGroup', { name: `Team ${n}`, slug: `team-${n}` });
        return { op: 'addGroup', result: { slug: result.slug, name: result.name } };
      },
      async () => (groups.length > 1 ? { op: 'removeGroup', group: rnd.pick(groups) } : null),
      async () => (groups.length > 0 ? { op: 'renameGroup', group: rnd.pick(groups), name: `Renamed ${n}` } : null),
      async () => (groups.length > 0 ? { op: 'addGroupMember', group: rnd.pick(groups), user: anyUser() } : null),
      async () => {
        const withMembers = groups.filter((g) => (w.groups.get(g)?.members.size ?? 0) > 0);
        if (withMembers.length === 0) return null;
        const g = rnd.pick(withMembers);
        return { op: 'removeGroupMember', group: g, user: rnd.pick([...(w.groups.get(g)?.members ?? [])].sort()) };
      },
      async () => (repos.length > 0 ? { op: 'setRepoUserPermission', repo: rnd.pick(repos), user: anyUser(), permission: repoPerm() } : null),
      async () => (repos.length > 0 ? { op: 'setRepoUserPermission', repo: rnd.pick(repos), user: anyUser(), permission: repoPerm() } : null),
      async () => (repos.length > 0 && groups.length > 0 ? { op: 'setRepoGroupPermission', repo: rnd.pick(repos), group: rnd.pick(groups), permission: repoPerm() } : null),
      async () => ({ op: 'setProjectUserPermission', project: rnd.pick(projects), user: anyUser(), permission: projectPerm() }),
      async () => (groups.length > 0 ? { op: 'setProjectGroupPermission', project: rnd.pick(projects), group: rnd.pick(groups), permission: projectPerm() } : null),
      async () => {
        if (projects.length >= 4) return null;
        const result = await mutate<{ uuid: string; key: string; name: string; isPrivate: boolean }>(side.sim, 'addProject', { key: `P${n}`, name: `Project ${n}`, isPrivate: rnd.chance(0.6) });
        return { op: 'addProject', result };
      },
      async () => ({ op: 'setProjectPrivate', project: rnd.pick(projects), isPrivate: rnd.chance(0.5) }),
      async () => {
        const reuse = side.deletedSlugs.filter((s) => ![...w.repos.values()].some((r) => r.slug === s));
        const slug = reuse.length > 0 && rnd.chance(0.6) ? rnd.pick(reuse) : `repo-${n}`;
        const project = w.projects.get(rnd.pick(projects));
        const isPrivate = project?.isPrivate === false ? rnd.chance(0.5) : true;
        const result = await mutate<{ uuid: string; slug: string; name: string; projectKey: string; isPrivate: boolean }>(side.sim, 'addRepository', { name: slug, slug, projectKey: project?.key, isPrivate });
        return { op: 'addRepository', result: { uuid: result.uuid, slug: result.slug, name: result.name, projectKey: result.projectKey, isPrivate: result.isPrivate } };
      },
      async () => {
        if (repos.length <= 2) return null;
        const repo = rnd.pick(repos);
        side.deletedSlugs.push(w.repos.get(repo)?.slug as string);
        return { op: 'deleteRepository', repo };
      },
      async () => {
        if (repos.length === 0) return null;
        const repo = rnd.pick(repos);
        const result = await mutate<{ slug: string; name: string }>(side.sim, 'renameRepository', repo, `renamed-${n}`);
        return { op: 'renameRepository', repo, result: { slug: result.slug, name: result.name } };
      },
      async () => (repos.length > 0 ? { op: 'moveRepository', repo: rnd.pick(repos), project: rnd.pick(projects) } : null),
      async () => (repos.length > 0 ? { op: 'setRepositoryPrivate', repo: rnd.pick(repos), isPrivate: rnd.chance(0.5) } : null),
      async () => {
        const onRepo = repos.length > 0 && rnd.chance(0.7);
        const input = onRepo ? { repository: rnd.pick(repos), label: `key-${n}` } : { projectKey: rnd.pick(projects), label: `project-key-${n}` };
        const result = await mutate<{ id: number; label: string; repositoryUuid: string | null; projectKey: string | null }>(side.sim, 'addDeployKey', input);
        return { op: 'addDeployKey', result: { id: result.id, label: result.label, repositoryUuid: result.repositoryUuid, projectKey: result.projectKey } };
      },
      async () => (keys.length > 0 ? { op: 'removeDeployKey', id: rnd.pick(keys) } : null),
    ];
    for (let attempt = 0; attempt < 8; attempt++) {
      const change = await rnd.pick(ops)();
      if (!change) continue;
      if (!allowed(w, change)) continue;
      // Changes that return something were made above; the rest are made now.
      if (!['addMember', 'addGroup', 'addProject', 'addRepository', 'addDeployKey', 'renameRepository'].includes(change.op)) await mutate(side.sim, change.op, ...argsOf(change));
      return change;
    }
    return null;
  }
}

function argsOf(c: Change): unknown[] {
  switch (c.op) {
    case 'removeMember':
      return [c.user];
    case 'rejoinMember':
      return [c.user, c.role];
    case 'setRole':
      return [c.user, c.role];
    case 'setDisplayName':
      return [c.user, c.displayName];
    case 'removeGroup':
      return [c.group];
    case 'renameGroup':
      return [c.group, c.name];
    case 'addGroupMember':
    case 'removeGroupMember':
      return [c.group, c.user];
    case 'setRepoUserPermission':
      return [c.repo, c.user, c.permission];
    case 'setRepoGroupPermission':
      return [c.repo, c.group, c.permission];
    case 'setProjectUserPermission':
      return [c.project, c.user, c.permission];
    case 'setProjectGroupPermission':
      return [c.project, c.group, c.permission];
    case 'setProjectPrivate':
      return [c.project, c.isPrivate];
    case 'deleteRepository':
      return [c.repo];
    case 'moveRepository':
      return [c.repo, c.project];
    case 'setRepositoryPrivate':
      return [c.repo, c.isPrivate];
    case 'removeDeployKey':
      return [c.id];
    default:
      throw new Error(`${c.op} is made where its result is read`);
  }
}

/** Every listing the admin credential reads in a workspace like `w` (the connector's scope ids). */
function everyListing(w: World): string[] {
  const scopes = ['workspace', 'workspace-members', 'groups', 'projects', 'repositories', 'repository-group-permissions', 'reported-access:admin', 'reported-access:write', 'reported-access:read'];
  for (const p of w.projects.values()) scopes.push(`project-user-permissions:${p.uuid}`, `project-group-permissions:${p.uuid}`, `project-deploy-keys:${p.uuid}`);
  for (const r of w.repos.values()) scopes.push(`repository-user-permissions:${r.uuid}`, `repository-deploy-keys:${r.uuid}`);
  return scopes.sort();
}

/** A groups report row in the model's line shape. */
function groupLine(r: ReportRow): string {
  if (r.row_type === 'group') return `group ${String(r.group)} ${String(r.members)}`;
  if (r.row_type === 'member') return `member ${String(r.group)} ${String(r.member_id)}`;
  return `grant ${String(r.group)} ${String(r.resource_kind)}:${String(r.resource)} ${String(r.permission)}`;
}

/** A report row in the model's line shape. */
function reviewLine(r: ReportRow): string {
  const paths = (r.paths as Array<{ kind: string; permission: string; grantedPermission: string; group: string | null; project: string | null }>).map(
    (p) => `${p.kind}${p.group ? ` group=${p.group}` : ''}${p.project ? ` project=${p.project}` : ''} ${p.permission}`,
  );
  return `${String(r.resource_kind)} ${String(r.resource_id)} ${String(r.principal_kind)} ${r.principal_id === null ? '-' : String(r.principal_id)} ${JSON.stringify(r.principal_name)} ${String(r.permission)} | ${paths.sort().join('; ')}`;
}

const RESOURCE_RANK: Record<string, number> = { workspace: 0, project: 1, repository: 2, group: 4 };
const PRINCIPAL_RANK: Record<string, number> = { user: 0, group: 1, deploy_key: 2, access_token: 3 };
const byteCompare = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Rows sorted by run (as a number), resource kind and handle, then principal kind, display name and id. */
function assertChangeOrder(rows: ReportRow[], what: string): void {
  for (let i = 1; i < rows.length; i++) {
    const a = rows[i - 1] as ReportRow;
    const b = rows[i] as ReportRow;
    const cmp =
      Number(BigInt(String(a.run_id)) - BigInt(String(b.run_id))) ||
      (RESOURCE_RANK[String(a.resource_kind)] ?? 9) - (RESOURCE_RANK[String(b.resource_kind)] ?? 9) ||
      byteCompare(String(a.resource ?? ''), String(b.resource ?? ''));
    if (cmp !== 0) {
      expect(cmp < 0, `${what}: row ${i} (${JSON.stringify(b)}) after ${JSON.stringify(a)}`).toBe(true);
      continue;
    }
    if (a.resource_id !== b.resource_id) continue;
    const p = (PRINCIPAL_RANK[String(a.principal_kind)] ?? 9) - (PRINCIPAL_RANK[String(b.principal_kind)] ?? 9) || byteCompare(String(a.principal_name ?? ''), String(b.principal_name ?? ''));
    expect(p <= 0, `${what}: row ${i} (${JSON.stringify(b)}) after ${JSON.stringify(a)}`).toBe(true);
  }
}

