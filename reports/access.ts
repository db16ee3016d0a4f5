import { type RawBuilder, sql } from 'kysely';
import { presentAt, principalsAt, resourcesAt } from '../src/access/history.ts';
import { type PathCategory, accessPaths, implicitApplies, pathCategories, permissionRankSql } from '../src/access/paths.ts';
import { permissionModelOf } from '../src/connectors.ts';
import type { PermissionModel } from '../src/interfaces.ts';
import { cursorPages } from './cursor.ts';
import type { Cell, ReportContext } from './types.ts';

/**
 * Who holds what on which resource at the end of the reflected run, and through which paths: the
 * query behind access-review, user-access and privileged-access.
 *
 * The paths are `accessPaths` — effective access derived from the integration's permission model, the
 * derivation the sync materializes, so a report and the effective_access table can never disagree —
 * for every resource kind and every principal but groups (people, deploy keys, tokens). A resource
 * with implicit access (Bitbucket: a public repository, "anyone can access and fork it") has one more
 * row with no principal. Everything is read as of the run (grants and memberships by their intervals,
 * principals and resources through their versions: names, a repository's project and visibility as
 * they were then), so `--as-of` and "latest" are the same query with a different run id.
 */

/** A path kind of the model (Bitbucket: direct, group, project, project-group, workspace-owner, workspace-role, public). */
export type PathKind = string;

/** The principal kind of a resource's implicit-access row (no principal: anyone). */
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
  /** The resource the path inherits through (Bitbucket: the repository's project). */
  project: string | null;
  projectName: string | null;
  firstSeenRun: string;
  /** The path's group has this one member and holds this one grant: it exists for nothing else (null without a group). */
  singleUseGroup: boolean | null;
  /** How the path came about (from the model). */
  category: PathCategory;
  /** The grant behind it makes its holder an administrator of the resource it is on. */
  privilegedGrant: boolean;
  /** Implicit access: what turns it off (`make web-app private`). */
  undo?: string;
}

/** One principal on one resource: a row of the access query with what its ids stand for (`AccessEntities`). */
export interface AccessDbRow {
  resource_id: string;
  resource_kind: string;
  resource_external_id: string;
  resource_handle: string | null;
  resource_name: string;
  /** Implicit access that applies to the resource (Bitbucket: `public`). */
  resource_implicit: string[];
  project_handle: string | null;
  /** Null on a resource's implicit-access row. */
  principal_id: string | null;
  principal_kind: 'user' | 'group' | 'deploy_key' | 'access_token' | typeof ANYONE;
  principal_external_id: string | null;
  principal_name: string | null;
  principal_handle: string | null;
  account_id: string | null;
  /** The principal's highest role on the root resource (Bitbucket: workspace member or owner); null when none. */
  workspace_role: string | null;
  admins_on_resource: number | null;
  /** The paths, one array each: kind, permission, granted, group, group name, project, project name, first seen run (text), single-use group. */
  paths: PathTuple[];
}

/** One path as the access query returns it (see `AccessDbRow.paths`). */
export type PathTuple = [kind: PathKind, permission: string, granted: string, group: string | null, groupName: string | null, project: string | null, projectName: string | null, firstSeenRun: string, singleUseGroup: boolean | null];

export interface AccessRow extends Omit<AccessDbRow, 'paths'> {
  /** The highest permission over the paths. */
  permission: string;
  first_seen_run: string;
  /** The effective permission makes the principal an administrator of the resource. */
  admin: boolean;
  /** Some path is a grant to the principal itself (on the resource, or inherited from its parent). */
  individual: boolean;
  /** Every path goes through a group that has no other use: no other member, no other grant. */
  single_use_group_only: boolean;
  /** Paths in a stable order: root role, direct, group, inherited, inherited through a group, root-wide roles, implicit. */
  paths: PathJson[];
}

export interface AccessQuery {
  /** `resource`: by resource, then principal (access-review). `principal`: by user, then resource (user-access). */
  order: 'resource' | 'principal';
  /** Users only (user-access) or every principal kind (access-review). */
  usersOnly: boolean;
  /** Only this principal (internal id). */
  principalId?: string;
  /** Only this resource (internal id): "who can reach repository X" (the reviewer web page's access explorer). */
  resourceId?: string;
  /** Only rows where the principal holds an administrator's permission through a grant on the resource itself; adds `admins_on_resource`. */
  privilegedOnly?: boolean;
}

