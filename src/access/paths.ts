import { type RawBuilder, sql } from 'kysely';
import type { ImplicitAccess, PermissionModel } from '../interfaces.ts';
import { presentAt, principalsAt, resourcesAt } from './history.ts';

/**
 * Effective access derived from a connector's permission model: every path by which a principal holds
 * a permission on a resource, from the grants and memberships present at the end of a run, with each
 * resource under the parent it had then. This one derivation is what the sync materializes (the leaf
 * kind, users) and what every report reads (every kind, every holder), so they can never disagree.
 *
 * The rules, for a resource of kind K (see `PermissionModel`):
 *   - a grant on it to the principal itself: path `direct` (or the kind's `directPath`, e.g. `workspace-role`);
 *   - a grant on it to a group the user is in: path `group`;
 *   - a grant on its parent of kind F under an inheritance rule F → K: the rule's path (`project`), or
 *     through a group `${path}-group` (`project-group`), with the permission the rule maps it to;
 *   - a root role (a grant of that permission on a root resource): its path (`workspace-owner`) on
 *     every resource of each kind it gives, through a group `${path}-group`;
 *   - implicit access (a public repository): one path with no principal at all.
 * The effective permission is the highest over the paths, by the kind's ladder.
 */

export interface AccessPathRow {
  /** Null for implicit access (no principal: anyone). */
  principal_id: string | null;
  resource_id: string;
  path_kind: string;
  via_group_id: string | null;
  /** The resource the path inherits through (a repository's project), else null. */
  via_resource_id: string | null;
  permission: string;
  /** The grant this path rests on (its own permission may differ: `create-repo`, `owner`); null for implicit access. */
  grant_id: string | null;
  /** The group membership the path goes through, else null. */
  membership_id: string | null;
  /** Implicit access: since which run it has held unbroken (grants carry their own first seen). */
  since_run: string | null;
}

export interface AccessPathsOptions {
  /** Resource kinds to derive paths on. Default: every kind of the model. */
  kinds?: readonly string[];
  /** `users`: people only (effective access). `all`: every principal but groups (users, deploy keys, tokens). */
  holders: 'users' | 'all';
  /** Only paths of this principal (internal id). */
  principalId?: string;
  /** Include implicit access rows (no principal). */
  implicit: boolean;
}

/** How a path kind came about: what the reports' flags and "what to remove" are made of. */
export type PathCategory = 'direct' | 'root-direct' | 'group' | 'inherited' | 'inherited-group' | 'root-role' | 'root-role-group' | 'implicit';

/** Every path kind a model produces, with its category. */
export function pathCategories(model: PermissionModel): Map<string, PathCategory> {
  const out = new Map<string, PathCategory>([
    ['direct', 'direct'],
    ['group', 'group'],
  ]);
  for (const k of Object.values(model.resources)) {
    if (k.directPath) out.set(k.directPath, k.parents.length === 0 ? 'root-direct' : 'direct');
  }
  for (const rule of model.inheritance) {
    out.set(rule.path, 'inherited');
    out.set(`${rule.path}-group`, 'inherited-group');
  }
  for (const role of model.rootRoles) {
    out.set(role.path, 'root-role');
    out.set(`${role.path}-group`, 'root-role-group');
  }
  for (const rule of model.implicit) out.set(rule.path, 'implicit');
  return out;
}

/** SQL rank of `column` on `kind`'s ladder (1 = lowest), for max() across paths. */
export function permissionRankSql(model: PermissionModel, kind: string, column: RawBuilder<unknown>): RawBuilder<number> {
  const ladder = model.resources[kind]?.ladder ?? [];
  return sql<number>`(case ${column} ${sql.join(ladder.map((p, i) => sql`when ${p} then ${sql.lit(i + 1)}`), sql` `)} end)`;
}

/** Whether the resource `alias` (with `kind` and `attributes`) has implicit access under `rule`. */
export function implicitApplies(rule: ImplicitAccess, alias: string): RawBuilder<boolean> {
  return sql<boolean>`(${sql.ref(`${alias}.kind`)} = ${rule.resource} and (${sql.ref(`${alias}.attributes`)}->>${rule.attribute}) = ${String(rule.equals)})`;
}

/** Whether any implicit access applies to the resource `alias`. */
export function anyImplicit(model: PermissionModel, alias: string): RawBuilder<boolean> {
  if (model.implicit.length === 0) return sql<boolean>`false`;
  return sql<boolean>`(${sql.join(model.implicit.map((rule) => implicitApplies(rule, alias)), sql` or `)})`;
}

/**
 * The run since which implicit access under `rule` has held on resource `alias` without a break, up to
 * `runId` (now when null): the first of its latest unbroken series of versions it applies to.
 */
function implicitSince(rule: ImplicitAccess, alias: string, runId: string | null): RawBuilder<string> {
  const id = sql.ref(`${alias}.id`);
  const upTo = (a: string) => (runId === null ? sql`true` : sql`${sql.ref(`${a}.first_seen_run`)} <= ${runId}`);
  return sql<string>`(
    select min(x.first_seen_run) from resource_versions x
     where x.resource_id = ${id} and ${upTo('x')} and ${implicitApplies(rule, 'x')}
       and not exists (
         select 1 from resource_versions y
          where y.resource_id = ${id} and y.first_seen_run > x.first_seen_run and ${upTo('y')} and not ${implicitApplies(rule, 'y')}))`;
}

