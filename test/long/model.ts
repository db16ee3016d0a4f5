/**
 * An independent model of who can reach what in a Bitbucket Cloud workspace, for the long-history
 * walk. It shares no code with the simulator's truth module or with Roster's reports: it keeps its
 * own copy of the workspace's explicit facts, applies each change the walk makes with Bitbucket's
 * documented semantics, and derives access from those facts itself.
 *
 * Semantics, from Atlassian's documentation (cited in connectors/bitbucket-cloud/README.md):
 * - a project permission applies to every repository in the project; `create-repo` is write on them;
 * - a repository permission only raises what the project gives; the effective permission is the
 *   highest over every path; a group's permission reaches its members;
 * - workspace owners administer every project and repository;
 * - a public repository is readable by anyone (not a grant); private projects hold only private
 *   repositories;
 * - a group member is a workspace member ("if you add a user to a User group, that user becomes a
 *   member of your workspace"); since the collaborator role left the API, people outside the
 *   workspace appear only in the grants;
 * - a deploy key reads the repository it is on, or every repository of the project it is on.
 *
 * The facts start as the simulator lists them (`/__sim/truth/{users,groups,…}`: the raw explicit
 * state, no derivation) and then move only by `apply()`; the walk checks after every change that
 * the simulator's raw facts still equal the model's, so a disagreement about semantics shows as
 * itself and not as a wrong answer of Roster's.
 */

export type Role = 'owner' | 'member' | 'outside';
export type RepoPermission = 'read' | 'write' | 'admin';
export type ProjectPermission = RepoPermission | 'create-repo';

export interface User {
  uuid: string;
  accountId: string;
  displayName: string;
  nickname: string;
  role: Role;
}
export interface Group {
  slug: string;
  name: string;
  members: Set<string>;
}
export interface Project {
  uuid: string;
  key: string;
  name: string;
  isPrivate: boolean;
}
export interface Repo {
  uuid: string;
  slug: string;
  name: string;
  projectKey: string;
  isPrivate: boolean;
}
export interface DeployKey {
  id: number;
  label: string;
  repoUuid: string | null;
  projectKey: string | null;
}

/** The explicit facts of one workspace. Grants are keyed `resource\u0000principal`. */
export interface World {
  workspace: { uuid: string; slug: string; name: string };
  users: Map<string, User>;
  /** Users who left, by uuid: the same account may come back. */
  departed: Map<string, User>;
  groups: Map<string, Group>;
  projects: Map<string, Project>;
  repos: Map<string, Repo>;
  projectUserGrants: Map<string, ProjectPermission>;
  projectGroupGrants: Map<string, ProjectPermission>;
  repoUserGrants: Map<string, RepoPermission>;
  repoGroupGrants: Map<string, RepoPermission>;
  deployKeys: Map<number, DeployKey>;
}

export const key2 = (a: string, b: string): string => `${a}\u0000${b}`;
export const split2 = (k: string): [string, string] => {
  const i = k.indexOf('\u0000');
  return [k.slice(0, i), k.slice(i + 1)];
};

// ─── Reading the simulator's raw facts ─────────────────────────────────────────────────────

/** The shapes `/__sim/truth/NAME` answers with (only what the model reads). */
export interface RawFacts {
  workspace: { uuid: string; slug: string; name: string };
  users: Array<{ uuid: string; accountId: string; displayName: string; nickname: string; role: 'owner' | 'member' | 'collaborator' }>;
  groups: Array<{ slug: string; name: string; memberUuids: string[] }>;
  projects: Array<{ uuid: string; key: string; name: string; isPrivate: boolean }>;
  repositories: Array<{ uuid: string; slug: string; name: string; projectKey: string; isPrivate: boolean }>;
  deployKeys: Array<{ id: number; label: string; repositoryUuid: string | null; projectKey: string | null }>;
  projectUserGrants: Array<{ projectKey: string; userUuid: string; permission: ProjectPermission }>;
  projectGroupGrants: Array<{ projectKey: string; groupSlug: string; permission: ProjectPermission }>;
  repoUserGrants: Array<{ repoUuid: string; userUuid: string; permission: RepoPermission }>;
  repoGroupGrants: Array<{ repoUuid: string; groupSlug: string; permission: RepoPermission }>;
}