/** Resource kinds in the model's order (roots first): the order reports list resources in. */
export function resourceKindRank(model: PermissionModel, column: RawBuilder<unknown>): RawBuilder<number> {
  const kinds = Object.keys(model.resources);
  return sql<number>`(case ${column} ${sql.join(kinds.map((k, i) => sql`when ${k} then ${sql.lit(i + 1)}`), sql` `)} else ${sql.lit(kinds.length + 1)} end)`;
}
export const PRINCIPAL_KIND_RANK = (column: RawBuilder<unknown>) => sql`(case ${column} when 'user' then 1 when 'group' then 2 when 'deploy_key' then 3 when 'access_token' then 4 else 0 end)`;

const CATEGORY_RANK: Record<PathCategory, number> = { 'root-direct': 0, direct: 1, group: 2, inherited: 3, 'inherited-group': 4, 'root-role': 5, 'root-role-group': 6, implicit: 7 };

/** What the rendering of access rows needs from the model, computed once per report. */
export interface AccessRules {
  model: PermissionModel;
  categories: Map<string, PathCategory>;
  /** Rank of a permission on a resource kind's ladder (0: not on it). */
  rank(kind: string, permission: string): number;
  privileged(kind: string, permission: string): boolean;
}

export function accessRules(model: PermissionModel): AccessRules {
  const categories = pathCategories(model);
  return {
    model,
    categories,
    rank: (kind, permission) => (model.resources[kind]?.ladder.indexOf(permission) ?? -1) + 1,
    privileged: (kind, permission) => model.resources[kind]?.privileged.includes(permission) ?? false,
  };
}

/** A permission that makes its holder an administrator, on the resource kind of `kindColumn`. */
function privilegedSql(model: PermissionModel, kindColumn: string, permissionColumn: string): RawBuilder<boolean> {
  const kinds = Object.entries(model.resources).filter(([, k]) => k.privileged.length > 0);
  if (kinds.length === 0) return sql<boolean>`false`;
  return sql<boolean>`(${sql.join(
    kinds.map(([kind, k]) => sql`(${sql.ref(kindColumn)} = ${kind} and ${sql.ref(permissionColumn)} in (${sql.join(k.privileged.map((p) => sql`${p}`))}))`),
    sql` or `,
  )})`;
}

export function accessQuery(ctx: ReportContext, q: AccessQuery): RawBuilder<AccessQueryRow> {
  return accessSql(ctx, q, null) as RawBuilder<unknown> as RawBuilder<AccessQueryRow>;
}

/**
 * A row of `accessQuery`: ids and paths only, packed in one json array (one native JSON.parse per
 * row). What the ids stand for — names, handles, roles — is the same on every row of a resource or a
 * principal, so it is read once per report (`AccessEntities`), not rebuilt, sorted, sent and parsed
 * millions of times: that halved the database's time for an enterprise access-review.
 */
export interface AccessQueryRow {
  r: [resourceId: string, principalId: string | null, adminsOnResource: number | null, paths: QueryPathTuple[]];
}

/** One path as the access query returns it: what `PathTuple` holds, with the group and the resource it goes through as ids. */
type QueryPathTuple = [kind: PathKind, permission: string, granted: string, viaGroupId: string | null, viaResourceId: string | null, firstSeenRun: string];

interface ResourceEntity {
  kind: string;
  external_id: string;
  handle: string | null;
  name: string;
  implicit: string[];
  project_handle: string | null;
}

interface PrincipalEntity {
  kind: AccessDbRow['principal_kind'];
  external_id: string;
  display_name: string | null;
  handle: string | null;
  account_id: string | null;
  role: string | null;
  /** Groups: it holds this one grant and has this one member (null for other principals). */
  single_use: boolean | null;
}

/**
 * The resources and principals present at the end of the run, as the access rows show them, by id:
 * all of them for a whole report (a few tens of thousands at most; read before the first row), or, for
 * a query about one principal or one resource, those its rows name, page by page.
 */
