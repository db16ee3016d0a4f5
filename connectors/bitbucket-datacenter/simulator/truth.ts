/**
 * The simulator's ground truth: every user's effective permission on every repository with every
 * path that gives it, by Data Center's rules (README, "Ground truth"), written in the path names of
 * the connector's permission model so tests compare it with Roster's answers line by line.
 */
import { ALL_LICENSED_USERS_GROUP } from '../model.ts';
import { type Instance, type RepositoryPermission, GLOBAL_PERMISSIONS, REPOSITORY_PERMISSIONS, globalPermissionOf, rank } from './instance.ts';

export interface TruthPath {
  /** `direct`, `group`, `project`, `project-group`, `personal-owner`, `global-admin[-group]`, `global-sys-admin[-group]`. */
  kind: string;
  group?: string;
  projectKey?: string;
  permission: RepositoryPermission;
}

export interface TruthAccess {
  userId: number;
  repositoryId: number;
  permission: RepositoryPermission;
  paths: TruthPath[];
}

const PROJECT_TO_REPO: Record<string, RepositoryPermission> = {
  PROJECT_READ: 'REPO_READ',
  PROJECT_WRITE: 'REPO_WRITE',
  REPO_CREATE: 'REPO_WRITE',
  PROJECT_ADMIN: 'REPO_ADMIN',
};

/** Users holding a global permission (directly or through a group): "all licensed users". */
export function licensedUsers(inst: Instance): number[] {
  const out: number[] = [];
  for (const u of inst.users.values()) if (globalPermissionOf(inst, u.id) !== null) out.push(u.id);
  return out;
}

export function effectiveAccess(inst: Instance): TruthAccess[] {
  const byPair = new Map<string, TruthAccess>();
  const add = (userId: number, repositoryId: number, path: TruthPath): void => {
    const key = `${userId} ${repositoryId}`;
    let e = byPair.get(key);
    if (!e) byPair.set(key, (e = { userId, repositoryId, permission: path.permission, paths: [] }));
    e.paths.push(path);
    if (rank(REPOSITORY_PERMISSIONS, path.permission) > rank(REPOSITORY_PERMISSIONS, e.permission)) e.permission = path.permission;
  };
  const members = (group: string): Iterable<number> => inst.groups.get(group)?.members ?? [];
  const reposOf = new Map<string, number[]>();
  for (const r of inst.repositories.values()) {
    let list = reposOf.get(r.projectKey);
    if (!list) reposOf.set(r.projectKey, (list = []));
    list.push(r.id);
  }
  const allRepos = [...inst.repositories.keys()];
  const licensed = licensedUsers(inst);

  for (const [repoId, users] of inst.repoUsers) for (const [u, p] of users) add(u, repoId, { kind: 'direct', permission: p });
  for (const [repoId, groups] of inst.repoGroups) for (const [g, p] of groups) for (const u of members(g)) add(u, repoId, { kind: 'group', group: g, permission: p });
  for (const [key, users] of inst.projectUsers) {
    for (const [u, p] of users) for (const r of reposOf.get(key) ?? []) add(u, r, { kind: 'project', projectKey: key, permission: PROJECT_TO_REPO[p] as RepositoryPermission });
  }
  for (const [key, groups] of inst.projectGroups) {
    for (const [g, p] of groups) for (const u of members(g)) for (const r of reposOf.get(key) ?? []) add(u, r, { kind: 'project-group', group: g, projectKey: key, permission: PROJECT_TO_REPO[p] as RepositoryPermission });
  }
  for (const project of inst.projects.values()) {
    if (project.defaultPermission) {
      const p = PROJECT_TO_REPO[project.defaultPermission] as RepositoryPermission;
      for (const u of licensed) for (const r of reposOf.get(project.key) ?? []) add(u, r, { kind: 'project-group', group: ALL_LICENSED_USERS_GROUP, projectKey: project.key, permission: p });
    }
    if (project.type === 'PERSONAL' && project.ownerId !== null) {
      for (const r of reposOf.get(project.key) ?? []) add(project.ownerId, r, { kind: 'personal-owner', projectKey: project.key, permission: 'REPO_ADMIN' });
    }
  }
  // Global ADMIN and SYS_ADMIN: "full access to all projects and repositories".
  const rootPath = (p: string): string | null => (p === 'ADMIN' ? 'global-admin' : p === 'SYS_ADMIN' ? 'global-sys-admin' : null);
  for (const [u, p] of inst.globalUsers) {
    const path = rootPath(p);
    if (path) for (const r of allRepos) add(u, r, { kind: path, permission: 'REPO_ADMIN' });
  }
  for (const [g, p] of inst.globalGroups) {
    const path = rootPath(p);
    if (path) for (const u of members(g)) for (const r of allRepos) add(u, r, { kind: `${path}-group`, group: g, permission: 'REPO_ADMIN' });
  }
  void GLOBAL_PERMISSIONS;
  return [...byPair.values()];
}

/** Repositories readable by anyone (anonymous included): their own public flag or their project's. */
export function publicRepositories(inst: Instance): number[] {
  const out: number[] = [];
  for (const r of inst.repositories.values()) if (r.public || inst.projects.get(r.projectKey)?.public) out.push(r.id);
  return out;
}

export interface TruthSummary {
  users: number;
  activeUsers: number;
  licensedUsers: number;
  groups: number;
  projects: number;
  personalProjects: number;
  repositories: number;
  publicRepositories: number;
  accessKeys: number;
  writeAccessKeys: number;
  accessTokens: number;
  globalAdmins: number;
  grants: { projectUsers: number; projectGroups: number; repoUsers: number; repoGroups: number };
}

export function summary(inst: Instance): TruthSummary {
  const count = (m: Map<unknown, Map<unknown, unknown>>): number => [...m.values()].reduce((n, x) => n + x.size, 0);
  let globalAdmins = 0;
  for (const u of inst.users.values()) if (rank(GLOBAL_PERMISSIONS, globalPermissionOf(inst, u.id)) >= 3) globalAdmins++;
  return {
    users: inst.users.size,
    activeUsers: [...inst.users.values()].filter((u) => u.active).length,
    licensedUsers: licensedUsers(inst).length,
    groups: inst.groups.size,
    projects: [...inst.projects.values()].filter((p) => p.type === 'NORMAL').length,
    personalProjects: [...inst.projects.values()].filter((p) => p.type === 'PERSONAL').length,
    repositories: inst.repositories.size,
    publicRepositories: publicRepositories(inst).length,
    accessKeys: inst.accessKeys.size,
    writeAccessKeys: [...inst.accessKeys.values()].filter((k) => k.permission.endsWith('_WRITE')).length,
    accessTokens: inst.tokens.size,
    globalAdmins,
    grants: { projectUsers: count(inst.projectUsers), projectGroups: count(inst.projectGroups), repoUsers: count(inst.repoUsers), repoGroups: count(inst.repoGroups) },
  };
}
