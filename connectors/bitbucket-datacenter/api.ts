/**
 * The Data Center REST API as one integration sees it, over the engine's HTTP client (pacing, retries
 * of 429/5xx with `Retry-After`, budget, redaction): URLs built from the integration's base URL only,
 * Data Center's paging (`start`/`limit`, `isLastPage`, `nextPageStart`) with loop checks, and every
 * failure a `ConnectorError` naming the endpoint and what would fix it.
 */
import type { z } from 'zod';
import { ConnectorError } from '../../src/errors.ts';
import { type HttpClient, type HttpResponse, endpointLabel, parseJsonBody } from '../../src/http/index.ts';
import { registerSecret, scrubSecrets } from '../../src/log.ts';
import { errorBodySchema, pageSchema } from './schemas.ts';

export type DcCredential = { kind: 'http-access-token'; token: string } | { kind: 'basic'; username: string; password: string };

/** The largest page Roster asks for. Data Center caps `limit` per resource (1,000 by default); a server that caps lower just sends smaller pages. */
export const PAGE_LIMIT = 1000;

export interface DcListing<T> {
  /** Path below `/rest`, e.g. `/api/latest/admin/users` (segments already encoded). */
  path: string;
  query?: Record<string, string>;
  item: z.ZodType<T>;
  key: (item: T) => string;
  /** What to tell the operator on a refusal (401 "not permitted") and on a 404. */
  notPermitted: string;
  notFound?: string;
  signal?: AbortSignal;
}

interface SourceError {
  message: string | null;
  exceptionName: string | null;
}

function parseSourceError(body: string): SourceError {
  try {
    const parsed = errorBodySchema.safeParse(JSON.parse(body));
    const first = parsed.success ? parsed.data.errors[0] : undefined;
    return { message: first?.message ?? null, exceptionName: first?.exceptionName ?? null };
  } catch {
    return { message: null, exceptionName: null };
  }
}

/**
 * Data Center answers a caller that is authenticated but not permitted with 401 and an
 * `AuthorisationException` (the spec's "The currently authenticated user has insufficient
 * permissions"); a rejected credential is a 401 with an authentication exception. The first is a
 * coverage gap of one scope, the second ends the run.
 */
export function isNotPermitted(res: { status: number; body: string }): boolean {
  if (res.status === 403) return true;
  if (res.status !== 401) return false;
  const { exceptionName, message } = parseSourceError(res.body);
  return /Authori[sz]ation|NotPermitted|InsufficientPermission/i.test(exceptionName ?? '') || /not permitted/i.test(message ?? '');
}

export class DcApi {
  private readonly root: URL;
  private readonly authorization: string;
  /** `X-AUSERNAME` as the server last reported it: who the credential acts as. */
  lastUsername: string | null = null;
  lastUserId: string | null = null;

  constructor(
    private readonly http: HttpClient,
    baseUrl: string,
    readonly credential: DcCredential,
  ) {
    this.root = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
    this.authorization =
      credential.kind === 'http-access-token' ? `Bearer ${credential.token}` : `Basic ${Buffer.from(`${credential.username}:${credential.password}`, 'utf8').toString('base64')}`;
    registerSecret(this.authorization);
    registerSecret(credential.kind === 'http-access-token' ? credential.token : credential.password);
  }

  url(path: string, query: Record<string, string> = {}): URL {
    const url = new URL(this.root.origin);
    url.pathname = `${this.root.pathname.replace(/\/+$/, '')}/rest${path}`;
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    return url;
  }

  /** The endpoint label for errors and logs: path only, never host or query. */
  endpointOf(url: URL): string {
    return endpointLabel(url);
  }

  /** GET with the credential; the status is the caller's to read, except a rejected credential (fatal). */
  async getRaw(url: URL, signal?: AbortSignal, continuation = false): Promise<HttpResponse> {
    const endpoint = this.endpointOf(url);
    const res = await this.http.request({ method: 'GET', url, endpoint, signal, continuation, headers: () => ({ authorization: this.authorization }) });
    if (res.headers['x-ausername']) this.lastUsername = res.headers['x-ausername'];
    if (res.headers['x-auserid']) this.lastUserId = res.headers['x-auserid'];
    if (res.status === 401 && !isNotPermitted(res)) {
      const said = scrubSecrets(parseSourceError(res.body).message ?? '');
      throw new ConnectorError('unauthorized', `Bitbucket Data Center rejected the ${this.credential.kind === 'basic' ? 'username and password' : 'HTTP access token'} (401) at ${endpoint}${said ? `: ${said}` : ''}`, {
        endpoint,
        httpStatus: 401,
        advice:
          this.credential.kind === 'basic'
            ? 'Check the username and password (or use an HTTP access token of a system administrator: Profile → Manage account → HTTP access tokens, project and repository permission Admin) and update the integration.'
            : 'The token was revoked, expired or its owner was deactivated. Create an HTTP access token of a system administrator (Profile → Manage account → HTTP access tokens, project and repository permission Admin) and update the integration.',
      });
    }
    return res;
  }

