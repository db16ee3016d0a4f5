/**
 * The connector against a tiny loopback stub, for what the simulator does not do: hostile `next`
 * links, bodies that break the schema, 1.0 rows that name unknown repositories, incremental queries,
 * OAuth ordering, option checking and redaction.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectorError, RosterError } from '../../src/errors.ts';
import { createBitbucketCloudConnector, type BitbucketCloudOptions } from './index.ts';
import { runConnector } from './test-harness.ts';

type Route = (req: IncomingMessage, url: URL) => { status?: number; body: unknown; headers?: Record<string, string> } | undefined;

interface Stub {
  base: string;
  log: string[];
  auth: string[];
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => { s.closeAllConnections(); s.close(() => resolve()); })));
});

async function stub(route: Route): Promise<Stub> {
  const log: string[] = [];
  const auth: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://stub');
    log.push(`${req.method} ${url.pathname}${url.search}`);
    auth.push(String(req.headers.authorization));
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      (req as IncomingMessage & { body?: string }).body = body;
      const out = route(req, url) ?? { status: 404, body: { type: 'error', error: { message: 'Resource not found' } } };
      res.writeHead(out.status ?? 200, { 'content-type': 'application/json', ...out.headers });
      res.end(typeof out.body === 'string' ? out.body : JSON.stringify(out.body));
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, log, auth };
}

const WS = { type: 'workspace', uuid: '{00000000-0000-0000-0000-0000000000aa}', slug: 'acme', name: 'Acme' };
const user = (n: number) => ({ type: 'user', uuid: `{00000000-0000-0000-0000-00000000000${n}}`, display_name: `User ${n}`, nickname: `u${n}`, account_id: `557058:${n}` });
const repo = (slug: string, n: number) => ({ type: 'repository', uuid: `{00000000-0000-0000-0000-0000000001${n}0}`, slug, name: slug, full_name: `acme/${slug}`, is_private: true, project: { uuid: '{00000000-0000-0000-0000-0000000000bb}', key: 'P' } });

function admin(base: string, extra: Partial<BitbucketCloudOptions> = {}) {
  return createBitbucketCloudConnector({ baseUrl: base, workspace: 'acme', credential: { kind: 'api-token', email: 'ops@example.com', token: 'ATATT-secret-token-value' }, retryBaseMs: 1, ...extra });
}

/** Common answers: the admin flag and the workspace. */
function basics(url: URL) {
  if (url.pathname === '/2.0/user/workspaces') return { body: { values: [{ type: 'workspace_access', administrator: true, workspace: { uuid: WS.uuid, slug: 'acme' } }] } };
  if (url.pathname === '/2.0/workspaces/acme') return { body: WS };
  return undefined;
}

describe('listings bound to their integration', () => {
  it('refuses a next link to another host, without sending anything there', async () => {
    const other = await stub(() => ({ body: { values: [] } }));
    const s = await stub((_req, url) => basics(url) ?? (url.pathname === '/2.0/workspaces/acme/permissions' ? { body: { values: [{ permission: 'owner', user: user(1) }], next: `${other.base}/2.0/workspaces/acme/permissions?page=2` } } : undefined));
    const r = await runConnector(admin(s.base), { only: ['workspace', 'members'] });
    const o = r.scopes.get('workspace-members');
    expect(o?.error).toMatchObject({ code: 'malformed_response', endpoint: '/2.0/workspaces/acme/permissions' });
    expect(o?.error?.message).toMatch(/another host/);
    expect(other.log).toEqual([]);
  });

  it("refuses a next link into another workspace's listing", async () => {
    const s = await stub((_req, url) => basics(url) ?? (url.pathname === '/2.0/workspaces/acme/permissions' ? { body: { values: [{ permission: 'owner', user: user(1) }], next: `/2.0/workspaces/victim/permissions?page=2` } } : undefined));
    const r = await runConnector(admin(s.base), { only: ['workspace', 'members'] });
    expect(r.scopes.get('workspace-members')?.error).toMatchObject({ code: 'malformed_response' });
    expect(s.log.some((l) => l.includes('victim'))).toBe(false);
  });

  it('treats a next link already followed as page_loop, even when pages differ', async () => {
    let n = 0;
    const s = await stub((_req, url) => {
      const b = basics(url);
      if (b) return b;
      if (url.pathname !== '/2.0/workspaces/acme/permissions') return undefined;
      n += 1;
      return { body: { values: [{ permission: 'member', user: user(n) }], next: `/2.0/workspaces/acme/permissions?page=${n === 1 ? 2 : 1}` } };
    });
    const r = await runConnector(admin(s.base), { only: ['workspace', 'members'] });
    expect(r.scopes.get('workspace-members')?.error).toMatchObject({ code: 'page_loop', retryable: true });
  });
});