class AccessEntities {
  readonly resources = new Map<string, ResourceEntity>();
  readonly principals = new Map<string, PrincipalEntity>();

  constructor(private readonly ctx: ReportContext) {}

  async loadAll(): Promise<void> {
    await Promise.all([this.loadResources(null), this.loadPrincipals(null)]);
  }

  /** Reads what `rows` name and is not known yet. */
  async ensure(rows: readonly AccessQueryRow[]): Promise<void> {
    const resources = new Set<string>();
    const principals = new Set<string>();
    for (const { r } of rows) {
      if (!this.resources.has(r[0])) resources.add(r[0]);
      if (r[1] !== null && !this.principals.has(r[1])) principals.add(r[1]);
      for (const t of r[3]) {
        if (t[3] !== null && !this.principals.has(t[3])) principals.add(t[3]);
        if (t[4] !== null && !this.resources.has(t[4])) resources.add(t[4]);
      }
    }
    if (resources.size > 0) await this.loadResources([...resources]);
    if (principals.size > 0) await this.loadPrincipals([...principals]);
  }

  expand(row: AccessQueryRow): AccessDbRow {
    const [resourceId, principalId, admins, tuples] = row.r;
    const resource = this.resources.get(resourceId);
    if (!resource) throw new Error(`access row names resource ${resourceId}, which is not present at the end of run ${this.ctx.run.id}`);
    const principal = principalId === null ? null : this.principals.get(principalId);
    if (principal === undefined) throw new Error(`access row names principal ${principalId}, which is not present at the end of run ${this.ctx.run.id}`);
    const paths = new Array<PathTuple>(tuples.length);
    for (let i = 0; i < tuples.length; i++) {
      const t = tuples[i] as QueryPathTuple;
      const group = t[3] === null ? undefined : this.principals.get(t[3]);
      const via = t[4] === null ? undefined : this.resources.get(t[4]);
      paths[i] = [t[0], t[1], t[2], group?.handle ?? null, group?.display_name ?? null, via?.handle ?? null, via?.name ?? null, t[5], group ? group.single_use : null];
    }
    return {
      resource_id: resourceId,
      resource_kind: resource.kind,
      resource_external_id: resource.external_id,
      resource_handle: resource.handle,
      resource_name: resource.name,
      resource_implicit: resource.implicit,
      project_handle: resource.project_handle,
      principal_id: principalId,
      principal_kind: principal?.kind ?? ANYONE,
      principal_external_id: principal?.external_id ?? null,
      principal_name: principal ? principal.display_name : 'anyone',
      principal_handle: principal?.handle ?? null,
      account_id: principal?.account_id ?? null,
      workspace_role: principal?.role ?? null,
      admins_on_resource: admins,
      paths,
    };
  }

  private async loadResources(ids: string[] | null): Promise<void> {
    const { ctx } = this;
    const model = permissionModelOf(ctx.integration.kind);
    const rows = await sql<ResourceEntity & { id: string }>`
      with rv as not materialized ${resourcesAt(ctx.integration.id, ctx.run.id)}
      select r.id::text as id, r.kind, r.external_id, r.handle, r.name, to_json(${implicitOf(model, 'r')}) as implicit, proj.handle as project_handle
        from rv r ${projectJoin(model)}
       where ${ids === null ? sql`true` : sql`r.id = any(${ids}::bigint[])`}`.execute(ctx.db);
    for (const { id, ...resource } of rows.rows) this.resources.set(id, resource);
  }

  private async loadPrincipals(ids: string[] | null): Promise<void> {
    const { ctx } = this;
    const model = permissionModelOf(ctx.integration.kind);
    const I = ctx.integration.id;
    const R = ctx.run.id;
    const rows = await sql<PrincipalEntity & { id: string }>`
      with pv as not materialized ${principalsAt(I, R)},
      rv as not materialized ${resourcesAt(I, R)},
      group_use as (${groupUse(I, R)}),
      roles as (${rootRoles(model, I, R)})
      select p.id::text as id, p.kind, p.external_id, p.display_name, p.handle, p.account_id, ro.role, gu.grants = 1 and gu.members = 1 as single_use
        from pv p left join roles ro on ro.principal_id = p.id left join group_use gu on gu.principal_id = p.id
       where ${ids === null ? sql`true` : sql`p.id = any(${ids}::bigint[])`}`.execute(ctx.db);
    for (const { id, ...principal } of rows.rows) this.principals.set(id, principal);
  }
}

