/**
 * The Atlassian organization simulator: the Administration REST API endpoints the `atlassian-org`
 * connector reads, served under `/admin/` by the same loopback server (and `roster sim` process) as
 * the Bitbucket Cloud simulator, over the same people. Its organization manages the workspace's
 * accounts with planted cases (see `PLANTED` below): an unmanaged account the organization does not
 * list, inactive and closed accounts, people dormant in Bitbucket, an e-mail in another case than
 * the people file's, an account active in two workspaces, organization-only accounts and an app
 * account. Cursor pagination (`links.next`), an organization API key (Bearer), rate limits with
 * `X-RateLimit-*` headers and 429s, and the two error body shapes, as README.md describes.
 */
import { createHash } from 'node:crypto';
import type http from 'node:http';

export interface OrgSimUser {
  accountId: string;
  displayName: string;
  email: string;
}

export interface OrgSimOptions {
  workspace: string;
  /** The workspace's people, in the Cloud simulator's order (the planted ten first). */
  users: readonly OrgSimUser[];
  seed: number;
  now: () => number;
  /** Accounts per page of the users listing. Default 50. */
  pageSize?: number;
  /** Requests per key per minute; false: none. Default 1000. */
  rateLimitPerMinute?: number | false;
  /** The workspace's groups (1.0 names, members' account ids): the directory mirrors some of them (see `directoryGroups`). */
  workspaceGroups?: ReadonlyArray<{ name: string; memberAccountIds: readonly string[] }>;
  /** Groups per page of the groups and users listings of a directory. Default 50. */
  groupPageSize?: number;
}

export interface OrgSimDirectoryGroup {
  id: string;
  name: string;
  description: string | null;
  memberAccountIds: string[];
  /** Simulator-only: how the group relates to the workspace's /1.0/groups (never served). */
  planted: 'same-as-workspace' | 'organization-only' | 'members-differ';
}

export interface OrgSimAccount {
  account_id: string;
  account_type: 'atlassian' | 'app' | 'customer';
  account_status: 'active' | 'inactive' | 'closed';
  name: string;
  email: string;
  product_access: Array<{ key: string; name: string; url: string; last_active: string | null }>;
  added_to_org: string;
  /** Simulator-only: why the account looks the way it does (never served). */
  planted: string | null;
}

export interface OrgSimulator {
  credential: { kind: 'org-api-key'; orgId: string; token: string };
  /** The accounts the organization manages (the ones it serves), and the workspace accounts it does not. */
  truth: {
    accounts(): OrgSimAccount[];
    unmanagedAccountIds(): string[];
    domains(): Array<{ domain: string; verified: boolean }>;
    directory(): { id: string; name: string };
    directoryGroups(): OrgSimDirectoryGroup[];
  };
  mutate: {
    setStatus(accountId: string, status: OrgSimAccount['account_status']): void;
    setEmail(accountId: string, email: string): void;
    /** Fail the users listing with this HTTP status (null: stop). */
    failUsers(status: number | null): void;
    /** Replace a directory group's members. */
    setGroupMembers(groupId: string, accountIds: readonly string[]): void;
    /** Fail the directory groups listing with this HTTP status (null: stop). */
    failGroups(status: number | null): void;
  };
  stats(): { requests: number; responses429: number; byPath: Record<string, number> };
  /** Serves the request when it is one of the organization's paths; false otherwise. */
  handle(req: http.IncomingMessage, res: http.ServerResponse, pathname: string, query: URLSearchParams): boolean;
}

const DAY = 86_400_000;

/** What the planted ten of the Cloud simulator are in the organization. */
export const PLANTED = [
  'active, Bitbucket yesterday',
  'two workspaces: this one 120 days ago, acme-labs 2 days ago (dormant here)',
  'e-mail in another case (Grace.Hopper@Acme.example), active 3 days ago',
  'active, Bitbucket 5 days ago',
  'unmanaged: an account of another domain, not listed by the organization',
  'inactive (deactivated in the organization)',
  'closed',
  'active, Bitbucket 10 days ago',
  'dormant: Bitbucket 200 days ago',
  'never used Bitbucket (Jira only), joined two years ago',
] as const;

function hex(seed: string, n: number): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, n);
}