export function worldFrom(raw: RawFacts): World {
  return {
    workspace: { ...raw.workspace },
    users: new Map(raw.users.map((u) => [u.uuid, { uuid: u.uuid, accountId: u.accountId, displayName: u.displayName, nickname: u.nickname, role: u.role === 'collaborator' ? 'outside' : u.role }])),
    departed: new Map(),
    groups: new Map(raw.groups.map((g) => [g.slug, { slug: g.slug, name: g.name, members: new Set(g.memberUuids) }])),
    projects: new Map(raw.projects.map((p) => [p.key, { ...p }])),
    repos: new Map(raw.repositories.map((r) => [r.uuid, { uuid: r.uuid, slug: r.slug, name: r.name, projectKey: r.projectKey, isPrivate: r.isPrivate }])),
    projectUserGrants: new Map(raw.projectUserGrants.map((g) => [key2(g.projectKey, g.userUuid), g.permission])),
    projectGroupGrants: new Map(raw.projectGroupGrants.map((g) => [key2(g.projectKey, g.groupSlug), g.permission])),
    repoUserGrants: new Map(raw.repoUserGrants.map((g) => [key2(g.repoUuid, g.userUuid), g.permission])),
    repoGroupGrants: new Map(raw.repoGroupGrants.map((g) => [key2(g.repoUuid, g.groupSlug), g.permission])),
    deployKeys: new Map(raw.deployKeys.map((k) => [k.id, { id: k.id, label: k.label, repoUuid: k.repositoryUuid, projectKey: k.projectKey }])),
  };
}

export function cloneWorld(w: World): World {
  return {
    workspace: { ...w.workspace },
    users: new Map([...w.users].map(([k, u]) => [k, { ...u }])),
    departed: new Map([...w.departed].map(([k, u]) => [k, { ...u }])),
    groups: new Map([...w.groups].map(([k, g]) => [k, { ...g, members: new Set(g.members) }])),
    projects: new Map([...w.projects].map(([k, p]) => [k, { ...p }])),
    repos: new Map([...w.repos].map(([k, r]) => [k, { ...r }])),
    projectUserGrants: new Map(w.projectUserGrants),
    projectGroupGrants: new Map(w.projectGroupGrants),
    repoUserGrants: new Map(w.repoUserGrants),
    repoGroupGrants: new Map(w.repoGroupGrants),
    deployKeys: new Map([...w.deployKeys].map(([k, d]) => [k, { ...d }])),
  };
}

/** The model's facts as sorted lines, to compare with the simulator's raw facts read the same way. */
export function factLines(w: World): string[] {
  const lines: string[] = [];
  for (const u of w.users.values()) lines.push(`user ${u.uuid} ${u.accountId} ${u.role} ${JSON.stringify(u.displayName)} ${JSON.stringify(u.nickname)}`);
  for (const g of w.groups.values()) lines.push(`group ${g.slug} ${JSON.stringify(g.name)} ${[...g.members].sort().join(',')}`);
  for (const p of w.projects.values()) lines.push(`project ${p.uuid} ${p.key} ${JSON.stringify(p.name)} ${p.isPrivate ? 'private' : 'public'}`);
  for (const r of w.repos.values()) lines.push(`repo ${r.uuid} ${r.slug} ${JSON.stringify(r.name)} ${r.projectKey} ${r.isPrivate ? 'private' : 'public'}`);
  for (const [k, p] of w.projectUserGrants) lines.push(`project-user ${split2(k).join(' ')} ${p}`);
  for (const [k, p] of w.projectGroupGrants) lines.push(`project-group ${split2(k).join(' ')} ${p}`);
  for (const [k, p] of w.repoUserGrants) lines.push(`repo-user ${split2(k).join(' ')} ${p}`);
  for (const [k, p] of w.repoGroupGrants) lines.push(`repo-group ${split2(k).join(' ')} ${p}`);
  for (const d of w.deployKeys.values()) lines.push(`deploy-key ${d.id} ${JSON.stringify(d.label)} ${d.repoUuid ?? '-'} ${d.projectKey ?? '-'}`);
  return lines.sort();
}