  async getParsed<T>(url: URL, schema: z.ZodType<T>, notPermitted: string, signal?: AbortSignal): Promise<T> {
    const res = await this.getRaw(url, signal);
    if (res.status !== 200) throw this.failure(url, res, notPermitted);
    return this.validate(url, schema, this.parseJson(url, res.body));
  }

  /**
   * Follows a listing page by page: `nextPageStart` must move forward and never come back, a page that
   * is not the last must say where the next starts, and no item may be listed twice — a listing that
   * breaks any of these is a `page_loop` or `malformed_response`, never silently deduplicated.
   */
  async *paginate<T>(spec: DcListing<T>): AsyncGenerator<T[]> {
    let start = 0;
    const asked = new Set<number>();
    const seen = new Set<string>();
    let first = true;
    for (;;) {
      const url = this.url(spec.path, { ...spec.query, start: String(start), limit: String(PAGE_LIMIT) });
      const endpoint = this.endpointOf(url);
      asked.add(start);
      const res = await this.getRaw(url, spec.signal, !first);
      first = false;
      if (res.status !== 200) throw this.failure(url, res, spec.notPermitted, spec.notFound);
      const page = this.validate(url, pageSchema, this.parseJson(url, res.body));
      const items: T[] = [];
      for (let i = 0; i < page.values.length; i++) {
        const parsed = spec.item.safeParse(page.values[i]);
        if (!parsed.success) throw this.invalid(url, parsed.error, ['values', i]);
        const key = spec.key(parsed.data);
        if (seen.has(key)) {
          throw new ConnectorError('page_loop', `GET ${endpoint} listed ${key} twice: the listing repeats items, so it cannot be trusted to be complete`, {
            endpoint,
            httpStatus: 200,
            retryable: true,
            advice: 'Nothing from this scope was revoked. The next run retries; if it persists the server is paging inconsistently.',
          });
        }
        seen.add(key);
        items.push(parsed.data);
      }
      yield items;
      if (page.isLastPage) return;
      const next = page.nextPageStart;
      if (next === null || next === undefined) {
        throw new ConnectorError('malformed_response', `GET ${endpoint} said the page is not the last but gave no nextPageStart`, { endpoint, httpStatus: 200, retryable: true, advice: 'Nothing from this scope was revoked. The next run retries.' });
      }
      if (next <= start || asked.has(next)) {
        throw new ConnectorError('page_loop', `GET ${endpoint} gave nextPageStart ${next} after start ${start}: the listing pages backwards`, {
          endpoint,
          httpStatus: 200,
          retryable: true,
          advice: 'Nothing from this scope was revoked. The next run retries; if it persists the server is paging inconsistently.',
        });
      }
      start = next;
    }
  }

  parseJson(url: URL, body: string): unknown {
    return parseJsonBody(this.endpointOf(url), body);
  }

  validate<T>(url: URL, schema: z.ZodType<T>, json: unknown): T {
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw this.invalid(url, parsed.error, []);
    return parsed.data;
  }

  private invalid(url: URL, error: z.ZodError, prefix: readonly PropertyKey[]): ConnectorError {
    const endpoint = this.endpointOf(url);
    const issue = error.issues[0];
    const path = [...prefix, ...(issue?.path ?? [])].map(String).join('.') || '(body)';
    return new ConnectorError('malformed_response', `GET ${endpoint}: field ${path} ${issue?.message ?? 'is invalid'}`, {
      endpoint,
      httpStatus: 200,
      advice: 'Nothing from this scope was revoked. The server sent a body Roster does not understand; report it with the endpoint and field.',
    });
  }

  failure(url: URL, res: HttpResponse, notPermitted: string, notFound?: string): ConnectorError {
    const endpoint = this.endpointOf(url);
    const said = scrubSecrets(parseSourceError(res.body).message ?? '');
    const suffix = said ? `: ${said}` : '';
    if (isNotPermitted(res)) return new ConnectorError('forbidden', `GET ${endpoint} was refused (${res.status}, not permitted)${suffix}`, { endpoint, httpStatus: res.status, advice: notPermitted });
    if (res.status === 404) {
      return new ConnectorError('not_found', `GET ${endpoint} answered 404${suffix}`, { endpoint, httpStatus: 404, advice: notFound ?? 'The project or repository was deleted or renamed during the run; the next run reads it again.' });
    }
    return new ConnectorError('internal', `GET ${endpoint} answered ${res.status}${suffix}`, { endpoint, httpStatus: res.status, advice: 'Bitbucket rejected the request itself; this is a Roster bug. Report it with the endpoint.' });
  }
}