export function createOrgSimulator(opts: OrgSimOptions): OrgSimulator {
  const orgId = `${hex(`org:${opts.seed}`, 8)}-${hex(`org2:${opts.seed}`, 4)}-4${hex(`org3:${opts.seed}`, 3)}-a${hex(`org4:${opts.seed}`, 3)}-${hex(`org5:${opts.seed}`, 12)}`;
  const token = `ATCTT3xFfGN0${hex(`orgkey:${opts.seed}`, 40)}`;
  const pageSize = opts.pageSize ?? 50;
  const limit = opts.rateLimitPerMinute === undefined ? 1000 : opts.rateLimitPerMinute;
  const born = opts.now();
  const iso = (daysAgo: number): string => new Date(born - daysAgo * DAY).toISOString();
  const site = (ws: string): string => `https://bitbucket.org/${ws}`;
  const bitbucket = (daysAgo: number | null, ws = opts.workspace) => ({ key: 'bitbucket', name: 'Bitbucket', url: site(ws), last_active: daysAgo === null ? null : iso(daysAgo) });
  const jira = (daysAgo: number) => ({ key: 'jira-software', name: 'Jira', url: `https://${opts.workspace}.atlassian.net`, last_active: iso(daysAgo) });

  const accounts: OrgSimAccount[] = [];
  const unmanaged: string[] = [];
  const account = (u: OrgSimUser, over: Partial<OrgSimAccount>): OrgSimAccount => ({
    account_id: u.accountId,
    account_type: 'atlassian',
    account_status: 'active',
    name: u.displayName,
    email: u.email,
    product_access: [bitbucket(10)],
    added_to_org: iso(700),
    planted: null,
    ...over,
  });
  opts.users.forEach((u, i) => {
    const planted = i < PLANTED.length ? PLANTED[i] : null;
    switch (i) {
      case 0:
        return accounts.push(account(u, { product_access: [bitbucket(1), jira(1)], planted }));
      case 1:
        return accounts.push(account(u, { product_access: [bitbucket(120), bitbucket(2, `${opts.workspace}-labs`)], planted }));
      case 2: {
        const [local, domain] = u.email.split('@') as [string, string];
        const cased = local.split('.').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('.');
        return accounts.push(account(u, { email: `${cased}@${domain.charAt(0).toUpperCase()}${domain.slice(1)}`, product_access: [bitbucket(3)], planted }));
      }
      case 3:
        return accounts.push(account(u, { product_access: [bitbucket(5)], planted }));
      case 4:
        return unmanaged.push(u.accountId);
      case 5:
        return accounts.push(account(u, { account_status: 'inactive', product_access: [bitbucket(40)], planted }));
      case 6:
        return accounts.push(account(u, { account_status: 'closed', product_access: [bitbucket(60)], planted }));
      case 7:
        return accounts.push(account(u, { product_access: [bitbucket(10)], planted }));
      case 8:
        return accounts.push(account(u, { product_access: [bitbucket(200)], planted }));
      case 9:
        return accounts.push(account(u, { product_access: [jira(4)], added_to_org: iso(730), planted }));
      default: {
        // Generated people: one in 17 unmanaged, one in 23 inactive, the rest active within 60 days.
        if (i % 17 === 0) return unmanaged.push(u.accountId);
        const days = Number.parseInt(hex(`${opts.seed}:${u.accountId}`, 6), 16) % 60;
        return accounts.push(account(u, { account_status: i % 23 === 0 ? 'inactive' : 'active', product_access: [bitbucket(days)] }));
      }
    }
  });
  // People of the organization with no Bitbucket account, and an app account.
  accounts.push(
    account({ accountId: `712020:${hex(`jira-only:${opts.seed}`, 8)}-0000-4000-8000-${hex('jo', 12)}`, displayName: 'Jira Only', email: 'jira.only@acme.example' }, { product_access: [jira(2)], planted: 'organization only: Jira' }),
    account({ accountId: `557058:${hex(`automation:${opts.seed}`, 8)}-0000-4000-8000-${hex('au', 12)}`, displayName: 'Automation for Jira', email: 'automation@connect.atlassian.example' }, { account_type: 'app', product_access: [jira(0)], planted: 'app account' }),
  );
  // Centralized user management: one directory. Its groups: the workspace's first group mirrored
  // (same name, same members), its second with one member more in the organization, and a group
  // managed only in the organization (no /1.0 group of that name).
  const directory = { id: `${hex(`dir:${opts.seed}`, 8)}-${hex(`dir2:${opts.seed}`, 4)}-4${hex(`dir3:${opts.seed}`, 3)}-8${hex(`dir4:${opts.seed}`, 3)}-${hex(`dir5:${opts.seed}`, 12)}`, name: 'Acme Corp' };
  const groupId = (name: string): string => `${hex(`grp:${opts.seed}:${name}`, 8)}-${hex(`grp2:${name}`, 4)}-4${hex(`grp3:${name}`, 3)}-9${hex(`grp4:${name}`, 3)}-${hex(`grp5:${name}`, 12)}`;
  const directoryGroups: OrgSimDirectoryGroup[] = [];
  // A directory group holds directory users only: the mirrored group is the first whose members are all managed.
  const managedIds = new Set(accounts.map((a) => a.account_id));
  const managed = (id: string): boolean => managedIds.has(id);
  const wsGroups = opts.workspaceGroups ?? [];
  const mirrored = wsGroups.find((g) => g.memberAccountIds.length > 0 && g.memberAccountIds.every(managed));
  const differing = wsGroups.find((g) => g !== mirrored && g.memberAccountIds.length > 0 && g.memberAccountIds.every(managed));
  const sortIds = (ids: Iterable<string>): string[] => [...new Set(ids)].sort();
  if (mirrored) directoryGroups.push({ id: groupId(mirrored.name), name: mirrored.name, description: 'Synced from the workspace', memberAccountIds: sortIds(mirrored.memberAccountIds), planted: 'same-as-workspace' });
  if (differing) {
    const extra = opts.users.find((u) => !differing.memberAccountIds.includes(u.accountId) && managed(u.accountId));
    directoryGroups.push({ id: groupId(differing.name), name: differing.name, description: null, memberAccountIds: sortIds([...differing.memberAccountIds, ...(extra ? [extra.accountId] : [])]), planted: 'members-differ' });
  }
  const orgOnlyMembers = accounts.filter((a) => a.account_type === 'atlassian' && a.account_status === 'active').slice(0, 3).map((a) => a.account_id);
  directoryGroups.push({ id: groupId('bitbucket-release-managers'), name: 'bitbucket-release-managers', description: 'Managed in Atlassian Administration', memberAccountIds: sortIds(orgOnlyMembers), planted: 'organization-only' });
  const groupPageSize = opts.groupPageSize ?? 50;

  const domains = [
    { domain: 'acme.example', verified: true },
    { domain: 'acme-legacy.example', verified: false },
  ];

  let failUsers: number | null = null;
  let failGroups: number | null = null;
  const stats = { requests: 0, responses429: 0, byPath: {} as Record<string, number> };
  const windows = new Map<string, { start: number; count: number }>();

  const send = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  };
  // The organizations API's errors are JSON:API; the gateway's (401, 429) are `{ code, message }`.
  const apiError = (status: number, code: string, title: string, detail: string) => ({ errors: [{ id: hex(`${status}:${detail}`, 16), status: String(status), code, title, detail }] });

  const cursorOf = (offset: number): string => Buffer.from(`offset:${offset}`).toString('base64url');
  const offsetOf = (cursor: string | null): number | null => {
    if (cursor === null) return 0;
    const m = /^offset:(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
    return m ? Number(m[1]) : null;
  };

  const served = (a: OrgSimAccount) => ({
    account_id: a.account_id,
    account_type: a.account_type,
    account_status: a.account_status,
    name: a.name,
    picture: `https://avatar-management.services.atlassian.com/${hex(a.account_id, 12)}/128`,
    email: a.email,
    access_billable: a.account_status === 'active' && a.account_type === 'atlassian',
    last_active: a.product_access.map((p) => p.last_active).filter((d): d is string => d !== null).sort().at(-1) ?? null,
    product_access: a.product_access,
    links: { self: `/admin/v1/orgs/${orgId}/users/${a.account_id}` },
  });

  /** The v2 directory reads: `links.next` is a bare cursor token (as documented), not a URL. */
  function serveV2(res: http.ServerResponse, org: string, rest: string, query: URLSearchParams): void {
    if (org !== orgId) return send(res, 404, apiError(404, 'ORG_NOT_FOUND', 'Not Found', 'No organization with this id for this API key.'));
    const offset = offsetOf(query.get('cursor'));
    if (offset === null) return send(res, 400, apiError(400, 'INVALID_CURSOR', 'Bad Request', 'The cursor is not valid.'));
    const page = <T>(items: readonly T[], size: number) => ({ data: items.slice(offset, offset + size), links: { self: cursorOf(offset), ...(offset + size < items.length ? { next: cursorOf(offset + size) } : {}) } });
    if (rest === '/directories') return send(res, 200, page([{ directoryId: directory.id, name: directory.name, icon: null }], 50));
    const m = /^\/directories\/([^/]+)\/(groups|users)$/.exec(rest);
    if (!m) return send(res, 404, apiError(404, 'NOT_FOUND', 'Not Found', 'There is no API hosted at this URL.'));
    const dir = decodeURIComponent(m[1] ?? '');
    if (dir !== directory.id && dir !== '-') return send(res, 404, apiError(404, 'DIRECTORY_NOT_FOUND', 'Not Found', 'No directory with this id in the organization.'));
    if (m[2] === 'groups') {
      if (failGroups !== null) return send(res, failGroups, apiError(failGroups, 'FORBIDDEN', 'Forbidden', 'The API key cannot read the groups of this directory.'));
      return send(res, 200, page(directoryGroups.map((g) => ({ id: g.id, name: g.name, description: g.description, directoryId: directory.id, externalSynced: false, managedBy: 'ADMINS', counts: { users: g.memberAccountIds.length } })), groupPageSize));
    }
    const wanted = query.getAll('groupIds').flatMap((v) => v.split(',')).filter(Boolean);
    const members = wanted.length === 0 ? null : new Set(directoryGroups.filter((g) => wanted.includes(g.id)).flatMap((g) => g.memberAccountIds));
    const listed = accounts.filter((a) => members === null || members.has(a.account_id)).map((a) => ({ accountId: a.account_id, accountType: a.account_type, accountStatus: a.account_status, name: a.name, email: a.email }));
    return send(res, 200, page(listed, groupPageSize));
  }

  function handle(req: http.IncomingMessage, res: http.ServerResponse, pathname: string, query: URLSearchParams): boolean {
    if (!pathname.startsWith('/admin/')) return false;
    stats.requests += 1;
    const route = pathname
      .replace(/\/directory\/users\/[^/]+\//, '/directory/users/{accountId}/')
      .replace(/\/directories\/[^/]+\//, '/directories/{directoryId}/')
      .replace(/\/orgs\/[^/]+/, '/orgs/{orgId}');
    stats.byPath[route] = (stats.byPath[route] ?? 0) + 1;
    const host = `http://${req.headers.host ?? '127.0.0.1'}`;

    const auth = req.headers.authorization ?? '';
    if (!/^Bearer\s+/i.test(auth)) {
      send(res, 401, { code: 401, message: 'Unauthorized' }, { 'www-authenticate': 'Bearer realm="api.atlassian.com"' });
      return true;
    }
    if (auth.replace(/^Bearer\s+/i, '') !== token) {
      send(res, 401, { code: 401, message: 'Unauthorized; scope does not match' });
      return true;
    }
    const now = opts.now();
    if (limit !== false) {
      const w = windows.get(token);
      const window = w && now - w.start < 60_000 ? w : { start: now, count: 0 };
      windows.set(token, window);
      const reset = new Date(window.start + 60_000).toISOString();
      if (window.count >= limit) {
        stats.responses429 += 1;
        send(res, 429, { code: 429, message: 'Too Many Requests' }, {
          'x-ratelimit-limit': String(limit),
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': reset,
          'retry-after': String(Math.max(1, Math.ceil((window.start + 60_000 - now) / 1000))),
        });
        return true;
      }
      window.count += 1;
      res.setHeader('x-ratelimit-limit', String(limit));
      res.setHeader('x-ratelimit-remaining', String(limit - window.count));
      res.setHeader('x-ratelimit-reset', reset);
    }
    if (req.method !== 'GET') {
      send(res, 405, apiError(405, 'METHOD_NOT_ALLOWED', 'Method Not Allowed', 'The simulator serves reads only.'));
      return true;
    }
    const v2 = /^\/admin\/v2\/orgs\/([^/]+)(\/.*)$/.exec(pathname);
    if (v2) {
      serveV2(res, decodeURIComponent(v2[1] ?? ''), v2[2] ?? '', query);
      return true;
    }
    const m = /^\/admin\/v1\/orgs\/([^/]+)(\/.*)?$/.exec(pathname);
    if (!m) {
      send(res, 404, apiError(404, 'NOT_FOUND', 'Not Found', 'There is no API hosted at this URL.'));
      return true;
    }
    if (decodeURIComponent(m[1] ?? '') !== orgId) {
      send(res, 404, apiError(404, 'ORG_NOT_FOUND', 'Not Found', 'No organization with this id for this API key.'));
      return true;
    }
    const rest = m[2] ?? '';
    const offset = offsetOf(query.get('cursor'));
    if (offset === null) {
      send(res, 400, apiError(400, 'INVALID_CURSOR', 'Bad Request', 'The cursor is not valid.'));
      return true;
    }
    const base = `${host}/admin/v1/orgs/${orgId}`;
    if (rest === '/users') {
      if (failUsers !== null) {
        send(res, failUsers, failUsers >= 500 ? apiError(failUsers, 'INTERNAL_SERVER_ERROR', 'Internal Server Error', 'Something went wrong.') : apiError(failUsers, 'FORBIDDEN', 'Forbidden', 'The API key cannot read the users of this organization.'));
        return true;
      }
      const page = accounts.slice(offset, offset + pageSize).map(served);
      const next = offset + pageSize < accounts.length ? `${base}/users?cursor=${cursorOf(offset + pageSize)}` : null;
      send(res, 200, { data: page, links: { self: `${base}/users${offset ? `?cursor=${cursorOf(offset)}` : ''}`, ...(next ? { next } : {}) }, meta: { total: accounts.length } });
      return true;
    }
    const dates = /^\/directory\/users\/([^/]+)\/last-active-dates$/.exec(rest);
    if (dates) {
      const a = accounts.find((x) => x.account_id === decodeURIComponent(dates[1] ?? ''));
      if (!a) {
        send(res, 404, apiError(404, 'USER_NOT_FOUND', 'Not Found', 'The user is not a managed account of this organization.'));
        return true;
      }
      // One product per page: the endpoint's own cursor pagination is exercised by every account with two products.
      const products = a.product_access.map((p) => ({ id: p.url.replace(/^https?:\/\//, ''), key: p.key, last_active_timestamp: p.last_active }));
      const page = products.slice(offset, offset + 1);
      const next = offset + 1 < products.length ? `${base}/directory/users/${a.account_id}/last-active-dates?cursor=${cursorOf(offset + 1)}` : null;
      send(res, 200, { data: { product_access: page, added_to_org: a.added_to_org }, links: next ? { next } : {} });
      return true;
    }
    if (rest === '/domains') {
      send(res, 200, {
        data: domains.map((d) => ({ id: hex(d.domain, 12), type: 'domains', attributes: { name: d.domain, claim: { type: 'dns', status: d.verified ? 'VERIFIED' : 'PENDING' } }, links: { self: `${base}/domains/${hex(d.domain, 12)}` } })),
        links: { self: `${base}/domains` },
      });
      return true;
    }
    if (rest === '') {
      send(res, 200, { data: { id: orgId, type: 'orgs', attributes: { name: 'Acme Corp' }, links: { self: base } } });
      return true;
    }
    send(res, 404, apiError(404, 'NOT_FOUND', 'Not Found', 'There is no API hosted at this URL.'));
    return true;
  }

  return {
    credential: { kind: 'org-api-key', orgId, token },
    truth: {
      accounts: () => structuredClone(accounts),
      unmanagedAccountIds: () => [...unmanaged],
      domains: () => structuredClone(domains),
      directory: () => ({ ...directory }),
      directoryGroups: () => structuredClone(directoryGroups),
    },
    mutate: {
      setStatus: (id, status) => {
        const a = accounts.find((x) => x.account_id === id);
        if (!a) throw new Error(`no managed account ${id}`);
        a.account_status = status;
      },
      setEmail: (id, email) => {
        const a = accounts.find((x) => x.account_id === id);
        if (!a) throw new Error(`no managed account ${id}`);
        a.email = email;
      },
      failUsers: (status) => {
        failUsers = status;
      },
      setGroupMembers: (id, accountIds) => {
        const g = directoryGroups.find((x) => x.id === id);
        if (!g) throw new Error(`no directory group ${id}`);
        g.memberAccountIds = sortIds(accountIds);
      },
      failGroups: (status) => {
        failGroups = status;
      },
    },
    stats: () => structuredClone(stats),
    handle,
  };
}
