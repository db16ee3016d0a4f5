import { type RawBuilder, sql } from 'kysely';
import { presentAt, principalsAt, publicSince, resourcesAt } from '../src/access/history.ts';
import { accessPathsQuery } from '../src/access/paths.ts';
import type { Cell, ReportContext } from './types.ts';

/**
 * Who holds what on which resource at the end of the reflected run, and through which paths: the
 * query behind access-review, user-access and privileged-access.
 *
 * Repository access is `accessPathsQuery` (the derivation the sync materializes, so a report and the
 * effective_access table can never disagree) plus the grants of machine principals (deploy keys,
 * access tokens) on the repository or its project. Project access is the explicit project grants
 * (to a user, or to a group and so its members) plus workspace owners, who administer every project.
 * Workspace access is the member list with its roles. A public repository has one more row: read by
 * anyone, with no principal (Bitbucket: "anyone can access and fork it"). Every table is read as of
 * the run (`presentAt`, and principals and resources through their versions — names, a repository's
 * project and visibility as they were then), so `--as-of` and "latest" are the same query with a
 * different run id.
 */

export type PathKind = 'workspace-role' | 'workspace-owner' | 'direct' | 'group' | 'project' | 'project-group' | 'public';

/** The principal kind of a public repository's read-by-anyone row. */
export const ANYONE = 'anyone';

/** One path behind a row's access. */
export interface PathJson {
  kind: PathKind;
  /** What the path gives on this resource (`create-repo` on a project is `write` on its repositories). */
  permission: string;
  /** The permission of the grant the path rests on, as the source states it. */
  granted: string;
  group: string | null;
  groupName: string | null;
  project: string | null;
  projectName: string | null;
  firstSeenRun: string;
  /** The path's group has this one member and holds this one grant: it exists for nothing else (null without a group). */
  singleUseGroup: boolean | null;
}

/** A row as the database returns it: one principal on one resource, its paths as parallel arrays. */
export interface AccessDbRow {
  resource_id: string;
  resource_kind: 'workspace' | 'project' | 'repository';
  resource_external_id: string;
  resource_handle: string | null;
  resource_name: string;
  /** The repository is readable by anyone (public). */
  resource_public: boolean;
  project_handle: string | null;
  /** Null on a public repository's read-by-anyone row. */
  principal_id: string | null;
  principal_kind: 'user' | 'group' | 'deploy_key' | 'access_token' | typeof ANYONE;
  principal_external_id: string | null;
  principal_name: string | null;
  principal_handle: string | null;
  account_id: string | null;
  workspace_role: string | null;
  admins_on_resource: number | null;
  path_kinds: PathKind[];
  path_permissions: string[];
  path_granted: string[];
  path_groups: Array<string | null>;
  path_group_names: Array<string | null>;
  path_projects: Array<string | null>;
  path_project_names: Array<string | null>;
  path_first_seen: string[];
  path_group_single_use: Array<boolean | null>;
}

export interface AccessRow extends Omit<AccessDbRow, `path_${string}`> {
  /** The highest permission over the paths. */
  permission: string;
  first_seen_run: string;
  /** Some path is a grant to the principal itself (on the resource, or on the repository's project). */
  individual: boolean;
  /** Every path goes through a group that has no other use: no other member, no other grant. */
  single_use_group_only: boolean;
  /** Paths in a stable order: workspace role, direct, group, project, project-group, workspace owner. */
  paths: PathJson[];
}

export interface AccessQuery {
  /** `resource`: by resource, then principal (access-review). `principal`: by user, then resource (user-access). */
  order: 'resource' | 'principal';
  /** Users only (user-access) or every principal kind (access-review). */
  usersOnly: boolean;
  /** Only this principal (internal id). */
  principalId?: string;
  /** Only rows where the principal holds admin/owner through a grant on the resource itself; adds `admins_on_resource`. */
  privilegedOnly?: boolean;
}

const MACHINE_KINDS = sql`('deploy_key', 'access_token')`;