export function rawFactLines(raw: RawFacts): string[] {
  return factLines(worldFrom(raw));
}

// ─── Changes, with Bitbucket's semantics ───────────────────────────────────────────────────

/**
 * One change the walk makes. `result` is what the simulator answered (new ids and slugs come from
 * Bitbucket, not from the model).
 */
export type Change =
  | { op: 'addMember'; role: 'member' | 'collaborator'; result: { uuid: string; accountId: string; displayName: string; nickname: string } }
  | { op: 'removeMember'; user: string }
  | { op: 'rejoinMember'; user: string; role: 'owner' | 'member' }
  | { op: 'setRole'; user: string; role: 'owner' | 'member' | 'collaborator' }
  | { op: 'setDisplayName'; user: string; displayName: string }
  | { op: 'addGroup'; result: { slug: string; name: string } }
  | { op: 'removeGroup'; group: string }
  | { op: 'renameGroup'; group: string; name: string }
  | { op: 'addGroupMember'; group: string; user: string }
  | { op: 'removeGroupMember'; group: string; user: string }
  | { op: 'setRepoUserPermission'; repo: string; user: string; permission: RepoPermission | null }
  | { op: 'setRepoGroupPermission'; repo: string; group: string; permission: RepoPermission | null }
  | { op: 'setProjectUserPermission'; project: string; user: string; permission: ProjectPermission | null }
  | { op: 'setProjectGroupPermission'; project: string; group: string; permission: ProjectPermission | null }
  | { op: 'addProject'; result: { uuid: string; key: string; name: string; isPrivate: boolean } }
  | { op: 'setProjectPrivate'; project: string; isPrivate: boolean }
  | { op: 'addRepository'; result: { uuid: string; slug: string; name: string; projectKey: string; isPrivate: boolean } }
  | { op: 'deleteRepository'; repo: string }
  | { op: 'renameRepository'; repo: string; result: { slug: string; name: string } }
  | { op: 'moveRepository'; repo: string; project: string }
  | { op: 'setRepositoryPrivate'; repo: string; isPrivate: boolean }
  | { op: 'addDeployKey'; result: { id: number; label: string; repositoryUuid: string | null; projectKey: string | null } }
  | { op: 'removeDeployKey'; id: number };

const set = <V>(map: Map<string, V>, k: string, v: V | null): void => {
  if (v === null) map.delete(k);
  else map.set(k, v);
};
const dropWhere = <V>(map: Map<string, V>, test: (a: string, b: string) => boolean): void => {
  for (const k of [...map.keys()]) {
    const [a, b] = split2(k);
    if (test(a, b)) map.delete(k);
  }
};

/** Whether Bitbucket accepts the change in this world (the walk only makes changes it accepts). */
export function allowed(w: World, c: Change): boolean {
  switch (c.op) {
    case 'setProjectPrivate':
      return !c.isPrivate || ![...w.repos.values()].some((r) => r.projectKey === c.project && !r.isPrivate);
    case 'moveRepository': {
      const repo = w.repos.get(c.repo);
      return repo !== undefined && (repo.isPrivate || w.projects.get(c.project)?.isPrivate === false);
    }
    case 'setRepositoryPrivate': {
      const repo = w.repos.get(c.repo);
      return repo !== undefined && (c.isPrivate || w.projects.get(repo.projectKey)?.isPrivate === false);
    }
    default:
      return true;
  }
}

