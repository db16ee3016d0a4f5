/**
 * The endpoints the simulator serves. Each declares the spec operation it stands for, the query
 * parameters it takes (besides the global `page`, `pagelen` and `fields`), its pagination, the
 * scopes the spec demands and who may call it. `contract.test.ts` beside it checks every
 * declaration here against `swagger.v3.json`.
 *
 * Who may call what (the spec's operation descriptions, the authentication narrative, and the
 * support docs for the 1.0 endpoints):
 * - Access tokens "can't be used to manipulate or query repository, project, or workspace
 *   permissions": they get 403 on `/workspaces/{ws}/permissions*`, every `permissions-config`
 *   listing and the 1.0 group endpoints, whatever their scopes. They have no user, so `/user` is
 *   403 too. Only a workspace token holding `account` may list members.
 * - Admin only (403 otherwise): `/workspaces/{ws}/permissions/repositories` (workspace admin,
 *   "Only users with admin permission for the team"); the `…/permissions/repositories/{repo}` and
 *   repository `permissions-config` listings (admin of that repository); project
 *   `permissions-config` (admin of the project); deploy keys (admin of the repository / project:
 *   the `repository:admin` / `admin:…` scopes exist for exactly that); `/1.0/groups` and
 *   `/1.0/group-privileges/{ws}` (workspace admin; `/{ws}/{repo}` also for that repository's admins).
 * - Open to every member: `/workspaces/{ws}`, `…/members`, `…/permissions` (the spec gives it no
 *   403), `…/projects` (private projects are "visible to team members"), and the repositories the
 *   caller can read.
 * A workspace owner is admin of every project and repository.
 *
 * Public repositories: "If your repository is public, anyone can access and fork it." Anyone may
 * GET one and see it in `/repositories/{ws}` — members without a grant, users outside the
 * workspace, and requests without credentials (the only two routes that take those:
 * `anonymous: true`). Their permission listings and deploy keys stay admin-only.
 *
 * Users outside the workspace (internal role `collaborator`): Bitbucket removed the collaborator
 * role from the API on 1 June 2022, so `/members` and `/permissions` list workspace members only.
 */
import { type FieldAccessor, compileQuery, dt, enm, num, sortBy, str } from './bbql.ts';
import type { Principal } from './credentials.ts';
import type { Json, JsonObject, Renderer } from './render.ts';
import { type ProjectRec, type RepoRec, type UserRec, type Workspace, isMember } from './workspace.ts';
import type { RepoPermission } from './types.ts';

export interface Cachedish {
  obj: JsonObject;
  json: string;
  buf?: Buffer;
}

export type Outcome =
  | { kind: 'page'; total: number; slice: (start: number, end: number) => Cachedish[] }
  | { kind: 'object'; value: JsonObject }
  /** Unpaginated JSON text (the 1.0 arrays). */
  | { kind: 'raw'; json: string }
  | { kind: 'error'; status: number; message: string; detail?: Json };

export interface RouteContext {
  ws: Workspace;
  render: Renderer;
  principal: Principal;
  params: Record<string, string>;
  query: URLSearchParams;
  /** Memoizes per workspace version (query results reused across pages). */
  memo<T>(key: string, build: () => T): T;
}

export interface Route {
  method: 'GET';
  /** The simulator path, `{name}` for parameters. */
  template: string;
  /** The spec path this implements, or null for API 1.0 (not in the spec). */
  specPath: string | null;
  query: readonly string[];
  /** Pagination: the default and maximum `pagelen`; null for single objects and 1.0 arrays. */
  pagination: { default: number; max: number } | null;
  /** `security.oauth2` of the operation (classic scopes: OAuth, access tokens, app passwords). */
  classicScopes: readonly string[];
  /** `x-atlassian-oauth2-scopes` of the operation (API tokens). */
  granularScopes: readonly string[];
  /** False: access tokens get 403 whatever their scopes. */
  accessTokens: boolean;
  /** The repository a request is about, for `forbid` faults on permission listings. */
  permissionRepoParam?: string;
  /** Whether this route belongs to the `/2.0/repositories/*` group (scaled limits and X-RateLimit headers). */
  repositoriesGroup: boolean;
  /** Requests without credentials are served (public repositories only); elsewhere they answer 401. */
  anonymous?: boolean;
  handle(ctx: RouteContext): Outcome;
  /** Compiled matcher (filled by `compileRoutes`). */
  regex?: RegExp;
  paramNames?: string[];
}

