import type { z } from 'zod';
import { ConnectorError, RosterError } from '../../src/errors.ts';
import { type Clock, HttpClient, sharedBudget, systemClock } from '../../src/http/index.ts';
import type { ConnectorStats, IdentityReader, ProgressEvent } from '../../src/interfaces.ts';
import type { Logger } from '../../src/log.ts';
import type { Secret } from '../../src/secrets/index.ts';
import { directoriesPageSchema, directoryGroupsPageSchema, directoryUsersPageSchema, domainsPageSchema, errorText, lastActiveDatesSchema, orgUsersPageSchema } from './schemas.ts';

/**
 * The `atlassian-org` connector's reader: an organization's managed accounts, their per-product last
 * activity and the organization's domains, from the Atlassian Administration REST API with an
 * organization API key (Bearer). It never touches the database. Pagination is by cursor: every page
 * carries `links.next` (a URL with `cursor=`), absent on the last page; a `next` that repeats is a
 * page loop and stops the listing rather than looping or silently ending early.
 */

export const ATLASSIAN_API = 'https://api.atlassian.com';

export interface OrgCredential {
  kind: 'org-api-key';
  orgId: string;
  token: Secret;
}

export interface OrgClientOptions {
  /** API root, default https://api.atlassian.com (the simulator: its base URL). */
  baseUrl?: string;
  credential: OrgCredential;
  /** Requests per rolling hour for this key. Default 1000. */
  budgetPerHour?: number;
  /** Requests in flight at once. Default 4. */
  concurrency?: number;
  maxRetries?: number;
  retryBaseMs?: number;
  maxRateLimitWaitMs?: number;
  timeoutMs?: number;
  clock?: Clock;
  logger?: Logger;
  onProgress?: (e: ProgressEvent) => void;
  signal?: AbortSignal;
}

/** A managed account with what the last-active-dates endpoint adds. */
export interface OrgAccountRecord {
  accountId: string;
  accountType: string;
  accountStatus: string;
  name: string | null;
  email: string | null;
  lastActive: string | null;
  productAccess: Array<{ key: string; name: string | null; url: string | null; last_active: string | null }>;
  addedToOrg: string | null;
}

export interface OrgDomainRecord {
  domain: string;
  verified: boolean;
}

export interface OrgDirectoryGroupRecord {
  directoryId: string;
  directoryName: string | null;
  groupId: string;
  name: string;
  description: string | null;
  /** Members' Atlassian account ids, sorted (by code unit; they are opaque strings). */
  memberAccountIds: string[];
}

function withCursor(url: URL, cursor: string): URL {
  const next = new URL(url);
  next.searchParams.set('cursor', cursor);
  return next;
}

const ORG_ID = /^[A-Za-z0-9-]{1,64}$/;

export class OrgClient implements IdentityReader {
  private readonly http: HttpClient;
  private readonly base: URL;
  private readonly orgId: string;
  private readonly token: Secret;
  private readonly signal: AbortSignal | undefined;

  constructor(opts: OrgClientOptions) {
    if (!ORG_ID.test(opts.credential.orgId)) {
      throw new RosterError('config_invalid', `The organization id "${opts.credential.orgId}" is not one: copy it from admin.atlassian.com (the part after /o/ in the URL), or from where the API key was created.`);
    }
    this.base = new URL(opts.baseUrl ?? ATLASSIAN_API);
    this.orgId = opts.credential.orgId;
    this.token = opts.credential.token;
    this.signal = opts.signal;
    const clock = opts.clock ?? systemClock;
    this.http = new HttpClient({
      allowedOrigins: [this.base.origin],
      budget: sharedBudget(`atlassian-org:${this.base.origin}:${this.orgId}`, opts.budgetPerHour ?? 1000),
      concurrency: opts.concurrency ?? 4,
      maxRetries: opts.maxRetries,
      maxRateLimitWaitMs: opts.maxRateLimitWaitMs,
      timeoutMs: opts.timeoutMs,
      clock,
      backoff: opts.retryBaseMs === undefined ? undefined : { baseMs: opts.retryBaseMs },
      logger: opts.logger,
      onProgress: opts.onProgress,
    });
  }

