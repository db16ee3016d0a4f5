import { ConnectorError } from '../errors.ts';

/**
 * A 200's body as JSON, or a retryable `malformed_response` naming the endpoint and the body's size
 * (never the body: it may hold what a proxy injected, or secrets). Every connector reads its pages
 * through this, so a truncated or rewritten answer fails its scope the same way everywhere.
 */
export function parseJsonBody(endpoint: string, body: string): unknown {
  try {
    return JSON.parse(body);
  } catch (cause) {
    throw new ConnectorError('malformed_response', `GET ${endpoint} returned a body that is not JSON (${body.length} bytes)`, {
      endpoint,
      httpStatus: 200,
      retryable: true,
      cause,
      advice: 'Nothing from this scope was revoked. The next run retries; a proxy in front of the API may be rewriting responses.',
    });
  }
}

/** The endpoint label for errors and logs: the decoded path only, never host or query (which may carry tokens). */
export function endpointLabel(url: URL): string {
  try {
    return decodeURIComponent(url.pathname);
  } catch {
    return url.pathname;
  }
}