const err = (status: number, message: string, detail?: Json): Outcome => ({ kind: 'error', status, message, ...(detail !== undefined ? { detail } : {}) });

const REPO_ORDER = ['read', 'write', 'admin'] as const;
// `collaborator` is no longer a value of the API (removed 1 June 2022): querying it is a 400.
const ROLE_ORDER = ['member', 'owner'] as const;

// ─── Reach: what a principal can see ───────────────────────────────────────────────────────

function isWorkspaceAdmin(p: Principal): boolean {
  return p.user?.role === 'owner';
}

function reposInReach(ctx: RouteContext): readonly RepoRec[] {
  const { principal: p, ws } = ctx;
  if (p.binding) {
    if (p.binding.type === 'workspace') return ws.repos;
    if (p.binding.type === 'project') return ws.reposInProject(p.binding.projectKey);
    const repo = ws.repoByUuid.get(p.binding.repoUuid);
    return repo ? [repo] : [];
  }
  if (p.kind === 'anonymous') return ws.publicRepos();
  if (!p.user) return [];
  return ws.readableRepos(p.user.uuid);
}

function canReachRepo(ctx: RouteContext, repo: RepoRec): boolean {
  const { principal: p, ws } = ctx;
  if (p.binding) {
    if (p.binding.type === 'workspace') return true;
    if (p.binding.type === 'project') return repo.projectKey === p.binding.projectKey;
    return repo.uuid === p.binding.repoUuid;
  }
  // A public repository is readable by anyone.
  if (!repo.isPrivate) return true;
  return !!p.user && ws.repoRank(p.user.uuid, repo) > 0;
}

function isRepoAdmin(ctx: RouteContext, repo: RepoRec): boolean {
  const p = ctx.principal;
  // Access tokens reach admin features through the `repository:admin` scope (checked before).
  if (p.binding) return canReachRepo(ctx, repo);
  return !!p.user && ctx.ws.repoRank(p.user.uuid, repo) >= 3;
}

function isProjectAdmin(ctx: RouteContext, project: ProjectRec): boolean {
  const p = ctx.principal;
  if (p.binding) return p.binding.type === 'workspace' || (p.binding.type === 'project' && p.binding.projectKey === project.key);
  return !!p.user && ctx.ws.projectRank(p.user.uuid, project.key) >= 4;
}

// ─── Resolution helpers ────────────────────────────────────────────────────────────────────

function resolveRepo(ctx: RouteContext): RepoRec | Outcome {
  const ref = ctx.params.repo_slug ?? '';
  const repo = ctx.ws.findRepo(ref);
  if (!repo) return err(404, `Repository ${ctx.params.workspace}/${ref} not found`);
  return repo;
}

function resolveProject(ctx: RouteContext): ProjectRec | Outcome {
  const key = ctx.params.project_key ?? '';
  const project = ctx.ws.projectByKey.get(key) ?? ctx.ws.projectByUuid.get(key);
  if (!project) return err(404, `Project ${key} not found in workspace ${ctx.params.workspace}`);
  return project;
}

const isOutcome = (x: unknown): x is Outcome => typeof x === 'object' && x !== null && 'kind' in x;

/** Applies `q` and `sort` (when given) over `items`, memoized per principal and workspace version. */
function querySort<T>(ctx: RouteContext, cacheKey: string, items: () => readonly T[], fields: FieldAccessor<T>): readonly T[] {
  const q = ctx.query.get('q');
  const sort = ctx.query.get('sort');
  return ctx.memo(`${cacheKey}|${ctx.principal.name}|${q ?? ''}|${sort ?? ''}`, () => {
    let list = items();
    if (q !== null && q.trim() !== '') {
      const compiled = compileQuery(q, fields);
      list = list.filter((item) => compiled.test(item));
    }
    if (sort !== null && sort.trim() !== '') list = sortBy(list, sort.trim(), fields);
    return list;
  });
}

