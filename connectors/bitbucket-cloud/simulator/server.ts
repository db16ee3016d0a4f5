/**
 * The loopback HTTP server. One request goes: count → authenticate (identify only) → faults →
 * reject bad credentials → rate limit → route → scopes → workspace → handler → paginate →
 * partial response → body faults → headers.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { QueryError } from './bbql.ts';
import { createClock } from './clock.ts';
import { ANONYMOUS, CredentialStore, MESSAGES, missingScopes } from './credentials.ts';
import { FaultEngine } from './faults.ts';
import { parseFields } from './fields.ts';
import { generateWorkspace } from './generate.ts';
import { isProfile } from './profiles.ts';
import { RateLimiter, scaledLimit } from './rate-limit.ts';
import { type Json, type JsonObject, Renderer } from './render.ts';
import { type Outcome, ROUTES, type Route, type RouteContext, compileRoutes } from './routes.ts';
import { Random } from './random.ts';
import { type OrgSimulator, createOrgSimulator } from '../../atlassian-org/simulator/index.ts';
import type {
  ActiveFault,
  ControllableClock,
  SimClock,
  SimCredentialName,
  SimMutations,
  SimStats,
  Simulator,
  SimulatorOptions,
  WorkspaceRole,
} from './types.ts';
import { SimError, Workspace, slugify, toSimDeployKey, toSimProject, toSimRepo, toSimUser } from './workspace.ts';

const COMPILED = compileRoutes(ROUTES);
const TOKEN_PATH = '/site/oauth2/access_token';
const RATE_LIMIT_BODY = 'Rate limit for this resource has been exceeded';
const COMMA = Buffer.from(',');

/** Extra control the simulator offers tests beyond the `Simulator` contract. */
export interface SimulatorInternals {
  /** Issues another access token (e.g. a workspace token that holds `account`). */
  issueAccessToken: CredentialStore['issueAccessToken'];
  /** Issues another Atlassian API token (e.g. one missing a scope). */
  issueApiToken: CredentialStore['issueApiToken'];
  workspaceModel: Workspace;
  routes: readonly Route[];
  /** The Atlassian organization that manages the workspace's accounts, served under `/admin/` (see connectors/atlassian-org/simulator). */
  org: OrgSimulator;
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator & SimulatorInternals> {
  const profile = opts.profile ?? 'small';
  if (!isProfile(profile)) throw new Error(`unknown profile ${JSON.stringify(profile)}; use small, medium, large or enterprise`);
  const seed = opts.seed ?? 1;
  const clock: SimClock = opts.clock ?? createClock();
  const rateLimit = opts.rateLimit === undefined ? { perHour: 1000 } : opts.rateLimit;
  if (rateLimit && !(rateLimit.perHour > 0)) throw new Error(`rateLimit.perHour must be positive, got ${rateLimit.perHour}`);

  const { workspace: ws, anchors } = generateWorkspace(profile, seed, () => clock.now());
  if (opts.reportedPermissions) ws.setReportedReading(opts.reportedPermissions);
  const anonymousPerHour = rateLimit ? (rateLimit.anonymousPerHour ?? 60) : 0;
  if (rateLimit && !(anonymousPerHour > 0)) throw new Error(`rateLimit.anonymousPerHour must be positive, got ${anonymousPerHour}`);
  const store = new CredentialStore(ws, anchors, seed, clock, {
    appPasswords: opts.appPasswords ?? 'disabled',
    oauthTtlSeconds: opts.oauthAccessTokenTtlSeconds ?? 7200,
  });
  const faults = new FaultEngine();
  if (opts.faults) faults.add(opts.faults);
  const limiter = new RateLimiter(clock);
  const mutationRng = new Random(seed * 97 + 5);
  const accountIdOf = new Map(ws.users.map((u) => [u.uuid, u.accountId]));
  const org = createOrgSimulator({
    workspace: ws.info.slug,
    users: ws.users.map((u) => ({ accountId: u.accountId, displayName: u.displayName, email: u.email })),
    // The directory mirrors the workspace's groups as they are when the simulator starts.
    workspaceGroups: ws.groups.map((g) => ({ name: g.name, memberAccountIds: [...g.members].map((uuid) => accountIdOf.get(uuid)).filter((a): a is string => a !== undefined) })),
    seed,
    now: () => clock.now(),
    ...(opts.orgPageSize !== undefined ? { pageSize: opts.orgPageSize } : {}),
  });

  let stats = emptyStats();
  const memo = new Map<string, unknown>();
  let memoVersion = -1;
  const memoize = <T>(key: string, build: () => T): T => {
    if (memoVersion !== ws.version) {
      memo.clear();
      memoVersion = ws.version;
    }
    if (memo.size > 2000) memo.clear();
    if (memo.has(key)) return memo.get(key) as T;
    const value = build();
    memo.set(key, value);
    return value;
  };

  // Rendered pages by credential and URL, until the workspace changes: repeated reads (several
  // syncs against one simulator, the bench) skip the rendering. Bounded by total bytes.
  const pageCache = new Map<string, Buffer>();
  let pageCacheVersion = -1;
  let pageCacheBytes = 0;
  const PAGE_CACHE_MAX_BYTES = 64 * 1024 * 1024;
  const cachedPage = (key: string): Buffer | undefined => {
    if (pageCacheVersion !== ws.version) {
      pageCache.clear();
      pageCacheBytes = 0;
      pageCacheVersion = ws.version;
    }
    return pageCache.get(key);
  };
  const storePage = (key: string, body: Buffer): void => {
    if (body.length > PAGE_CACHE_MAX_BYTES / 8) return;
    pageCache.set(key, body);
    pageCacheBytes += body.length;
    for (const [k, v] of pageCache) {
      if (pageCacheBytes <= PAGE_CACHE_MAX_BYTES) break;
      pageCache.delete(k);
      pageCacheBytes -= v.length;
    }
  };

  const sockets = new Set<Socket>();
  // Filled once listening: links must carry the real port.
  let render: Renderer | null = null;
  let baseUrl = '';

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) finish(res, 500, {}, errorBody('Internal simulator error', String(error instanceof Error ? error.stack : error)));
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const rawUrl = req.url ?? '/';
    const qIndex = rawUrl.indexOf('?');
    const pathname = qIndex < 0 ? rawUrl : rawUrl.slice(0, qIndex);
    const query = new URLSearchParams(qIndex < 0 ? '' : rawUrl.slice(qIndex + 1));
    if (pathname.startsWith('/__sim/')) return control(req, res, pathname, query);
    // The Atlassian Administration API of the organization: its own credential, limits and errors.
    if (org.handle(req, res, pathname, query)) return;
    const method = req.method ?? 'GET';

