/**
 * The simulated workspace: entities, explicit grants, the indexes the server needs, and the
 * derived truth (effective access with its paths). Every change goes through a method here and bumps
 * `version`, which invalidates derived data and the rendered-JSON caches.
 */
import type {
  AccessPath,
  EffectiveAccess,
  GroundTruth,
  PlantedReportedPermission,
  ProjectGroupGrant,
  ProjectPermission,
  ProjectUserGrant,
  RepoGroupGrant,
  RepoPermission,
  RepoUserGrant,
  ReportedPermissionsReading,
  SimDeployKey,
  SimGroup,
  SimProject,
  SimRepo,
  SimUser,
  TruthSummary,
  WorkspaceRole,
} from './types.ts';

export interface UserRec {
  uuid: string;
  accountId: string;
  displayName: string;
  nickname: string;
  /** Bitbucket username (app passwords authenticate with it). */
  username: string;
  email: string;
  /** `collaborator`: outside the workspace (see `WorkspaceRole`). */
  role: WorkspaceRole;
  createdOn: string;
  addedOn: string;
}

/** A workspace member (owner or member), as opposed to a user outside the workspace. */
export const isMember = (u: UserRec): boolean => u.role !== 'collaborator';

export interface GroupRec {
  slug: string;
  name: string;
  /** Member uuids in the order they were added. */
  members: Set<string>;
  /** 1.0 `permission`: the default privilege new repositories give this group — not an access path. */
  defaultPermission: RepoPermission | null;
  autoAdd: boolean;
  /** Real 1.0 bodies send `null` here (and in `permission`) for groups that never set it. */
  emailForwardingDisabled: boolean | null;
}

export interface ProjectRec {
  uuid: string;
  key: string;
  name: string;
  description: string;
  isPrivate: boolean;
  createdOn: string;
  updatedOn: string;
}

export interface RepoRec {
  uuid: string;
  slug: string;
  name: string;
  projectKey: string;
  description: string;
  isPrivate: boolean;
  createdOn: string;
  updatedOn: string;
  language: string;
  size: number;
  mainBranch: string;
  forkPolicy: 'allow_forks' | 'no_public_forks' | 'no_forks';
  hasIssues: boolean;
  hasWiki: boolean;
}

export interface DeployKeyRec {
  id: number;
  label: string;
  key: string;
  comment: string;
  repositoryUuid: string | null;
  projectKey: string | null;
  createdOn: string;
  lastUsed: string | null;
  /** The user who added it (`owner` on repository keys, `created_by` on project keys). */
  addedByUuid: string;
}

export interface WorkspaceInfo {
  uuid: string;
  slug: string;
  name: string;
  createdOn: string;
}

export const REPO_RANK: Record<RepoPermission, number> = { read: 1, write: 2, admin: 3 };
export const RANK_REPO: readonly RepoPermission[] = ['read', 'read', 'write', 'admin'];
export const PROJECT_TO_REPO: Record<ProjectPermission, RepoPermission> = { read: 'read', write: 'write', 'create-repo': 'write', admin: 'admin' };
const PROJECT_RANK: Record<ProjectPermission, number> = { read: 1, write: 2, 'create-repo': 3, admin: 4 };

export class SimError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimError';
  }
}

/** Bitbucket-style slug: lowercase ASCII letters, digits, `-`, `_`, `.`. */
export function slugify(name: string): string {
  const ascii = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[ßæøåœł]/gi, (c) => ({ ß: 'ss', æ: 'ae', ø: 'o', å: 'a', œ: 'oe', ł: 'l' })[c.toLowerCase()] ?? '')
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '');
  return ascii;
}

export class Workspace {
  version = 0;
  readonly users: UserRec[] = [];
  readonly groups: GroupRec[] = [];
  readonly projects: ProjectRec[] = [];
  readonly repos: RepoRec[] = [];
  readonly deployKeys: DeployKeyRec[] = [];

  readonly userByUuid = new Map<string, UserRec>();
  readonly userByAccountId = new Map<string, UserRec>();
  readonly groupBySlug = new Map<string, GroupRec>();
  readonly projectByKey = new Map<string, ProjectRec>();
  readonly projectByUuid = new Map<string, ProjectRec>();
  readonly repoBySlug = new Map<string, RepoRec>();
  readonly repoByUuid = new Map<string, RepoRec>();