function page<T>(items: readonly T[], render: (t: T) => Cachedish): Outcome {
  return { kind: 'page', total: items.length, slice: (a, b) => items.slice(a, b).map(render) };
}

// ─── Query vocabularies ────────────────────────────────────────────────────────────────────

function userFields<T>(prefix: string, get: (x: T) => UserRec): FieldAccessor<T> {
  return {
    [`${prefix}uuid`]: (x) => str(get(x).uuid),
    [`${prefix}account_id`]: (x) => str(get(x).accountId),
    [`${prefix}display_name`]: (x) => str(get(x).displayName),
    [`${prefix}nickname`]: (x) => str(get(x).nickname),
  };
}

function repoFields(ws: Workspace): FieldAccessor<RepoRec> {
  return {
    uuid: (r) => str(r.uuid),
    slug: (r) => str(r.slug),
    name: (r) => str(r.name),
    full_name: (r) => str(`${ws.info.slug}/${r.slug}`),
    description: (r) => str(r.description),
    created_on: (r) => dt(r.createdOn),
    updated_on: (r) => dt(r.updatedOn),
    size: (r) => num(r.size),
    language: (r) => str(r.language),
    is_private: (r) => ({ type: 'boolean', value: r.isPrivate }),
    'project.key': (r) => str(r.projectKey),
    'project.uuid': (r) => str(ws.projectByKey.get(r.projectKey)?.uuid ?? null),
    'project.name': (r) => str(ws.projectByKey.get(r.projectKey)?.name ?? null),
    'mainbranch.name': (r) => str(r.mainBranch),
  };
}

type PermRow = { user: UserRec; repo: RepoRec; permission: RepoPermission };

function permRowFields(ws: Workspace): FieldAccessor<PermRow> {
  return {
    permission: (r) => enm(r.permission, REPO_ORDER),
    ...userFields<PermRow>('user.', (r) => r.user),
    'repository.uuid': (r) => str(r.repo.uuid),
    'repository.name': (r) => str(r.repo.name),
    'repository.full_name': (r) => str(`${ws.info.slug}/${r.repo.slug}`),
    'repository.slug': (r) => str(r.repo.slug),
  };
}

const memberFields: FieldAccessor<UserRec> = {
  permission: (u) => enm(u.role, ROLE_ORDER),
  ...userFields<UserRec>('user.', (u) => u),
};

// ─── The routes ────────────────────────────────────────────────────────────────────────────

const R_ACCOUNT = ['account'];