export function apply(w: World, c: Change): void {
  switch (c.op) {
    case 'addMember':
      w.users.set(c.result.uuid, { ...c.result, role: c.role === 'collaborator' ? 'outside' : 'member' });
      return;
    case 'removeMember': {
      // Leaving the workspace ends every group membership and explicit grant.
      const u = w.users.get(c.user);
      if (!u) throw new Error(`model: no user ${c.user}`);
      w.users.delete(c.user);
      w.departed.set(c.user, u);
      for (const g of w.groups.values()) g.members.delete(c.user);
      dropWhere(w.projectUserGrants, (_p, user) => user === c.user);
      dropWhere(w.repoUserGrants, (_r, user) => user === c.user);
      return;
    }
    case 'rejoinMember': {
      const u = w.departed.get(c.user);
      if (!u) throw new Error(`model: ${c.user} has not left`);
      w.departed.delete(c.user);
      w.users.set(c.user, { ...u, role: c.role });
      return;
    }
    case 'setRole': {
      const u = w.users.get(c.user);
      if (!u) throw new Error(`model: no user ${c.user}`);
      u.role = c.role === 'collaborator' ? 'outside' : c.role;
      // A group member is a workspace member: moving outside the workspace leaves every group.
      if (u.role === 'outside') for (const g of w.groups.values()) g.members.delete(c.user);
      return;
    }
    case 'setDisplayName':
      (w.users.get(c.user) as User).displayName = c.displayName;
      return;
    case 'addGroup':
      w.groups.set(c.result.slug, { slug: c.result.slug, name: c.result.name, members: new Set() });
      return;
    case 'removeGroup':
      w.groups.delete(c.group);
      dropWhere(w.projectGroupGrants, (_p, g) => g === c.group);
      dropWhere(w.repoGroupGrants, (_r, g) => g === c.group);
      return;
    case 'renameGroup':
      (w.groups.get(c.group) as Group).name = c.name;
      return;
    case 'addGroupMember': {
      (w.groups.get(c.group) as Group).members.add(c.user);
      const u = w.users.get(c.user) as User;
      if (u.role === 'outside') u.role = 'member';
      return;
    }
    case 'removeGroupMember':
      (w.groups.get(c.group) as Group).members.delete(c.user);
      return;
    case 'setRepoUserPermission':
      set(w.repoUserGrants, key2(c.repo, c.user), c.permission);
      return;
    case 'setRepoGroupPermission':
      set(w.repoGroupGrants, key2(c.repo, c.group), c.permission);
      return;
    case 'setProjectUserPermission':
      set(w.projectUserGrants, key2(c.project, c.user), c.permission);
      return;
    case 'setProjectGroupPermission':
      set(w.projectGroupGrants, key2(c.project, c.group), c.permission);
      return;
    case 'addProject':
      w.projects.set(c.result.key, { ...c.result });
      return;
    case 'setProjectPrivate':
      (w.projects.get(c.project) as Project).isPrivate = c.isPrivate;
      return;
    case 'addRepository':
      w.repos.set(c.result.uuid, { ...c.result });
      return;
    case 'deleteRepository':
      // Its grants and deploy keys go with it.
      w.repos.delete(c.repo);
      dropWhere(w.repoUserGrants, (r) => r === c.repo);
      dropWhere(w.repoGroupGrants, (r) => r === c.repo);
      for (const [id, k] of w.deployKeys) if (k.repoUuid === c.repo) w.deployKeys.delete(id);
      return;
    case 'renameRepository':
      Object.assign(w.repos.get(c.repo) as Repo, c.result);
      return;
    case 'moveRepository':
      (w.repos.get(c.repo) as Repo).projectKey = c.project;
      return;
    case 'setRepositoryPrivate':
      (w.repos.get(c.repo) as Repo).isPrivate = c.isPrivate;
      return;
    case 'addDeployKey':
      w.deployKeys.set(c.result.id, { id: c.result.id, label: c.result.label, repoUuid: c.result.repositoryUuid, projectKey: c.result.projectKey });
      return;
    case 'removeDeployKey':
      w.deployKeys.delete(c.id);
      return;
  }
}

// ─── What Roster knows: the facts as of the last clean read of each listing ─────────────────

