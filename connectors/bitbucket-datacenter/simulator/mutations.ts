/**
 * Changes to the simulated instance, for tests of history and for `POST /__sim/mutate`. Names are a
 * contract: ops are added, never renamed. A refused change throws `DcMutationError` (a 400 over HTTP).
 */
import {
  type DcAccessKey,
  type DcUser,
  type GlobalPermission,
  type Instance,
  type ProjectPermission,
  type RepositoryPermission,
  GLOBAL_PERMISSIONS,
  PROJECT_PERMISSIONS,
  REPOSITORY_PERMISSIONS,
  repoIndexKey,
  repositoryBySlug,
} from './instance.ts';

export class DcMutationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DcMutationError';
  }
}

export interface DcMutations {
  addUser(u: { name: string; displayName?: string; active?: boolean; licensed?: boolean }): number;
  setUserActive(userId: number, active: boolean): void;
  removeUser(userId: number): void;
  addGroupMember(group: string, userId: number): void;
  removeGroupMember(group: string, userId: number): void;
  setGlobalUserPermission(userId: number, permission: GlobalPermission | null): void;
  setGlobalGroupPermission(group: string, permission: GlobalPermission | null): void;
  setProjectUserPermission(projectKey: string, userId: number, permission: ProjectPermission | null): void;
  setProjectGroupPermission(projectKey: string, group: string, permission: ProjectPermission | null): void;
  setProjectDefaultPermission(projectKey: string, permission: 'PROJECT_READ' | 'PROJECT_WRITE' | null): void;
  setProjectPublic(projectKey: string, isPublic: boolean): void;
  /** `repo` is `PROJECTKEY/slug`. */
  setRepoUserPermission(repo: string, userId: number, permission: RepositoryPermission | null): void;
  setRepoGroupPermission(repo: string, group: string, permission: RepositoryPermission | null): void;
  setRepositoryPublic(repo: string, isPublic: boolean): void;
  addRepository(projectKey: string, name: string): number;
  deleteRepository(repo: string): void;
  moveRepository(repo: string, projectKey: string): void;
  addAccessKey(repo: string | null, projectKey: string, label: string, permission: DcAccessKey['permission']): number;
  removeAccessKey(id: number): void;
  revokeToken(id: string): void;
}

