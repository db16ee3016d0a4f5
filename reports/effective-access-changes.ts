import { sql } from 'kysely';
import { permissionModelOf } from '../src/connectors.ts';
import { type AccessRow, type AccessRules, type PathJson, accessFlags, accessRowPages, accessRules, memberListKnown, pathLabel, toAccessRow } from './access.ts';
import { changeWindow } from './access-changes.ts';
import type { Column, ReportContext, ReportDefinition } from './types.ts';

/**
 * Effective-access changes: who gained, lost, raised or lowered access on what between two runs, and
 * why. Unlike `access-changes`, which lists the explicit grants and memberships that changed, this
 * compares the *derived* access at both ends — the same derivation every report uses, as of each run —
 * so access that changed without any grant changing (a repository moved into a project whose groups
 * hold write, a role change, a new repository every owner reaches) shows too. Each change then gets
 * its causes from the history of the window. Delta review campaigns are built from the same pieces
 * (`accessState`, `compareStates`, `changeCauses`, `windowFacts`).
 */

/** One path, as much of it as a comparison and a cause need. */
export interface PathRef {
  kind: string;
  /** How the path came about in the connector's model (direct, group, inherited, root-role, implicit, …). */
  category: string;
  group: string | null;
  project: string | null;
  granted: string;
  /** `group:developers (write)`: what the reports print. */
  label: string;
}

/** One principal's access on one resource at one point: what is compared. */
export interface AccessState {
  /** Null on a resource's implicit-access row (a public repository: anyone). */
  principal_id: string | null;
  principal_kind: string;
  principal_external_id: string | null;
  principal_name: string | null;
  principal_handle: string | null;
  account_id: string | null;
  resource_id: string;
  resource_kind: string;
  resource_external_id: string;
  resource_handle: string | null;
  resource_name: string;
  project_handle: string | null;
  permission: string;
  /** Sorted by label. */
  paths: PathRef[];
  flags: string[];
}

export const EFFECTIVE_CHANGE_KINDS = ['gained', 'lost', 'raised', 'lowered', 'paths-changed'] as const;
export type EffectiveChangeKind = (typeof EFFECTIVE_CHANGE_KINDS)[number];

/** Why access changed, in the order they are listed. `other`: nothing in the window's history explains it. */
export const CHANGE_CAUSES = [
  'grant',
  'group-membership',
  'repository-moved',
  'role-change',
  'public-private',
  'resource-created',
  'resource-removed',
  'principal-added',
  'principal-removed',
  'other',
] as const;
export type ChangeCause = (typeof CHANGE_CAUSES)[number];

/** A path as the reports print it; `KIND (granted)` for a path stored before paths had a category. */
export function pathText(p: PathJson): string {
  return (p as Partial<PathJson>).category === undefined ? `${p.kind} (${p.granted})` : pathLabel(p);
}

export const stateKey = (s: Pick<AccessState, 'principal_id' | 'resource_id'>): string => `${s.principal_id} ${s.resource_id}`;

export function accessState(row: AccessRow, flags: readonly string[]): AccessState {
  const paths = row.paths.map((p) => ({ kind: p.kind, category: p.category, group: p.group, project: p.project, granted: p.granted, label: pathText(p) }));
  paths.sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
  return {
    principal_id: row.principal_id,
    principal_kind: row.principal_kind,
    principal_external_id: row.principal_external_id,
    principal_name: row.principal_name,
    principal_handle: row.principal_handle,
    account_id: row.account_id,
    resource_id: row.resource_id,
    resource_kind: row.resource_kind,
    resource_external_id: row.resource_external_id,
    resource_handle: row.resource_handle,
    resource_name: row.resource_name,
    project_handle: row.project_handle,
    permission: row.permission,
    paths,
    flags: [...flags],
  };
}