    if (pathname === TOKEN_PATH) return tokenEndpoint(req, res, method);

    let route: Route | undefined;
    let params: Record<string, string> = {};
    for (const r of COMPILED) {
      const m = r.regex?.exec(pathname);
      if (m) {
        route = r;
        params = Object.fromEntries((r.paramNames ?? []).map((n, i) => [n, safeDecode(m[i + 1] ?? '')]));
        break;
      }
    }
    const routeKey = route ? `${route.method} ${route.template}` : `${method} (no route)`;
    stats.requests++;
    stats.byPath[routeKey] = (stats.byPath[routeKey] ?? 0) + 1;

    const auth = store.authenticate(req.headers.authorization);
    const principal = auth?.ok ? auth.principal : null;
    const credName = principal ? principal.name : auth ? 'unknown' : 'anonymous';
    stats.perCredential[credName] = (stats.perCredential[credName] ?? 0) + 1;

    const headers: Record<string, string> = {};
    if (route) headers['X-Accepted-OAuth-Scopes'] = route.classicScopes.join(', ');
    if (principal && principal.scopeSystem === 'classic') headers['X-OAuth-Scopes'] = principal.scopes.join(', ');

    // ─── Faults that act before anything else ─────────────────────────────────────
    // `forbid` names a repository by slug or uuid; the request may address it either way.
    const permissionRepoRef = route?.permissionRepoParam ? (params[route.permissionRepoParam] ?? null) : null;
    const permissionRepo = permissionRepoRef === null ? undefined : ws.findRepo(permissionRepoRef);
    const fired = faults.evaluate({
      path: pathname,
      credential: principal?.name ?? null,
      permissionRepoSlug: permissionRepo?.slug ?? permissionRepoRef,
      permissionRepoUuid: permissionRepo?.uuid ?? null,
      page: Number(query.get('page') ?? 1) || 1,
    });
    const has = (kind: ActiveFault['kind']): ActiveFault | undefined => fired.find((f) => f.kind === kind);
    stats.faultsFired += fired.length;
    const slow = has('slow');
    if (slow) await new Promise((r) => setTimeout(r, slow.ms ?? 0));
    if (has('reset')) {
      req.socket.destroy();
      return;
    }
    const revoke = has('revoke');
    if (revoke) {
      const target = revoke.credential ?? principal?.name;
      if (target) store.revoke(target as SimCredentialName);
      if (!revoke.credential || revoke.credential === principal?.name) {
        return finish(res, 401, headers, errorBody(principal?.kind === 'api-token' || principal?.kind === 'app-password' ? MESSAGES.invalidBasic : MESSAGES.invalidToken));
      }
    }
    const http5xx = has('5xx');
    if (http5xx) return sendFault(res, http5xx.status ?? 500, headers);