/**
 * Every row of `q`, in pages of the query's order, with what its ids stand for. Runs in a transaction
 * (a cursor; `runReport` opens one, REPEATABLE READ).
 */
export async function* accessRowPages(ctx: ReportContext, q: AccessQuery, pageSize: number): AsyncGenerator<AccessDbRow[]> {
  const entities = new AccessEntities(ctx);
  const whole = q.principalId === undefined && q.resourceId === undefined;
  if (whole) await entities.loadAll();
  for await (const page of cursorPages(ctx.db, accessQuery(ctx, q), pageSize)) {
    if (!whole) await entities.ensure(page);
    yield page.map((row) => entities.expand(row));
  }
}

/** Every row of `q` at once, outside a transaction: for a query about one principal or one resource. */
export async function accessRowsOf(ctx: ReportContext, q: AccessQuery): Promise<AccessDbRow[]> {
  const rows = (await accessQuery(ctx, q).execute(ctx.db)).rows;
  const entities = new AccessEntities(ctx);
  await entities.ensure(rows);
  return rows.map((row) => entities.expand(row));
}

/** The implicit access that applies to the resource `alias`, as a text[] of the rules' path kinds. */
function implicitOf(model: PermissionModel, alias: string): RawBuilder<unknown> {
  return model.implicit.length === 0
    ? sql`array[]::text[]`
    : sql`array_remove(array[${sql.join(model.implicit.map((rule) => sql`case when ${implicitApplies(rule, alias)} then ${rule.path} end`))}]::text[], null)`;
}

/** `proj`: the parent a resource `r` inherits from (Bitbucket: a repository's project), over the CTE `rv`. */
function projectJoin(model: PermissionModel): RawBuilder<unknown> {
  const parentKinds = [...new Set(model.inheritance.map((rule) => rule.from))];
  return sql`left join rv proj on proj.id = r.parent_id and ${parentKinds.length > 0 ? sql`proj.kind in (${sql.join(parentKinds.map((k) => sql`${k}`))})` : sql`false`}`;
}

/** Per group with a grant at the end of run `R`: its grants and its members (over the CTE `pv`). */
function groupUse(I: string, R: string): RawBuilder<unknown> {
  return sql`
      select g.principal_id, count(*)::int as grants,
             (select count(*) from memberships m join pv u on u.id = m.member_id
               where m.integration_id = ${I} and m.group_id = g.principal_id and ${presentAt('m', R)})::int as members
        from grants g join pv gp on gp.id = g.principal_id and gp.kind = 'group'
       where g.integration_id = ${I} and ${presentAt('g', R)}
       group by g.principal_id`;
}

/** Per principal: its highest role on the root resource at the end of run `R` (over the CTE `rv`). */
function rootRoles(model: PermissionModel, I: string, R: string): RawBuilder<unknown> {
  const root = Object.entries(model.resources).find(([, k]) => k.parents.length === 0);
  if (!root) return sql`select null::bigint as principal_id, null::text as role where false`;
  return sql`
      select h.principal_id, (array[${sql.join(root[1].ladder.map((p) => sql`${p}`))}]::text[])[max(${permissionRankSql(model, root[0], sql.ref('h.permission'))})] as role
        from (
          -- A role on the root held directly, or through a group (Data Center licenses most users
          -- through groups): either way the user is inside the instance or workspace.
          select g.principal_id, g.permission from grants g join rv w on w.id = g.resource_id and w.kind = ${root[0]}
           where g.integration_id = ${I} and ${presentAt('g', R)}
          union all
          select m.member_id, g.permission from grants g join rv w on w.id = g.resource_id and w.kind = ${root[0]}
            join memberships m on m.group_id = g.principal_id and m.integration_id = ${I} and ${presentAt('m', R)}
           where g.integration_id = ${I} and ${presentAt('g', R)}
        ) h
       group by h.principal_id`;
}

/**
 * The benchmark's floor for an access report: the same rows in the same order as `accessQuery`, with
 * the report's columns rendered by the database itself (paths as labels, the highest permission, first
 * seen, flags), for `COPY (…) TO STDOUT (FORMAT csv)`. Not a report: what the database alone costs to
 * produce the rows, so `npm run bench` can say how far above it the report is.
 */