export const RESOURCE_KIND_RANK = (column: RawBuilder<unknown>) => sql`(case ${column} when 'workspace' then 1 when 'project' then 2 else 3 end)`;
export const PRINCIPAL_KIND_RANK = (column: RawBuilder<unknown>) => sql`(case ${column} when 'user' then 1 when 'group' then 2 when 'deploy_key' then 3 when 'access_token' then 4 else 0 end)`;

/** One ladder for all resource kinds; only the order within a kind matters. */
export const PERMISSION_RANK: Record<string, number> = { member: 1, collaborator: 2, owner: 3, read: 1, write: 2, 'create-repo': 3, admin: 4 };
const PATH_RANK: Record<PathKind, number> = { 'workspace-role': 0, direct: 1, group: 2, project: 3, 'project-group': 4, 'workspace-owner': 5, public: 6 };

export function accessQuery(ctx: ReportContext, q: AccessQuery): RawBuilder<AccessDbRow> {
  const I = ctx.integration.id;
  const R = ctx.run.id;
  const only = (column: string) => (q.principalId === undefined ? sql`true` : sql`${sql.ref(column)} = ${q.principalId}`);
  const holderKinds = q.usersOnly ? sql`('user')` : sql`('user', 'deploy_key', 'access_token')`;

  const machineRepositoryPaths = q.usersOnly
    ? sql``
    : sql`
    union all
    select g.principal_id, r.id, 'direct', null::bigint, null::bigint, g.permission, g.id, null::bigint, null::bigint
      from grants g
      join pv k on k.id = g.principal_id and k.kind in ${MACHINE_KINDS}
      join rv r on r.id = g.resource_id
     where g.integration_id = ${I} and g.resource_kind = 'repository' and ${presentAt('g', R)} and ${only('g.principal_id')}
    union all
    select g.principal_id, r.id, 'project', null::bigint, g.resource_id,
           case g.permission when 'create-repo' then 'write' else g.permission end, g.id, null::bigint, null::bigint
      from grants g
      join pv k on k.id = g.principal_id and k.kind in ${MACHINE_KINDS}
      join rv pr on pr.id = g.resource_id
      join rv r on r.parent_id = g.resource_id and r.kind = 'repository'
     where g.integration_id = ${I} and g.resource_kind = 'project' and ${presentAt('g', R)} and ${only('g.principal_id')}`;

  // A public repository is readable by anyone: one row with no principal, never a grant to a fake user.
  const publicPaths =
    q.usersOnly || q.principalId !== undefined
      ? sql``
      : sql`
    union all
    select null::bigint, r.id, 'public', null::bigint, null::bigint, 'read', null::bigint, null::bigint, ${publicSince('r', R)}
      from rv r where r.public`;

  // The union's columns: principal_id, resource_id, path_kind, via_group_id, via_project_id, permission, grant_id, membership_id,
  // since_run (when a path that rests on no grant began: public).
  const paths = sql`
    select a.user_id::bigint as principal_id, a.repository_id::bigint as resource_id, a.path_kind,
           a.via_group_id::bigint as via_group_id, a.via_project_id::bigint as via_project_id, a.permission,
           a.grant_id::bigint as grant_id, a.membership_id::bigint as membership_id, null::bigint as since_run
      from (${accessPathsQuery(I, R)}) a
     where ${q.principalId === undefined ? sql`true` : sql`a.user_id = ${String(q.principalId)}`}
    ${machineRepositoryPaths}
    union all
    select g.principal_id, pr.id, 'direct', null::bigint, null::bigint, g.permission, g.id, null::bigint, null::bigint
      from grants g
      join pv u on u.id = g.principal_id and u.kind in ${holderKinds}
      join rv pr on pr.id = g.resource_id
     where g.integration_id = ${I} and g.resource_kind = 'project' and ${presentAt('g', R)} and ${only('g.principal_id')}
    union all
    select m.member_id, pr.id, 'group', g.principal_id, null::bigint, g.permission, g.id, m.id, null::bigint
      from grants g
      join pv gp on gp.id = g.principal_id and gp.kind = 'group'
      join memberships m on m.group_id = g.principal_id and m.integration_id = ${I} and ${presentAt('m', R)}
      join pv u on u.id = m.member_id and u.kind = 'user'
      join rv pr on pr.id = g.resource_id
     where g.integration_id = ${I} and g.resource_kind = 'project' and ${presentAt('g', R)} and ${only('m.member_id')}
    union all
    select g.principal_id, pr.id, 'workspace-owner', null::bigint, null::bigint, 'admin', g.id, null::bigint, null::bigint
      from grants g
      join pv u on u.id = g.principal_id and u.kind = 'user'
      join rv pr on pr.kind = 'project'
     where g.integration_id = ${I} and g.resource_kind = 'workspace' and g.permission = 'owner' and ${presentAt('g', R)} and ${only('g.principal_id')}
    union all
    select g.principal_id, w.id, 'workspace-role', null::bigint, null::bigint, g.permission, g.id, null::bigint, null::bigint
      from grants g
      join pv u on u.id = g.principal_id and u.kind in ${holderKinds}
      join rv w on w.id = g.resource_id
     where g.integration_id = ${I} and g.resource_kind = 'workspace' and ${presentAt('g', R)} and ${only('g.principal_id')}
    ${publicPaths}`;

  const resourceKey = sql`${RESOURCE_KIND_RANK(sql.ref('r.kind'))}, (r.handle collate "C"), r.id`;
  const principalKey = sql`${PRINCIPAL_KIND_RANK(sql.ref('pr.kind'))}, (pr.display_name collate "C"), (pr.external_id collate "C"), pr.id`;
  // Grouped in the output order, so one sort serves both the aggregation and the ORDER BY; the columns
  // after the key are fixed per resource and principal and only ride along.
  const key = q.order === 'resource' ? sql`${resourceKey}, ${principalKey}` : sql`${principalKey}, ${resourceKey}`;

  return sql<AccessDbRow>`
    with pv as ${principalsAt(I, R)},
    rv as ${resourcesAt(I, R)},
    paths as (${paths}),
    group_use as (
      select g.principal_id, count(*)::int as grants,
             (select count(*) from memberships m join pv u on u.id = m.member_id
               where m.integration_id = ${I} and m.group_id = g.principal_id and ${presentAt('m', R)})::int as members
        from grants g join pv gp on gp.id = g.principal_id and gp.kind = 'group'
       where g.integration_id = ${I} and ${presentAt('g', R)}
       group by g.principal_id
    ),
    roles as (
      select g.principal_id, max(g.permission) filter (where g.permission = 'owner') as owner,
             max(g.permission) filter (where g.permission = 'collaborator') as collaborator, max(g.permission) filter (where g.permission = 'member') as member
        from grants g
       where g.integration_id = ${I} and g.resource_kind = 'workspace' and ${presentAt('g', R)}
       group by g.principal_id
    )${
      q.privilegedOnly
        ? sql`,
    admins as (
      select resource_id, count(distinct principal_id)::int as n from paths where permission in ('admin', 'owner') group by resource_id
    ),
    -- Aggregate only the (resource, principal) pairs with an admin grant on the resource itself: a
    -- few thousand of a large workspace's half million.
    privileged as (
      select distinct p.resource_id, p.principal_id
        from paths p join grants g on g.id = p.grant_id
       where p.path_kind in ('direct', 'group', 'workspace-role') and g.permission in ('admin', 'owner')
    )`
        : sql``
    }
    select r.id::text as resource_id, r.kind as resource_kind, r.external_id as resource_external_id, r.handle as resource_handle,
           r.name as resource_name, r.public as resource_public, proj.handle as project_handle,
           pr.id::text as principal_id, coalesce(pr.kind, ${ANYONE}) as principal_kind, pr.external_id as principal_external_id,
           coalesce(pr.display_name, case when pr.id is null then 'anyone (public repository)' end) as principal_name,
           pr.handle as principal_handle, pr.account_id, coalesce(ro.owner, ro.collaborator, ro.member) as workspace_role,
           ${q.privilegedOnly ? sql`max(ad.n)` : sql`null::int`} as admins_on_resource,
           array_agg(p.path_kind) as path_kinds, array_agg(p.permission) as path_permissions, array_agg(coalesce(g.permission, p.permission)) as path_granted,
           array_agg(vg.handle) as path_groups, array_agg(vg.display_name) as path_group_names,
           array_agg(vp.handle) as path_projects, array_agg(vp.name) as path_project_names,
           array_agg(coalesce(p.since_run, greatest(g.first_seen_run, m.first_seen_run, r.present_since_run))::text) as path_first_seen,
           array_agg(gu.grants = 1 and gu.members = 1) as path_group_single_use
      from paths p
      join rv r on r.id = p.resource_id
      left join pv pr on pr.id = p.principal_id
      left join grants g on g.id = p.grant_id
      left join memberships m on m.id = p.membership_id
      left join pv vg on vg.id = p.via_group_id
      left join rv vp on vp.id = p.via_project_id
      left join group_use gu on gu.principal_id = p.via_group_id
      left join rv proj on proj.id = r.parent_id and proj.kind = 'project' and r.kind = 'repository'
      left join roles ro on ro.principal_id = pr.id
      ${q.privilegedOnly ? sql`left join admins ad on ad.resource_id = r.id` : sql``}
     where ${q.privilegedOnly ? sql`(p.resource_id, p.principal_id) in (select resource_id, principal_id from privileged)` : sql`true`}
     group by ${key}, r.kind, r.handle, r.external_id, r.name, r.public, pr.kind, pr.display_name, pr.external_id, pr.handle, pr.account_id, proj.handle, ro.owner, ro.collaborator, ro.member
     order by ${key}`;
}

