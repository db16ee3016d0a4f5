/**
 * The Bitbucket Data Center simulator's HTTP server (`node:http`): the REST endpoints Roster reads,
 * Data Center's paging (`start`/`limit`/`isLastPage`/`nextPageStart`), its credentials (HTTP access
 * tokens as Bearer, Basic username:password or username:token), its permission checks (401 with an
 * `AuthorisationException` body when the caller is not permitted), a per-user token bucket answered
 * with 429, faults on demand, and the `/__sim` control surface. See README.md in this folder.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClock } from '../../bitbucket-cloud/simulator/clock.ts';
import type { SimClock } from '../../bitbucket-cloud/simulator/types.ts';
import { type DcActiveFault, DcFaultEngine, type DcFaultSpec } from './faults.ts';
import { type DcCredentialName, type DcProfile, type DcSimCredentials, generateInstance } from './generate.ts';
import {
  type DcAccessToken,
  type DcProject,
  type DcRepository,
  type DcUser,
  type Instance,
  GLOBAL_PERMISSIONS,
  PROJECT_PERMISSIONS,
  REPOSITORY_PERMISSIONS,
  globalPermissionOf,
  rank,
  repositoryBySlug,
} from './instance.ts';
import { type DcMutations, DcMutationError, createMutations } from './mutations.ts';
import { type TruthAccess, type TruthSummary, effectiveAccess, licensedUsers, publicRepositories, summary } from './truth.ts';

export interface DcRateLimit {
  /** Tokens a user's bucket holds: the largest burst. Data Center's default 60. */
  bucketSize: number;
  /** Tokens added per second. Data Center's default 5. */
  refillPerSecond: number;
}

export interface DcSimulatorOptions {
  profile?: DcProfile;
  seed?: number;
  port?: number;
  faults?: string | DcFaultSpec[];
  /** Per-user token bucket. Default off (`false`); `roster sim` turns it on with Data Center's defaults. */
  rateLimit?: DcRateLimit | false;
  clock?: SimClock;
  /** Largest `limit` a listing accepts. Default 1000 (Data Center's `page.max` default for most resources). */
  maxLimit?: number;
}

export interface DcGroundTruth {
  instance: Instance;
  effectiveAccess(): TruthAccess[];
  publicRepositories(): number[];
  licensedUsers(): number[];
  summary(): TruthSummary;
}

export interface DcSimStats {
  requests: number;
  byRoute: Record<string, number>;
  byStatus: Record<string, number>;
  perCredential: Record<string, number>;
  responses429: number;
  faultsFired: number;
}

export interface DcSimulator {
  baseUrl: string;
  credentials: DcSimCredentials;
  truth: DcGroundTruth;
  mutate: DcMutations;
  faults: { add(spec: string | DcFaultSpec | DcFaultSpec[]): number[]; clear(id?: number): void; list(): DcActiveFault[] };
  clock: SimClock;
  stats(): DcSimStats;
  resetStats(): void;
  close(): Promise<void>;
}

/** A route Roster reads, with the spec's path (under `/rest`) for the contract test. */
export interface DcRoute {
  template: string;
  paged: boolean;
  query: readonly string[];
}

export const DC_ROUTES: readonly DcRoute[] = [
  { template: '/api/latest/application-properties', paged: false, query: [] },
  { template: '/api/latest/users/{userSlug}', paged: false, query: [] },
  { template: '/api/latest/admin/users', paged: true, query: ['filter', 'start', 'limit'] },
  { template: '/api/latest/admin/groups', paged: true, query: ['filter', 'start', 'limit'] },
  { template: '/api/latest/admin/groups/more-members', paged: true, query: ['filter', 'context', 'start', 'limit'] },
  { template: '/api/latest/admin/permissions/users', paged: true, query: ['filter', 'start', 'limit'] },
  { template: '/api/latest/admin/permissions/groups', paged: true, query: ['filter', 'start', 'limit'] },
  { template: '/api/latest/projects', paged: true, query: ['start', 'limit'] },
  { template: '/api/latest/projects/{projectKey}/permissions/users', paged: true, query: ['filter', 'start', 'limit'] },
  { template: '/api/latest/projects/{projectKey}/permissions/groups', paged: true, query: ['filter', 'start', 'limit'] },
  { template: '/api/latest/projects/{projectKey}/permissions/{permission}/all', paged: false, query: [] },
  { template: '/api/latest/repos', paged: true, query: ['start', 'limit'] },
  { template: '/api/latest/projects/{projectKey}/repos/{repositorySlug}/permissions/users', paged: true, query: ['filter', 'start', 'limit'] },
  { template: '/api/latest/projects/{projectKey}/repos/{repositorySlug}/permissions/groups', paged: true, query: ['filter', 'start', 'limit'] },
  { template: '/keys/latest/projects/{projectKey}/ssh', paged: true, query: ['start', 'limit'] },
  { template: '/keys/latest/projects/{projectKey}/repos/{repositorySlug}/ssh', paged: true, query: ['start', 'limit'] },
  { template: '/access-tokens/latest/projects/{projectKey}', paged: true, query: ['start', 'limit'] },
  { template: '/access-tokens/latest/projects/{projectKey}/repos/{repositorySlug}', paged: true, query: ['start', 'limit'] },
  { template: '/access-tokens/latest/users/{userSlug}', paged: true, query: ['start', 'limit'] },
];