    // ─── Method, route, authentication ────────────────────────────────────────────
    if (!route) return finish(res, 404, headers, errorBody('Resource not found', 'There is no API hosted at this URL'));
    if (method !== 'GET' && method !== 'HEAD') return finish(res, 405, { ...headers, Allow: 'GET' }, errorBody(`Method ${method} is not allowed here; the simulator serves reads only.`));
    const unauthorized = (): void => finish(res, 401, { ...headers, 'WWW-Authenticate': 'Basic realm="Bitbucket.org HTTP"' }, errorBody(MESSAGES.unauthorized, 'This endpoint needs credentials.'));
    // Without credentials only public repositories are served (the `anonymous` routes).
    if (!auth && !route.anonymous) return unauthorized();
    if (auth && !auth.ok) return finish(res, 401, auth.message === MESSAGES.invalidBasic ? { ...headers, 'WWW-Authenticate': 'Basic realm="Bitbucket.org HTTP"' } : headers, errorBody(auth.message, auth.detail));
    const p = principal ?? ANONYMOUS;
    const anonymous = p === ANONYMOUS;

    // ─── Rate limit ───────────────────────────────────────────────────────────────
    // Every counted request carries `X-Request-Count` (what Bitbucket sends; Atlassian calls it an
    // internal metric): here, the requests counted against the credential's budget in the rolling
    // hour, this one included. Counted even with rate limiting off.
    const isAccessToken = p.binding !== null;
    {
      const scaledHere = rateLimit !== false && isAccessToken && route.repositoriesGroup && rateLimit.scaled === true;
      const limit = !rateLimit ? Number.POSITIVE_INFINITY : anonymous ? anonymousPerHour : scaledHere ? Math.max(rateLimit.perHour, scaledLimit(ws.users.length)) : rateLimit.perHour;
      // Unauthenticated calls share one budget (Bitbucket: per IP address; here every caller is 127.0.0.1).
      const key = anonymous ? 'anonymous' : `${p.user && p.kind !== 'oauth-client-credentials' ? `user:${p.user.uuid}` : `${p.kind}:${p.name}`}${scaledHere ? '|api' : ''}`;
      const decision = limiter.take(key, limit);
      headers['X-Request-Count'] = String(decision.used);
      // Bitbucket sends these to access tokens on the /2.0/repositories/* resource group only.
      if (rateLimit && isAccessToken && route.repositoriesGroup) {
        headers['X-RateLimit-Limit'] = String(limit);
        headers['X-RateLimit-Resource'] = 'api';
        headers['X-RateLimit-NearLimit'] = String(decision.remaining < limit * 0.2);
      }
      if (!decision.allowed) {
        stats.responses429++;
        if (rateLimit && rateLimit.retryAfter) headers['Retry-After'] = String(decision.retryAfterSeconds);
        return finishText(res, 429, headers, RATE_LIMIT_BODY);
      }
    }