/** Turns the database row's parallel arrays into paths, and derives the permission, first seen and flags inputs. */
export function toAccessRow(row: AccessDbRow): AccessRow {
  const n = row.path_kinds.length;
  const paths: PathJson[] = new Array<PathJson>(n);
  let permission = '';
  let firstSeen = '';
  let individual = false;
  let singleUseGroupOnly = true;
  for (let i = 0; i < n; i++) {
    const p: PathJson = {
      kind: row.path_kinds[i] as PathKind,
      permission: row.path_permissions[i] ?? '',
      granted: row.path_granted[i] ?? '',
      group: row.path_groups[i] ?? null,
      groupName: row.path_group_names[i] ?? null,
      project: row.path_projects[i] ?? null,
      projectName: row.path_project_names[i] ?? null,
      firstSeenRun: row.path_first_seen[i] ?? '0',
      singleUseGroup: row.path_group_single_use[i] ?? null,
    };
    paths[i] = p;
    if ((PERMISSION_RANK[p.permission] ?? 0) > (PERMISSION_RANK[permission] ?? 0)) permission = p.permission;
    if (firstSeen === '' || runIdLess(p.firstSeenRun, firstSeen)) firstSeen = p.firstSeenRun;
    if (p.kind === 'direct' || p.kind === 'project') individual = true;
    if (!((p.kind === 'group' || p.kind === 'project-group') && p.singleUseGroup === true)) singleUseGroupOnly = false;
  }
  if (n > 1) paths.sort(comparePaths);
  return {
    resource_id: row.resource_id,
    resource_kind: row.resource_kind,
    resource_external_id: row.resource_external_id,
    resource_handle: row.resource_handle,
    resource_name: row.resource_name,
    resource_public: row.resource_public,
    project_handle: row.project_handle,
    principal_id: row.principal_id,
    principal_kind: row.principal_kind,
    principal_external_id: row.principal_external_id,
    principal_name: row.principal_name,
    principal_handle: row.principal_handle,
    account_id: row.account_id,
    workspace_role: row.workspace_role,
    admins_on_resource: row.admins_on_resource,
    permission,
    first_seen_run: firstSeen || '0',
    individual,
    single_use_group_only: n > 0 && singleUseGroupOnly,
    paths,
  };
}