/**
 * A listing of one sync that failed: Roster must keep what it last read there, and the rest of the
 * run's answers are today's. `repo-users`: a repository's user permissions; `project-users`: a
 * project's user permissions.
 */
export type FailedListing = { kind: 'repo-users'; repo: string } | { kind: 'project-users'; project: string };

/**
 * The facts a sync leaves Roster with: today's, except that each failed listing keeps the grants of
 * the last view. A user who left meanwhile but still holds such a kept grant stays known (with the
 * name Roster last read), outside the workspace: their grant was not read as gone.
 */
export function viewAfterSync(now: World, previous: World, failed: readonly FailedListing[]): World {
  const view = cloneWorld(now);
  const kept = new Set<string>();
  for (const f of failed) {
    if (f.kind === 'repo-users') {
      dropWhere(view.repoUserGrants, (r) => r === f.repo);
      for (const [k, p] of previous.repoUserGrants) if (split2(k)[0] === f.repo) {
        view.repoUserGrants.set(k, p);
        kept.add(split2(k)[1]);
      }
    } else {
      dropWhere(view.projectUserGrants, (p) => p === f.project);
      for (const [k, p] of previous.projectUserGrants) if (split2(k)[0] === f.project) {
        view.projectUserGrants.set(k, p);
        kept.add(split2(k)[1]);
      }
    }
  }
  for (const uuid of kept) {
    if (view.users.has(uuid)) continue;
    const last = previous.users.get(uuid) as User;
    view.users.set(uuid, { ...last, role: 'outside' });
  }
  return view;
}

// ─── Derived access, as lines ──────────────────────────────────────────────────────────────

const REPO_RANK: Record<RepoPermission, number> = { read: 1, write: 2, admin: 3 };
const PROJECT_RANK: Record<ProjectPermission, number> = { read: 1, write: 2, 'create-repo': 3, admin: 4 };
const onRepositories = (p: ProjectPermission): RepoPermission => (p === 'create-repo' ? 'write' : p);

/** What the database stores for a name: NUL cannot be stored and reads back as U+FFFD. */
export const stored = (s: string): string => s.split('\u0000').join('\uFFFD');

interface Path {
  kind: string;
  permission: string;
  group: string | null;
  project: string | null;
}
const pathText = (p: Path): string => `${p.kind}${p.group ? ` group=${p.group}` : ''}${p.project ? ` project=${p.project}` : ''} ${p.permission}`;
const line = (resourceKind: string, resource: string, principalKind: string, principal: string, name: string, permission: string, paths: Path[]): string =>
  `${resourceKind} ${resource} ${principalKind} ${principal} ${JSON.stringify(name)} ${permission} | ${paths.map(pathText).sort().join('; ')}`;

