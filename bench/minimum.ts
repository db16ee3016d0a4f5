/**
 * The fewest requests any client could make to read a workspace's access data, computed from the
 * workspace's shape (the simulator's ground truth), never from what Roster did: every listing at the
 * maximum `pagelen` (100), plus the per-project and per-repository listings that Bitbucket offers no
 * bulk alternative for. It is the connector README's formula, with each per-resource listing paged
 * exactly (a repository with 250 user grants needs 3 pages, not 1).
 *
 * Counted as necessary: capability detection (`/user/workspaces`: whether the credential is a workspace
 * admin decides what can be read), and the workspace itself (`/user/workspaces` gives only a
 * `workspace_base`, without the name). A client that already knew both could save those 2 requests.
 */
import type { ProjectGroupGrant, ProjectUserGrant, RepoGroupGrant, RepoUserGrant, SimDeployKey, SimProject, SimRepo } from '../connectors/bitbucket-cloud/simulator/types.ts';

/** The workspace's shape, as far as request counts depend on it. */
export interface MinimumInput {
  users: number;
  projects: Pick<SimProject, 'key'>[];
  repositories: Pick<SimRepo, 'uuid'>[];
  projectUserGrants: Pick<ProjectUserGrant, 'projectKey'>[];
  projectGroupGrants: Pick<ProjectGroupGrant, 'projectKey'>[];
  repoUserGrants: Pick<RepoUserGrant, 'repoUuid'>[];
  repoGroupGrants: Pick<RepoGroupGrant, 'repoUuid'>[];
  deployKeys: Pick<SimDeployKey, 'projectKey' | 'repositoryUuid'>[];
  /** Rows of Bitbucket's own effective permissions (`/workspaces/{ws}/permissions/repositories`). */
  reportedRows: number;
}

export interface RequestBreakdown {
  total: number;
  /** Requests per route, keyed like the simulator's `stats().byPath`. */
  byRoute: Record<string, number>;
}

export const MAX_PAGELEN = 100;
export const pages = (n: number): number => Math.max(1, Math.ceil(n / MAX_PAGELEN));

/** Route keys as the simulator counts them in `stats().byPath`. */
export const ROUTES = {
  detect: 'GET /2.0/user/workspaces',
  workspace: 'GET /2.0/workspaces/{workspace}',
  members: 'GET /2.0/workspaces/{workspace}/permissions',
  groups: 'GET /1.0/groups/{workspace}',
  projects: 'GET /2.0/workspaces/{workspace}/projects',
  projectUsers: 'GET /2.0/workspaces/{workspace}/projects/{project_key}/permissions-config/users',
  projectGroups: 'GET /2.0/workspaces/{workspace}/projects/{project_key}/permissions-config/groups',
  projectKeys: 'GET /2.0/workspaces/{workspace}/projects/{project_key}/deploy-keys',
  repositories: 'GET /2.0/repositories/{workspace}',
  repoUsers: 'GET /2.0/repositories/{workspace}/{repo_slug}/permissions-config/users',
  repoGroupsBulk: 'GET /1.0/group-privileges/{workspace}',
  repoGroupsEach: 'GET /2.0/repositories/{workspace}/{repo_slug}/permissions-config/groups',
  repoKeys: 'GET /2.0/repositories/{workspace}/{repo_slug}/deploy-keys',
  reported: 'GET /2.0/workspaces/{workspace}/permissions/repositories',
} as const;

function countBy<T>(items: readonly T[], key: (item: T) => string | null): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) {
    const k = key(item);
    if (k !== null) counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}

function perResourcePages(ids: readonly string[], counts: Map<string, number>): number {
  let total = 0;
  for (const id of ids) total += pages(counts.get(id) ?? 0);
  return total;
}

/**
 * The minimum for a workspace admin's credential (API token or OAuth consumer), by route. With
 * `bulkGroupPrivileges: false`, repository group permissions are read per repository (what a client
 * must do without the 1.0 bulk endpoint, e.g. a repository admin who is not a workspace admin).
 */
export function minimumRequests(input: MinimumInput, options: { bulkGroupPrivileges: boolean } = { bulkGroupPrivileges: true }): RequestBreakdown {
  const projectKeys = input.projects.map((p) => p.key);
  const repoUuids = input.repositories.map((r) => r.uuid);
  const keys = {
    byProject: countBy(input.deployKeys, (k) => k.projectKey),
    byRepo: countBy(input.deployKeys, (k) => k.repositoryUuid),
  };
  const byRoute: Record<string, number> = {
    [ROUTES.detect]: 1,
    [ROUTES.workspace]: 1,
    [ROUTES.members]: pages(input.users),
    [ROUTES.groups]: 1,
    [ROUTES.projects]: pages(input.projects.length),
    [ROUTES.projectUsers]: perResourcePages(projectKeys, countBy(input.projectUserGrants, (g) => g.projectKey)),
    [ROUTES.projectGroups]: perResourcePages(projectKeys, countBy(input.projectGroupGrants, (g) => g.projectKey)),
    [ROUTES.projectKeys]: perResourcePages(projectKeys, keys.byProject),
    [ROUTES.repositories]: pages(input.repositories.length),
    [ROUTES.repoUsers]: perResourcePages(repoUuids, countBy(input.repoUserGrants, (g) => g.repoUuid)),
    [ROUTES.repoKeys]: perResourcePages(repoUuids, keys.byRepo),
    [ROUTES.reported]: pages(input.reportedRows),
  };
  if (options.bulkGroupPrivileges) byRoute[ROUTES.repoGroupsBulk] = 1;
  else byRoute[ROUTES.repoGroupsEach] = perResourcePages(repoUuids, countBy(input.repoGroupGrants, (g) => g.repoUuid));
  const total = Object.values(byRoute).reduce((a, b) => a + b, 0);
  return { total, byRoute };
}
