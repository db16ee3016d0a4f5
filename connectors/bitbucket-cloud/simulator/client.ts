/**
 * Test helper: an HTTP client for the simulator's tests (plain `fetch`, so every request is real
 * HTTP), with the `Authorization` header each credential kind uses.
 */
import type { SimCredential, SimCredentialName, Simulator } from './types.ts';

export function authorizationFor(cred: SimCredential, oauthAccessToken?: string): string {
  switch (cred.kind) {
    case 'api-token':
      return `Basic ${Buffer.from(`${cred.email}:${cred.token}`).toString('base64')}`;
    case 'app-password':
      return `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
    case 'oauth-client-credentials':
      if (!oauthAccessToken) throw new Error('an OAuth request needs an access token from the token endpoint');
      return `Bearer ${oauthAccessToken}`;
    default:
      return `Bearer ${cred.token}`;
  }
}

export interface TokenResponse {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  scopes: string;
  token_type: string;
  state: string;
}

export async function oauthToken(sim: Simulator, form: Record<string, string> = { grant_type: 'client_credentials' }): Promise<{ status: number; body: Record<string, unknown> }> {
  const { clientId, clientSecret } = sim.credentials.oauth;
  const res = await fetch(`${sim.baseUrl}/site/oauth2/access_token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

export interface SimResponse {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed body, or undefined when it is not JSON. */
  json: unknown;
}

export class SimClient {
  private oauthAccess: string | undefined;

  constructor(private readonly sim: Simulator) {}

  async header(name: SimCredentialName | null): Promise<Record<string, string>> {
    if (name === null) return {};
    const cred = this.sim.credentials[name];
    if (cred.kind === 'oauth-client-credentials' && !this.oauthAccess) {
      const { body } = await oauthToken(this.sim);
      this.oauthAccess = String(body.access_token);
    }
    return { authorization: authorizationFor(cred, this.oauthAccess) };
  }

  /** GETs a path (`/2.0/…`) or an absolute URL (a `next` link, followed as given). */
  async get(pathOrUrl: string, as: SimCredentialName | null = 'adminApiToken'): Promise<SimResponse> {
    const url = pathOrUrl.startsWith('http') ? pathOrUrl : `${this.sim.baseUrl}${pathOrUrl}`;
    const res = await fetch(url, { headers: await this.header(as) });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text) as unknown;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  }

  /** Follows `next` links from `path` and returns every value (fails on a non-200 page). */
  async all<T = Record<string, unknown>>(path: string, as: SimCredentialName = 'adminApiToken', maxPages = 10_000): Promise<T[]> {
    const out: T[] = [];
    let url: string | undefined = path;
    for (let i = 0; url && i < maxPages; i++) {
      const res = await this.get(url, as);
      if (res.status !== 200) throw new Error(`GET ${url} → ${res.status} ${res.text.slice(0, 300)}`);
      const body = res.json as { values: T[]; next?: string };
      out.push(...body.values);
      url = body.next;
    }
    return out;
  }
}