const COMPILED = DC_ROUTES.map((r) => ({
  route: r,
  regex: new RegExp(`^/rest${r.template.replace('/latest/', '/(?:latest|1\\.0)/').replace(/\{(\w+)\}/g, '([^/]+)')}/?$`),
  names: [...r.template.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string),
}));

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

/** Who a request acts as. Project and repository tokens act on their resource only. */
type Caller =
  | { kind: 'anonymous' }
  | { kind: 'user'; user: DcUser; credential: string; token: DcAccessToken | null }
  | { kind: 'project-token'; token: DcAccessToken; projectKey: string; credential: string }
  | { kind: 'repository-token'; token: DcAccessToken; repositoryId: number; credential: string };

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly exceptionName: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const NOT_PERMITTED = 'com.atlassian.bitbucket.AuthorisationException';
const notPermitted = (what: string): HttpError => new HttpError(401, `You are not permitted to access this resource (${what})`, NOT_PERMITTED);
const notFound = (message: string, exception = 'com.atlassian.bitbucket.project.NoSuchProjectException'): HttpError => new HttpError(404, message, exception);

export async function startDcSimulator(options: DcSimulatorOptions = {}): Promise<DcSimulator> {
  const clock = options.clock ?? createClock();
  const { instance: inst, credentials } = generateInstance(options.profile ?? 'small', options.seed ?? 1);
  const maxLimit = options.maxLimit ?? 1000;
  const rateLimit = options.rateLimit ?? false;
  const faults = new DcFaultEngine();
  if (options.faults) faults.add(options.faults);
  let truthCache: TruthAccess[] | null = null;
  const mutate = createMutations(inst, () => {
    truthCache = null;
  });
  const credentialName = new Map<string, DcCredentialName>();
  for (const [name, c] of Object.entries(credentials) as Array<[DcCredentialName, DcSimCredentials[DcCredentialName]]>) {
    credentialName.set(c.kind === 'basic' ? `basic:${c.username}:${c.password}` : `bearer:${c.token}`, name);
  }
  const tokenBySecret = (): Map<string, DcAccessToken> => new Map([...inst.tokens.values()].map((t) => [t.secret, t]));
  const buckets = new Map<string, { tokens: number; at: number }>();
  let stats: DcSimStats = fresh();
  const userBySlug = (slug: string): DcUser | undefined => {
    for (const u of inst.users.values()) if (u.slug === slug.toLowerCase()) return u;
    return undefined;
  };

  // ─── Authentication ─────────────────────────────────────────────────────────────────────
  function authenticate(header: string | undefined): Caller {
    if (!header) return { kind: 'anonymous' };
    const [scheme, value = ''] = header.split(/\s+/, 2);
    const rejected = (why: string): HttpError =>
      new HttpError(401, `Authentication failed. Please check your credentials and try again. (${why})`, 'com.atlassian.bitbucket.auth.IncorrectPasswordAuthenticationException', { 'www-authenticate': 'Basic realm="Bitbucket"' });
    const fromToken = (t: DcAccessToken | undefined, name: string): Caller => {
      if (!t) throw rejected('unknown or revoked token');
      if (t.expiryDate !== null && t.expiryDate <= clock.now()) throw rejected('the token expired');
      if (t.owner.kind === 'project') return { kind: 'project-token', token: t, projectKey: t.owner.projectKey, credential: name };
      if (t.owner.kind === 'repository') return { kind: 'repository-token', token: t, repositoryId: t.owner.repositoryId, credential: name };
      const u = inst.users.get(t.owner.userId);
      if (!u || !u.active) throw rejected('the token owner is inactive');
      return { kind: 'user', user: u, credential: name, token: t };
    };
    if (scheme?.toLowerCase() === 'bearer') return fromToken(tokenBySecret().get(value), credentialName.get(`bearer:${value}`) ?? 'unknown');
    if (scheme?.toLowerCase() === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const username = decoded.slice(0, colon);
      const secret = decoded.slice(colon + 1);
      const name = credentialName.get(`basic:${username}:${secret}`) ?? 'unknown';
      const u = [...inst.users.values()].find((x) => x.name === username);
      if (!u || !u.active) throw rejected('unknown or inactive user');
      if (inst.passwords.get(u.name) === secret) return { kind: 'user', user: u, credential: name, token: null };
      // A personal access token works as the password of its owner.
      const t = tokenBySecret().get(secret);
      if (t?.owner.kind === 'user' && t.owner.userId === u.id) return fromToken(t, name);
      throw rejected('wrong password');
    }
    throw rejected(`unsupported scheme ${scheme}`);
  }

  // ─── Permissions, as Data Center decides them ───────────────────────────────────────────
  const globalRank = (c: Caller): number => (c.kind === 'user' ? rank(GLOBAL_PERMISSIONS, globalPermissionOf(inst, c.user.id)) : 0);
  const isAdmin = (c: Caller): boolean => globalRank(c) >= 3;
  function projectRank(c: Caller, p: DcProject): number {
    if (c.kind === 'project-token') return c.projectKey === p.key ? Math.max(...c.token.permissions.map((x) => rank(PROJECT_PERMISSIONS, x as never)), 1) : 0;
    if (c.kind !== 'user') return 0;
    if (isAdmin(c)) return 4;
    if (p.type === 'PERSONAL') return p.ownerId === c.user.id ? 4 : 0;
    let best = rank(PROJECT_PERMISSIONS, inst.projectUsers.get(p.key)?.get(c.user.id));
    for (const [g, perm] of inst.projectGroups.get(p.key) ?? []) if (inst.groups.get(g)?.members.has(c.user.id)) best = Math.max(best, rank(PROJECT_PERMISSIONS, perm));
    if (p.defaultPermission && globalRank(c) >= 1) best = Math.max(best, rank(PROJECT_PERMISSIONS, p.defaultPermission));
    return best;
  }
  /** 0 none, 1 read, 2 write, 3 admin. Public access is read for anyone. */
  function repoRank(c: Caller, r: DcRepository): number {
    const p = inst.projects.get(r.projectKey) as DcProject;
    const publicRead = r.public || p.public ? 1 : 0;
    if (c.kind === 'repository-token') return c.repositoryId === r.id ? Math.max(...c.token.permissions.map((x) => rank(REPOSITORY_PERMISSIONS, x as never)), 1) : publicRead;
    if (c.kind === 'project-token') {
      if (c.projectKey !== r.projectKey) return publicRead;
      const repo = Math.max(0, ...c.token.permissions.map((x) => rank(REPOSITORY_PERMISSIONS, x as never)));
      return Math.max(repo, [0, 1, 2, 2, 3][projectRank(c, p)] ?? 0, publicRead);
    }
    if (c.kind !== 'user') return publicRead;
    let best = Math.max(publicRead, [0, 1, 2, 2, 3][projectRank(c, p)] ?? 0, rank(REPOSITORY_PERMISSIONS, inst.repoUsers.get(r.id)?.get(c.user.id)));
    for (const [g, perm] of inst.repoGroups.get(r.id) ?? []) if (inst.groups.get(g)?.members.has(c.user.id)) best = Math.max(best, rank(REPOSITORY_PERMISSIONS, perm));
    return best;
  }
  const requireLicensed = (c: Caller): void => {
    if (c.kind === 'anonymous') throw new HttpError(401, 'Authentication required', 'com.atlassian.bitbucket.AuthenticationRequiredException');
    if (c.kind === 'user' && globalRank(c) < 1) throw notPermitted('LICENSED_USER is required');
    if (c.kind !== 'user') throw notPermitted('a project or repository token cannot read users and groups');
  };
  const requireAdmin = (c: Caller): void => {
    requireLicensed(c);
    if (!isAdmin(c)) throw notPermitted('ADMIN or higher is required');
  };
  const projectOf = (key: string): DcProject => {
    const p = inst.projects.get(key) ?? inst.projects.get(key.toUpperCase());
    if (!p) throw notFound(`Project ${key} does not exist.`);
    return p;
  };
  const repoOf = (key: string, slug: string): DcRepository => {
    projectOf(key);
    const r = repositoryBySlug(inst, key, slug);
    if (!r) throw notFound(`Repository ${key}/${slug} does not exist.`, 'com.atlassian.bitbucket.repository.NoSuchRepositoryException');
    return r;
  };

  // ─── Rendering (shapes from the spec's components) ─────────────────────────────────────
  let base = '';
  const link = (href: string): JsonObject => ({ self: [{ href }] });
  const userJson = (u: DcUser): JsonObject => ({
    name: u.name,
    emailAddress: u.emailAddress,
    active: u.active,
    displayName: u.displayName,
    id: u.id,
    slug: u.slug,
    type: u.type,
    links: link(`${base}/users/${u.slug}`),
  });
  const detailedUserJson = (u: DcUser): JsonObject => ({
    ...userJson(u),
    directoryName: u.directoryName,
    deletable: true,
    mutableDetails: u.directoryName === 'Bitbucket Internal Directory',
    mutableGroups: u.directoryName === 'Bitbucket Internal Directory',
    ...(u.lastAuthenticationTimestamp !== null ? { lastAuthenticationTimestamp: u.lastAuthenticationTimestamp } : {}),
  });
  const projectJson = (p: DcProject): JsonObject => {
    const owner = p.ownerId !== null ? inst.users.get(p.ownerId) : undefined;
    return {
      key: p.key,
      id: p.id,
      name: p.name,
      ...(p.description !== null ? { description: p.description } : {}),
      public: p.public,
      type: p.type,
      ...(owner ? { owner: userJson(owner) } : {}),
      links: link(p.type === 'PERSONAL' && owner ? `${base}/users/${owner.slug}` : `${base}/projects/${p.key}`),
    };
  };
  const repoJson = (r: DcRepository): JsonObject => {
    const p = inst.projects.get(r.projectKey) as DcProject;
    return {
      slug: r.slug,
      id: r.id,
      name: r.name,
      ...(r.description !== null ? { description: r.description } : {}),
      hierarchyId: r.hierarchyId,
      scmId: 'git',
      state: 'AVAILABLE',
      statusMessage: 'Available',
      forkable: true,
      project: projectJson(p),
      public: r.public,
      archived: r.archived,
      links: {
        clone: [
          { href: `${base}/scm/${p.key.toLowerCase()}/${r.slug}.git`, name: 'http' },
          { href: `ssh://git@127.0.0.1:7999/${p.key.toLowerCase()}/${r.slug}.git`, name: 'ssh' },
        ],
        self: [{ href: `${base}/projects/${p.key}/repos/${r.slug}/browse` }],
      },
    };
  };
  const iso = (ms: number): string => new Date(ms).toISOString();
  const keyJson = (id: number, withResource: 'project' | 'repository'): JsonObject => {
    const k = inst.accessKeys.get(id);
    if (!k) return {};
    const r = k.repositoryId !== null ? inst.repositories.get(k.repositoryId) : undefined;
    return {
      key: {
        id: k.id,
        text: k.text,
        label: k.label,
        algorithmType: k.algorithmType,
        bitLength: k.bitLength,
        fingerprint: k.fingerprint,
        createdDate: iso(k.createdDate),
        ...(k.lastAuthenticated !== null ? { lastAuthenticated: String(k.lastAuthenticated) } : {}),
      },
      ...(withResource === 'repository' && r ? { repository: repoJson(r) } : { project: projectJson(inst.projects.get(k.projectKey) as DcProject) }),
      permission: k.permission,
    };
  };
  const tokenJson = (t: DcAccessToken): JsonObject => {
    const owner = t.owner.kind === 'user' ? inst.users.get(t.owner.userId) : undefined;
    return {
      id: t.id,
      createdDate: iso(t.createdDate),
      name: t.name,
      permissions: t.permissions,
      ...(t.expiryDate !== null ? { expiryDate: iso(t.expiryDate), expiryDays: Math.max(1, Math.round((t.expiryDate - t.createdDate) / 86_400_000)) } : {}),
      ...(t.lastAuthenticated !== null ? { lastAuthenticated: iso(t.lastAuthenticated) } : {}),
      ...(owner ? { user: userJson(owner) } : {}),
    };
  };

  // ─── Paging ────────────────────────────────────────────────────────────────────────────
  interface PageOpts {
    query: URLSearchParams;
    fault: DcActiveFault[];
  }
  function page<T>(items: readonly T[], render: (t: T) => JsonObject, opts: PageOpts): JsonObject {
    const startRaw = opts.query.get('start') ?? '0';
    const limitRaw = opts.query.get('limit') ?? '25';
    const start = Number(startRaw);
    const asked = Number(limitRaw);
    if (!/^\d+$/.test(startRaw) || !/^\d+$/.test(limitRaw) || asked < 1) throw new HttpError(400, 'start must be >= 0 and limit >= 1', 'com.atlassian.bitbucket.validation.ArgumentValidationException');
    const limit = Math.min(asked, maxLimit);
    let from = start;
    // `repeat`: a page after the first serves the previous page's items again.
    if (opts.fault.some((f) => f.kind === 'repeat')) from = Math.max(0, start - limit);
    const slice = items.slice(from, from + limit);
    const isLastPage = from + limit >= items.length;
    const out: JsonObject = { size: slice.length, limit, isLastPage, start, values: slice.map(render) };
    if (!isLastPage) out.nextPageStart = opts.fault.some((f) => f.kind === 'loop') ? 0 : start + slice.length;
    return out;
  }

  // ─── Routes ────────────────────────────────────────────────────────────────────────────
  function answer(route: DcRoute, params: Record<string, string>, query: URLSearchParams, c: Caller, fired: DcActiveFault[]): JsonObject {
    const po = { query, fault: fired };
    const filter = (query.get('filter') ?? '').toLowerCase();
    const byFilter = (u: DcUser): boolean => filter === '' || u.name.toLowerCase().includes(filter) || u.displayName.toLowerCase().includes(filter) || u.emailAddress.toLowerCase().includes(filter);
    const sortedUsers = (): DcUser[] => [...inst.users.values()].filter(byFilter).sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id);
    const groupNames = (): string[] => [...inst.groups.keys()].filter((g) => filter === '' || g.includes(filter)).sort();
    switch (route.template) {
      case '/api/latest/application-properties':
        return { version: '9.2.3', buildNumber: '9002003', buildDate: '1727740800000', displayName: inst.displayName };
      case '/api/latest/users/{userSlug}': {
        if (c.kind === 'anonymous') throw new HttpError(401, 'Authentication required', 'com.atlassian.bitbucket.AuthenticationRequiredException');
        const u = userBySlug(params.userSlug ?? '');
        if (!u) throw notFound(`User ${params.userSlug} does not exist.`, 'com.atlassian.bitbucket.user.NoSuchUserException');
        return userJson(u);
      }
      case '/api/latest/admin/users':
        requireLicensed(c);
        return page(sortedUsers(), detailedUserJson, po);
      case '/api/latest/admin/groups':
        requireLicensed(c);
        return page(groupNames(), (name) => ({ name, deletable: true }), po);
      case '/api/latest/admin/groups/more-members': {
        requireLicensed(c);
        const g = inst.groups.get(query.get('context') ?? '');
        if (!g) throw notFound(`Group ${query.get('context')} does not exist.`, 'com.atlassian.bitbucket.user.NoSuchGroupException');
        const members = [...g.members].map((id) => inst.users.get(id)).filter((u): u is DcUser => !!u && byFilter(u)).sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id);
        return page(members, detailedUserJson, po);
      }
      case '/api/latest/admin/permissions/users': {
        requireAdmin(c);
        const rows = [...inst.globalUsers].map(([id, p]) => ({ u: inst.users.get(id), p })).filter((x): x is { u: DcUser; p: (typeof x)["p"] } => !!x.u && byFilter(x.u)).sort((a, b) => a.u.name.localeCompare(b.u.name));
        return page(rows, ({ u, p }) => ({ user: userJson(u), permission: p }), po);
      }
      case '/api/latest/admin/permissions/groups': {
        requireAdmin(c);
        const rows = [...inst.globalGroups].filter(([g]) => filter === '' || g.includes(filter)).sort(([a], [b]) => a.localeCompare(b));
        return page(rows, ([name, p]) => ({ group: { name }, permission: p }), po);
      }
      case '/api/latest/projects': {
        if (c.kind === 'anonymous') return page([...inst.projects.values()].filter((p) => p.public && p.type === 'NORMAL'), projectJson, po);
        const visible = [...inst.projects.values()].filter((p) => p.type === 'NORMAL' && (p.public || projectRank(c, p) > 0 || [...inst.repositories.values()].some((r) => r.projectKey === p.key && repoRank(c, r) > 0)));
        return page(visible.sort((a, b) => a.key.localeCompare(b.key)), projectJson, po);
      }
      case '/api/latest/projects/{projectKey}/permissions/users':
      case '/api/latest/projects/{projectKey}/permissions/groups': {
        const p = projectOf(params.projectKey ?? '');
        if (projectRank(c, p) < 4 || c.kind !== 'user') throw notPermitted(`PROJECT_ADMIN on ${p.key} is required`);
        if (route.template.endsWith('/users')) {
          const rows = [...(inst.projectUsers.get(p.key) ?? [])].map(([id, perm]) => ({ u: inst.users.get(id) as DcUser, perm })).filter((x) => x.u && byFilter(x.u)).sort((a, b) => a.u.name.localeCompare(b.u.name));
          return page(rows, ({ u, perm }) => ({ user: userJson(u), permission: perm }), po);
        }
        const rows = [...(inst.projectGroups.get(p.key) ?? [])].sort(([a], [b]) => a.localeCompare(b));
        return page(rows, ([name, perm]) => ({ group: { name }, permission: perm }), po);
      }
      case '/api/latest/projects/{projectKey}/permissions/{permission}/all': {
        const p = projectOf(params.projectKey ?? '');
        const permission = params.permission ?? '';
        if (!(PROJECT_PERMISSIONS as readonly string[]).includes(permission)) throw new HttpError(400, `${permission} is not a project permission`, 'com.atlassian.bitbucket.validation.ArgumentValidationException');
        if (projectRank(c, p) < 4 || c.kind !== 'user') throw notPermitted(`PROJECT_ADMIN on ${p.key} is required`);
        return { permitted: p.defaultPermission !== null && rank(PROJECT_PERMISSIONS, p.defaultPermission) >= rank(PROJECT_PERMISSIONS, permission as never) };
      }
      case '/api/latest/repos': {
        const visible = [...inst.repositories.values()].filter((r) => repoRank(c, r) > 0).sort((a, b) => a.id - b.id);
        return page(visible, repoJson, po);
      }
      case '/api/latest/projects/{projectKey}/repos/{repositorySlug}/permissions/users':
      case '/api/latest/projects/{projectKey}/repos/{repositorySlug}/permissions/groups': {
        const r = repoOf(params.projectKey ?? '', params.repositorySlug ?? '');
        if (repoRank(c, r) < 3 || c.kind !== 'user') throw notPermitted(`REPO_ADMIN on ${r.projectKey}/${r.slug} is required`);
        if (route.template.endsWith('/users')) {
          const rows = [...(inst.repoUsers.get(r.id) ?? [])].map(([id, perm]) => ({ u: inst.users.get(id) as DcUser, perm })).filter((x) => x.u && byFilter(x.u)).sort((a, b) => a.u.name.localeCompare(b.u.name));
          return page(rows, ({ u, perm }) => ({ user: userJson(u), permission: perm }), po);
        }
        const rows = [...(inst.repoGroups.get(r.id) ?? [])].sort(([a], [b]) => a.localeCompare(b));
        return page(rows, ([name, perm]) => ({ group: { name }, permission: perm }), po);
      }
      case '/keys/latest/projects/{projectKey}/ssh': {
        const p = projectOf(params.projectKey ?? '');
        if (projectRank(c, p) < 4 || c.kind !== 'user') throw notPermitted(`PROJECT_ADMIN on ${p.key} is required`);
        const ids = [...inst.accessKeys.values()].filter((k) => k.projectKey === p.key && k.repositoryId === null).map((k) => k.id);
        return page(ids, (id) => keyJson(id, 'project'), po);
      }
      case '/keys/latest/projects/{projectKey}/repos/{repositorySlug}/ssh': {
        const r = repoOf(params.projectKey ?? '', params.repositorySlug ?? '');
        if (repoRank(c, r) < 3 || c.kind !== 'user') throw notPermitted(`REPO_ADMIN on ${r.projectKey}/${r.slug} is required`);
        const ids = [...inst.accessKeys.values()].filter((k) => k.repositoryId === r.id).map((k) => k.id);
        return page(ids, (id) => keyJson(id, 'repository'), po);
      }
      case '/access-tokens/latest/projects/{projectKey}': {
        const p = projectOf(params.projectKey ?? '');
        if (projectRank(c, p) < 4 || c.kind !== 'user') throw notPermitted(`PROJECT_ADMIN on ${p.key} is required`);
        return page([...inst.tokens.values()].filter((t) => t.owner.kind === 'project' && t.owner.projectKey === p.key), tokenJson, po);
      }
      case '/access-tokens/latest/projects/{projectKey}/repos/{repositorySlug}': {
        const r = repoOf(params.projectKey ?? '', params.repositorySlug ?? '');
        if (repoRank(c, r) < 3 || c.kind !== 'user') throw notPermitted(`REPO_ADMIN on ${r.projectKey}/${r.slug} is required`);
        return page([...inst.tokens.values()].filter((t) => t.owner.kind === 'repository' && t.owner.repositoryId === r.id), tokenJson, po);
      }
      case '/access-tokens/latest/users/{userSlug}': {
        const u = userBySlug(params.userSlug ?? '');
        if (!u) throw notFound(`User ${params.userSlug} does not exist.`, 'com.atlassian.bitbucket.user.NoSuchUserException');
        if (c.kind !== 'user' || (c.user.id !== u.id && !isAdmin(c))) throw notPermitted(`ADMIN is required to list ${u.slug}'s tokens`);
        return page([...inst.tokens.values()].filter((t) => t.owner.kind === 'user' && t.owner.userId === u.id), tokenJson, po);
      }
    }
    throw notFound('There is no REST resource here', 'com.atlassian.bitbucket.NotFoundException');
  }

  // ─── Rate limiting: a token bucket per user (or per project/repository token) ───────────
  function takeToken(key: string): { ok: true } | { ok: false; retryAfter: number } {
    if (!rateLimit) return { ok: true };
    const now = clock.now();
    const b = buckets.get(key) ?? { tokens: rateLimit.bucketSize, at: now };
    b.tokens = Math.min(rateLimit.bucketSize, b.tokens + ((now - b.at) / 1000) * rateLimit.refillPerSecond);
    b.at = now;
    buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfter: Math.max(1, Math.ceil((1 - b.tokens) / rateLimit.refillPerSecond)) };
  }

  // ─── Server ────────────────────────────────────────────────────────────────────────────
  const send = (res: http.ServerResponse, status: number, body: Json, headers: Record<string, string> = {}): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8', 'content-length': String(Buffer.byteLength(text)), ...headers });
    res.end(text);
  };
  const errorBody = (e: HttpError): JsonObject => ({ errors: [{ message: e.message, exceptionName: e.exceptionName }] });

  async function control(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): Promise<void> {
    const readBody = async (): Promise<Record<string, unknown>> => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const text = Buffer.concat(chunks).toString('utf8');
      return text ? (JSON.parse(text) as Record<string, unknown>) : {};
    };
    try {
      if (pathname === '/__sim/health') return send(res, 200, { ok: true });
      if (pathname === '/__sim/stats') return send(res, 200, stats as unknown as Json);
      if (pathname === '/__sim/truth') return send(res, 200, { displayName: inst.displayName, summary: summary(inst) } as unknown as Json);
      const t = /^\/__sim\/truth\/(\w+)$/.exec(pathname);
      if (t) {
        const fn = truth[t[1] as keyof DcGroundTruth];
        if (typeof fn !== 'function') return send(res, 404, { error: `no truth ${t[1]}` });
        return send(res, 200, (fn as () => unknown)() as Json);
      }
      if (pathname === '/__sim/faults') {
        if (req.method === 'GET') return send(res, 200, faults.list() as unknown as Json);
        if (req.method === 'DELETE') {
          faults.clear();
          return send(res, 200, { ok: true });
        }
        const body = await readBody();
        return send(res, 200, { ids: faults.add((body.spec ?? body.faults ?? body) as string) });
      }
      if (pathname === '/__sim/mutate' && req.method === 'POST') {
        const body = await readBody();
        const op = mutate[body.op as keyof DcMutations] as ((...a: unknown[]) => unknown) | undefined;
        if (typeof op !== 'function') return send(res, 400, { ok: false, error: `unknown op ${JSON.stringify(body.op)}; ops: ${Object.keys(mutate).join(', ')}` });
        return send(res, 200, { ok: true, result: (op(...((body.args as unknown[]) ?? [])) ?? null) as Json });
      }
      if (pathname === '/__sim/clock/advance' && req.method === 'POST') {
        const body = await readBody();
        const c = clock as SimClock & { advance?: (ms: number) => void };
        if (!c.advance) return send(res, 400, { ok: false, error: 'this clock cannot be advanced' });
        c.advance(Number(body.ms));
        return send(res, 200, { ok: true, now: clock.now() });
      }
      return send(res, 404, { error: 'unknown control path' });
    } catch (e) {
      return send(res, 400, { ok: false, error: e instanceof Error ? e.message : String(e) });
    }
  }

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) send(res, 500, { errors: [{ message: String(e), exceptionName: 'java.lang.RuntimeException' }] });
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const pathname = url.pathname;
    if (pathname.startsWith('/__sim/')) return control(req, res, pathname);
    stats.requests++;
    const count = (status: number, cred: string): void => {
      stats.byStatus[status] = (stats.byStatus[status] ?? 0) + 1;
      stats.perCredential[cred] = (stats.perCredential[cred] ?? 0) + 1;
    };
    let caller: Caller;
    try {
      caller = authenticate(req.headers.authorization);
    } catch (e) {
      const err = e as HttpError;
      count(err.status, 'unknown');
      return send(res, err.status, errorBody(err), err.headers);
    }
    const credential = caller.kind === 'anonymous' ? 'anonymous' : caller.credential;
    const matched = COMPILED.map((c) => ({ c, m: c.regex.exec(pathname) })).find((x) => x.m);
    const params: Record<string, string> = {};
    if (matched?.m) matched.c.names.forEach((n, i) => (params[n] = decodeURIComponent(matched.m?.[i + 1] ?? '')));
    const repo = params.projectKey && params.repositorySlug ? `${params.projectKey}/${params.repositorySlug}` : null;
    const fired = faults.evaluate({ path: pathname, credential, repo, start: Number(url.searchParams.get('start') ?? 0) });
    if (matched) stats.byRoute[`GET ${matched.c.route.template}`] = (stats.byRoute[`GET ${matched.c.route.template}`] ?? 0) + 1;

    const bucketKey = caller.kind === 'user' ? `user:${caller.user.id}` : caller.kind === 'anonymous' ? 'anonymous' : `token:${caller.token.id}`;
    const taken = takeToken(bucketKey);
    if (!taken.ok && rateLimit) {
      stats.responses429++;
      count(429, credential);
      return send(res, 429, { errors: [{ message: 'You have been rate limited. Please wait before making further requests.', exceptionName: 'com.atlassian.bitbucket.ratelimit.RateLimitedException' }] }, {
        'retry-after': String(taken.retryAfter),
        'x-ratelimit-limit': String(rateLimit.bucketSize),
        'x-ratelimit-interval-seconds': '1',
        'x-ratelimit-fillrate': String(rateLimit.refillPerSecond),
      });
    }
    const headers: Record<string, string> = caller.kind === 'user' ? { 'x-ausername': caller.user.name, 'x-auserid': String(caller.user.id) } : {};
    for (const f of fired) {
      if (f.kind === 'slow') await new Promise((r) => setTimeout(r, f.ms ?? 0));
      if (f.kind === 'reset') {
        req.socket.destroy();
        return;
      }
      if (f.kind === 'revoke') {
        if (caller.kind !== 'anonymous' && caller.kind === 'user' && caller.token) inst.tokens.delete(caller.token.id);
        else if (caller.kind === 'project-token' || caller.kind === 'repository-token') inst.tokens.delete(caller.token.id);
        else if (caller.kind === 'user') inst.passwords.delete(caller.user.name);
        count(401, credential);
        return send(res, 401, errorBody(new HttpError(401, 'Authentication failed. Please check your credentials and try again.', 'com.atlassian.bitbucket.auth.IncorrectPasswordAuthenticationException')));
      }
      if (f.kind === '5xx') {
        const status = f.status ?? 500;
        count(status, credential);
        if (status === 429) {
          stats.responses429++;
          return send(res, 429, { errors: [{ message: 'You have been rate limited. Please wait before making further requests.', exceptionName: 'com.atlassian.bitbucket.ratelimit.RateLimitedException' }] }, { 'retry-after': '1' });
        }
        if (status === 502 || status === 503 || status === 504) {
          const html = `<html><head><title>${status}</title></head><body>proxy error</body></html>`;
          res.writeHead(status, { 'content-type': 'text/html', 'content-length': String(html.length) });
          return void res.end(html);
        }
        return send(res, status, errorBody(new HttpError(status, 'An internal error occurred', 'java.lang.IllegalStateException')));
      }
      if (f.kind === 'forbid') {
        count(401, credential);
        return send(res, 401, errorBody(notPermitted('forbidden by a fault')), headers);
      }
    }
    if (!matched) {
      count(404, credential);
      return send(res, 404, errorBody(notFound('There is no REST resource here', 'com.sun.jersey.api.NotFoundException')), headers);
    }
    let body: JsonObject;
    try {
      body = answer(matched.c.route, params, url.searchParams, caller, fired);
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      count(e.status, credential);
      return send(res, e.status, errorBody(e), { ...headers, ...e.headers });
    }
    count(200, credential);
    const text = JSON.stringify(body);
    if (fired.some((f) => f.kind === 'malformed')) {
      const cut = `${text.slice(0, Math.floor(text.length * 0.6))}<!-- junk`;
      res.writeHead(200, { 'content-type': 'application/json;charset=UTF-8', 'content-length': String(Buffer.byteLength(cut)) });
      return void res.end(cut);
    }
    if (fired.some((f) => f.kind === 'truncate')) {
      res.writeHead(200, { 'content-type': 'application/json;charset=UTF-8', 'content-length': String(Buffer.byteLength(text)) });
      res.write(text.slice(0, Math.floor(text.length / 2)));
      setImmediate(() => req.socket.destroy());
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json;charset=UTF-8', 'content-length': String(Buffer.byteLength(text)), ...headers });
    res.end(text);
  }

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `http://127.0.0.1:${port}`;
  base = baseUrl;

  const truth: DcGroundTruth = {
    instance: inst,
    effectiveAccess: () => (truthCache ??= effectiveAccess(inst)),
    publicRepositories: () => publicRepositories(inst),
    licensedUsers: () => licensedUsers(inst),
    summary: () => summary(inst),
  };
  return {
    baseUrl,
    credentials,
    truth,
    mutate,
    faults: { add: (s) => faults.add(s), clear: (id) => faults.clear(id), list: () => faults.list() },
    clock,
    stats: () => ({ ...stats, faultsFired: faults.fired }),
    resetStats: () => {
      stats = fresh();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function fresh(): DcSimStats {
  return { requests: 0, byRoute: {}, byStatus: {}, perCredential: {}, responses429: 0, faultsFired: 0 };
}

export { DcMutationError };