/** How `after` differs from `before` (either may be missing); null when they are the same access. `rank`: the ladder's. */
export function compareStates(before: AccessState | undefined, after: AccessState | undefined, rank: AccessRules['rank']): EffectiveChangeKind | null {
  if (!before && !after) return null;
  if (!before) return 'gained';
  if (!after) return 'lost';
  const rankBefore = rank(before.resource_kind, before.permission);
  const rankAfter = rank(after.resource_kind, after.permission);
  if (rankAfter > rankBefore) return 'raised';
  if (rankAfter < rankBefore) return 'lowered';
  if (before.permission !== after.permission) return 'paths-changed';
  const a = before.paths.map((p) => p.label);
  const b = after.paths.map((p) => p.label);
  if (a.length !== b.length || a.some((label, i) => label !== b[i])) return 'paths-changed';
  return null;
}

/** What the history of a window (after run A, up to and including run B) says changed. */
export interface WindowFacts {
  /** `principalId resourceId` of every grant given, revoked or changed in the window. */
  grants: ReadonlySet<string>;
  /** `groupId memberId` of every membership that began or ended in the window. */
  memberships: ReadonlySet<string>;
  resourcesCreated: ReadonlySet<string>;
  resourcesRemoved: ReadonlySet<string>;
  principalsAdded: ReadonlySet<string>;
  principalsRemoved: ReadonlySet<string>;
  /** Group slug → principal ids; project key → resource ids (a path names them by handle). */
  groupIds: ReadonlyMap<string, readonly string[]>;
  projectIds: ReadonlyMap<string, readonly string[]>;
  /** The integration's workspace resource ids: a grant on one is a role. */
  workspaceIds: readonly string[];
  /**
   * Each repository's project at either end, from the compared states themselves: someone who only
   * gained (or only lost) access still owes it to a move when the repository's project changed.
   */
  projectBefore?: ReadonlyMap<string, string | null>;
  projectAfter?: ReadonlyMap<string, string | null>;
}

/** The causes of one change, from the paths that appeared or disappeared and the window's history. */
export function changeCauses(before: AccessState | undefined, after: AccessState | undefined, facts: WindowFacts): ChangeCause[] {
  const found = new Set<ChangeCause>();
  const any = (after ?? before) as AccessState;
  const principal = any.principal_id ?? '';
  const resource = any.resource_id;
  if (!before && facts.resourcesCreated.has(resource)) found.add('resource-created');
  if (!after && facts.resourcesRemoved.has(resource)) found.add('resource-removed');
  if (!before && facts.principalsAdded.has(principal)) found.add('principal-added');
  if (!after && facts.principalsRemoved.has(principal)) found.add('principal-removed');
  if (any.resource_kind === 'repository') {
    const projectBefore = before ? before.project_handle : facts.projectBefore?.get(resource);
    const projectAfter = after ? after.project_handle : facts.projectAfter?.get(resource);
    if (projectBefore !== undefined && projectAfter !== undefined && projectBefore !== projectAfter) found.add('repository-moved');
  }
  // Implicit access (a public repository) shows in the flags of every row on the resource.
  if (before && after && before.flags.includes('public') !== after.flags.includes('public')) found.add('public-private');

  const grantChanged = (holder: string, on: string): boolean => facts.grants.has(`${holder} ${on}`);
  const ids = (map: ReadonlyMap<string, readonly string[]>, handle: string | null): readonly string[] => (handle === null ? [] : (map.get(handle) ?? []));
  const beforeLabels = new Set(before?.paths.map((p) => p.label) ?? []);
  const afterLabels = new Set(after?.paths.map((p) => p.label) ?? []);
  const changed = [...(before?.paths.filter((p) => !afterLabels.has(p.label)) ?? []), ...(after?.paths.filter((p) => !beforeLabels.has(p.label)) ?? [])];
  const memberChanged = (groups: readonly string[]): boolean => groups.some((g) => facts.memberships.has(`${g} ${principal}`));
  for (const p of changed) {
    const groups = ids(facts.groupIds, p.group);
    const projects = ids(facts.projectIds, p.project);
    switch (p.category) {
      case 'direct':
        if (grantChanged(principal, resource)) found.add('grant');
        break;
      case 'root-direct':
        // A grant on the root resource is a role (Bitbucket: the workspace role).
        if (grantChanged(principal, resource)) found.add('role-change');
        break;
      case 'inherited':
        if (projects.some((project) => grantChanged(principal, project))) found.add('grant');
        break;
      case 'group':
        if (memberChanged(groups)) found.add('group-membership');
        if (groups.some((g) => grantChanged(g, resource))) found.add('grant');
        break;
      case 'inherited-group':
        if (memberChanged(groups)) found.add('group-membership');
        if (groups.some((g) => projects.some((project) => grantChanged(g, project)))) found.add('grant');
        break;
      case 'root-role':
        if (facts.workspaceIds.some((w) => grantChanged(principal, w))) found.add('role-change');
        break;
      case 'root-role-group':
        if (memberChanged(groups)) found.add('group-membership');
        if (groups.some((g) => facts.workspaceIds.some((w) => grantChanged(g, w)))) found.add('role-change');
        break;
      case 'implicit':
        found.add('public-private');
        break;
      default:
    }
  }
  if (found.size === 0) found.add('other');
  return CHANGE_CAUSES.filter((c) => found.has(c));
}