export function accessFloorQuery(ctx: ReportContext, report: 'access-review' | 'user-access'): RawBuilder<unknown> {
  return accessSql(ctx, report === 'access-review' ? { order: 'resource', usersOnly: false } : { order: 'principal', usersOnly: true }, report);
}

function accessSql(ctx: ReportContext, q: AccessQuery, floor: 'access-review' | 'user-access' | null): RawBuilder<unknown> {
  const model = permissionModelOf(ctx.integration.kind);
  const I = ctx.integration.id;
  const R = ctx.run.id;
  const categories = pathCategories(model);
  const kindsIn = (wanted: PathCategory[]) => [...categories].filter(([, c]) => wanted.includes(c)).map(([k]) => k);
  const paths = accessPaths(model, I, R, { holders: q.usersOnly ? 'users' : 'all', principalId: q.principalId, implicit: !q.usersOnly });

  // The output order of resources and of principals, each ranked once in its own small table (rord,
  // pord): the sort of millions of paths then compares two integers instead of seven expressions with
  // collated text (the enterprise floor: 33 s → 19 s). Anyone (no principal) comes first, as rank 0.
  const resourceKey = sql`rord.ord`;
  const principalKey = sql`coalesce(pord.ord, 0)`;
  // Grouped in the output order, so one sort serves both the aggregation and the ORDER BY.
  const key = q.order === 'resource' ? sql`${resourceKey}, ${principalKey}` : sql`${principalKey}, ${resourceKey}`;

  return sql`
    -- Not materialized: each use is planned on the versions tables' statistics. Materialized, a CTE has
    -- none, the planner guesses 200 distinct ids, and its row estimates grow by orders of magnitude
    -- with every join (merge joins with external sorts of every path, several times over).
    with pv as not materialized ${principalsAt(I, R)},
    rv as not materialized ${resourcesAt(I, R)},
    rord as (select id, row_number() over (order by ${resourceKindRank(model, sql.ref('kind'))}, (handle collate "C"), id) as ord from rv),
    pord as (select id, row_number() over (order by ${PRINCIPAL_KIND_RANK(sql.ref('kind'))}, (display_name collate "C"), (external_id collate "C"), id) as ord from pv),
    paths as (${paths})${
      floor
        ? sql`,
    group_use as (${groupUse(I, R)}),
    roles as (${rootRoles(model, I, R)})`
        : sql``
    }${
      q.privilegedOnly
        ? sql`,
    admins as (
      select p.resource_id, count(distinct p.principal_id)::int as n
        from paths p join rv x on x.id = p.resource_id
       where ${privilegedSql(model, 'x.kind', 'p.permission')}
       group by p.resource_id
    ),
    -- Aggregate only the (resource, principal) pairs with an administrator's grant on the resource
    -- itself: a few thousand of a large workspace's half million.
    privileged as (
      select distinct p.resource_id, p.principal_id
        from paths p join grants g on g.id = p.grant_id join rv x on x.id = p.resource_id
       where p.path_kind in (${sql.join(kindsIn(['direct', 'root-direct', 'group']).map((k) => sql`${k}`))}) and ${privilegedSql(model, 'x.kind', 'g.permission')}
    )`
        : sql``
    }
    select ${floor ? floorSelect(model, floor) : sql`
           -- One json column per row, in AccessQueryRow's order: ids and paths; AccessEntities knows the rest.
           json_build_array(r.id::text, p.principal_id::text, ${q.privilegedOnly ? sql`max(ad.n)` : sql`null::int`},
           json_agg(json_build_array(p.path_kind, p.permission, coalesce(g.permission, p.permission), p.via_group_id::text, p.via_resource_id::text,
                    coalesce(p.since_run, greatest(g.first_seen_run, m.first_seen_run, r.present_since_run))::text))) as r`}
      from paths p
      join rv r on r.id = p.resource_id
      join rord on rord.id = r.id
      left join pord on pord.id = p.principal_id
      left join grants g on g.id = p.grant_id
      left join memberships m on m.id = p.membership_id${
        floor
          ? sql`
      left join pv pr on pr.id = p.principal_id
      left join pv vg on vg.id = p.via_group_id
      left join rv vp on vp.id = p.via_resource_id
      left join group_use gu on gu.principal_id = p.via_group_id
      ${projectJoin(model)}
      left join roles ro on ro.principal_id = pr.id`
          : sql``
      }
      ${q.privilegedOnly ? sql`left join admins ad on ad.resource_id = r.id` : sql``}
     where ${q.privilegedOnly ? sql`(p.resource_id, p.principal_id) in (select resource_id, principal_id from privileged)` : sql`true`}
       and ${q.resourceId === undefined ? sql`true` : sql`p.resource_id = ${q.resourceId}`}
     group by ${key}, r.id, p.principal_id${
       floor
         ? sql`, r.kind, r.handle, r.external_id, r.name, r.attributes, pr.id, pr.kind, pr.display_name, pr.external_id, pr.handle, pr.account_id, proj.handle, ro.role`
         : sql``
     }
     order by ${key}`;
}

