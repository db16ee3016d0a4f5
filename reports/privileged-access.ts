import { type PathJson, pathLabel } from './access.ts';
import { type RenderedAccessRow, accessPages, principalColumns, resourceColumns } from './access-review.ts';
import type { ReportDefinition } from './types.ts';

/** A path that gives an administrator's permission (admin, owner) through a grant on the resource itself, not inherited. */
export function isPrivilegedHere(p: PathJson): boolean {
  return (p.category === 'direct' || p.category === 'root-direct' || p.category === 'group') && p.privilegedGrant;
}

export const privilegedAccess: ReportDefinition<RenderedAccessRow> = {
  name: 'privileged-access',
  title: 'Privileged access',
  description:
    'Workspace owners, and project and repository admins where the admin grant is on that project or repository (to the user or to a group they are in), with how many principals administer each resource over all paths.',
  sort: 'resource (the workspace, then projects, then repositories, each by key/slug), then principal (display name, then uuid)',
  options: ['asOf'],
  readsSyncedState: true,
  columns: () => [
    ...resourceColumns,
    ...principalColumns,
    { name: 'privilege', description: 'owner (workspace) or admin', value: (r) => r.paths.find(isPrivilegedHere)?.granted ?? r.permission },
    {
      name: 'granted_by',
      description: 'The grants on this resource that give the privilege: direct (to the user), group:G, workspace-role',
      value: (r) => r.paths.filter(isPrivilegedHere).map(pathLabel),
    },
    { name: 'direct_admin_grant', description: 'True when the admin grant is to the user, not through a group', value: (r) => r.paths.some((p) => isPrivilegedHere(p) && p.category !== 'group') },
    { name: 'all_paths', description: 'Every path to the resource, inherited ones included', value: (r) => r.paths.map(pathLabel) },
    { name: 'admins_on_resource', description: 'Principals whose effective permission on the resource is admin (owner on the workspace), over every path: owners and project admins included', value: (r) => r.admins_on_resource },
    { name: 'first_seen', description: 'When Roster first saw the access as it is now', value: (r) => r.firstSeen },
    { name: 'first_seen_run', description: 'That run', value: (r) => r.first_seen_run },
    { name: 'flags', description: 'As in access-review', value: (r) => r.flags },
  ],
  pages: (ctx) => accessPages(ctx, { order: 'resource', usersOnly: false, privilegedOnly: true }),
};
