import type { PermissionModel } from '../../src/interfaces.ts';

/** Bitbucket Cloud's workspace roles, lowest first (`collaborator` only in data from before June 2022). */
export const WORKSPACE_PERMISSIONS = ['member', 'collaborator', 'owner'] as const;
export const PROJECT_PERMISSIONS = ['read', 'write', 'create-repo', 'admin'] as const;
export const REPOSITORY_PERMISSIONS = ['read', 'write', 'admin'] as const;
export type ProjectPermission = (typeof PROJECT_PERMISSIONS)[number];
export type RepositoryPermission = (typeof REPOSITORY_PERMISSIONS)[number];

/**
 * Who gets access how in Bitbucket Cloud (the pages are cited in README.md, "Bitbucket semantics"):
 *
 * - a workspace holds projects, a project holds repositories (a repository outside any project sits
 *   under the workspace);
 * - a project permission applies to every repository in the project, `create-repo` as `write`;
 * - group grants reach the group's members (the engine's rule for every source);
 * - workspace owners administer every project and repository;
 * - a public repository (`is_private` false) is readable by anyone.
 */
export const BITBUCKET_CLOUD_MODEL: PermissionModel = {
  resources: {
    workspace: { ladder: WORKSPACE_PERMISSIONS, privileged: ['owner'], parents: [], directPath: 'workspace-role' },
    project: { ladder: PROJECT_PERMISSIONS, privileged: ['admin'], parents: ['workspace'] },
    repository: { ladder: REPOSITORY_PERMISSIONS, privileged: ['admin'], parents: ['project', 'workspace'] },
  },
  leaf: 'repository',
  inheritance: [{ from: 'project', to: 'repository', path: 'project', map: { read: 'read', write: 'write', 'create-repo': 'write', admin: 'admin' } }],
  rootRoles: [{ on: 'workspace', permission: 'owner', gives: { project: 'admin', repository: 'admin' }, path: 'workspace-owner' }],
  implicit: [{ resource: 'repository', attribute: 'isPrivate', equals: false, permission: 'read', path: 'public', undo: 'make {resource} private' }],
};