/** Every access-review row, as `resource-kind resource-id principal-kind principal-id "name" permission | paths`. */
export function accessReviewLines(w: World): string[] {
  const lines: string[] = [];
  const membersOf = (slug: string): Set<string> => w.groups.get(slug)?.members ?? new Set();
  const users = [...w.users.values()];
  // The workspace: its members, by role.
  for (const u of users) if (u.role !== 'outside') lines.push(line('workspace', w.workspace.uuid, 'user', u.uuid, stored(u.displayName), u.role, [{ kind: 'workspace-role', permission: u.role, group: null, project: null }]));
  // Projects.
  for (const p of w.projects.values()) {
    const paths = new Map<string, Path[]>();
    const add = (user: string, path: Path) => paths.set(user, [...(paths.get(user) ?? []), path]);
    for (const u of users) if (u.role === 'owner') add(u.uuid, { kind: 'workspace-owner', permission: 'admin', group: null, project: null });
    for (const [k, perm] of w.projectUserGrants) {
      const [key, user] = split2(k);
      if (key === p.key) add(user, { kind: 'direct', permission: perm, group: null, project: null });
    }
    for (const [k, perm] of w.projectGroupGrants) {
      const [key, group] = split2(k);
      if (key === p.key) for (const m of membersOf(group)) add(m, { kind: 'group', permission: perm, group, project: null });
    }
    for (const [user, ps] of paths) {
      const best = ps.reduce((a, b) => (PROJECT_RANK[b.permission as ProjectPermission] > PROJECT_RANK[a.permission as ProjectPermission] ? b : a)).permission;
      lines.push(line('project', p.uuid, 'user', user, stored((w.users.get(user) as User).displayName), best, ps));
    }
    for (const k of w.deployKeys.values()) if (k.projectKey === p.key) lines.push(line('project', p.uuid, 'deploy_key', String(k.id), stored(k.label), 'read', [{ kind: 'direct', permission: 'read', group: null, project: null }]));
  }
  // Repositories.
  for (const r of w.repos.values()) {
    for (const [user, ps] of repositoryPaths(w, r)) {
      const best = ps.reduce((a, b) => (REPO_RANK[b.permission as RepoPermission] > REPO_RANK[a.permission as RepoPermission] ? b : a)).permission;
      lines.push(line('repository', r.uuid, 'user', user, stored((w.users.get(user) as User).displayName), best, ps));
    }
    for (const k of w.deployKeys.values()) {
      // A project's deploy key reads every repository of the project, through the project.
      if (k.repoUuid === r.uuid) lines.push(line('repository', r.uuid, 'deploy_key', String(k.id), stored(k.label), 'read', [{ kind: 'direct', permission: 'read', group: null, project: null }]));
      else if (k.projectKey === r.projectKey) lines.push(line('repository', r.uuid, 'deploy_key', String(k.id), stored(k.label), 'read', [{ kind: 'project', permission: 'read', group: null, project: r.projectKey }]));
    }
    if (!r.isPrivate) lines.push(line('repository', r.uuid, 'anyone', '-', 'anyone', 'read', [{ kind: 'public', permission: 'read', group: null, project: null }]));
  }
  return lines.sort();
}

function repositoryPaths(w: World, r: Repo): Map<string, Path[]> {
  const paths = new Map<string, Path[]>();
  const add = (user: string, path: Path) => paths.set(user, [...(paths.get(user) ?? []), path]);
  const membersOf = (slug: string): Set<string> => w.groups.get(slug)?.members ?? new Set();
  for (const u of w.users.values()) if (u.role === 'owner') add(u.uuid, { kind: 'workspace-owner', permission: 'admin', group: null, project: null });
  for (const [k, perm] of w.repoUserGrants) {
    const [repo, user] = split2(k);
    if (repo === r.uuid) add(user, { kind: 'direct', permission: perm, group: null, project: null });
  }
  for (const [k, perm] of w.repoGroupGrants) {
    const [repo, group] = split2(k);
    if (repo === r.uuid) for (const m of membersOf(group)) add(m, { kind: 'group', permission: perm, group, project: null });
  }
  for (const [k, perm] of w.projectUserGrants) {
    const [key, user] = split2(k);
    if (key === r.projectKey) add(user, { kind: 'project', permission: onRepositories(perm), group: null, project: key });
  }
  for (const [k, perm] of w.projectGroupGrants) {
    const [key, group] = split2(k);
    if (key === r.projectKey) for (const m of membersOf(group)) add(m, { kind: 'project-group', permission: onRepositories(perm), group, project: key });
  }
  return paths;
}

/** user-access rows are the access review's user rows. */
export function userAccessLines(w: World, user?: string): string[] {
  return accessReviewLines(w).filter((l) => {
    const [, , kind, id] = l.split(' ');
    return kind === 'user' && (user === undefined || id === user);
  });
}

/**
 * The explicit grants and memberships of a view, as `principal-kind principal resource-kind resource`
 * → permission: what access-changes lists the changes of.
 */