/** Loads the window's facts from history: only rows that changed in it, plus the handle lookups. */
export async function windowFacts(ctx: Pick<ReportContext, 'db' | 'integration'>, sinceRun: string, untilRun: string): Promise<WindowFacts> {
  const I = ctx.integration.id;
  const inWindow = (column: string) => sql`(${sql.ref(column)} > ${sinceRun} and ${sql.ref(column)} <= ${untilRun})`;
  const grants = await sql<{ k: string }>`
    select distinct principal_id::text || ' ' || resource_id::text as k from grants
     where integration_id = ${I} and (${inWindow('first_seen_run')} or ${inWindow('removed_run')})`.execute(ctx.db);
  const memberships = await sql<{ k: string }>`
    select distinct group_id::text || ' ' || member_id::text as k from memberships
     where integration_id = ${I} and (${inWindow('first_seen_run')} or ${inWindow('removed_run')})`.execute(ctx.db);
  const entities = await sql<{ table: string; id: string; created: boolean; removed: boolean }>`
    select 'resource' as table, id::text as id, ${inWindow('first_seen_run')} as created, coalesce(${inWindow('removed_run')}, false) as removed
      from resources where integration_id = ${I} and (${inWindow('first_seen_run')} or ${inWindow('removed_run')})
    union all
    select 'principal', id::text, ${inWindow('first_seen_run')}, coalesce(${inWindow('removed_run')}, false)
      from principals where integration_id = ${I} and (${inWindow('first_seen_run')} or ${inWindow('removed_run')})`.execute(ctx.db);
  // By the model: the root kinds (Bitbucket Cloud: the workspace) and the kinds a grant is inherited
  // from (the project); their ids and handles are what the causes look for.
  const model = permissionModelOf(ctx.integration.kind);
  const roots = Object.entries(model.resources).filter(([, k]) => k.parents.length === 0).map(([kind]) => kind);
  const inheritedFrom = [...new Set(model.inheritance.map((r) => r.from))].filter((kind) => !roots.includes(kind));
  const handles = await sql<{ kind: string; handle: string; id: string }>`
    select 'group' as kind, handle, id::text as id from principals where integration_id = ${I} and kind = 'group' and handle is not null
    union all
    select kind, coalesce(handle, ''), id::text from resources where integration_id = ${I} and kind in (${sql.join([...roots, ...inheritedFrom, ''])})`.execute(ctx.db);
  const groupIds = new Map<string, string[]>();
  const projectIds = new Map<string, string[]>();
  const workspaceIds: string[] = [];
  for (const h of handles.rows) {
    if (roots.includes(h.kind)) workspaceIds.push(h.id);
    else {
      const map = h.kind === 'group' ? groupIds : projectIds;
      map.set(h.handle, [...(map.get(h.handle) ?? []), h.id]);
    }
  }
  const set = (table: string, pick: 'created' | 'removed') => new Set(entities.rows.filter((e) => e.table === table && e[pick] === true).map((e) => e.id));
  return {
    grants: new Set(grants.rows.map((r) => r.k)),
    memberships: new Set(memberships.rows.map((r) => r.k)),
    resourcesCreated: set('resource', 'created'),
    resourcesRemoved: set('resource', 'removed'),
    principalsAdded: set('principal', 'created'),
    principalsRemoved: set('principal', 'removed'),
    groupIds,
    projectIds,
    workspaceIds,
  };
}