  stats(): ConnectorStats {
    return this.http.stats();
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private path(suffix: string, version: 'v1' | 'v2' = 'v1'): string {
    return `${this.base.pathname.replace(/\/+$/, '')}/admin/${version}/orgs/${encodeURIComponent(this.orgId)}${suffix}`;
  }

  /** GET one page; a 4xx other than 429 is terminal for the listing, with what would fix it. */
  private async get<T>(url: URL, endpoint: string, schema: z.ZodType<T>, continuation: boolean): Promise<T> {
    const res = await this.http.request({
      method: 'GET',
      url,
      endpoint,
      continuation,
      signal: this.signal,
      headers: () => ({ authorization: `Bearer ${this.token.reveal()}` }),
    });
    if (res.status >= 500) {
      throw new ConnectorError('server_error', `GET ${endpoint} answered ${res.status} after retries`, { endpoint, httpStatus: res.status, retryable: true, advice: 'Atlassian had a server error; the next run retries.' });
    }
    if (res.status >= 400) {
      const said = errorText(res.body);
      const detail = said ? `: ${said}` : '';
      if (res.status === 401) {
        throw new ConnectorError('unauthorized', `GET ${endpoint} was refused (401)${detail}`, {
          endpoint,
          httpStatus: 401,
          advice: 'The organization API key is wrong, expired or revoked. Create a new key in admin.atlassian.com → Settings → API keys and store it with roster integration add --replace.',
        });
      }
      if (res.status === 403) {
        throw new ConnectorError('forbidden', `GET ${endpoint} was refused (403)${detail}`, {
          endpoint,
          httpStatus: 403,
          advice: 'The API key cannot read this organization: it must be an organization admin key of this organization; a key created with scopes needs read:accounts:admin (users) and the directory read scopes.',
        });
      }
      if (res.status === 404) {
        throw new ConnectorError('not_found', `GET ${endpoint} found nothing (404)${detail}`, {
          endpoint,
          httpStatus: 404,
          advice: `Check the organization id (--org-id ${this.orgId}): it must be the id of the organization the key belongs to.`,
        });
      }
      throw new ConnectorError('malformed_response', `GET ${endpoint} answered ${res.status}${detail}`, { endpoint, httpStatus: res.status });
    }
    let json: unknown;
    try {
      json = JSON.parse(res.body);
    } catch (error) {
      throw new ConnectorError('malformed_response', `GET ${endpoint} did not answer JSON`, { endpoint, httpStatus: res.status, cause: error });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new ConnectorError('malformed_response', `GET ${endpoint} answered a body Roster cannot read: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, { endpoint, httpStatus: res.status });
    }
    return parsed.data;
  }

  /** Every page of a cursor listing. */
  private async *pages<T extends { links?: { next?: string | null } | null }>(first: URL, endpoint: string, schema: z.ZodType<T>): AsyncGenerator<T> {
    const seen = new Set<string>();
    let url: URL | null = first;
    let continuation = false;
    while (url) {
      seen.add(url.toString());
      const page: T = await this.get(url, endpoint, schema, continuation);
      yield page;
      const next: string | null | undefined = page.links?.next;
      if (!next) return;
      // v1 listings send the next page as a URL; v2 ones (directories, groups, users) as a bare cursor token.
      const nextUrl: URL = /^(https?:)?\//.test(next) ? new URL(next, this.base) : withCursor(url, next);
      if (seen.has(nextUrl.toString())) {
        throw new ConnectorError('page_loop', `GET ${endpoint}: the next page is one already read (${nextUrl.search})`, { endpoint, advice: 'Atlassian sent a cursor that repeats; the listing was not trusted. The next run retries.' });
      }
      url = nextUrl;
      continuation = true;
    }
  }

  /** The organization's managed accounts, each with its last-active dates (one more request per account). */
  async listAccounts(): Promise<OrgAccountRecord[]> {
    const endpoint = this.path('/users');
    const users: OrgAccountRecord[] = [];
    for await (const page of this.pages(new URL(endpoint, this.base), endpoint, orgUsersPageSchema)) {
      for (const u of page.data) {
        users.push({
          accountId: u.account_id,
          accountType: u.account_type,
          accountStatus: u.account_status,
          name: u.name ?? null,
          email: u.email ?? null,
          lastActive: u.last_active ?? null,
          productAccess: (u.product_access ?? []).map((p) => ({ key: p.key, name: p.name ?? null, url: p.url ?? null, last_active: p.last_active ?? null })),
          addedToOrg: null,
        });
      }
    }
    await Promise.all(
      users.map(async (u) => {
        const dates = await this.lastActiveDates(u.accountId);
        u.addedToOrg = dates.addedToOrg;
        // The per-user endpoint is the precise one (a timestamp per product); the listing's dates fill in what it lacks.
        for (const p of dates.products) {
          const entry = u.productAccess.find((e) => e.key === p.key && (p.id === null || e.url === null || e.url.replace(/^https?:\/\//, '').replace(/\/+$/, '') === p.id));
          if (entry) entry.last_active = p.lastActive ?? entry.last_active;
          else u.productAccess.push({ key: p.key, name: null, url: null, last_active: p.lastActive });
        }
      }),
    );
    return users;
  }

  async lastActiveDates(accountId: string): Promise<{ addedToOrg: string | null; products: Array<{ id: string | null; key: string; lastActive: string | null }> }> {
    const endpoint = this.path(`/directory/users/${encodeURIComponent(accountId)}/last-active-dates`);
    const products: Array<{ id: string | null; key: string; lastActive: string | null }> = [];
    let addedToOrg: string | null = null;
    for await (const page of this.pages(new URL(endpoint, this.base), this.path('/directory/users/{accountId}/last-active-dates'), lastActiveDatesSchema)) {
      addedToOrg = page.data.added_to_org ?? addedToOrg;
      for (const p of page.data.product_access) products.push({ id: p.id ?? null, key: p.key, lastActive: p.last_active_timestamp ?? p.last_active ?? null });
    }
    return { addedToOrg, products };
  }

  async listDomains(): Promise<OrgDomainRecord[]> {
    const endpoint = this.path('/domains');
    const out: OrgDomainRecord[] = [];
    for await (const page of this.pages(new URL(endpoint, this.base), endpoint, domainsPageSchema)) {
      for (const d of page.data) out.push({ domain: d.attributes.name.toLowerCase(), verified: (d.attributes.claim?.status ?? '').toUpperCase() === 'VERIFIED' });
    }
    return out;
  }

  /**
   * The organization's directory groups with their members: every directory (`GET /v2/orgs/{orgId}/directories`;
   * one under centralized user management), its groups (`…/directories/{directoryId}/groups`), and each
   * group's members. Atlassian documents no GET of a group's memberships (only add and remove), so the
   * members are the directory's users filtered by the group (`…/directories/{directoryId}/users?groupIds=`).
   */
  async listDirectoryGroups(): Promise<OrgDirectoryGroupRecord[]> {
    const directoriesEndpoint = this.path('/directories', 'v2');
    const directories: Array<{ id: string; name: string | null }> = [];
    for await (const page of this.pages(new URL(directoriesEndpoint, this.base), directoriesEndpoint, directoriesPageSchema)) {
      for (const d of page.data) directories.push({ id: d.directoryId, name: d.name ?? null });
    }
    const out: OrgDirectoryGroupRecord[] = [];
    for (const d of directories) {
      const groupsPath = this.path(`/directories/${encodeURIComponent(d.id)}/groups`, 'v2');
      for await (const page of this.pages(new URL(groupsPath, this.base), this.path('/directories/{directoryId}/groups', 'v2'), directoryGroupsPageSchema)) {
        for (const g of page.data) out.push({ directoryId: d.id, directoryName: d.name, groupId: g.id, name: g.name, description: g.description ?? null, memberAccountIds: [] });
      }
    }
    await Promise.all(
      out.map(async (g) => {
        const usersPath = this.path(`/directories/${encodeURIComponent(g.directoryId)}/users`, 'v2');
        const first = new URL(usersPath, this.base);
        first.searchParams.set('groupIds', g.groupId);
        const members = new Set<string>();
        for await (const page of this.pages(first, this.path('/directories/{directoryId}/users', 'v2'), directoryUsersPageSchema)) for (const u of page.data) members.add(u.accountId);
        g.memberAccountIds = [...members].sort();
      }),
    );
    return out;
  }
}