    // ─── Scopes and credential rules ──────────────────────────────────────────────
    const missing = anonymous ? [] : missingScopes(p, route.classicScopes, route.granularScopes);
    if (missing.length > 0 || (isAccessToken && !route.accessTokens)) {
      const required = p.scopeSystem === 'granular' ? route.granularScopes : route.classicScopes;
      return finish(res, 403, headers, errorBody(MESSAGES.insufficientScopes, { required: [...required], granted: [...p.scopes] }));
    }

    // ─── Workspace ────────────────────────────────────────────────────────────────
    const wsRef = params.workspace;
    if (wsRef !== undefined) {
      const ok = route.specPath === null ? wsRef === ws.info.slug : wsRef.toLowerCase() === ws.info.slug || wsRef.toLowerCase() === ws.info.uuid.toLowerCase();
      if (!ok && anonymous) return unauthorized();
      if (!ok) return finish(res, 404, headers, route.specPath === null ? errorBody('Resource not found') : errorBody(`No workspace with identifier '${wsRef}'.`));
    }

    // ─── Forbid fault: 403 on one repository's permission listings ────────────────
    if (has('forbid')) return finish(res, 403, headers, errorBody(`You need admin access to ${ws.info.slug}/${params[route.permissionRepoParam ?? ''] ?? ''} to list its permissions.`));

    // ─── Handler ──────────────────────────────────────────────────────────────────
    const renderer = render as Renderer;
    const ctx: RouteContext = { ws, render: renderer, principal: p, params, query, memo: memoize };
    let outcome: Outcome;
    try {
      outcome = route.handle(ctx);
    } catch (error) {
      if (error instanceof QueryError) return finish(res, 400, headers, errorBody(error.message, error.detail));
      throw error;
    }
    for (const name of query.keys()) {
      if (!route.query.includes(name) && !(route.pagination && (name === 'page' || name === 'pagelen')) && name !== 'fields') {
        const k = `${routeKey}?${name}`;
        stats.ignoredParams[k] = (stats.ignoredParams[k] ?? 0) + 1;
      }
    }
    // Without credentials, anything that is not public answers as before: 401, revealing nothing.
    if (outcome.kind === 'error' && anonymous && (outcome.status === 403 || outcome.status === 404)) return unauthorized();
    if (outcome.kind === 'error') return finish(res, outcome.status, headers, errorBody(outcome.message, outcome.detail));

    let body: Buffer;
    if (outcome.kind === 'raw') {
      body = Buffer.from(outcome.json, 'utf8');
    } else if (outcome.kind === 'object') {
      const fields = query.get('fields');
      body = Buffer.from(JSON.stringify(fields ? parseFields(fields).apply(outcome.value) : outcome.value), 'utf8');
    } else {
      const loop = has('loop') !== undefined;
      const repeat = has('repeat') !== undefined;
      const cacheKey = `${p.name}\n${rawUrl}`;
      const hit = loop || repeat ? undefined : cachedPage(cacheKey);
      if (hit) {
        body = hit;
      } else {
        const built = buildPage(route, outcome, query, pathname, loop, repeat);
        if (!Buffer.isBuffer(built)) return finish(res, built.status, headers, errorBody(built.message));
        body = built;
        if (!loop && !repeat) storePage(cacheKey, body);
      }
    }

