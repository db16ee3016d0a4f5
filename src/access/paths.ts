import { type RawBuilder, sql } from 'kysely';
import { presentAt, principalsAt, resourcesAt } from './history.ts';

export interface AccessPathRow {
  user_id: string;
  repository_id: string;
  path_kind: 'direct' | 'group' | 'project' | 'project-group' | 'workspace-owner';
  via_group_id: string | null;
  via_project_id: string | null;
  permission: 'read' | 'write' | 'admin';
  /** The grant this path rests on (its own permission may be `create-repo` or `owner`). */
  grant_id: string;
  /** The group membership this path goes through (`group` and `project-group` paths), else null. */
  membership_id: string | null;
}

/** SQL rank of a repository permission, for max() across paths. */
export const repositoryPermissionRank = (column: RawBuilder<unknown>) =>
  sql`(case ${column} when 'read' then 1 when 'write' then 2 when 'admin' then 3 end)`;

/**
 * Every path by which a user holds a permission on a repository, derived from the explicit grants
 * and memberships present at the end of `runId` (or now when null), with each repository in the
 * project it was in then. This single query is what the post-sync materialization and every `--as-of`
 * report use, so they can never disagree.
 *
 * Bitbucket Cloud semantics: a project permission applies to every repository in the project
 * (`create-repo` is write on repositories); group grants reach the group's members; workspace owners
 * are admin on every repository. The highest permission over a user's paths is their access.
 */
export function accessPathsQuery(integrationId: string, runId: string | null): RawBuilder<AccessPathRow> {
  return sql<AccessPathRow>`
    with
      users as (select p.id from ${principalsAt(integrationId, runId, ['user'])} p),
      groups as (select p.id from ${principalsAt(integrationId, runId, ['group'])} p),
      -- The project a repository was in at that run: a move re-parents it from the next run on.
      repos as (select r.id, r.parent_id as project_id from ${resourcesAt(integrationId, runId, ['repository'])} r),
      projects as (select r.id from ${resourcesAt(integrationId, runId, ['project'])} r),
      g as (select g.id, g.principal_id, g.resource_id, g.resource_kind, g.permission from grants g where g.integration_id = ${integrationId} and ${presentAt('g', runId)}),
      m as (select m.id, m.group_id, m.member_id from memberships m where m.integration_id = ${integrationId} and ${presentAt('m', runId)})
    select g.principal_id::text as user_id, g.resource_id::text as repository_id, 'direct' as path_kind,
           null::text as via_group_id, null::text as via_project_id, g.permission,
           g.id::text as grant_id, null::text as membership_id
      from g join users u on u.id = g.principal_id join repos on repos.id = g.resource_id
     where g.resource_kind = 'repository'
    union all
    select m.member_id::text, g.resource_id::text, 'group', g.principal_id::text, null::text, g.permission, g.id::text, m.id::text
      from g join groups gr on gr.id = g.principal_id join m on m.group_id = g.principal_id
      join users u on u.id = m.member_id join repos on repos.id = g.resource_id
     where g.resource_kind = 'repository'
    union all
    select g.principal_id::text, repos.id::text, 'project', null::text, g.resource_id::text,
           case g.permission when 'create-repo' then 'write' else g.permission end, g.id::text, null::text
      from g join users u on u.id = g.principal_id join projects pr on pr.id = g.resource_id
      join repos on repos.project_id = g.resource_id
     where g.resource_kind = 'project'
    union all
    select m.member_id::text, repos.id::text, 'project-group', g.principal_id::text, g.resource_id::text,
           case g.permission when 'create-repo' then 'write' else g.permission end, g.id::text, m.id::text
      from g join groups gr on gr.id = g.principal_id join m on m.group_id = g.principal_id
      join users u on u.id = m.member_id join projects pr on pr.id = g.resource_id
      join repos on repos.project_id = g.resource_id
     where g.resource_kind = 'project'
    union all
    select g.principal_id::text, repos.id::text, 'workspace-owner', null::text, null::text, 'admin', g.id::text, null::text
      from g join users u on u.id = g.principal_id cross join repos
     where g.resource_kind = 'workspace' and g.permission = 'owner'`;
}

