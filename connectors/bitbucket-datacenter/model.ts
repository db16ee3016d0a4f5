import type { PermissionModel } from '../../src/interfaces.ts';

/** Global permissions, lowest first ("Global permissions": Bitbucket User < Project Creator < Admin < System Admin). */
export const GLOBAL_PERMISSIONS = ['LICENSED_USER', 'PROJECT_CREATE', 'ADMIN', 'SYS_ADMIN'] as const;
/** Project permissions, lowest first; `REPO_CREATE` ("Create repository") sits between write and admin. */
export const PROJECT_PERMISSIONS = ['PROJECT_READ', 'PROJECT_WRITE', 'REPO_CREATE', 'PROJECT_ADMIN'] as const;
export const REPOSITORY_PERMISSIONS = ['REPO_READ', 'REPO_WRITE', 'REPO_ADMIN'] as const;
export type DcGlobalPermission = (typeof GLOBAL_PERMISSIONS)[number];
export type DcProjectPermission = (typeof PROJECT_PERMISSIONS)[number];
export type DcRepositoryPermission = (typeof REPOSITORY_PERMISSIONS)[number];

/** External id of the one `instance` resource of an integration (an integration is one instance). */
export const INSTANCE_ID = 'instance';

/**
 * A project's default permission reaches "all licensed users". Roster records it as a grant to this
 * group, whose members are the users holding any global permission (directly or through a group), so
 * every report shows it as a path through a named group. Bitbucket stores group names in lower case,
 * so this upper-case id does not collide with a real group.
 */
export const ALL_LICENSED_USERS_GROUP = 'ROSTER:ALL_LICENSED_USERS';
export const ALL_LICENSED_USERS_NAME = 'All licensed users (project default permission)';

/**
 * Who gets access how in Bitbucket Data Center (the pages are cited in README.md, "Semantics"):
 *
 * - one instance holds projects and personal projects (`~USER`); each repository sits in one of them;
 * - global permissions are grants on the instance; Admin and System Admin "have full access to all
 *   projects and repositories" (root roles);
 * - a project permission applies to every repository in the project (`REPO_CREATE` as write);
 * - a project's default permission for all licensed users is a grant to `ALL_LICENSED_USERS_GROUP`;
 * - the owner of a personal project administers its repositories;
 * - a public project or repository is readable by anyone, anonymous users included (implicit access;
 *   the connector sets a repository's `publicAccess` when it or its project is public).
 */
export const BITBUCKET_DATACENTER_MODEL: PermissionModel = {
  resources: {
    instance: { ladder: GLOBAL_PERMISSIONS, privileged: ['ADMIN', 'SYS_ADMIN'], parents: [], directPath: 'global-permission' },
    project: { ladder: PROJECT_PERMISSIONS, privileged: ['PROJECT_ADMIN'], parents: ['instance'] },
    'personal-project': { ladder: ['OWNER'], privileged: ['OWNER'], parents: ['instance'], directPath: 'owner' },
    repository: { ladder: REPOSITORY_PERMISSIONS, privileged: ['REPO_ADMIN'], parents: ['project', 'personal-project'] },
  },
  leaf: 'repository',
  inheritance: [
    { from: 'project', to: 'repository', path: 'project', map: { PROJECT_READ: 'REPO_READ', PROJECT_WRITE: 'REPO_WRITE', REPO_CREATE: 'REPO_WRITE', PROJECT_ADMIN: 'REPO_ADMIN' } },
    { from: 'personal-project', to: 'repository', path: 'personal-owner', map: { OWNER: 'REPO_ADMIN' } },
  ],
  rootRoles: [
    { on: 'instance', permission: 'ADMIN', gives: { project: 'PROJECT_ADMIN', repository: 'REPO_ADMIN' }, path: 'global-admin' },
    { on: 'instance', permission: 'SYS_ADMIN', gives: { project: 'PROJECT_ADMIN', repository: 'REPO_ADMIN' }, path: 'global-sys-admin' },
  ],
  implicit: [
    { resource: 'repository', attribute: 'publicAccess', equals: true, permission: 'REPO_READ', path: 'public', undo: 'turn off public access on {resource} (and on its project)' },
    { resource: 'project', attribute: 'public', equals: true, permission: 'PROJECT_READ', path: 'public-project', undo: 'turn off public access on project {resource}' },
  ],
};