  /** Explicit grants, keyed by resource; inner maps keep insertion (listing) order. */
  readonly projectUser = new Map<string, Map<string, ProjectPermission>>();
  readonly projectGroup = new Map<string, Map<string, ProjectPermission>>();
  readonly repoUser = new Map<string, Map<string, RepoPermission>>();
  readonly repoGroup = new Map<string, Map<string, RepoPermission>>();

  /** Users removed from the workspace, by uuid, so the same account can rejoin. */
  readonly removedUsers = new Map<string, UserRec>();
  /** How the reported effective permissions read, and the planted overrides (repo uuid → user uuid → permission). */
  reportedReading: ReportedPermissionsReading = { includeOwners: false, includeProjectInherited: true };
  readonly plantedReported = new Map<string, Map<string, RepoPermission | null>>();

  private nextDeployKeyId = 1;
  private derivedVersion = -1;
  private derived: Derived | null = null;

  constructor(
    readonly info: WorkspaceInfo,
    /** Where generated timestamps and mutation times come from. */
    private readonly now: () => number,
    private readonly newUuid: () => string,
  ) {}

  // ─── Lookup ────────────────────────────────────────────────────────────────────────────

  /** A repository by slug or `{uuid}` (as Bitbucket URLs accept both). */
  findRepo(ref: string): RepoRec | undefined {
    const key = ref.toLowerCase();
    return key.startsWith('{') ? this.repoByUuid.get(key) : this.repoBySlug.get(key);
  }

  private requireRepo(ref: string): RepoRec {
    const repo = this.findRepo(ref);
    if (!repo) throw new SimError(`no repository ${ref}`);
    return repo;
  }

  private requireUser(uuid: string): UserRec {
    const user = this.userByUuid.get(uuid) ?? this.userByAccountId.get(uuid);
    if (!user) throw new SimError(`no user ${uuid}`);
    return user;
  }

  private requireGroup(slug: string): GroupRec {
    const group = this.groupBySlug.get(slug);
    if (!group) throw new SimError(`no group ${slug}`);
    return group;
  }

  private requireProject(key: string): ProjectRec {
    const project = this.projectByKey.get(key);
    if (!project) throw new SimError(`no project ${key}`);
    return project;
  }

  // ─── Building (generator) and mutating (tests) ────────────────────────────────────────

  private touch(): void {
    this.version++;
  }

  addUser(user: UserRec): UserRec {
    if (this.userByUuid.has(user.uuid)) throw new SimError(`duplicate user ${user.uuid}`);
    this.users.push(user);
    this.userByUuid.set(user.uuid, user);
    this.userByAccountId.set(user.accountId, user);
    this.touch();
    return user;
  }

  removeUser(uuid: string): void {
    const user = this.requireUser(uuid);
    this.users.splice(this.users.indexOf(user), 1);
    this.userByUuid.delete(user.uuid);
    this.userByAccountId.delete(user.accountId);
    for (const g of this.groups) g.members.delete(user.uuid);
    for (const m of this.projectUser.values()) m.delete(user.uuid);
    for (const m of this.repoUser.values()) m.delete(user.uuid);
    for (const m of this.plantedReported.values()) m.delete(user.uuid);
    this.removedUsers.set(user.uuid, user);
    this.touch();
  }

  /** The same account back (same uuid, account id and names), with no group and no grant. */
  rejoinUser(uuid: string, role: WorkspaceRole, addedOn: string): UserRec {
    if (this.userByUuid.has(uuid) || this.userByAccountId.has(uuid)) throw new SimError(`user ${uuid} has not left the workspace`);
    const user = this.removedUsers.get(uuid) ?? [...this.removedUsers.values()].find((u) => u.accountId === uuid);
    if (!user) throw new SimError(`no removed user ${uuid}`);
    this.removedUsers.delete(user.uuid);
    user.role = role;
    user.addedOn = addedOn;
    return this.addUser(user);
  }

  setRole(uuid: string, role: WorkspaceRole): void {
    const user = this.requireUser(uuid);
    user.role = role;
    // A group member is a workspace member: a user moved outside the workspace leaves every group.
    if (!isMember(user)) for (const g of this.groups) g.members.delete(user.uuid);
    this.touch();
  }

  setDisplayName(uuid: string, displayName: string, nickname?: string): UserRec {
    const user = this.requireUser(uuid);
    user.displayName = displayName;
    if (nickname !== undefined) user.nickname = nickname;
    this.touch();
    return user;
  }