/** Run ids are decimal bigints: shorter is smaller, equal lengths compare as text. */
function runIdLess(a: string, b: string): boolean {
  return a.length !== b.length ? a.length < b.length : a < b;
}

function comparePaths(a: PathJson, b: PathJson): number {
  return PATH_RANK[a.kind] - PATH_RANK[b.kind] || compareText(a.project, b.project) || compareText(a.group, b.group) || compareText(a.granted, b.granted);
}

function compareText(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : 1;
}

// ─── Rendering shared by the access reports ────────────────────────────────────────────────

const runTimes = new WeakMap<ReadonlyMap<string, unknown>, Map<string, string | null>>();

/** When a run finished, as ISO text (cached: a report asks once per row). */
export function runTime(ctx: Pick<ReportContext, 'runs'>, runId: string | null): string | null {
  if (runId === null) return null;
  let cache = runTimes.get(ctx.runs);
  if (!cache) runTimes.set(ctx.runs, (cache = new Map()));
  let time = cache.get(runId);
  if (time === undefined) {
    time = ctx.runs.get(runId)?.finishedAt.toISOString() ?? null;
    cache.set(runId, time);
  }
  return time;
}

/** `group:developers (write)`: how a path reads in a CSV cell. */
export function pathLabel(p: PathJson): string {
  const via = (() => {
    switch (p.kind) {
      case 'workspace-role':
        return 'workspace-role';
      case 'workspace-owner':
        return 'workspace-owner';
      case 'direct':
        return 'direct';
      case 'group':
        return `group:${p.group ?? '?'}`;
      case 'project':
        return `project:${p.project ?? '?'}`;
      case 'project-group':
        return `project:${p.project ?? '?'} group:${p.group ?? '?'}`;
      case 'public':
        return 'public';
    }
  })();
  return `${via} (${p.granted})`;
}