describe('parsing', () => {
  it('fails the scope with the endpoint, the field and the type of the value when the body breaks the schema', async () => {
    const s = await stub((_req, url) => basics(url) ?? (url.pathname === '/2.0/workspaces/acme/permissions' ? { body: { values: [{ permission: 'owner', user: user(1) }, { permission: 7, user: user(2) }] } } : undefined));
    const r = await runConnector(admin(s.base), { only: ['workspace', 'members'] });
    const error = r.scopes.get('workspace-members')?.error;
    expect(error).toMatchObject({ code: 'malformed_response', endpoint: '/2.0/workspaces/acme/permissions', retryable: false });
    expect(error?.message).toBe('GET /2.0/workspaces/acme/permissions: field values[1].permission should be one of member | collaborator | owner but is number');
    expect(r.scopes.get('workspace-members')?.batches).toEqual([]);
  });

  it("keeps a 400's field errors in the message", async () => {
    const s = await stub((_req, url) => basics(url) ?? (url.pathname === '/2.0/repositories/acme' ? { status: 400, body: { type: 'error', error: { message: 'Bad request', fields: { q: ['Invalid field name: updated'] } } } } : undefined));
    const r = await runConnector(admin(s.base), { only: ['workspace', 'repositories'] });
    expect(r.scopes.get('repositories')?.error?.message).toBe('GET /2.0/repositories/acme answered 400: Bad request: (q: Invalid field name: updated)');
  });

  it('names a missing uuid as missing', async () => {
    const s = await stub((_req, url) => basics(url) ?? (url.pathname === '/2.0/repositories/acme' ? { body: { values: [{ ...repo('api', 1), uuid: undefined }] } } : undefined));
    const r = await runConnector(admin(s.base), { only: ['workspace', 'repositories'] });
    expect(r.scopes.get('repositories')?.error?.message).toMatch(/field values\[0\]\.uuid should be string but is missing/);
  });

  it('accepts what the spec leaves open: extra link kinds, missing optional fields, team owners', async () => {
    const s = await stub((_req, url) => {
      const b = basics(url);
      if (b) return b;
      if (url.pathname === '/2.0/repositories/acme') {
        return { body: { values: [{ ...repo('api', 1), links: { self: { href: 'x' }, source: { href: 'y' }, clone: [] }, owner: { type: 'team', uuid: WS.uuid }, updated_on: null, parent: null }] } };
      }
      return undefined;
    });
    const r = await runConnector(admin(s.base), { only: ['workspace', 'repositories'] });
    expect(r.scopes.get('repositories')?.status).toBe('complete');
  });
});

describe('1.0 group privileges', () => {
  function gpStub(rows: unknown[]) {
    return stub((_req, url) => {
      const b = basics(url);
      if (b) return b;
      if (url.pathname === '/2.0/repositories/acme') return { body: { values: [repo('api', 1), repo('web', 2)] } };
      if (url.pathname === '/1.0/group-privileges/acme') return { body: rows };
      return undefined;
    });
  }

  it('maps every row to the repository uuid through the listed slugs, in one request', async () => {
    const s = await gpStub([
      { repo: 'acme/api', privilege: 'write', group: { slug: 'devs', name: 'Developers' }, repository: { slug: 'api', name: 'api' } },
      { repo: 'acme/web', privilege: 'admin', group: { slug: 'admins', name: 'Admins' }, repository: { slug: 'web', name: 'web' } },
    ]);
    const r = await runConnector(admin(s.base), { only: ['workspace', 'repositories', 'repository-group-permissions'] });
    expect(r.all.grants).toEqual([
      { principal: { kind: 'group', externalId: 'devs' }, resource: { kind: 'repository', externalId: repo('api', 1).uuid }, permission: 'write' },
      { principal: { kind: 'group', externalId: 'admins' }, resource: { kind: 'repository', externalId: repo('web', 2).uuid }, permission: 'admin' },
    ]);
    expect(s.log.filter((l) => l.startsWith('GET /1.0/'))).toEqual(['GET /1.0/group-privileges/acme']);
  });

  it('fails the scope instead of dropping a row for a repository it does not know', async () => {
    const s = await gpStub([
      { repo: 'acme/api', privilege: 'write', group: { slug: 'devs' } },
      { repo: 'acme/renamed-meanwhile', privilege: 'read', group: { slug: 'devs' } },
    ]);
    const r = await runConnector(admin(s.base), { only: ['workspace', 'repositories', 'repository-group-permissions'] });
    const o = r.scopes.get('repository-group-permissions');
    expect(o?.status).toBe('failed');
    expect(o?.error).toMatchObject({ code: 'malformed_response', retryable: true });
    expect(o?.batches).toEqual([]);
  });
});