  addGroup(group: GroupRec): GroupRec {
    if (!/^[a-z0-9][a-z0-9._-]*$/.test(group.slug)) throw new SimError(`invalid group slug ${JSON.stringify(group.slug)}`);
    if (this.groupBySlug.has(group.slug)) throw new SimError(`duplicate group ${group.slug}`);
    this.groups.push(group);
    this.groupBySlug.set(group.slug, group);
    this.touch();
    return group;
  }

  removeGroup(slug: string): void {
    const group = this.requireGroup(slug);
    this.groups.splice(this.groups.indexOf(group), 1);
    this.groupBySlug.delete(slug);
    for (const m of this.projectGroup.values()) m.delete(slug);
    for (const m of this.repoGroup.values()) m.delete(slug);
    this.touch();
  }

  renameGroup(slug: string, name: string): GroupRec {
    const group = this.requireGroup(slug);
    group.name = name;
    this.touch();
    return group;
  }

  addGroupMember(slug: string, uuid: string): void {
    const user = this.requireUser(uuid);
    const group = this.requireGroup(slug);
    // "If you add a user to a User group, that user becomes a member of your workspace."
    if (!isMember(user)) user.role = 'member';
    group.members.add(user.uuid);
    this.touch();
  }

  removeGroupMember(slug: string, uuid: string): void {
    const user = this.requireUser(uuid);
    this.requireGroup(slug).members.delete(user.uuid);
    this.touch();
  }

  addProject(project: ProjectRec): ProjectRec {
    if (this.projectByKey.has(project.key)) throw new SimError(`duplicate project ${project.key}`);
    this.projects.push(project);
    this.projectByKey.set(project.key, project);
    this.projectByUuid.set(project.uuid, project);
    this.touch();
    return project;
  }

  addRepo(repo: RepoRec): RepoRec {
    this.requireProject(repo.projectKey);
    if (!repo.slug) throw new SimError(`repository name ${JSON.stringify(repo.name)} gives an empty slug`);
    if (this.repoBySlug.has(repo.slug)) throw new SimError(`duplicate repository ${repo.slug}`);
    this.repos.push(repo);
    this.repoBySlug.set(repo.slug, repo);
    this.repoByUuid.set(repo.uuid, repo);
    this.touch();
    return repo;
  }