export function explicitFacts(w: World): Map<string, string> {
  const facts = new Map<string, string>();
  const projectUuid = (key: string): string => (w.projects.get(key) as Project).uuid;
  for (const u of w.users.values()) if (u.role !== 'outside') facts.set(`user ${u.uuid} workspace ${w.workspace.uuid}`, u.role);
  for (const [k, p] of w.projectUserGrants) facts.set(`user ${split2(k)[1]} project ${projectUuid(split2(k)[0])}`, p);
  for (const [k, p] of w.projectGroupGrants) facts.set(`group ${split2(k)[1]} project ${projectUuid(split2(k)[0])}`, p);
  for (const [k, p] of w.repoUserGrants) facts.set(`user ${split2(k)[1]} repository ${split2(k)[0]}`, p);
  for (const [k, p] of w.repoGroupGrants) facts.set(`group ${split2(k)[1]} repository ${split2(k)[0]}`, p);
  for (const d of w.deployKeys.values()) facts.set(`deploy_key ${d.id} ${d.repoUuid ? `repository ${d.repoUuid}` : `project ${projectUuid(d.projectKey as string)}`}`, 'read');
  for (const g of w.groups.values()) for (const m of g.members) facts.set(`user ${m} group ${g.slug}`, 'member');
  return facts;
}

/** What changed from one view to another: `fact before→after`, `-` for absent. */
export function factChanges(before: World, after: World): string[] {
  const a = explicitFacts(before);
  const b = explicitFacts(after);
  const out: string[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) if (a.get(k) !== b.get(k)) out.push(`${k} ${a.get(k) ?? '-'}→${b.get(k) ?? '-'}`);
  return out.sort();
}

/** The groups report: each group with its member count, its members, its grants (by key or slug). */
export function groupLines(w: World): string[] {
  const lines: string[] = [];
  for (const g of w.groups.values()) {
    lines.push(`group ${g.slug} ${g.members.size}`);
    for (const m of g.members) lines.push(`member ${g.slug} ${m}`);
  }
  for (const [k, p] of w.projectGroupGrants) lines.push(`grant ${split2(k)[1]} project:${split2(k)[0]} ${p}`);
  for (const [k, p] of w.repoGroupGrants) lines.push(`grant ${split2(k)[1]} repository:${(w.repos.get(split2(k)[0]) as Repo).slug} ${p}`);
  return lines.sort();
}

/**
 * privileged-access: owners on the workspace; admins on a project or repository where the admin
 * grant is on it (to the user or a group they are in), each with how many users are admin there over
 * every path (owners and project admins included).
 */
export function privilegedLines(w: World): string[] {
  const lines: string[] = [];
  const users = [...w.users.values()];
  const owners = users.filter((u) => u.role === 'owner');
  for (const u of owners) lines.push(`user ${u.uuid} workspace ${w.workspace.uuid} owner admins=${owners.length}`);
  const membersOf = (slug: string): Set<string> => w.groups.get(slug)?.members ?? new Set();
  const adminsHere = (grants: Map<string, string>, groupGrants: Map<string, string>, on: string): Set<string> => {
    const here = new Set<string>();
    for (const [k, p] of grants) if (p === 'admin' && split2(k)[0] === on) here.add(split2(k)[1]);
    for (const [k, p] of groupGrants) if (p === 'admin' && split2(k)[0] === on) for (const m of membersOf(split2(k)[1])) here.add(m);
    return here;
  };
  for (const p of w.projects.values()) {
    const here = adminsHere(w.projectUserGrants, w.projectGroupGrants, p.key);
    const all = new Set([...owners.map((u) => u.uuid), ...here]);
    for (const u of here) lines.push(`user ${u} project ${p.uuid} admin admins=${all.size}`);
  }
  for (const r of w.repos.values()) {
    const here = adminsHere(w.repoUserGrants, w.repoGroupGrants, r.uuid);
    const all = new Set([...owners.map((u) => u.uuid), ...here, ...adminsHere(w.projectUserGrants, w.projectGroupGrants, r.projectKey)]);
    for (const u of here) lines.push(`user ${u} repository ${r.uuid} admin admins=${all.size}`);
  }
  return lines.sort();
}
