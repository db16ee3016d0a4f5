import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { ConnectorError } from '../../src/errors.ts';
import { type HttpClient, type HttpResponse, endpointLabel, parseJsonBody } from '../../src/http/index.ts';
import { scrubSecrets } from '../../src/log.ts';
import { splitScopes, type Authorizer } from './credentials.ts';
import { errorBodySchema, pageEnvelopeSchema } from './schemas.ts';

/** What to tell the operator when an endpoint refuses (403) or does not know the object (404). */
export interface EndpointAdvice {
  forbidden?: string;
  notFound?: string;
}

export interface ListingSpec<T> {
  /** Path segments after the API root, e.g. `['2.0', 'repositories', ws]`; each is URL-encoded. */
  segments: readonly string[];
  query?: Record<string, string>;
  /** The endpoint's largest page size. */
  pagelen: number;
  item: z.ZodType<T>;
  /** The item's identity in this listing: a page that repeats one means the listing is looping. */
  key: (item: T) => string;
  advice?: EndpointAdvice;
  signal?: AbortSignal;
}

export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  json: unknown;
}

/** Most 4xx bodies from Bitbucket: `{type:"error", error:{message, detail}}`. */
export interface SourceError {
  message: string | null;
  detail: string | null;
  requiredScopes: string[] | null;
  grantedScopes: string[] | null;
  /** What a 400 said about each offending field, e.g. `q: Invalid field name`. */
  fields: string[] | null;
}

export function parseSourceError(body: string): SourceError {
  const empty: SourceError = { message: null, detail: null, requiredScopes: null, grantedScopes: null, fields: null };
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return empty;
  }
  const parsed = errorBodySchema.safeParse(json);
  if (!parsed.success) return empty;
  const { message, detail } = parsed.data.error;
  const fields = parsed.data.error.fields
    ? Object.entries(parsed.data.error.fields).map(([name, said]) => `${name}: ${(Array.isArray(said) ? said : [said]).join('; ')}`)
    : null;
  const base = { ...empty, message: message ?? null, fields: fields && fields.length > 0 ? fields : null };
  if (typeof detail === 'string' || detail == null) return { ...base, detail: detail ?? null };
  return { ...base, requiredScopes: detail.required ?? null, grantedScopes: detail.granted ?? null };
}

/** Describes a JSON value's type for validation messages (never the value itself: it could be personal data). */
function typeOf(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out === '' ? String(key) : `.${String(key)}`;
  return out || '(body)';
}

/**
 * The Bitbucket API as one integration sees it: every URL is built from the integration's own base
 * URL and workspace, `next` links are followed only within the listing they came from, and every
 * failure becomes a `ConnectorError` naming the endpoint (path only) and what would fix it.
 */
interface PoolMember {
  http: HttpClient;
  auth: Authorizer;
  /** How messages name it: an e-mail, a consumer key, "access token 2" — never a secret. */
  label: string;
  out: boolean;
}

export class BitbucketApi {
  private readonly root: URL;
  /** Scopes the source reported most recently (`X-OAuth-Scopes`). */
  lastScopesHeader: string[] | null = null;
  /** `X-Credential-Type` as the source reported it. */
  lastCredentialType: string | null = null;

  /**
   * The credential pool: the integration's credential first, then any more of the same workspace,
   * each with its own HTTP client (and so its own budget). Requests go round the members still in
   * it; a member the API rejects (401 after a renewal) leaves the pool and the request is sent again
   * on another, so one revoked member fails no scope and removes nothing. The last member's 401 is
   * the run's, as with a single credential.
   */
  private readonly members: PoolMember[];
  private turn = 0;
  /** Members that left the pool in this run, for the run summary (labels only, never secrets). */
  readonly lost: Array<{ label: string; endpoint: string; message: string | null }> = [];
  /** During capability detection: every request on the first member, whose answers decide what is read. */
  pinned = false;

  constructor(
    http: HttpClient,
    auth: Authorizer,
    baseUrl: string,
    readonly workspace: string,
    pool: ReadonlyArray<{ http: HttpClient; auth: Authorizer; label: string }> = [],
    private readonly onLost?: (member: { label: string; endpoint: string; message: string | null; left: number }) => void,
  ) {
    this.root = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
    this.members = [{ http, auth, label: 'the integration\'s credential', out: false }, ...pool.map((m) => ({ ...m, out: false }))];
  }

  /** How many members are still in the pool. */
  get liveMembers(): number {
    return this.members.filter((m) => !m.out).length;
  }