    if (has('malformed')) body = Buffer.concat([body.subarray(0, Math.max(1, Math.floor(body.length * 0.6))), Buffer.from('\u0000<!-- upstream proxy error -->')]);
    if (has('truncate')) {
      res.writeHead(200, { ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(body.length) });
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.destroy());
      countStatus(200);
      return;
    }
    return sendBytes(res, 200, headers, body, method === 'HEAD');
  }

  function buildPage(route: Route, outcome: Extract<Outcome, { kind: 'page' }>, query: URLSearchParams, pathname: string, loop: boolean, repeat: boolean): Buffer | { status: number; message: string } {
    const pagination = route.pagination ?? { default: 10, max: 100 };
    const rawPage = query.get('page');
    const rawLen = query.get('pagelen');
    const pageNum = rawPage === null ? 1 : Number(rawPage);
    if (!Number.isInteger(pageNum) || pageNum < 1) return { status: 400, message: `Invalid page: ${rawPage}` };
    let pagelen = pagination.default;
    if (rawLen !== null) {
      const n = Number(rawLen);
      if (!Number.isInteger(n) || n < 1) return { status: 400, message: `Invalid pagelen: ${rawLen}` };
      // Above the maximum Bitbucket serves the maximum; the envelope's `pagelen` says so.
      pagelen = Math.min(n, pagination.max);
    }
    const total = outcome.total;
    const start = (pageNum - 1) * pagelen;
    const items = repeat && pageNum > 1 ? outcome.slice(start - pagelen, start) : outcome.slice(start, start + pagelen);
    const link = (n: number): string => {
      const q = new URLSearchParams(query);
      q.set('page', String(n));
      return `${baseUrl}${pathname}?${q.toString()}`;
    };
    let next = start + pagelen < total ? link(pageNum + 1) : null;
    if (loop && (pageNum > 1 || next === null)) next = link(1);
    const previous = pageNum > 1 ? link(pageNum - 1) : null;
    const fields = query.get('fields');
    if (fields) {
      const obj: JsonObject = { pagelen, size: total, values: items.map((i) => i.obj), page: pageNum };
      if (next) obj.next = next;
      if (previous) obj.previous = previous;
      return Buffer.from(JSON.stringify(parseFields(fields).apply(obj)), 'utf8');
    }
    // Concatenate each entity's cached bytes: no re-serialisation, no re-encoding.
    const parts: Buffer[] = [Buffer.from(`{"pagelen":${pagelen},"size":${total},"values":[`)];
    items.forEach((item, i) => {
      if (i > 0) parts.push(COMMA);
      parts.push((item.buf ??= Buffer.from(item.json, 'utf8')));
    });
    let tail = `],"page":${pageNum}`;
    if (next) tail += `,"next":${JSON.stringify(next)}`;
    if (previous) tail += `,"previous":${JSON.stringify(previous)}`;
    parts.push(Buffer.from(`${tail}}`));
    return Buffer.concat(parts);
  }

  // ─── OAuth token endpoint ──────────────────────────────────────────────────────────

  async function tokenEndpoint(req: http.IncomingMessage, res: http.ServerResponse, method: string): Promise<void> {
    const key = `${method} ${TOKEN_PATH}`;
    stats.requests++;
    stats.byPath[key] = (stats.byPath[key] ?? 0) + 1;
    const fired = faults.evaluate({ path: TOKEN_PATH, credential: 'oauth', permissionRepoSlug: null, page: 1 });
    stats.faultsFired += fired.length;
    if (fired.some((f) => f.kind === 'reset')) {
      req.socket.destroy();
      return;
    }
    const revoke = fired.find((f) => f.kind === 'revoke');
    if (revoke) store.revoke(revoke.credential ?? 'oauth');
    const f5 = fired.find((f) => f.kind === '5xx');
    if (f5) return sendFault(res, f5.status ?? 500, {});
    if (method !== 'POST') return finish(res, 405, { Allow: 'POST' }, { error: 'invalid_request', error_description: 'Use POST' });
    const raw = await readBody(req);
    const type = req.headers['content-type'] ?? '';
    let form: URLSearchParams;
    if (type.includes('application/json')) {
      const parsed = safeJson(raw);
      form = new URLSearchParams(parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? Object.entries(parsed).map(([k, v]): [string, string] => [k, String(v)]) : []);
    } else {
      form = new URLSearchParams(raw);
    }
    const out = store.tokenEndpoint(req.headers.authorization, form);
    return finish(res, out.status, { 'Cache-Control': 'no-store' }, out.body as JsonObject);
  }

  // ─── Test control surface (not Bitbucket): /__sim/… ────────────────────────────────

  async function control(req: http.IncomingMessage, res: http.ServerResponse, pathname: string, query: URLSearchParams): Promise<void> {
    const method = req.method ?? 'GET';
    try {
      if (pathname === '/__sim/health') return finish(res, 200, {}, { ok: true });
      if (pathname === '/__sim/stats' && method === 'GET') return finish(res, 200, {}, stats as unknown as JsonObject);
      if (pathname === '/__sim/truth' && method === 'GET') return finish(res, 200, {}, { workspace: sim.truth.workspace, summary: sim.truth.summary() } as unknown as JsonObject);
      const truthMatch = /^\/__sim\/truth\/(\w+)$/.exec(pathname);
      if (truthMatch && method === 'GET') {
        const name = truthMatch[1] as keyof typeof sim.truth;
        const fn = sim.truth[name];
        if (typeof fn !== 'function') return finish(res, 404, {}, errorBody(`no truth view ${name}`));
        return finishRaw(res, 200, {}, JSON.stringify((fn as () => unknown)()), false);
      }
      if (pathname === '/__sim/faults') {
        if (method === 'GET') return finishRaw(res, 200, {}, JSON.stringify(faults.list()), false);
        if (method === 'POST') {
          const raw = await readBody(req);
          const parsed = raw.trim().startsWith('[') || raw.trim().startsWith('{') ? safeJson(raw) : raw;
          const ids = faults.add(parsed as string);
          return finishRaw(res, 200, {}, JSON.stringify({ ids }), false);
        }
        if (method === 'DELETE') {
          const id = query.get('id');
          faults.clear(id === null ? undefined : Number(id));
          return finish(res, 200, {}, { ok: true });
        }
      }
      if (pathname === '/__sim/mutate' && method === 'POST') {
        const parsed = safeJson(await readBody(req)) as { op?: string; args?: unknown[] } | null;
        const op = parsed?.op as keyof SimMutations | undefined;
        const fn = op ? sim.mutate[op] : undefined;
        if (!op || typeof fn !== 'function') return finish(res, 400, {}, errorBody(`unknown mutation ${JSON.stringify(op)}; ops: ${Object.keys(sim.mutate).join(', ')}`));
        const result = (fn as (...a: unknown[]) => unknown).apply(sim.mutate, parsed?.args ?? []);
        return finishRaw(res, 200, {}, JSON.stringify({ ok: true, result: result ?? null }), false);
      }
      if (pathname === '/__sim/reported-permissions') {
        // The reading of /workspaces/{ws}/permissions/repositories (see ReportedPermissionsReading).
        if (method === 'GET') return finish(res, 200, {}, { ...ws.reportedReading });
        if (method === 'POST') {
          const parsed = safeJson(await readBody(req));
          if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return finish(res, 400, {}, errorBody('send a JSON object: {"includeOwners":true|false,"includeProjectInherited":true|false}'));
          return finish(res, 200, {}, { ...ws.setReportedReading(parsed as Record<string, boolean>) });
        }
      }
      if (pathname === '/__sim/clock/advance' && method === 'POST') {
        const parsed = safeJson(await readBody(req)) as { ms?: number } | null;
        const c = clock as Partial<ControllableClock>;
        if (typeof c.advance !== 'function') return finish(res, 400, {}, errorBody('this clock cannot be advanced'));
        c.advance(Number(parsed?.ms ?? 0));
        return finish(res, 200, {}, { now: clock.now() });
      }
      return finish(res, 404, {}, errorBody(`no control endpoint ${method} ${pathname}`));
    } catch (error) {
      return finish(res, 400, {}, errorBody(error instanceof Error ? error.message : String(error)));
    }
  }

  // ─── Responses ─────────────────────────────────────────────────────────────────────

  function countStatus(status: number): void {
    stats.byStatus[String(status)] = (stats.byStatus[String(status)] ?? 0) + 1;
  }

  function finish(res: http.ServerResponse, status: number, headers: Record<string, string>, body: JsonObject): void {
    finishRaw(res, status, headers, JSON.stringify(body), false);
  }

  function finishRaw(res: http.ServerResponse, status: number, headers: Record<string, string>, body: string, headOnly: boolean): void {
    sendBytes(res, status, headers, Buffer.from(body, 'utf8'), headOnly);
  }

  function sendBytes(res: http.ServerResponse, status: number, headers: Record<string, string>, bytes: Buffer, headOnly: boolean): void {
    countStatus(status);
    res.writeHead(status, { ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(bytes.length) });
    res.end(headOnly ? undefined : bytes);
  }

  function finishText(res: http.ServerResponse, status: number, headers: Record<string, string>, body: string): void {
    countStatus(status);
    res.writeHead(status, { ...headers, 'Content-Type': 'text/plain', 'Content-Length': String(Buffer.byteLength(body)) });
    res.end(body);
  }

  function sendFault(res: http.ServerResponse, status: number, headers: Record<string, string>): void {
    if (status === 429) {
      stats.responses429++;
      return finishText(res, 429, headers, RATE_LIMIT_BODY);
    }
    if (status === 502 || status === 503 || status === 504) {
      // Gateway errors come from the proxy in front of Bitbucket, as HTML.
      countStatus(status);
      const text = `<html><head><title>${status}</title></head><body><h1>${status} ${http.STATUS_CODES[status] ?? ''}</h1></body></html>`;
      res.writeHead(status, { ...headers, 'Content-Type': 'text/html', 'Content-Length': String(Buffer.byteLength(text)) });
      res.end(text);
      return;
    }
    finish(res, status, headers, errorBody(status >= 500 ? 'Something went wrong' : (http.STATUS_CODES[status] ?? 'Error')));
  }

  // ─── Mutations ─────────────────────────────────────────────────────────────────────

  const mutate: SimMutations = {
    addMember(input = {}) {
      const n = ws.users.length + 1;
      const displayName = input.displayName ?? `New Member ${n}`;
      let handle = slugify(displayName).replace(/[^a-z0-9]+/g, '.') || `member.${n}`;
      while ([...ws.userByUuid.values()].some((u) => u.username === handle.replace(/\./g, '-'))) handle = `${handle}${mutationRng.int(0, 9)}`;
      const uuid = `{${mutationRng.uuid()}}`;
      const at = new Date(clock.now()).toISOString();
      return toSimUser(
        ws.addUser({
          uuid,
          accountId: `557058:${mutationRng.uuid()}`,
          displayName,
          nickname: input.nickname ?? displayName,
          username: handle.replace(/\./g, '-'),
          email: `${handle}@acme.example`,
          role: (input.role ?? 'member') as WorkspaceRole,
          createdOn: at,
          addedOn: at,
        }),
      );
    },
    removeMember: (uuid) => ws.removeUser(uuid),
    rejoinMember: (uuid, role = 'member') => toSimUser(ws.rejoinUser(uuid, role, new Date(clock.now()).toISOString())),
    setRole: (uuid, role) => ws.setRole(uuid, role),
    setDisplayName: (uuid, name, nickname) => toSimUser(ws.setDisplayName(uuid, name, nickname)),
    addGroup(input) {
      // Groups created today never set the legacy 1.0 fields: their bodies send `null` for both.
      const g = ws.addGroup({ slug: input.slug ?? slugify(input.name), name: input.name, members: new Set(), defaultPermission: null, autoAdd: false, emailForwardingDisabled: null });
      return { slug: g.slug, name: g.name, memberUuids: [] };
    },
    removeGroup: (slug) => ws.removeGroup(slug),
    renameGroup(slug, name) {
      const g = ws.renameGroup(slug, name);
      return { slug: g.slug, name: g.name, memberUuids: [...g.members] };
    },
    addGroupMember: (slug, uuid) => ws.addGroupMember(slug, uuid),
    removeGroupMember: (slug, uuid) => ws.removeGroupMember(slug, uuid),
    setRepoUserPermission: (repo, uuid, p) => ws.setRepoUser(repo, uuid, p),
    setRepoGroupPermission: (repo, slug, p) => ws.setRepoGroup(repo, slug, p),
    setProjectUserPermission: (key, uuid, p) => ws.setProjectUser(key, uuid, p),
    setProjectGroupPermission: (key, slug, p) => ws.setProjectGroup(key, slug, p),
    addProject: (input) => toSimProject(ws.createProject(input)),
    setProjectPrivate: (key, isPrivate) => toSimProject(ws.setProjectPrivate(key, isPrivate)),
    addRepository: (input) => toSimRepo(ws.createRepo(input)),
    deleteRepository: (repo) => ws.deleteRepo(repo),
    renameRepository: (repo, name) => toSimRepo(ws.renameRepo(repo, name)),
    moveRepository: (repo, key) => ws.moveRepo(repo, key),
    setRepositoryPrivate: (repo, isPrivate) => toSimRepo(ws.setRepoPrivate(repo, isPrivate)),
    touchRepository: (repo) => ws.touchRepo(repo),
    addDeployKey(input) {
      const repo = input.repository !== undefined ? ws.findRepo(input.repository) : undefined;
      if (input.repository !== undefined && !repo) throw new SimError(`no repository ${input.repository}`);
      const admin = ws.owners()[0];
      return toSimDeployKey(
        ws.addDeployKey({
          label: input.label,
          key: input.key ?? `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${mutationRng.alnum(43)}`,
          comment: input.comment ?? 'added-by-test',
          repositoryUuid: repo?.uuid ?? null,
          projectKey: input.projectKey ?? null,
          createdOn: new Date(clock.now()).toISOString(),
          lastUsed: null,
          addedByUuid: admin?.uuid ?? '',
        }),
      );
    },
    removeDeployKey: (id) => ws.removeDeployKey(id),
    useDeployKey: (id, at) => toSimDeployKey(ws.useDeployKey(id, at ?? new Date(clock.now()).toISOString())),
    revokeCredential: (name) => store.revoke(name),
    plantReportedPermission: (repo, uuid, permission) => ws.plantReported(repo, uuid, permission),
    clearPlantedReportedPermissions: () => ws.clearPlantedReported(),
    setReportedPermissionsReading: (reading) => ws.setReportedReading(reading),
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  baseUrl = `http://127.0.0.1:${port}`;
  render = new Renderer(ws, baseUrl);

  const sim: Simulator & SimulatorInternals = {
    baseUrl,
    workspace: ws.info.slug,
    credentials: store.credentials,
    truth: ws.truth(),
    mutate,
    faults,
    clock,
    stats: () => structuredClone(stats),
    resetStats: () => {
      stats = emptyStats();
    },
    issueAccessToken: store.issueAccessToken.bind(store),
    issueApiToken: store.issueApiToken.bind(store),
    workspaceModel: ws,
    org,
    routes: COMPILED,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  return sim;
}

function emptyStats(): SimStats {
  return { requests: 0, byPath: {}, responses429: 0, perCredential: {}, byStatus: {}, ignoredParams: {}, faultsFired: 0 };
}

export function errorBody(message: string, detail?: Json): JsonObject {
  return { type: 'error', error: detail === undefined ? { message } : { message, detail } };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    return null;
  }
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