/** Every principal's access at the end of `ctx.run`, in pages, through the reports' derivation. */
export async function* accessStates(ctx: ReportContext): AsyncGenerator<AccessState[]> {
  const flagOptions = { memberListKnown: await memberListKnown(ctx) };
  const rules = accessRules(permissionModelOf(ctx.integration.kind));
  for await (const page of accessRowPages(ctx, { order: 'resource', usersOnly: false }, ctx.pageSize)) {
    yield page.map((db) => {
      const row = toAccessRow(db, rules);
      return accessState(row, accessFlags(row, flagOptions));
    });
  }
}

export interface EffectiveChangeRow {
  since_run: string;
  until_run: string;
  change: EffectiveChangeKind;
  causes: ChangeCause[];
  before: AccessState | undefined;
  after: AccessState | undefined;
  /** `after ?? before`: the names to show. */
  current: AccessState;
  /** Repositories: the project at each end, also for access that only began or ended (from the other rows). */
  projectBefore: string | null;
  projectAfter: string | null;
}

/**
 * The changes between the end of `sinceRun` ("0": before the first run, nothing) and the end of
 * `untilRun`. The earlier state is held as one JSON string per row (~300 bytes), the later one
 * streamed past it, so memory is one snapshot, not two.
 */
export async function effectiveChanges(ctx: ReportContext, sinceRun: string, untilRun: string): Promise<EffectiveChangeRow[]> {
  const at = (runId: string): ReportContext => {
    const run = ctx.runs.get(runId);
    if (!run) throw new Error(`run ${runId} is not a finished run of ${ctx.integration.name}`);
    return { ...ctx, run };
  };
  const rank = accessRules(permissionModelOf(ctx.integration.kind)).rank;
  const before = new Map<string, string>();
  const projectBefore = new Map<string, string | null>();
  const projectAfter = new Map<string, string | null>();
  if (sinceRun !== '0') {
    for await (const page of accessStates(at(sinceRun))) {
      for (const s of page) {
        before.set(stateKey(s), JSON.stringify(s));
        if (s.resource_kind === 'repository') projectBefore.set(s.resource_id, s.project_handle);
      }
    }
  }
  const pairs: Array<[AccessState | undefined, AccessState | undefined]> = [];
  for await (const page of accessStates(at(untilRun))) {
    for (const s of page) {
      if (s.resource_kind === 'repository') projectAfter.set(s.resource_id, s.project_handle);
      const key = stateKey(s);
      const old = before.get(key);
      before.delete(key);
      const previous = old === undefined ? undefined : (JSON.parse(old) as AccessState);
      if (compareStates(previous, s, rank) !== null) pairs.push([previous, s]);
    }
  }
  for (const old of before.values()) pairs.push([JSON.parse(old) as AccessState, undefined]);
  const facts: WindowFacts = { ...(await windowFacts(ctx, sinceRun, untilRun)), projectBefore, projectAfter };
  const rows = pairs.map(([b, a]): EffectiveChangeRow => ({
    since_run: sinceRun,
    until_run: untilRun,
    change: compareStates(b, a, rank) as EffectiveChangeKind,
    causes: changeCauses(b, a, facts),
    before: b,
    after: a,
    current: (a ?? b) as AccessState,
    projectBefore: b ? b.project_handle : (projectBefore.get((a as AccessState).resource_id) ?? null),
    projectAfter: a ? a.project_handle : (projectAfter.get((b as AccessState).resource_id) ?? null),
  }));
  return rows.sort(compareChangeRows);
}

const KIND_RANK: Record<string, number> = { workspace: 1, project: 2, repository: 3, user: 1, group: 2, deploy_key: 3, access_token: 4, anyone: 5 };
const text = (a: string | null, b: string | null): number => ((a ?? '') < (b ?? '') ? -1 : (a ?? '') > (b ?? '') ? 1 : 0);
const bigint = (a: string, b: string): number => (a.length !== b.length ? a.length - b.length : text(a, b));

