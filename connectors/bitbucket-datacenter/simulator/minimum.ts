/**
 * The fewest requests a full read of the simulated instance takes through the Data Center API, page
 * size `limit`: every listing at least one page, `ceil(items / limit)` pages, plus the capability probe,
 * the application properties, and per project the default-permission checks (PROJECT_WRITE, then
 * PROJECT_READ unless WRITE answered). What the bench compares Roster's request count with.
 */
import type { Instance } from './instance.ts';

export function minimumDcRequests(inst: Instance, limit = 1000): { total: number; byListing: Record<string, number> } {
  const pages = (n: number): number => Math.max(1, Math.ceil(n / limit));
  const by: Record<string, number> = {};
  const add = (name: string, n: number): void => {
    by[name] = (by[name] ?? 0) + n;
  };
  add('capabilities', 1);
  add('application-properties', 1);
  add('admin/users', pages(inst.users.size));
  add('admin/groups', pages(inst.groups.size));
  for (const g of inst.groups.values()) add('admin/groups/more-members', pages(g.members.size));
  add('admin/permissions/users', pages(inst.globalUsers.size));
  add('admin/permissions/groups', pages(inst.globalGroups.size));
  for (const g of inst.globalGroups.keys()) add('admin/groups/more-members (licensed)', pages(inst.groups.get(g)?.members.size ?? 0));
  const normal = [...inst.projects.values()].filter((p) => p.type === 'NORMAL');
  add('projects', pages(normal.length));
  add('repos', pages(inst.repositories.size));
  for (const p of normal) {
    add('projects/{key}/permissions/users', pages(inst.projectUsers.get(p.key)?.size ?? 0));
    add('projects/{key}/permissions/groups', pages(inst.projectGroups.get(p.key)?.size ?? 0));
    add('projects/{key}/permissions/{permission}/all', p.defaultPermission === 'PROJECT_WRITE' ? 1 : 2);
    add('keys/projects/{key}/ssh', pages([...inst.accessKeys.values()].filter((k) => k.projectKey === p.key && k.repositoryId === null).length));
    add('access-tokens/projects/{key}', pages([...inst.tokens.values()].filter((t) => t.owner.kind === 'project' && t.owner.projectKey === p.key).length));
  }
  const keysByRepo = new Map<number, number>();
  for (const k of inst.accessKeys.values()) if (k.repositoryId !== null) keysByRepo.set(k.repositoryId, (keysByRepo.get(k.repositoryId) ?? 0) + 1);
  const tokensByRepo = new Map<number, number>();
  const tokensByUser = new Map<number, number>();
  for (const t of inst.tokens.values()) {
    if (t.owner.kind === 'repository') tokensByRepo.set(t.owner.repositoryId, (tokensByRepo.get(t.owner.repositoryId) ?? 0) + 1);
    if (t.owner.kind === 'user') tokensByUser.set(t.owner.userId, (tokensByUser.get(t.owner.userId) ?? 0) + 1);
  }
  for (const r of inst.repositories.values()) {
    add('repos/{slug}/permissions/users', pages(inst.repoUsers.get(r.id)?.size ?? 0));
    add('repos/{slug}/permissions/groups', pages(inst.repoGroups.get(r.id)?.size ?? 0));
    add('keys/repos/{slug}/ssh', pages(keysByRepo.get(r.id) ?? 0));
    add('access-tokens/repos/{slug}', pages(tokensByRepo.get(r.id) ?? 0));
  }
  for (const u of inst.users.values()) add('access-tokens/users/{slug}', pages(tokensByUser.get(u.id) ?? 0));
  return { total: Object.values(by).reduce((a, b) => a + b, 0), byListing: by };
}