/** A `case` mapping `column` through `map`; unmapped permissions give no path (null). */
function mapped(column: RawBuilder<unknown>, map: Readonly<Record<string, string>>): RawBuilder<string> {
  return sql<string>`(case ${column} ${sql.join(Object.entries(map).map(([from, to]) => sql`when ${from} then ${to}`), sql` `)} end)`;
}

function inList(values: readonly string[]): RawBuilder<unknown> {
  return sql`(${sql.join(values.map((v) => sql`${v}`))})`;
}

export function accessPaths(model: PermissionModel, integrationId: string, runId: string | null, options: AccessPathsOptions): RawBuilder<AccessPathRow> {
  const kinds = options.kinds ?? Object.keys(model.resources);
  const holderKind = options.holders === 'users' ? sql`h.kind = 'user'` : sql`h.kind <> 'group'`;
  const only = (column: string) => (options.principalId === undefined ? sql`true` : sql`${sql.ref(column)} = ${options.principalId}`);
  const directPath = sql`(case r.kind ${sql.join(
    Object.entries(model.resources).map(([kind, k]) => sql`when ${kind} then ${k.directPath ?? 'direct'}`),
    sql` `,
  )} end)`;
  const branches: RawBuilder<unknown>[] = [];

  // Grants on the resource itself: to the principal, and to a group the user is in.
  branches.push(sql`
    select g.principal_id, g.resource_id, ${directPath} as path_kind, null::bigint as via_group_id, null::bigint as via_resource_id,
           g.permission, g.id as grant_id, null::bigint as membership_id, null::bigint as since_run
      from g join p h on h.id = g.principal_id and ${holderKind} join r on r.id = g.resource_id
     where r.kind in ${inList(kinds)} and ${only('g.principal_id')}`);
  branches.push(sql`
    select m.member_id, g.resource_id, 'group', g.principal_id, null::bigint, g.permission, g.id, m.id, null::bigint
      from g join p gp on gp.id = g.principal_id and gp.kind = 'group' join m on m.group_id = g.principal_id
      join p h on h.id = m.member_id and h.kind = 'user' join r on r.id = g.resource_id
     where r.kind in ${inList(kinds)} and ${only('m.member_id')}`);

  // Inherited from the parent.
  for (const rule of model.inheritance.filter((x) => kinds.includes(x.to))) {
    const permission = mapped(sql.ref('g.permission'), rule.map);
    branches.push(sql`
      select g.principal_id, c.id, ${rule.path}, null::bigint, g.resource_id, ${permission}, g.id, null::bigint, null::bigint
        from g join p h on h.id = g.principal_id and ${holderKind}
        join r f on f.id = g.resource_id and f.kind = ${rule.from} join r c on c.parent_id = f.id and c.kind = ${rule.to}
       where ${permission} is not null and ${only('g.principal_id')}`);
    branches.push(sql`
      select m.member_id, c.id, ${`${rule.path}-group`}, g.principal_id, g.resource_id, ${permission}, g.id, m.id, null::bigint
        from g join p gp on gp.id = g.principal_id and gp.kind = 'group' join m on m.group_id = g.principal_id
        join p h on h.id = m.member_id and h.kind = 'user'
        join r f on f.id = g.resource_id and f.kind = ${rule.from} join r c on c.parent_id = f.id and c.kind = ${rule.to}
       where ${permission} is not null and ${only('m.member_id')}`);
  }

  // Root roles: everything of the kinds they give. Held by people (or through their groups) only.
  for (const role of model.rootRoles) {
    for (const [kind, permission] of Object.entries(role.gives).filter(([k]) => kinds.includes(k))) {
      branches.push(sql`
        select g.principal_id, t.id, ${role.path}, null::bigint, null::bigint, ${permission}, g.id, null::bigint, null::bigint
          from g join p h on h.id = g.principal_id and h.kind = 'user' join r root on root.id = g.resource_id and root.kind = ${role.on}
          join r t on t.kind = ${kind}
         where g.permission = ${role.permission} and ${only('g.principal_id')}`);
      branches.push(sql`
        select m.member_id, t.id, ${`${role.path}-group`}, g.principal_id, null::bigint, ${permission}, g.id, m.id, null::bigint
          from g join p gp on gp.id = g.principal_id and gp.kind = 'group' join m on m.group_id = g.principal_id
          join p h on h.id = m.member_id and h.kind = 'user' join r root on root.id = g.resource_id and root.kind = ${role.on}
          join r t on t.kind = ${kind}
         where g.permission = ${role.permission} and ${only('m.member_id')}`);
    }
  }

  // Access without a grant: no principal.
  if (options.implicit && options.principalId === undefined) {
    for (const rule of model.implicit.filter((x) => kinds.includes(x.resource))) {
      branches.push(sql`
        select null::bigint, r.id, ${rule.path}, null::bigint, null::bigint, ${rule.permission}, null::bigint, null::bigint, ${implicitSince(rule, 'r', runId)}
          from r where ${implicitApplies(rule, 'r')}`);
    }
  }

  return sql<AccessPathRow>`
    with
      p as ${principalsAt(integrationId, runId)},
      r as ${resourcesAt(integrationId, runId)},
      g as (select g.id, g.principal_id, g.resource_id, g.permission, g.first_seen_run from grants g where g.integration_id = ${integrationId} and ${presentAt('g', runId)}),
      m as (select m.id, m.group_id, m.member_id, m.first_seen_run from memberships m where m.integration_id = ${integrationId} and ${presentAt('m', runId)})
    ${sql.join(branches, sql` union all `)}`;
}