/** The floor's select list (see `accessFloorQuery`): the report's columns, in its order, as SQL. */
function floorSelect(model: PermissionModel, report: 'access-review' | 'user-access'): RawBuilder<unknown> {
  const kinds = Object.entries(model.resources);
  const permission = sql`(case r.kind ${sql.join(
    kinds.map(([kind, k]) => sql`when ${kind} then (array[${sql.join(k.ladder.map((x) => sql`${x}`))}]::text[])[max(${permissionRankSql(model, kind, sql.ref('p.permission'))})]`),
    sql` `,
  )} end)`;
  const firstSeenRun = sql`min(coalesce(p.since_run, greatest(g.first_seen_run, m.first_seen_run, r.present_since_run)))`;
  const label = sql`p.path_kind || coalesce(':' || vp.handle, '') || coalesce(' group:' || vg.handle, '') || ' (' || coalesce(g.permission, p.permission) || ')'`;
  const privileged = sql`(${sql.join(
    kinds.filter(([, k]) => k.privileged.length > 0).map(([kind, k]) => sql`(r.kind = ${kind} and p.permission in (${sql.join(k.privileged.map((x) => sql`${x}`))}))`),
    sql` or `,
  )})`;
  const flags = sql`concat_ws('; ', case when bool_or(${privileged}) then 'admin' end, case when pr.kind in ('deploy_key', 'access_token') then 'machine-credential' end,
    case when bool_or(p.grant_id is not null and p.via_group_id is null) then 'individual-grant' end, case when ro.role is null or ro.role = 'collaborator' then 'outside-workspace' end)`;
  const resource = sql`r.kind, r.handle, r.name, r.external_id, proj.handle`;
  const principal = sql`pr.external_id, coalesce(pr.display_name, case when pr.id is null then 'anyone' end), pr.handle, pr.account_id, ro.role`;
  const grant = sql`${permission}, string_agg(${label}, '; '), count(*), (select x.finished_at from sync_runs x where x.id = ${firstSeenRun}), ${firstSeenRun}, ${flags}`;
  return report === 'access-review'
    ? sql`${resource}, coalesce(pr.kind, ${ANYONE}), ${principal}, ${grant}, '', '', ''`
    : sql`${principal}, ${resource}, ${grant}, string_agg(distinct coalesce('remove from group ' || vg.handle, 'revoke ' || p.path_kind), '; ')`;
}