/** Resource (workspace, projects, repositories; by key/slug), then principal (kind, name, uuid). */
export function compareChangeRows(x: EffectiveChangeRow, y: EffectiveChangeRow): number {
  const a = x.current;
  const b = y.current;
  return (
    (KIND_RANK[a.resource_kind] ?? 9) - (KIND_RANK[b.resource_kind] ?? 9) ||
    text(a.resource_handle, b.resource_handle) ||
    bigint(a.resource_id, b.resource_id) ||
    (KIND_RANK[a.principal_kind] ?? 9) - (KIND_RANK[b.principal_kind] ?? 9) ||
    text(a.principal_name, b.principal_name) ||
    text(a.principal_external_id, b.principal_external_id) ||
    bigint(a.principal_id ?? '0', b.principal_id ?? '0')
  );
}

const columns: Column<EffectiveChangeRow>[] = [
  { name: 'since_run', description: 'The change happened after the end of this run ("0": before the first run)', value: (r) => r.since_run },
  { name: 'until_run', description: 'and by the end of this run', value: (r) => r.until_run },
  { name: 'change', description: 'gained, lost, raised, lowered, or paths-changed (same permission, through other paths)', value: (r) => r.change },
  {
    name: 'causes',
    description: 'Why, from the history of the window: grant, group-membership, repository-moved, role-change, public-private, resource-created, resource-removed, principal-added, principal-removed; other when nothing recorded explains it',
    value: (r) => r.causes,
  },
  { name: 'principal_kind', description: 'user, deploy_key, access_token, or anyone (a public repository)', value: (r) => r.current.principal_kind },
  { name: 'principal_id', description: "Bitbucket's uuid (deploy keys: the key id)", value: (r) => r.current.principal_external_id },
  { name: 'principal_name', description: 'Display name', value: (r) => r.current.principal_name },
  { name: 'principal_handle', description: 'Nickname', value: (r) => r.current.principal_handle },
  { name: 'account_id', description: 'Atlassian account id', value: (r) => r.current.account_id },
  { name: 'resource_kind', description: 'workspace, project or repository', value: (r) => r.current.resource_kind },
  { name: 'resource', description: 'Workspace slug, project key or repository slug', value: (r) => r.current.resource_handle },
  { name: 'resource_name', description: 'Name as Bitbucket shows it', value: (r) => r.current.resource_name },
  { name: 'resource_id', description: "Bitbucket's uuid of the resource", value: (r) => r.current.resource_external_id },
  { name: 'project_before', description: "Repositories: the repository's project before", value: (r) => r.projectBefore },
  { name: 'project_after', description: 'and after', value: (r) => r.projectAfter },
  { name: 'permission_before', description: 'Effective permission before (empty: none)', value: (r) => r.before?.permission ?? null },
  { name: 'permission_after', description: 'Effective permission after (empty: none)', value: (r) => r.after?.permission ?? null },
  { name: 'paths_before', description: 'Every path that gave the access before', value: (r) => r.before?.paths.map((p) => p.label) ?? [] },
  { name: 'paths_after', description: 'Every path that gives it after', value: (r) => r.after?.paths.map((p) => p.label) ?? [] },
];

export const effectiveAccessChanges: ReportDefinition<EffectiveChangeRow> = {
  name: 'effective-access-changes',
  title: 'Effective access changes',
  description:
    'Who gained, lost, raised or lowered effective access on what between two points (--since DATE|RUN, exclusive; --until DATE|RUN, inclusive), each with its causes: the derived access at both ends compared, so a repository moved between projects or a role change shows even when no grant changed. Also `roster report access-changes --effective`.',
  sort: 'resource (the workspace, projects, repositories; each by key/slug), then principal (users, then deploy keys and tokens; by display name, then uuid)',
  options: ['asOf', 'since', 'until'],
  readsSyncedState: true,
  columns: () => columns,
  pages: async function* (ctx) {
    const { sinceRun, untilRun } = changeWindow(ctx);
    const rows = await effectiveChanges(ctx, sinceRun, untilRun);
    for (let i = 0; i < rows.length; i += ctx.pageSize) yield rows.slice(i, i + ctx.pageSize);
  },
};