describe('incremental runs', () => {
  it('lists only repositories updated since the last run (with a margin) and marks the listing filtered; permissions stay full', async () => {
    const s = await stub((_req, url) => basics(url) ?? (url.pathname === '/2.0/repositories/acme' ? { body: { values: [repo('api', 1)] } } : url.pathname.endsWith('/permissions-config/users') ? { body: { values: [] } } : undefined));
    const r = await runConnector(admin(s.base), { since: new Date('2026-11-20T12:00:00Z'), only: ['workspace', 'repositories', 'repository-user-permissions'] });
    expect(r.scopes.get('repositories')?.scope.filtered).toBe(true);
    const listing = s.log.find((l) => l.startsWith('GET /2.0/repositories/acme?'));
    expect(new URL(`http://x${listing?.slice(4)}`).searchParams.get('q')).toBe('updated_on > 2026-11-20T11:50:00.000+00:00');
    expect(r.scopes.get(`repository-user-permissions:${repo('api', 1).uuid}`)?.scope.filtered).toBeUndefined();
  });

  it('asks every listing for its largest page and trims payloads with fields=', async () => {
    const s = await stub((_req, url) => basics(url) ?? (url.pathname === '/2.0/repositories/acme' ? { body: { values: [] } } : undefined));
    await runConnector(admin(s.base), { only: ['workspace', 'repositories'] });
    const listing = new URL(`http://x${s.log.find((l) => l.startsWith('GET /2.0/repositories/acme'))?.slice(4)}`);
    expect(listing.searchParams.get('pagelen')).toBe('100');
    expect(listing.searchParams.get('fields')).toMatch(/^-values\.links,/);
  });
});

describe('OAuth consumer', () => {
  it('persists a rotated token before using it, and recovers from an early 401 by refreshing once', async () => {
    const events: string[] = [];
    let issued = 0;
    let rejectNext = false;
    const s = await stub((req, url) => {
      if (url.pathname === '/site/oauth2/access_token') {
        issued += 1;
        const form = new URLSearchParams((req as IncomingMessage & { body?: string }).body ?? '');
        events.push(`token:${form.get('grant_type')}`);
        return { body: { access_token: `access-${issued}-xxxxxxxx`, refresh_token: `refresh-${issued}-xxxxxxxx`, expires_in: 7200, scopes: 'account repository', token_type: 'bearer' } };
      }
      events.push(`api:${req.headers.authorization}`);
      if (rejectNext) {
        rejectNext = false;
        return { status: 401, body: { type: 'error', error: { message: 'Access token expired.' } } };
      }
      return basics(url);
    });
    const persisted: string[] = [];
    const connector = createBitbucketCloudConnector({
      baseUrl: s.base,
      workspace: 'acme',
      credential: { kind: 'oauth-client-credentials', clientId: 'client-id-1', clientSecret: 'client-secret-value' },
      tokenUrl: `${s.base}/site/oauth2/access_token`,
      onTokens: (t) => {
        events.push(`persist:${t.refreshToken}`);
        persisted.push(t.accessToken);
        return Promise.resolve();
      },
    });
    const caps = await connector.detectCapabilities(new AbortController().signal);
    expect(caps.oauthScopes).toEqual(['account', 'repository']);
    rejectNext = true;
    const r = await runConnector(connector, { resume: { capabilities: caps, gaps: new Map(), scopes: new Map(), resources: new Map(), principals: new Map(), all: { principals: [], referencedPrincipals: [], resources: [], referencedResources: [], memberships: [], grants: [], reportedAccess: [], goneResources: [] }, fatal: null }, only: ['workspace'] });
    expect(r.fatal).toBeNull();
    expect(r.scopes.get('workspace')?.status).toBe('complete');
    expect(events).toEqual([
      'token:client_credentials',
      'persist:refresh-1-xxxxxxxx',
      'api:Bearer access-1-xxxxxxxx',
      'api:Bearer access-1-xxxxxxxx',
      'token:refresh_token',
      'persist:refresh-2-xxxxxxxx',
      'api:Bearer access-2-xxxxxxxx',
    ]);
    expect(persisted).toEqual(['access-1-xxxxxxxx', 'access-2-xxxxxxxx']);
    await connector.close();
  });
});

describe('options and secrets', () => {
  it('lists every problem with the options at once', () => {
    let error: unknown;
    try {
      createBitbucketCloudConnector({ baseUrl: 'not a url', workspace: 'a b', credential: { kind: 'api-token', email: '', token: '' }, concurrency: 0 });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RosterError);
    expect(error).toMatchObject({ code: 'config_invalid' });
    const problems = (error as RosterError).details.problems as string[];
    expect(problems).toHaveLength(5);
  });

  it('never puts a credential in an error, a log line or a progress event', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = pino({ level: 'trace' }, sink);
    const s = await stub((_req, url) => basics(url) ?? { status: 401, body: { type: 'error', error: { message: 'Invalid credentials.' } } });
    const progress: string[] = [];
    const connector = admin(s.base, { logger, onProgress: (e) => progress.push(JSON.stringify(e)) });
    const r = await runConnector(connector, { only: ['workspace', 'members'] });
    await connector.close();
    expect(r.fatal).toBeInstanceOf(ConnectorError);
    expect(r.fatal).toMatchObject({ code: 'unauthorized', endpoint: '/2.0/workspaces/acme/permissions' });
    const basic = Buffer.from('ops@example.com:ATATT-secret-token-value').toString('base64');
    expect(s.auth).toContain(`Basic ${basic}`);
    const everything = [...lines, ...progress, r.fatal?.message ?? '', r.fatal?.advice ?? '', JSON.stringify(r.fatal?.details)].join('\n');
    expect(lines.length).toBeGreaterThan(0);
    expect(everything).not.toContain('ATATT-secret-token-value');
    expect(everything).not.toContain(basic);
  });
});