  private pick(): PoolMember {
    const live = this.members.filter((m) => !m.out);
    if (this.pinned || live.length <= 1) return (live[0] ?? this.members[0]) as PoolMember;
    // The member whose budget has the most room, ties going round: each is paced on its own allowance.
    this.turn = (this.turn + 1) % live.length;
    let best = live[this.turn] as PoolMember;
    for (const m of live) if (m.http.budgetRoom() > best.http.budgetRoom()) best = m;
    return best;
  }

  url(segments: readonly string[], query: Record<string, string> = {}): URL {
    const base = this.root.pathname.replace(/\/+$/, '');
    const url = new URL(this.root.origin);
    url.pathname = `${base}/${segments.map((s) => encodeURIComponent(s)).join('/')}`;
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    return url;
  }

  /** The endpoint label for errors and logs: path only, never host or query. */
  endpointOf(url: URL): string {
    return endpointLabel(url);
  }

  /** GET that returns the raw status for the caller to interpret (used by capability detection). */
  async getRaw(url: URL, signal?: AbortSignal, continuation = false): Promise<HttpResponse> {
    const endpoint = this.endpointOf(url);
    let member = this.pick();
    for (let renewed = false; ; renewed = true) {
      let used = '';
      const { http, auth } = member;
      const res = await http.request({
        method: 'GET',
        url,
        endpoint,
        signal,
        continuation,
        headers: async () => {
          used = await auth.authorization(signal);
          return { authorization: used };
        },
      });
      this.observe(res.headers);
      if (res.status === 401) {
        if (!renewed && (await auth.renew(used, signal))) continue;
        const message = scrubSecrets(parseSourceError(res.body).message ?? '') || null;
        // A member rejected while others remain leaves the pool; the request goes to another member.
        if (!this.pinned && this.liveMembers > 1 && !member.out) {
          member.out = true;
          this.lost.push({ label: member.label, endpoint, message });
          this.onLost?.({ label: member.label, endpoint, message, left: this.liveMembers });
          member = this.pick();
          continue;
        }
        if (member.out && this.liveMembers > 0) {
          // Another request already took this member out: send this one on a live member too.
          member = this.pick();
          continue;
        }
        throw auth.unauthorized(endpoint, message);
      }
      return res;
    }
  }

  /** GET a JSON body; any status but 200 becomes a `ConnectorError`. */
  async getJson(url: URL, advice: EndpointAdvice = {}, signal?: AbortSignal, continuation = false): Promise<ApiResponse> {
    const res = await this.getRaw(url, signal, continuation);
    if (res.status !== 200) throw this.failure(url, res, advice);
    return { status: res.status, headers: res.headers, json: this.parseJson(url, res.body) };
  }

  /** GET and validate with `schema`. */
  async getParsed<T>(url: URL, schema: z.ZodType<T>, advice: EndpointAdvice = {}, signal?: AbortSignal): Promise<T> {
    const { json } = await this.getJson(url, advice, signal);
    return this.validate(url, schema, json);
  }

  /**
   * Follows a paginated listing page by page. A `next` link must stay on this listing's host and path
   * (the integration's workspace); one already followed, or a page that repeats an item already
   * listed, is a `page_loop` — the listing is not trustworthy, so it is never silently deduplicated.
   */
  async *paginate<T>(spec: ListingSpec<T>): AsyncGenerator<T[]> {
    const first = this.url(spec.segments, { ...spec.query, pagelen: String(spec.pagelen) });
    const endpoint = this.endpointOf(first);
    const followed = new Set<string>();
    const seen = new Set<string>();
    let url: URL | null = first;
    let emptyPagesInARow = 0;
    while (url) {
      followed.add(url.href);
      const { json } = await this.getJson(url, spec.advice, spec.signal, url !== first);
      const page = this.validate(url, pageEnvelopeSchema, json);
      const items: T[] = [];
      for (let i = 0; i < page.values.length; i += 1) {
        const parsed = spec.item.safeParse(page.values[i]);
        if (!parsed.success) throw this.invalid(url, parsed.error, page.values[i], ['values', i]);
        const key = spec.key(parsed.data);
        // A 96-bit digest, not the key: Bitbucket's effective-permission listing runs to millions of
        // items, and the keys (cons strings holding two uuids) kept ~500 MB alive until it ended.
        const digest = createHash('sha1').update(key).digest('base64').slice(0, 16);
        if (seen.has(digest)) {
          throw new ConnectorError('page_loop', `GET ${endpoint} listed ${key} twice: the listing repeats items, so it cannot be trusted to be complete`, {
            endpoint,
            httpStatus: 200,
            retryable: true,
            advice: 'Nothing from this scope was revoked. The next run retries; if it persists the source is paginating inconsistently.',
          });
        }
        seen.add(digest);
        items.push(parsed.data);
      }
      yield items;
      if (!page.next) return;
      const next = this.followable(url, first, page.next);
      if (followed.has(next.href)) {
        throw new ConnectorError('page_loop', `GET ${endpoint} returned a next link that was already followed`, {
          endpoint,
          httpStatus: 200,
          retryable: true,
          advice: 'Nothing from this scope was revoked. The next run retries; if it persists the source is paginating inconsistently.',
        });
      }
      emptyPagesInARow = page.values.length === 0 ? emptyPagesInARow + 1 : 0;
      if (emptyPagesInARow >= 3) {
        throw new ConnectorError('page_loop', `GET ${endpoint} returned empty pages that keep linking to more pages`, {
          endpoint,
          httpStatus: 200,
          retryable: true,
          advice: 'Nothing from this scope was revoked. The next run retries.',
        });
      }
      url = next;
    }
  }