/** Turns the database row's parallel arrays into paths, and derives the permission, first seen and flags inputs. */
export function toAccessRow(row: AccessDbRow, rules: AccessRules): AccessRow {
  const n = row.paths.length;
  const paths: PathJson[] = new Array<PathJson>(n);
  let permission = '';
  let firstSeen = '';
  let individual = false;
  let singleUseGroupOnly = true;
  for (let i = 0; i < n; i++) {
    const t = row.paths[i] as PathTuple;
    const kind = t[0];
    const category = rules.categories.get(kind) ?? 'direct';
    const granted = t[2] ?? '';
    const p: PathJson = {
      kind,
      permission: t[1] ?? '',
      granted,
      group: t[3] ?? null,
      groupName: t[4] ?? null,
      project: t[5] ?? null,
      projectName: t[6] ?? null,
      firstSeenRun: t[7] ?? '0',
      singleUseGroup: t[8] ?? null,
      category,
      privilegedGrant: rules.privileged(row.resource_kind, granted),
    };
    if (category === 'implicit') {
      const rule = rules.model.implicit.find((x) => x.path === kind);
      if (rule) p.undo = rule.undo.replaceAll('{resource}', row.resource_handle ?? row.resource_name);
    }
    paths[i] = p;
    if (rules.rank(row.resource_kind, p.permission) > rules.rank(row.resource_kind, permission)) permission = p.permission;
    if (firstSeen === '' || runIdLess(p.firstSeenRun, firstSeen)) firstSeen = p.firstSeenRun;
    if (category === 'direct' || category === 'inherited') individual = true;
    if (!((category === 'group' || category === 'inherited-group') && p.singleUseGroup === true)) singleUseGroupOnly = false;
  }
  if (n > 1) paths.sort(comparePaths);
  return {
    resource_id: row.resource_id,
    resource_kind: row.resource_kind,
    resource_external_id: row.resource_external_id,
    resource_handle: row.resource_handle,
    resource_name: row.resource_name,
    resource_implicit: row.resource_implicit,
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
    admin: rules.privileged(row.resource_kind, permission),
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
  return CATEGORY_RANK[a.category] - CATEGORY_RANK[b.category] || compareText(a.kind, b.kind) || compareText(a.project, b.project) || compareText(a.group, b.group) || compareText(a.granted, b.granted);
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

/**
 * `group:developers (write)`: how a path reads in a CSV cell — the path kind, the resource it inherits
 * through and the group it goes through, then the permission of the grant behind it:
 * `direct (write)`, `project:PLAT (create-repo)`, `project:PLAT group:developers (admin)`,
 * `workspace-owner (owner)`, `public (read)`.
 */
export function pathLabel(p: PathJson): string {
  const group = `group:${p.group ?? '?'}`;
  const base = p.kind.replace(/-group$/, '');
  let via: string;
  switch (p.category) {
    case 'group':
      via = group;
      break;
    case 'inherited':
      via = `${p.kind}:${p.project ?? '?'}`;
      break;
    case 'inherited-group':
      via = `${base}:${p.project ?? '?'} ${group}`;
      break;
    case 'root-role-group':
      via = `${base} ${group}`;
      break;
    default:
      via = p.kind;
  }
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
 * Whether the member list (the roles on the root resource: Bitbucket's workspace permissions) is known
 * at the end of the run: some credentials cannot read it, and then "not in the member list" would be
 * said of everyone.
 */
export async function memberListKnown(ctx: ReportContext): Promise<boolean> {
  const model = permissionModelOf(ctx.integration.kind);
  const roots = Object.entries(model.resources).filter(([, k]) => k.parents.length === 0).map(([kind]) => kind);
  if (roots.length === 0) return false;
  const result = await sql<{ known: boolean }>`
    select exists (select 1 from grants g where g.integration_id = ${ctx.integration.id} and g.resource_kind in (${sql.join(roots.map((k) => sql`${k}`))}) and ${presentAt('g', ctx.run.id)}) as known`.execute(ctx.db);
  return result.rows[0]?.known === true;
}

/**
 * The review flags of an access row (see reports/README.md: Flags). `outside-workspace`: a user with
 * access who holds no role on the root resource — on Bitbucket, not a workspace member: the former
 * "collaborator" role, which left its API on 1 June 2022; such users now appear only in the grants.
 * Said only when the member list was read.
 */
export function accessFlags(row: AccessRow, options: { memberListKnown: boolean } = { memberListKnown: true }): string[] {
  const flags: string[] = [];
  if (row.admin) flags.push('admin');
  flags.push(...row.resource_implicit);
  if (row.principal_kind === 'deploy_key' || row.principal_kind === 'access_token') flags.push('machine-credential');
  if (row.principal_kind !== 'user') return flags;
  if (row.individual) flags.push('individual-grant');
  if (row.single_use_group_only) flags.push('single-use-group');
  if ((row.workspace_role === null || row.workspace_role === 'collaborator') && options.memberListKnown) flags.push('outside-workspace');
  return flags;
}