  createProject(input: { key: string; name: string; isPrivate?: boolean }): ProjectRec {
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(input.key)) throw new SimError(`invalid project key ${JSON.stringify(input.key)}`);
    const at = new Date(this.now()).toISOString();
    return this.addProject({ uuid: `{${this.newUuid()}}`, key: input.key, name: input.name, description: '', isPrivate: input.isPrivate ?? true, createdOn: at, updatedOn: at });
  }

  setProjectPrivate(key: string, isPrivate: boolean): ProjectRec {
    const project = this.requireProject(key);
    if (isPrivate && this.reposInProject(key).some((r) => !r.isPrivate)) {
      throw new SimError(`project ${key} holds public repositories; private projects can only contain private repositories (make them private first)`);
    }
    if (project.isPrivate !== isPrivate) {
      project.isPrivate = isPrivate;
      project.updatedOn = new Date(this.now()).toISOString();
    }
    this.touch();
    return project;
  }

  createRepo(input: { name: string; slug?: string; projectKey: string; isPrivate?: boolean }): RepoRec {
    const at = new Date(this.now()).toISOString();
    const isPrivate = input.isPrivate ?? true;
    if (!isPrivate) this.requirePublicProject(input.projectKey);
    return this.addRepo({
      uuid: `{${this.newUuid()}}`,
      slug: input.slug ?? slugify(input.name),
      name: input.name,
      projectKey: input.projectKey,
      description: '',
      isPrivate,
      createdOn: at,
      updatedOn: at,
      language: '',
      size: 0,
      mainBranch: 'main',
      forkPolicy: isPrivate ? 'no_public_forks' : 'allow_forks',
      hasIssues: false,
      hasWiki: false,
    });
  }

  /** "Private projects can only contain private repositories." */
  private requirePublicProject(key: string): void {
    if (this.requireProject(key).isPrivate) throw new SimError(`project ${key} is private; private projects can only contain private repositories (setProjectPrivate first)`);
  }

  setRepoPrivate(ref: string, isPrivate: boolean): RepoRec {
    const repo = this.requireRepo(ref);
    if (!isPrivate) this.requirePublicProject(repo.projectKey);
    repo.isPrivate = isPrivate;
    // "Because public repositories allow public forks, you must make your repository private to restrict forking."
    if (!isPrivate) repo.forkPolicy = 'allow_forks';
    repo.updatedOn = new Date(this.now()).toISOString();
    this.touch();
    return repo;
  }

  deleteRepo(ref: string): void {
    const repo = this.requireRepo(ref);
    this.repos.splice(this.repos.indexOf(repo), 1);
    this.repoBySlug.delete(repo.slug);
    this.repoByUuid.delete(repo.uuid);
    this.repoUser.delete(repo.uuid);
    this.repoGroup.delete(repo.uuid);
    this.plantedReported.delete(repo.uuid);
    for (let i = this.deployKeys.length - 1; i >= 0; i--) {
      if (this.deployKeys[i]?.repositoryUuid === repo.uuid) this.deployKeys.splice(i, 1);
    }
    this.touch();
  }

  renameRepo(ref: string, newName: string): RepoRec {
    const repo = this.requireRepo(ref);
    const slug = slugify(newName);
    if (!slug) throw new SimError(`repository name ${JSON.stringify(newName)} gives an empty slug`);
    if (slug !== repo.slug && this.repoBySlug.has(slug)) throw new SimError(`duplicate repository ${slug}`);
    this.repoBySlug.delete(repo.slug);
    repo.slug = slug;
    repo.name = newName;
    repo.updatedOn = new Date(this.now()).toISOString();
    this.repoBySlug.set(slug, repo);
    this.touch();
    return repo;
  }

  moveRepo(ref: string, projectKey: string): void {
    this.requireProject(projectKey);
    const repo = this.requireRepo(ref);
    if (!repo.isPrivate) this.requirePublicProject(projectKey);
    repo.projectKey = projectKey;
    repo.updatedOn = new Date(this.now()).toISOString();
    this.touch();
  }

  touchRepo(ref: string): void {
    this.requireRepo(ref).updatedOn = new Date(this.now()).toISOString();
    this.touch();
  }

  setRepoUser(ref: string, uuid: string, permission: RepoPermission | null): void {
    const repo = this.requireRepo(ref);
    const user = this.requireUser(uuid);
    setGrant(this.repoUser, repo.uuid, user.uuid, permission);
    this.touch();
  }

  setRepoGroup(ref: string, slug: string, permission: RepoPermission | null): void {
    const repo = this.requireRepo(ref);
    this.requireGroup(slug);
    setGrant(this.repoGroup, repo.uuid, slug, permission);
    this.touch();
  }

  setProjectUser(key: string, uuid: string, permission: ProjectPermission | null): void {
    this.requireProject(key);
    const user = this.requireUser(uuid);
    setGrant(this.projectUser, key, user.uuid, permission);
    this.touch();
  }

  setProjectGroup(key: string, slug: string, permission: ProjectPermission | null): void {
    this.requireProject(key);
    this.requireGroup(slug);
    setGrant(this.projectGroup, key, slug, permission);
    this.touch();
  }

  addDeployKey(input: Omit<DeployKeyRec, 'id'> & { id?: number }): DeployKeyRec {
    if ((input.repositoryUuid === null) === (input.projectKey === null)) throw new SimError('a deploy key belongs to exactly one repository or project');
    if (input.repositoryUuid !== null && !this.repoByUuid.has(input.repositoryUuid)) throw new SimError(`no repository ${input.repositoryUuid}`);
    if (input.projectKey !== null) this.requireProject(input.projectKey);
    const id = input.id ?? this.nextDeployKeyId;
    this.nextDeployKeyId = Math.max(this.nextDeployKeyId, id + 1);
    const key: DeployKeyRec = { ...input, id };
    this.deployKeys.push(key);
    this.touch();
    return key;
  }

  removeDeployKey(id: number): void {
    const i = this.deployKeys.findIndex((k) => k.id === id);
    if (i < 0) throw new SimError(`no deploy key ${id}`);
    this.deployKeys.splice(i, 1);
    this.touch();
  }

  useDeployKey(id: number, at: string): DeployKeyRec {
    const key = this.deployKeys.find((k) => k.id === id);
    if (!key) throw new SimError(`no deploy key ${id}`);
    if (Number.isNaN(Date.parse(at))) throw new SimError(`invalid date ${JSON.stringify(at)}`);
    key.lastUsed = at;
    this.touch();
    return key;
  }

  // ─── The reported effective permissions (a reading, and planted overrides) ────────────

  setReportedReading(reading: Partial<ReportedPermissionsReading>): ReportedPermissionsReading {
    for (const [k, v] of Object.entries(reading)) {
      if (k !== 'includeOwners' && k !== 'includeProjectInherited') throw new SimError(`unknown reading ${JSON.stringify(k)}; use includeOwners, includeProjectInherited`);
      if (typeof v !== 'boolean') throw new SimError(`${k} must be true or false, got ${JSON.stringify(v)}`);
    }
    this.reportedReading = { ...this.reportedReading, ...reading };
    this.touch();
    return { ...this.reportedReading };
  }

  plantReported(ref: string, uuid: string, permission: RepoPermission | null): void {
    const repo = this.requireRepo(ref);
    const user = this.requireUser(uuid);
    if (permission !== null && !Object.hasOwn(REPO_RANK, permission)) throw new SimError(`invalid permission ${JSON.stringify(permission)}; use read, write, admin or null`);
    let inner = this.plantedReported.get(repo.uuid);
    if (!inner) this.plantedReported.set(repo.uuid, (inner = new Map()));
    inner.set(user.uuid, permission);
    this.touch();
  }

  clearPlantedReported(): void {
    this.plantedReported.clear();
    this.touch();
  }

  // ─── Derived indexes ──────────────────────────────────────────────────────────────────

  /** Indexes rebuilt lazily after any change. */
  private get d(): Derived {
    if (this.derived && this.derivedVersion === this.version) return this.derived;
    const groupsOfUser = new Map<string, string[]>();
    for (const g of this.groups) {
      for (const uuid of g.members) {
        let list = groupsOfUser.get(uuid);
        if (!list) groupsOfUser.set(uuid, (list = []));
        list.push(g.slug);
      }
    }
    const reposByProject = new Map<string, RepoRec[]>();
    for (const r of this.repos) {
      let list = reposByProject.get(r.projectKey);
      if (!list) reposByProject.set(r.projectKey, (list = []));
      list.push(r);
    }
    const repoIndex = new Map<string, number>();
    this.repos.forEach((r, i) => repoIndex.set(r.uuid, i));
    const keysByRepo = new Map<string, DeployKeyRec[]>();
    const keysByProject = new Map<string, DeployKeyRec[]>();
    for (const k of this.deployKeys) {
      const [map, id] = k.repositoryUuid !== null ? [keysByRepo, k.repositoryUuid] : [keysByProject, k.projectKey ?? ''];
      let list = map.get(id);
      if (!list) map.set(id, (list = []));
      list.push(k);
    }
    const owners = this.users.filter((u) => u.role === 'owner');
    const members = this.users.filter(isMember);
    const publicRepos = this.repos.filter((r) => !r.isPrivate);
    this.derived = { groupsOfUser, reposByProject, repoIndex, keysByRepo, keysByProject, owners, members, publicRepos, reported: null, reportedByRepo: null, readable: new Map() };
    this.derivedVersion = this.version;
    return this.derived;
  }

  groupsOf(uuid: string): readonly string[] {
    return this.d.groupsOfUser.get(uuid) ?? [];
  }

  reposInProject(key: string): readonly RepoRec[] {
    return this.d.reposByProject.get(key) ?? [];
  }

  repoPosition(uuid: string): number {
    return this.d.repoIndex.get(uuid) ?? -1;
  }

  deployKeysOfRepo(uuid: string): readonly DeployKeyRec[] {
    return this.d.keysByRepo.get(uuid) ?? [];
  }

  deployKeysOfProject(key: string): readonly DeployKeyRec[] {
    return this.d.keysByProject.get(key) ?? [];
  }

  owners(): readonly UserRec[] {
    return this.d.owners;
  }

  /** Workspace members (owners included), in workspace order: what `/members` and `/permissions` list. */
  members(): readonly UserRec[] {
    return this.d.members;
  }

  /** Public repositories, in listing order. */
  publicRepos(): readonly RepoRec[] {
    return this.d.publicRepos;
  }

  // ─── Access decisions ─────────────────────────────────────────────────────────────────

  /** A user's effective permission on a repository over every path (owners: admin). 0 = none. */
  repoRank(uuid: string, repo: RepoRec, explicitOnly = false): number {
    const user = this.userByUuid.get(uuid);
    if (!user) return 0;
    if (!explicitOnly && user.role === 'owner') return 3;
    let rank = 0;
    const direct = this.repoUser.get(repo.uuid)?.get(uuid);
    if (direct) rank = REPO_RANK[direct];
    const proj = this.projectUser.get(repo.projectKey)?.get(uuid);
    if (proj) rank = Math.max(rank, REPO_RANK[PROJECT_TO_REPO[proj]]);
    const groups = this.groupsOf(uuid);
    if (groups.length > 0) {
      const rg = this.repoGroup.get(repo.uuid);
      const pg = this.projectGroup.get(repo.projectKey);
      for (const slug of groups) {
        const a = rg?.get(slug);
        if (a) rank = Math.max(rank, REPO_RANK[a]);
        const b = pg?.get(slug);
        if (b) rank = Math.max(rank, REPO_RANK[PROJECT_TO_REPO[b]]);
      }
    }
    return rank;
  }

  /** A user's permission on a project itself (owners: admin). 0 = none, 4 = admin. */
  projectRank(uuid: string, key: string): number {
    const user = this.userByUuid.get(uuid);
    if (!user) return 0;
    if (user.role === 'owner') return 4;
    let rank = 0;
    const direct = this.projectUser.get(key)?.get(uuid);
    if (direct) rank = PROJECT_RANK[direct];
    const pg = this.projectGroup.get(key);
    if (pg) {
      for (const slug of this.groupsOf(uuid)) {
        const p = pg.get(slug);
        if (p) rank = Math.max(rank, PROJECT_RANK[p]);
      }
    }
    return rank;
  }

  /** Repositories a user can read, in listing order (cached per version): public ones included. */
  readableRepos(uuid: string): readonly RepoRec[] {
    const d = this.d;
    let list = d.readable.get(uuid);
    if (!list) {
      const user = this.userByUuid.get(uuid);
      list = !user ? [] : user.role === 'owner' ? this.repos : this.repos.filter((r) => !r.isPrivate || this.repoRank(uuid, r) > 0);
      d.readable.set(uuid, list);
    }
    return list;
  }

  /** Every path to every repository for every user. */
  computeEffectiveAccess(): EffectiveAccess[] {
    const out: EffectiveAccess[] = [];
    for (const repo of this.repos) {
      const acc = new Map<string, AccessPath[]>();
      const add = (uuid: string, path: AccessPath): void => {
        let paths = acc.get(uuid);
        if (!paths) acc.set(uuid, (paths = []));
        paths.push(path);
      };
      for (const o of this.owners()) add(o.uuid, { kind: 'workspace-owner', permission: 'admin' });
      for (const [uuid, p] of this.repoUser.get(repo.uuid) ?? []) add(uuid, { kind: 'direct', permission: p });
      for (const [slug, p] of this.repoGroup.get(repo.uuid) ?? []) {
        for (const uuid of this.groupBySlug.get(slug)?.members ?? []) add(uuid, { kind: 'group', permission: p, group: slug });
      }
      for (const [uuid, p] of this.projectUser.get(repo.projectKey) ?? []) {
        add(uuid, { kind: 'project', permission: PROJECT_TO_REPO[p], projectKey: repo.projectKey });
      }
      for (const [slug, p] of this.projectGroup.get(repo.projectKey) ?? []) {
        for (const uuid of this.groupBySlug.get(slug)?.members ?? []) {
          add(uuid, { kind: 'project-group', permission: PROJECT_TO_REPO[p], group: slug, projectKey: repo.projectKey });
        }
      }
      for (const [uuid, paths] of acc) {
        let rank = 0;
        for (const p of paths) rank = Math.max(rank, REPO_RANK[p.permission]);
        out.push({ userUuid: uuid, repoUuid: repo.uuid, permission: RANK_REPO[rank] as RepoPermission, paths });
      }
    }
    return out;
  }

  /**
   * The rows `/workspaces/{ws}/permissions/repositories` lists, in its order (repository, then
   * user in workspace order), under the current reading: by default the highest permission over
   * the explicit paths (direct, group, project, project-group) — a workspace owner with no explicit
   * path to a repository is not listed for it, although the owner is admin there. Planted
   * overrides (a test lever) replace or remove single rows last.
   */
  reportedPermissions(): ReadonlyArray<{ user: UserRec; repo: RepoRec; permission: RepoPermission }> {
    const d = this.d;
    if (d.reported) return d.reported;
    const { includeOwners, includeProjectInherited } = this.reportedReading;
    // Ranks per user index in a reused typed array: hundreds of thousands of rows on large.
    const index = new Map<string, number>();
    this.users.forEach((u, i) => index.set(u.uuid, i));
    const rank = new Uint8Array(this.users.length);
    const touched: number[] = [];
    const rows: Array<{ user: UserRec; repo: RepoRec; permission: RepoPermission }> = [];
    const memberIdx = new Map<string, number[]>();
    const groupMembers = (slug: string): number[] => {
      let list = memberIdx.get(slug);
      if (!list) {
        list = [...(this.groupBySlug.get(slug)?.members ?? [])].flatMap((uuid) => {
          const i = index.get(uuid);
          return i === undefined ? [] : [i];
        });
        memberIdx.set(slug, list);
      }
      return list;
    };
    const ownerIdx = includeOwners ? this.owners().map((o) => index.get(o.uuid) as number) : [];
    const raise = (i: number | undefined, r: number): void => {
      if (i === undefined) return;
      if (rank[i] === 0) touched.push(i);
      if (r > (rank[i] as number)) rank[i] = r;
    };
    for (const repo of this.repos) {
      for (const i of ownerIdx) raise(i, 3);
      for (const [uuid, p] of this.repoUser.get(repo.uuid) ?? []) raise(index.get(uuid), REPO_RANK[p]);
      for (const [slug, p] of this.repoGroup.get(repo.uuid) ?? []) for (const i of groupMembers(slug)) raise(i, REPO_RANK[p]);
      if (includeProjectInherited) {
        for (const [uuid, p] of this.projectUser.get(repo.projectKey) ?? []) raise(index.get(uuid), REPO_RANK[PROJECT_TO_REPO[p]]);
        for (const [slug, p] of this.projectGroup.get(repo.projectKey) ?? []) for (const i of groupMembers(slug)) raise(i, REPO_RANK[PROJECT_TO_REPO[p]]);
      }
      for (const [uuid, p] of this.plantedReported.get(repo.uuid) ?? []) {
        const i = index.get(uuid);
        if (i === undefined) continue;
        if (rank[i] === 0) touched.push(i);
        rank[i] = p === null ? 0 : REPO_RANK[p];
      }
      touched.sort((a, b) => a - b);
      for (const i of touched) {
        const r = rank[i] as number;
        if (r > 0) rows.push({ user: this.users[i] as UserRec, repo, permission: RANK_REPO[r] as RepoPermission });
        rank[i] = 0;
      }
      touched.length = 0;
    }
    d.reported = rows;
    return rows;
  }

  /** The reported rows of one repository (indexed once per version). */
  reportedPermissionsOf(repo: RepoRec): ReadonlyArray<{ user: UserRec; repo: RepoRec; permission: RepoPermission }> {
    const d = this.d;
    if (!d.reportedByRepo) {
      const map = new Map<string, Array<{ user: UserRec; repo: RepoRec; permission: RepoPermission }>>();
      for (const row of this.reportedPermissions()) {
        let list = map.get(row.repo.uuid);
        if (!list) map.set(row.repo.uuid, (list = []));
        list.push(row);
      }
      d.reportedByRepo = map;
    }
    return d.reportedByRepo.get(repo.uuid) ?? [];
  }

  // ─── Ground truth view ────────────────────────────────────────────────────────────────

  truth(): GroundTruth {
    const ws = this.info;
    return {
      workspace: { uuid: ws.uuid, slug: ws.slug, name: ws.name },
      users: (): SimUser[] => this.users.map(toSimUser),
      groups: (): SimGroup[] => this.groups.map((g) => ({ slug: g.slug, name: g.name, memberUuids: [...g.members] })),
      projects: (): SimProject[] => this.projects.map(toSimProject),
      repositories: (): SimRepo[] => this.repos.map(toSimRepo),
      publicRepositories: (): SimRepo[] => this.publicRepos().map(toSimRepo),
      deployKeys: (): SimDeployKey[] => this.deployKeys.map(toSimDeployKey),
      projectUserGrants: (): ProjectUserGrant[] => flatten(this.projectUser, (projectKey, userUuid, permission) => ({ projectKey, userUuid, permission })),
      projectGroupGrants: (): ProjectGroupGrant[] => flatten(this.projectGroup, (projectKey, groupSlug, permission) => ({ projectKey, groupSlug, permission })),
      repoUserGrants: (): RepoUserGrant[] => flatten(this.repoUser, (repoUuid, userUuid, permission) => ({ repoUuid, userUuid, permission })),
      repoGroupGrants: (): RepoGroupGrant[] => flatten(this.repoGroup, (repoUuid, groupSlug, permission) => ({ repoUuid, groupSlug, permission })),
      effectiveAccess: () => this.computeEffectiveAccess(),
      reportedRepositoryPermissions: () => this.reportedPermissions().map((r) => ({ userUuid: r.user.uuid, repoUuid: r.repo.uuid, permission: r.permission })),
      reportedPermissionsReading: () => ({ ...this.reportedReading }),
      plantedReportedPermissions: (): PlantedReportedPermission[] => flatten(this.plantedReported, (repoUuid, userUuid, permission) => ({ repoUuid, userUuid, permission })),
      summary: (): TruthSummary => this.summary(),
    };
  }

  /** Users with any path to each repository, counted without building the rows. */
  private countEffectiveAccess(): number {
    let rows = 0;
    const owners = this.owners();
    for (const repo of this.repos) {
      const seen = new Set<string>();
      for (const o of owners) seen.add(o.uuid);
      for (const uuid of this.repoUser.get(repo.uuid)?.keys() ?? []) seen.add(uuid);
      for (const uuid of this.projectUser.get(repo.projectKey)?.keys() ?? []) seen.add(uuid);
      for (const slug of [...(this.repoGroup.get(repo.uuid)?.keys() ?? []), ...(this.projectGroup.get(repo.projectKey)?.keys() ?? [])]) {
        for (const uuid of this.groupBySlug.get(slug)?.members ?? []) seen.add(uuid);
      }
      rows += seen.size;
    }
    return rows;
  }

  summary(): TruthSummary {
    const effectiveAccessRows = this.countEffectiveAccess();
    const count = (m: Map<string, Map<string, unknown>>): number => [...m.values()].reduce((n, inner) => n + inner.size, 0);
    return {
      users: this.users.length,
      members: this.members().length,
      owners: this.users.filter((u) => u.role === 'owner').length,
      collaborators: this.users.filter((u) => u.role === 'collaborator').length,
      groups: this.groups.length,
      emptyGroups: this.groups.filter((g) => g.members.size === 0).length,
      projects: this.projects.length,
      repositories: this.repos.length,
      publicRepositories: this.publicRepos().length,
      deployKeys: this.deployKeys.length,
      projectUserGrants: count(this.projectUser),
      projectGroupGrants: count(this.projectGroup),
      repoUserGrants: count(this.repoUser),
      repoGroupGrants: count(this.repoGroup),
      effectiveAccessRows,
    };
  }
}