export function pathJson(ctx: Pick<ReportContext, 'runs'>, p: PathJson): Cell {
  return {
    kind: p.kind,
    permission: p.permission,
    grantedPermission: p.granted,
    group: p.group,
    groupName: p.groupName,
    project: p.project,
    projectName: p.projectName,
    firstSeen: runTime(ctx, p.firstSeenRun),
    firstSeenRun: p.firstSeenRun,
  };
}

/**
 * Whether the workspace member list is known at the end of the run: some credentials cannot read it,
 * and then "not in the member list" would be said of everyone.
 */
export async function memberListKnown(ctx: ReportContext): Promise<boolean> {
  const result = await sql<{ known: boolean }>`
    select exists (select 1 from grants g where g.integration_id = ${ctx.integration.id} and g.resource_kind = 'workspace' and ${presentAt('g', ctx.run.id)}) as known`.execute(ctx.db);
  return result.rows[0]?.known === true;
}

/**
 * The review flags of an access row (see reports/README.md: Flags). `outside-workspace`: a user with
 * access who is not a workspace member — Bitbucket's former "collaborator" role, which left its API
 * on 1 June 2022; such users now appear only in the grants. Said only when the member list was read.
 */
export function accessFlags(row: AccessRow, options: { memberListKnown: boolean } = { memberListKnown: true }): string[] {
  const flags: string[] = [];
  if (row.permission === 'admin' || row.permission === 'owner') flags.push('admin');
  if (row.resource_public) flags.push('public');
  if (row.principal_kind === 'deploy_key' || row.principal_kind === 'access_token') flags.push('machine-credential');
  if (row.principal_kind !== 'user') return flags;
  if (row.individual) flags.push('individual-grant');
  if (row.single_use_group_only) flags.push('single-use-group');
  if ((row.workspace_role === null || row.workspace_role === 'collaborator') && options.memberListKnown) flags.push('outside-workspace');
  return flags;
}