export function createMutations(inst: Instance, changed: () => void): DcMutations {
  const user = (id: number): DcUser => {
    const u = inst.users.get(Number(id));
    if (!u) throw new DcMutationError(`no user with id ${id}`);
    return u;
  };
  const project = (key: string) => {
    const p = inst.projects.get(key);
    if (!p) throw new DcMutationError(`no project ${JSON.stringify(key)}`);
    return p;
  };
  const repository = (ref: string) => {
    const [key, slug] = ref.split('/');
    const r = repositoryBySlug(inst, key ?? '', slug ?? '');
    if (!r) throw new DcMutationError(`no repository ${JSON.stringify(ref)} (use PROJECTKEY/slug)`);
    return r;
  };
  const group = (name: string) => {
    const g = inst.groups.get(name);
    if (!g) throw new DcMutationError(`no group ${JSON.stringify(name)}`);
    return g;
  };
  const on = <T extends string>(ladder: readonly T[], p: T | null, what: string): void => {
    if (p !== null && !ladder.includes(p)) throw new DcMutationError(`${what} must be one of ${ladder.join(', ')} or null, got ${JSON.stringify(p)}`);
  };
  const put = <K, I, V>(outer: Map<K, Map<I, V>>, key: K, inner: I, value: V | null): void => {
    let m = outer.get(key);
    if (value === null) {
      m?.delete(inner);
      if (m && m.size === 0) outer.delete(key);
      return;
    }
    if (!m) outer.set(key, (m = new Map()));
    m.set(inner, value);
  };
  const done = <T>(v: T): T => {
    changed();
    return v;
  };
  return {
    addUser({ name, displayName, active = true, licensed = true }) {
      if ([...inst.users.values()].some((u) => u.name === name)) throw new DcMutationError(`a user named ${JSON.stringify(name)} exists`);
      const u: DcUser = { id: inst.nextId.user++, name, slug: name.toLowerCase(), displayName: displayName ?? name, emailAddress: `${name}@acme.example`, active, directoryName: 'Bitbucket Internal Directory', lastAuthenticationTimestamp: null, type: 'NORMAL' };
      inst.users.set(u.id, u);
      if (licensed) inst.groups.get('bitbucket-users')?.members.add(u.id);
      return done(u.id);
    },
    setUserActive(id, active) {
      user(id).active = active;
      done(undefined);
    },
    removeUser(id) {
      user(id);
      inst.users.delete(Number(id));
      for (const g of inst.groups.values()) g.members.delete(Number(id));
      inst.globalUsers.delete(Number(id));
      for (const m of [...inst.projectUsers.values(), ...inst.repoUsers.values()]) m.delete(Number(id));
      for (const [tid, t] of inst.tokens) if (t.owner.kind === 'user' && t.owner.userId === Number(id)) inst.tokens.delete(tid);
      done(undefined);
    },
    addGroupMember(g, id) {
      group(g).members.add(user(id).id);
      done(undefined);
    },
    removeGroupMember(g, id) {
      group(g).members.delete(Number(id));
      done(undefined);
    },
    setGlobalUserPermission(id, p) {
      on(GLOBAL_PERMISSIONS, p, 'permission');
      if (p === null) inst.globalUsers.delete(user(id).id);
      else inst.globalUsers.set(user(id).id, p);
      done(undefined);
    },
    setGlobalGroupPermission(g, p) {
      on(GLOBAL_PERMISSIONS, p, 'permission');
      group(g);
      if (p === null) inst.globalGroups.delete(g);
      else inst.globalGroups.set(g, p);
      done(undefined);
    },
    setProjectUserPermission(key, id, p) {
      on(PROJECT_PERMISSIONS, p, 'permission');
      project(key);
      put(inst.projectUsers, key, user(id).id, p);
      done(undefined);
    },
    setProjectGroupPermission(key, g, p) {
      on(PROJECT_PERMISSIONS, p, 'permission');
      project(key);
      group(g);
      put(inst.projectGroups, key, g, p);
      done(undefined);
    },
    setProjectDefaultPermission(key, p) {
      if (p !== null && p !== 'PROJECT_READ' && p !== 'PROJECT_WRITE') throw new DcMutationError('a default permission is PROJECT_READ, PROJECT_WRITE or null');
      const pr = project(key);
      if (pr.type === 'PERSONAL') throw new DcMutationError('a personal project has no default permission');
      pr.defaultPermission = p;
      done(undefined);
    },
    setProjectPublic(key, isPublic) {
      const pr = project(key);
      if (pr.type === 'PERSONAL' && isPublic) throw new DcMutationError('"A personal project can not be made public"');
      pr.public = isPublic;
      done(undefined);
    },
    setRepoUserPermission(ref, id, p) {
      on(REPOSITORY_PERMISSIONS, p, 'permission');
      put(inst.repoUsers, repository(ref).id, user(id).id, p);
      done(undefined);
    },
    setRepoGroupPermission(ref, g, p) {
      on(REPOSITORY_PERMISSIONS, p, 'permission');
      group(g);
      put(inst.repoGroups, repository(ref).id, g, p);
      done(undefined);
    },
    setRepositoryPublic(ref, isPublic) {
      repository(ref).public = isPublic;
      done(undefined);
    },
    addRepository(key, name) {
      project(key);
      const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
      if (repositoryBySlug(inst, key, slug)) throw new DcMutationError(`${key}/${slug} exists`);
      const id = inst.nextId.repository++;
      inst.repositories.set(id, { id, slug, name, projectKey: key, public: false, archived: false, hierarchyId: id.toString(16).padStart(20, '0'), description: null });
      inst.repoIndex.set(repoIndexKey(key, slug), id);
      return done(id);
    },
    deleteRepository(ref) {
      const r = repository(ref);
      inst.repositories.delete(r.id);
      inst.repoIndex.delete(repoIndexKey(r.projectKey, r.slug));
      inst.repoUsers.delete(r.id);
      inst.repoGroups.delete(r.id);
      for (const [id, k] of inst.accessKeys) if (k.repositoryId === r.id) inst.accessKeys.delete(id);
      for (const [id, t] of inst.tokens) if (t.owner.kind === 'repository' && t.owner.repositoryId === r.id) inst.tokens.delete(id);
      done(undefined);
    },
    moveRepository(ref, key) {
      const r = repository(ref);
      project(key);
      inst.repoIndex.delete(repoIndexKey(r.projectKey, r.slug));
      r.projectKey = key;
      inst.repoIndex.set(repoIndexKey(key, r.slug), r.id);
      for (const k of inst.accessKeys.values()) if (k.repositoryId === r.id) k.projectKey = key;
      done(undefined);
    },
    addAccessKey(ref, key, label, permission) {
      const r = ref === null ? null : repository(ref);
      const id = inst.nextId.key++;
      inst.accessKeys.set(id, { id, label, text: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${String(id).padStart(43, 'k')} ${label}`, algorithmType: 'ED25519', bitLength: 256, fingerprint: `SHA256:${String(id).padStart(43, 'f')}`, createdDate: Date.parse('2026-11-01T00:00:00Z'), lastAuthenticated: null, expiryDays: null, projectKey: r ? r.projectKey : project(key).key, repositoryId: r ? r.id : null, permission });
      return done(id);
    },
    removeAccessKey(id) {
      if (!inst.accessKeys.delete(Number(id))) throw new DcMutationError(`no access key ${id}`);
      done(undefined);
    },
    revokeToken(id) {
      if (!inst.tokens.delete(String(id))) throw new DcMutationError(`no access token ${id}`);
      done(undefined);
    },
  };
}