interface Derived {
  groupsOfUser: Map<string, string[]>;
  reposByProject: Map<string, RepoRec[]>;
  repoIndex: Map<string, number>;
  keysByRepo: Map<string, DeployKeyRec[]>;
  keysByProject: Map<string, DeployKeyRec[]>;
  owners: UserRec[];
  members: UserRec[];
  publicRepos: RepoRec[];
  reported: Array<{ user: UserRec; repo: RepoRec; permission: RepoPermission }> | null;
  reportedByRepo: Map<string, Array<{ user: UserRec; repo: RepoRec; permission: RepoPermission }>> | null;
  readable: Map<string, readonly RepoRec[]>;
}

function setGrant<P>(map: Map<string, Map<string, P>>, resource: string, principal: string, permission: P | null): void {
  let inner = map.get(resource);
  if (permission === null) {
    inner?.delete(principal);
    return;
  }
  if (!inner) map.set(resource, (inner = new Map()));
  inner.set(principal, permission);
}

function flatten<P, T>(map: Map<string, Map<string, P>>, make: (resource: string, principal: string, permission: P) => T): T[] {
  const out: T[] = [];
  for (const [resource, inner] of map) for (const [principal, p] of inner) out.push(make(resource, principal, p));
  return out;
}

export function toSimUser(u: UserRec): SimUser {
  return { uuid: u.uuid, accountId: u.accountId, displayName: u.displayName, nickname: u.nickname, role: u.role, member: isMember(u) };
}

export function toSimProject(p: ProjectRec): SimProject {
  return { uuid: p.uuid, key: p.key, name: p.name, isPrivate: p.isPrivate };
}

export function toSimRepo(r: RepoRec): SimRepo {
  return { uuid: r.uuid, slug: r.slug, name: r.name, projectKey: r.projectKey, isPrivate: r.isPrivate, updatedOn: r.updatedOn };
}

export function toSimDeployKey(k: DeployKeyRec): SimDeployKey {
  return { id: k.id, label: k.label, key: k.key, comment: k.comment, repositoryUuid: k.repositoryUuid, projectKey: k.projectKey, createdOn: k.createdOn, lastUsed: k.lastUsed };
}