export const ROUTES: Route[] = [
  {
    method: 'GET', template: '/2.0/user', specPath: '/user', query: [], pagination: null,
    classicScopes: R_ACCOUNT, granularScopes: ['read:user:bitbucket'], accessTokens: false, repositoriesGroup: false,
    handle: (ctx) => (ctx.principal.user ? { kind: 'object', value: ctx.render.currentUser(ctx.principal.user) } : err(403, 'Access tokens have no user account.')),
  },
  {
    method: 'GET', template: '/2.0/user/workspaces', specPath: '/user/workspaces', query: ['sort', 'administrator'], pagination: { default: 25, max: 100 },
    classicScopes: R_ACCOUNT, granularScopes: ['read:workspace:bitbucket'], accessTokens: true, repositoriesGroup: false,
    handle: (ctx) => {
      const admin = isWorkspaceAdmin(ctx.principal);
      const filter = ctx.query.get('administrator');
      if (filter !== null && filter !== 'true' && filter !== 'false') return err(400, `Invalid value for administrator: ${filter}`);
      const sort = ctx.query.get('sort');
      if (sort !== null && sort.replace(/^-/, '') !== 'slug') return err(400, `Invalid sort field: ${sort}`, 'Only slug is supported.');
      const items = filter === null || (filter === 'true') === admin ? [ctx.ws.info] : [];
      return page(items, () => {
        const obj = ctx.render.workspaceAccess(admin);
        return { obj, json: JSON.stringify(obj) };
      });
    },
  },
  {
    method: 'GET', template: '/2.0/workspaces/{workspace}', specPath: '/workspaces/{workspace}', query: [], pagination: null,
    classicScopes: [], granularScopes: ['read:workspace:bitbucket'], accessTokens: true, repositoriesGroup: false,
    handle: (ctx) => ({ kind: 'object', value: ctx.render.workspaceFull() }),
  },
  {
    method: 'GET', template: '/2.0/workspaces/{workspace}/members', specPath: '/workspaces/{workspace}/members', query: [], pagination: { default: 50, max: 100 },
    classicScopes: R_ACCOUNT, granularScopes: ['read:workspace:bitbucket'], accessTokens: true, repositoriesGroup: false,
    handle: (ctx) => page(ctx.ws.members(), (u) => ctx.render.membership(u, false)),
  },
  {
    method: 'GET', template: '/2.0/workspaces/{workspace}/members/{member}', specPath: '/workspaces/{workspace}/members/{member}', query: [], pagination: null,
    classicScopes: R_ACCOUNT, granularScopes: ['read:workspace:bitbucket'], accessTokens: true, repositoriesGroup: false,
    handle: (ctx) => {
      const ref = ctx.params.member ?? '';
      const found = ctx.ws.userByUuid.get(ref) ?? ctx.ws.userByAccountId.get(ref);
      const u = found && isMember(found) ? found : undefined;
      return u ? { kind: 'object', value: ctx.render.membership(u, false).obj } : err(404, `${ref} is not a member of this workspace`);
    },
  },
  {
    method: 'GET', template: '/2.0/workspaces/{workspace}/permissions', specPath: '/workspaces/{workspace}/permissions', query: ['q'], pagination: { default: 50, max: 100 },
    classicScopes: R_ACCOUNT, granularScopes: ['read:workspace:bitbucket'], accessTokens: false, repositoriesGroup: false,
    handle: (ctx) => page(querySort(ctx, 'wsperm', () => ctx.ws.members(), memberFields), (u) => ctx.render.membership(u, true)),
  },
  {
    method: 'GET', template: '/2.0/workspaces/{workspace}/permissions/repositories', specPath: '/workspaces/{workspace}/permissions/repositories', query: ['q', 'sort'], pagination: { default: 10, max: 100 },
    classicScopes: R_ACCOUNT, granularScopes: ['read:repository:bitbucket'], accessTokens: false, repositoriesGroup: false,
    handle: (ctx) => {
      if (!isWorkspaceAdmin(ctx.principal)) return err(403, 'Only workspace admins can list the repository permissions of a workspace.');
      // By default explicit privileges only: owners' implicit admin is not listed (see Workspace.reportedPermissions).
      const rows = querySort(ctx, 'rperm', () => ctx.ws.reportedPermissions(), permRowFields(ctx.ws));
      return page(rows, (r) => ctx.render.repositoryPermission(r.user, r.repo, r.permission));
    },
  },
  {
    method: 'GET', template: '/2.0/workspaces/{workspace}/permissions/repositories/{repo_slug}', specPath: '/workspaces/{workspace}/permissions/repositories/{repo_slug}', query: ['q', 'sort'], pagination: { default: 10, max: 100 },
    classicScopes: ['repository'], granularScopes: ['read:repository:bitbucket'], accessTokens: false, repositoriesGroup: false, permissionRepoParam: 'repo_slug',
    handle: (ctx) => {
      const repo = resolveRepo(ctx);
      if (isOutcome(repo)) return repo;
      if (!isRepoAdmin(ctx, repo)) return err(403, `You need admin access to ${ctx.ws.info.slug}/${repo.slug} to list its permissions.`);
      const rows = querySort(ctx, `rperm:${repo.uuid}`, () => ctx.ws.reportedPermissionsOf(repo), permRowFields(ctx.ws));
      return page(rows, (r) => ctx.render.repositoryPermission(r.user, r.repo, r.permission));
    },
  },
  {
    method: 'GET', template: '/2.0/workspaces/{workspace}/projects', specPath: '/workspaces/{workspace}/projects', query: [], pagination: { default: 50, max: 100 },
    classicScopes: ['project'], granularScopes: ['read:project:bitbucket'], accessTokens: true, repositoriesGroup: false,
    handle: (ctx) => {
      const b = ctx.principal.binding;
      const items = b?.type === 'project' ? ctx.ws.projects.filter((p) => p.key === b.projectKey) : ctx.ws.projects;
      return page(items, (p) => ctx.render.project(p));
    },
  },
  {
    method: 'GET', template: '/2.0/workspaces/{workspace}/projects/{project_key}', specPath: '/workspaces/{workspace}/projects/{project_key}', query: [], pagination: null,
    classicScopes: ['project'], granularScopes: ['read:project:bitbucket'], accessTokens: true, repositoriesGroup: false,
    handle: (ctx) => {
      const project = resolveProject(ctx);
      if (isOutcome(project)) return project;
      const b = ctx.principal.binding;
      if (b?.type === 'project' && b.projectKey !== project.key) return err(403, `This access token cannot access project ${project.key}.`);
      return { kind: 'object', value: ctx.render.project(project).obj };
    },
  },
  {
    method: 'GET', template: '/2.0/workspaces/{workspace}/projects/{project_key}/permissions-config/users', specPath: '/workspaces/{workspace}/projects/{project_key}/permissions-config/users', query: [], pagination: { default: 10, max: 100 },
    classicScopes: ['project:admin'], granularScopes: ['read:project:bitbucket'], accessTokens: false, repositoriesGroup: false,
    handle: (ctx) => {
      const project = resolveProject(ctx);
      if (isOutcome(project)) return project;
      if (!isProjectAdmin(ctx, project)) return err(403, `You need admin access to project ${project.key} to list its permissions.`);
      const grants = [...(ctx.ws.projectUser.get(project.key) ?? [])].flatMap(([uuid, perm]) => {
        const u = ctx.ws.userByUuid.get(uuid);
        return u ? [{ u, perm }] : [];
      });
      return page(grants, (g) => ctx.render.projectUserGrant(project, g.u, g.perm));
    },
  },
  {
    method: 'GET', template: '/2.0/workspaces/{workspace}/projects/{project_key}/permissions-config/groups', specPath: '/workspaces/{workspace}/projects/{project_key}/permissions-config/groups', query: [], pagination: { default: 10, max: 100 },
    classicScopes: ['project:admin'], granularScopes: ['read:project:bitbucket'], accessTokens: false, repositoriesGroup: false,
    handle: (ctx) => {
      const project = resolveProject(ctx);
      if (isOutcome(project)) return project;
      if (!isProjectAdmin(ctx, project)) return err(403, `You need admin access to project ${project.key} to list its permissions.`);
      const grants = [...(ctx.ws.projectGroup.get(project.key) ?? [])].flatMap(([slug, perm]) => {
        const g = ctx.ws.groupBySlug.get(slug);
        return g ? [{ g, perm }] : [];
      });
      return page(grants, (x) => ctx.render.projectGroupGrant(project, x.g, x.perm));
    },
  },
  {
    method: 'GET', template: '/2.0/workspaces/{workspace}/projects/{project_key}/deploy-keys', specPath: '/workspaces/{workspace}/projects/{project_key}/deploy-keys', query: [], pagination: { default: 10, max: 100 },
    classicScopes: ['project', 'project:admin'], granularScopes: ['admin:project:bitbucket'], accessTokens: true, repositoriesGroup: false,
    handle: (ctx) => {
      const project = resolveProject(ctx);
      if (isOutcome(project)) return project;
      if (!isProjectAdmin(ctx, project)) return err(403, `You need admin access to project ${project.key} to list its deploy keys.`);
      return page(ctx.ws.deployKeysOfProject(project.key), (k) => ctx.render.projectDeployKey(k, project));
    },
  },
  {
    method: 'GET', template: '/2.0/repositories/{workspace}', specPath: '/repositories/{workspace}', query: ['role', 'q', 'sort'], pagination: { default: 10, max: 100 },
    classicScopes: ['repository'], granularScopes: ['read:repository:bitbucket'], accessTokens: true, repositoriesGroup: true, anonymous: true,
    handle: (ctx) => {
      const role = ctx.query.get('role');
      if (role !== null && !['member', 'contributor', 'admin', 'owner'].includes(role)) return err(400, `Invalid role: ${role}`);
      const repos = querySort(ctx, `repos|${role ?? ''}`, () => {
        const reach = reposInReach(ctx);
        const user = ctx.principal.user;
        // `role` is about explicit access: a public repository alone does not qualify.
        if (role !== null && ctx.principal.kind === 'anonymous') return [];
        if (role === null || !user) return reach;
        if (role === 'owner') return user.role === 'owner' ? reach : [];
        const min = role === 'admin' ? 3 : role === 'contributor' ? 2 : 1;
        return reach.filter((r) => ctx.ws.repoRank(user.uuid, r) >= min);
      }, repoFields(ctx.ws));
      return page(repos, (r) => ctx.render.repo(r));
    },
  },
  {
    method: 'GET', template: '/2.0/repositories/{workspace}/{repo_slug}', specPath: '/repositories/{workspace}/{repo_slug}', query: [], pagination: null,
    classicScopes: ['repository'], granularScopes: ['read:repository:bitbucket'], accessTokens: true, repositoriesGroup: true, anonymous: true,
    handle: (ctx) => {
      const repo = resolveRepo(ctx);
      if (isOutcome(repo)) return repo;
      if (!canReachRepo(ctx, repo)) return err(403, `You don't have access to repository ${ctx.ws.info.slug}/${repo.slug}.`);
      return { kind: 'object', value: ctx.render.repo(repo).obj };
    },
  },
  {
    method: 'GET', template: '/2.0/repositories/{workspace}/{repo_slug}/permissions-config/users', specPath: '/repositories/{workspace}/{repo_slug}/permissions-config/users', query: [], pagination: { default: 10, max: 100 },
    classicScopes: ['repository:admin'], granularScopes: ['read:repository:bitbucket'], accessTokens: false, repositoriesGroup: true, permissionRepoParam: 'repo_slug',
    handle: (ctx) => {
      const repo = resolveRepo(ctx);
      if (isOutcome(repo)) return repo;
      if (!isRepoAdmin(ctx, repo)) return err(403, `You need admin access to ${ctx.ws.info.slug}/${repo.slug} to list its permissions.`);
      const grants = [...(ctx.ws.repoUser.get(repo.uuid) ?? [])].flatMap(([uuid, perm]) => {
        const u = ctx.ws.userByUuid.get(uuid);
        return u ? [{ u, perm }] : [];
      });
      return page(grants, (g) => ctx.render.repoUserGrant(repo, g.u, g.perm));
    },
  },
  {
    method: 'GET', template: '/2.0/repositories/{workspace}/{repo_slug}/permissions-config/groups', specPath: '/repositories/{workspace}/{repo_slug}/permissions-config/groups', query: [], pagination: { default: 10, max: 100 },
    classicScopes: ['repository:admin'], granularScopes: ['read:repository:bitbucket'], accessTokens: false, repositoriesGroup: true, permissionRepoParam: 'repo_slug',
    handle: (ctx) => {
      const repo = resolveRepo(ctx);
      if (isOutcome(repo)) return repo;
      if (!isRepoAdmin(ctx, repo)) return err(403, `You need admin access to ${ctx.ws.info.slug}/${repo.slug} to list its permissions.`);
      const grants = [...(ctx.ws.repoGroup.get(repo.uuid) ?? [])].flatMap(([slug, perm]) => {
        const g = ctx.ws.groupBySlug.get(slug);
        return g ? [{ g, perm }] : [];
      });
      return page(grants, (x) => ctx.render.repoGroupGrant(repo, x.g, x.perm));
    },
  },
  {
    method: 'GET', template: '/2.0/repositories/{workspace}/{repo_slug}/deploy-keys', specPath: '/repositories/{workspace}/{repo_slug}/deploy-keys', query: [], pagination: { default: 10, max: 100 },
    classicScopes: ['repository', 'repository:admin'], granularScopes: ['admin:repository:bitbucket'], accessTokens: true, repositoriesGroup: true,
    handle: (ctx) => {
      const repo = resolveRepo(ctx);
      if (isOutcome(repo)) return repo;
      if (!isRepoAdmin(ctx, repo)) return err(403, `You need admin access to ${ctx.ws.info.slug}/${repo.slug} to list its deploy keys.`);
      return page(ctx.ws.deployKeysOfRepo(repo.uuid), (k) => ctx.render.repoDeployKey(k, repo));
    },
  },
  // ─── API 1.0 (not in the 2.0 spec; shapes from the groups / group-privileges endpoint docs) ───
  {
    method: 'GET', template: '/1.0/groups/{workspace}', specPath: null, query: [], pagination: null,
    classicScopes: R_ACCOUNT, granularScopes: ['read:workspace:bitbucket'], accessTokens: false, repositoriesGroup: false,
    handle: (ctx) => {
      if (!isWorkspaceAdmin(ctx.principal)) return err(403, 'You must be an administrator of this workspace to list its groups.');
      const json = ctx.memo('v1groups', () => `[${ctx.ws.groups.map((g) => ctx.render.v1Group(g).json).join(',')}]`);
      return { kind: 'raw', json };
    },
  },
  {
    method: 'GET', template: '/1.0/group-privileges/{workspace}', specPath: null, query: ['filter'], pagination: null,
    classicScopes: ['repository:admin'], granularScopes: ['read:workspace:bitbucket'], accessTokens: false, repositoriesGroup: false,
    handle: (ctx) => {
      if (!isWorkspaceAdmin(ctx.principal)) return err(403, 'You must be an administrator of this workspace to list group privileges.');
      const filter = ctx.query.get('filter');
      if (filter !== null && !REPO_ORDER.includes(filter as RepoPermission)) return err(400, `Invalid filter: ${filter}`);
      const json = ctx.memo(`v1gp|${filter ?? ''}`, () => v1Privileges(ctx, ctx.ws.repos, filter));
      return { kind: 'raw', json };
    },
  },
  {
    method: 'GET', template: '/1.0/group-privileges/{workspace}/{repo_slug}', specPath: null, query: ['filter'], pagination: null,
    classicScopes: ['repository:admin'], granularScopes: ['read:workspace:bitbucket'], accessTokens: false, repositoriesGroup: false, permissionRepoParam: 'repo_slug',
    handle: (ctx) => {
      const repo = resolveRepo(ctx);
      if (isOutcome(repo)) return repo;
      if (!isRepoAdmin(ctx, repo)) return err(403, `You must be an administrator of ${ctx.ws.info.slug}/${repo.slug} to list its group privileges.`);
      const filter = ctx.query.get('filter');
      if (filter !== null && !REPO_ORDER.includes(filter as RepoPermission)) return err(400, `Invalid filter: ${filter}`);
      return { kind: 'raw', json: v1Privileges(ctx, [repo], filter) };
    },
  },
];

/** 1.0 group privileges are the repository-level group grants only (project grants are not listed). */
function v1Privileges(ctx: RouteContext, repos: readonly RepoRec[], filter: string | null): string {
  const parts: string[] = [];
  for (const repo of repos) {
    for (const [slug, perm] of ctx.ws.repoGroup.get(repo.uuid) ?? []) {
      if (filter !== null && perm !== filter) continue;
      const g = ctx.ws.groupBySlug.get(slug);
      if (g) parts.push(ctx.render.v1GroupPrivilege(repo, g, perm).json);
    }
  }
  return `[${parts.join(',')}]`;
}

/** Compiles route templates to matchers. 1.0 templates also match with a trailing slash. */
export function compileRoutes(routes: Route[]): Route[] {
  for (const r of routes) {
    const names: string[] = [];
    const body = r.template.replace(/[.]/g, '\\.').replace(/\{(\w+)\}/g, (_m, name: string) => {
      names.push(name);
      return '([^/]+)';
    });
    r.regex = new RegExp(`^${body}/?$`);
    r.paramNames = names;
  }
  return routes;
}
