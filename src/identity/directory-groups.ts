import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/types.ts';
import type { OrgSourceAt } from './view.ts';

/**
 * The organization's directory groups against the workspace's `/1.0/groups`. A workspace on
 * centralized (unified) user management keeps its groups in the organization's directory; Roster's
 * access derivation reads the workspace's groups from `/1.0/groups`, so a directory group that listing
 * does not show (or shows with other people) is access Roster may be missing. Atlassian documents no
 * id that links a directory group to a 1.0 group (the 1.0 API keys groups by slug, the directory by a
 * uuid), so the two are matched by name, ignoring case and surrounding spaces.
 */

export const DIRECTORY_GROUP_GAPS = ['directory-group-not-in-workspace', 'group-membership-differs'] as const;
export type DirectoryGroupGapKind = (typeof DIRECTORY_GROUP_GAPS)[number];

export interface DirectoryGroupAt {
  integration: string;
  runId: string;
  directoryId: string;
  directoryName: string | null;
  groupId: string;
  name: string;
  memberAccountIds: string[];
}

export interface WorkspaceGroupAt {
  slug: string;
  name: string;
  /** Members with an Atlassian account id (the only ones a directory can hold). */
  memberAccountIds: string[];
  /** Members Bitbucket gives no account id. */
  membersWithoutAccountId: number;
}

export interface DirectoryGroupGap {
  kind: DirectoryGroupGapKind;
  group: DirectoryGroupAt;
  /** The workspace's group of the same name, for `group-membership-differs`. */
  workspaceGroup: WorkspaceGroupAt | null;
  /** Account ids in the directory group and not in the workspace's (sorted). */
  onlyInDirectory: string[];
  /** Account ids in the workspace's group and not in the directory's (sorted). */
  onlyInWorkspace: string[];
}

export const groupNameKey = (name: string): string => name.trim().toLowerCase();

/** Pure: which directory groups the workspace does not have, or has with other members. */
export function reconcileDirectoryGroups(directory: readonly DirectoryGroupAt[], workspace: readonly WorkspaceGroupAt[]): DirectoryGroupGap[] {
  const byName = new Map<string, WorkspaceGroupAt>();
  for (const g of workspace) if (!byName.has(groupNameKey(g.name))) byName.set(groupNameKey(g.name), g);
  const out: DirectoryGroupGap[] = [];
  for (const group of directory) {
    const ws = byName.get(groupNameKey(group.name)) ?? null;
    if (!ws) {
      out.push({ kind: 'directory-group-not-in-workspace', group, workspaceGroup: null, onlyInDirectory: [...group.memberAccountIds].sort(), onlyInWorkspace: [] });
      continue;
    }
    const inWs = new Set(ws.memberAccountIds);
    const inDir = new Set(group.memberAccountIds);
    const onlyInDirectory = [...inDir].filter((a) => !inWs.has(a)).sort();
    const onlyInWorkspace = [...inWs].filter((a) => !inDir.has(a)).sort();
    if (onlyInDirectory.length + onlyInWorkspace.length > 0) out.push({ kind: 'group-membership-differs', group, workspaceGroup: ws, onlyInDirectory, onlyInWorkspace });
  }
  return out.sort((a, b) => (groupNameKey(a.group.name) < groupNameKey(b.group.name) ? -1 : groupNameKey(a.group.name) > groupNameKey(b.group.name) ? 1 : 0));
}

/** The directory groups as each organization's run (the identity view's) stored them. */
export async function directoryGroupsAt(db: Kysely<Database>, sources: readonly OrgSourceAt[]): Promise<DirectoryGroupAt[]> {
  const out: DirectoryGroupAt[] = [];
  for (const source of sources) {
    const rows = await sql<{ directory_id: string; directory_name: string | null; group_id: string; name: string; member_account_ids: string[] | string }>`
      select g.directory_id, g.directory_name, g.group_id, g.name, g.member_account_ids
        from org_groups g join integrations i on i.id = g.integration_id
       where i.name = ${source.integration} and g.first_seen_run <= ${source.runId} and (g.removed_run is null or g.removed_run > ${source.runId})
       order by g.directory_id collate "C", g.group_id collate "C"`.execute(db);
    for (const r of rows.rows) {
      out.push({
        integration: source.integration,
        runId: source.runId,
        directoryId: r.directory_id,
        directoryName: r.directory_name,
        groupId: r.group_id,
        name: r.name,
        memberAccountIds: typeof r.member_account_ids === 'string' ? (JSON.parse(r.member_account_ids) as string[]) : r.member_account_ids,
      });
    }
  }
  return out;
}

/** The workspace's groups (from `/1.0/groups`) and their members at the end of a Bitbucket run. */
export async function workspaceGroupsAt(db: Kysely<Database>, integrationId: string, runId: string): Promise<WorkspaceGroupAt[]> {
  const rows = await sql<{ slug: string; name: string | null; account_id: string | null; member_id: string | null }>`
    select g.external_id as slug, coalesce(gv.display_name, g.display_name) as name, u.account_id, u.id::text as member_id
      from principals g
      left join lateral (
        select v.display_name from principal_versions v where v.principal_id = g.id and v.first_seen_run <= ${runId}
         order by v.first_seen_run desc limit 1) gv on true
      left join memberships m on m.group_id = g.id and m.first_seen_run <= ${runId} and (m.removed_run is null or m.removed_run > ${runId})
      left join principals u on u.id = m.member_id
     where g.integration_id = ${integrationId} and g.kind = 'group' and g.first_seen_run <= ${runId} and (g.removed_run is null or g.removed_run > ${runId})
     order by g.external_id collate "C"`.execute(db);
  const bySlug = new Map<string, WorkspaceGroupAt>();
  for (const r of rows.rows) {
    let g = bySlug.get(r.slug);
    if (!g) {
      g = { slug: r.slug, name: r.name ?? r.slug, memberAccountIds: [], membersWithoutAccountId: 0 };
      bySlug.set(r.slug, g);
    }
    if (r.member_id === null) continue;
    if (r.account_id === null) g.membersWithoutAccountId += 1;
    else g.memberAccountIds.push(r.account_id);
  }
  return [...bySlug.values()];
}