  /** A `next` link is followed only on the same host and path as the listing's first page. */
  private followable(current: URL, first: URL, href: string): URL {
    const endpoint = this.endpointOf(first);
    let next: URL;
    try {
      next = new URL(href, current);
    } catch (cause) {
      throw new ConnectorError('malformed_response', `GET ${endpoint} returned a next link that is not a URL`, { endpoint, httpStatus: 200, cause });
    }
    if (next.origin !== first.origin || this.endpointOf(next) !== endpoint) {
      // Credentials only ever go to this integration's own listing, whatever a response says.
      throw new ConnectorError('malformed_response', `GET ${endpoint} returned a next link outside this listing (${next.origin === first.origin ? 'another path' : 'another host'}); it was not followed`, {
        endpoint,
        httpStatus: 200,
        advice: `The integration is bound to ${first.origin} and workspace "${this.workspace}". Check the base URL; nothing from this scope was revoked.`,
      });
    }
    return next;
  }

  parseJson(url: URL, body: string): unknown {
    return parseJsonBody(this.endpointOf(url), body);
  }

  validate<T>(url: URL, schema: z.ZodType<T>, json: unknown): T {
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw this.invalid(url, parsed.error, json, []);
    return parsed.data;
  }

  private invalid(url: URL, error: z.ZodError, root: unknown, prefix: readonly PropertyKey[]): ConnectorError {
    const endpoint = this.endpointOf(url);
    const issue = error.issues[0];
    const path = [...prefix, ...(issue?.path ?? [])];
    const actual = typeOf(valueAt(root, issue?.path ?? []));
    const expected = issue && 'expected' in issue && typeof issue.expected === 'string' ? issue.expected : null;
    const values = issue && 'values' in issue && Array.isArray(issue.values) ? (issue.values as unknown[]).map(String).join(' | ') : null;
    const want = values ? `one of ${values}` : (expected ?? issue?.message ?? 'a valid value');
    return new ConnectorError('malformed_response', `GET ${endpoint}: field ${formatPath(path)} should be ${want} but is ${actual}`, {
      endpoint,
      httpStatus: 200,
      advice: 'Nothing from this scope was revoked. The source sent a body Roster does not understand; report it with the endpoint and field.',
    });
  }

  /** Turns a non-200 response into the `ConnectorError` for it. */
  failure(url: URL, res: HttpResponse, advice: EndpointAdvice): ConnectorError {
    const endpoint = this.endpointOf(url);
    const source = parseSourceError(res.body);
    const said = scrubSecrets([source.message, source.detail, source.fields ? `(${source.fields.join(', ')})` : null].filter(Boolean).join(': '));
    const suffix = said ? `: ${said}` : '';
    if (res.status === 403) {
      const required = source.requiredScopes?.length ? ` (required scope: ${source.requiredScopes.join(', ')})` : '';
      return new ConnectorError('forbidden', `GET ${endpoint} was refused (403)${suffix}${required}`, {
        endpoint,
        httpStatus: 403,
        advice: advice.forbidden ?? 'The credential lacks a scope or admin rights for this endpoint.',
      });
    }
    if (res.status === 404 || res.status === 410) {
      return new ConnectorError('not_found', `GET ${endpoint} answered ${res.status}${suffix}`, {
        endpoint,
        httpStatus: res.status,
        advice: advice.notFound ?? `Check the workspace slug "${this.workspace}"; the object may have been deleted or renamed during the run.`,
      });
    }
    return new ConnectorError('internal', `GET ${endpoint} answered ${res.status}${suffix}`, {
      endpoint,
      httpStatus: res.status,
      advice: 'Bitbucket rejected the request itself; this is a Roster bug. Report it with the endpoint.',
    });
  }

  private observe(headers: Record<string, string>): void {
    const scopes = headers['x-oauth-scopes'];
    if (scopes !== undefined) this.lastScopesHeader = splitScopes(scopes);
    const type = headers['x-credential-type'];
    if (type !== undefined) this.lastCredentialType = type;
  }
}
