import { sql } from 'kysely';
import { presentAt, principalsAt, resourcesAt } from '../src/access/history.ts';
import { permissionModelOf } from '../src/connectors.ts';
import { resourceKindRank, runTime } from './access.ts';
import { cursorPages } from './cursor.ts';
import type { Column, ReportDefinition } from './types.ts';

interface GroupDbRow {
  row_type: 'group' | 'grant' | 'member';
  group_slug: string;
  group_name: string | null;
  members: number;
  grants: number;
  resource_kind: string | null;
  resource_handle: string | null;
  resource_name: string | null;
  resource_external_id: string | null;
  project_handle: string | null;
  permission: string | null;
  member_external_id: string | null;
  member_name: string | null;
  member_handle: string | null;
  account_id: string | null;
  first_seen_run: string;
}

export interface GroupRow extends GroupDbRow {
  firstSeen: string | null;
  flags: string[];
}

const columns: Column<GroupRow>[] = [
  { name: 'group', description: 'Group slug', value: (r) => r.group_slug },
  { name: 'group_name', description: 'Group name', value: (r) => r.group_name },
  { name: 'members', description: 'Members of the group', value: (r) => r.members },
  { name: 'grants', description: 'Grants the group holds', value: (r) => r.grants },
  { name: 'row_type', description: 'group (one summary row per group), grant (one per grant it holds) or member (one per member)', value: (r) => r.row_type },
  { name: 'resource_kind', description: 'Grant rows: workspace, project or repository', value: (r) => r.resource_kind },
  { name: 'resource', description: 'Grant rows: project key or repository slug', value: (r) => r.resource_handle },
  { name: 'resource_name', description: 'Grant rows: name as Bitbucket shows it', value: (r) => r.resource_name },
  { name: 'resource_id', description: "Grant rows: Bitbucket's uuid of the resource", value: (r) => r.resource_external_id },
  { name: 'project', description: "Grant rows on a repository: the repository's project", value: (r) => r.project_handle },
  { name: 'permission', description: 'Grant rows: the permission granted (on a project it reaches every repository in it)', value: (r) => r.permission },
  { name: 'member_id', description: "Member rows: the user's uuid", value: (r) => r.member_external_id },
  { name: 'member_name', description: 'Member rows: display name', value: (r) => r.member_name },
  { name: 'member_handle', description: 'Member rows: nickname', value: (r) => r.member_handle },
  { name: 'account_id', description: 'Member rows: Atlassian account id', value: (r) => r.account_id },
  { name: 'first_seen', description: 'When Roster first saw the group, grant or membership', value: (r) => r.firstSeen },
  { name: 'first_seen_run', description: 'That run', value: (r) => r.first_seen_run },
  { name: 'flags', description: 'Group rows: no-members (its grants reach nobody), no-grants (it gives no access)', value: (r) => r.flags },
];

export const groups: ReportDefinition<GroupRow> = {
  name: 'groups',
  title: 'Groups',
  description: 'Every group with its members and what it grants: one summary row per group, then a row per grant it holds and a row per member.',
  sort: 'group slug; within a group the summary row, then its grants (projects, then repositories, by key/slug), then its members (display name, then uuid)',
  options: ['asOf'],
  readsSyncedState: true,
  columns: () => columns,
  pages: async function* (ctx) {
    const I = ctx.integration.id;
    const R = ctx.run.id;
    const query = sql<GroupDbRow>`
      with grp as (
        select p.id, p.handle, p.external_id, p.display_name, p.present_since_run as first_seen_run from ${principalsAt(I, R, ['group'])} p
      ),
      mem as (
        select m.group_id, u.id as uid, u.external_id, u.display_name, u.handle, u.account_id,
               greatest(m.first_seen_run, u.present_since_run) as first_seen_run
          from memberships m join ${principalsAt(I, R)} u on u.id = m.member_id
         where m.integration_id = ${I} and ${presentAt('m', R)} and m.group_id in (select id from grp)
      ),
      rv as ${resourcesAt(I, R)},
      grt as (
        select g.principal_id as group_id, g.permission, r.id as rid, r.kind, r.handle, r.name, r.external_id, proj.handle as project_handle,
               greatest(g.first_seen_run, r.present_since_run) as first_seen_run
          from grants g join rv r on r.id = g.resource_id
          left join rv proj on proj.id = r.parent_id and proj.kind = 'project' and r.kind = 'repository'
         where g.integration_id = ${I} and ${presentAt('g', R)} and g.principal_id in (select id from grp)
      ),
      sized as (
        select grp.*, (select count(*) from mem where mem.group_id = grp.id)::int as members,
               (select count(*) from grt where grt.group_id = grp.id)::int as grants
          from grp
      ),
      rows as (
        select 'group' as row_type, s.id as gid, coalesce(s.handle, s.external_id) as group_slug, s.display_name as group_name, s.members, s.grants,
               null::text as resource_kind, null::text as resource_handle, null::text as resource_name, null::text as resource_external_id, null::text as project_handle,
               null::text as permission, null::text as member_external_id, null::text as member_name, null::text as member_handle, null::text as account_id,
               s.first_seen_run::text as first_seen_run, 0 as type_rank, 0 as item_rank, ''::text as item_key, ''::text as item_key2, 0::bigint as item_id
          from sized s
        union all
        select 'grant', s.id, coalesce(s.handle, s.external_id), s.display_name, s.members, s.grants,
               t.kind, t.handle, t.name, t.external_id, t.project_handle, t.permission, null, null, null, null,
               t.first_seen_run::text, 1, ${resourceKindRank(permissionModelOf(ctx.integration.kind), sql.ref('t.kind'))}, coalesce(t.handle, ''), '', t.rid
          from sized s join grt t on t.group_id = s.id
        union all
        select 'member', s.id, coalesce(s.handle, s.external_id), s.display_name, s.members, s.grants,
               null, null, null, null, null, null, m.external_id, m.display_name, m.handle, m.account_id,
               m.first_seen_run::text, 2, 0, coalesce(m.display_name, ''), m.external_id, m.uid
          from sized s join mem m on m.group_id = s.id
      )
      select * from rows
       order by group_slug collate "C", gid, type_rank, item_rank, item_key collate "C", item_key2 collate "C", item_id`;
    for await (const page of cursorPages(ctx.db, query, ctx.pageSize)) {
      yield page.map((r) => {
        const flags: string[] = [];
        if (r.row_type === 'group') {
          if (r.members === 0) flags.push('no-members');
          if (r.grants === 0) flags.push('no-grants');
        }
        return { ...r, firstSeen: runTime(ctx, r.first_seen_run), flags };
      });
    }
  },
};
