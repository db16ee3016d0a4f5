/**
 * Every error Roster raises on purpose carries a `code`, a `retryable` flag and, where there was one,
 * the `cause`. Messages name the problem and the fix; they never contain a secret.
 */
export type ErrorCode =
  // configuration and input
  | 'config_invalid'
  | 'input_invalid'
  | 'integration_exists'
  | 'integration_not_found'
  // database
  | 'db_url_invalid'
  | 'db_unreachable'
  | 'db_locked'
  | 'migration_failed'
  // secrets
  | 'secret_key_missing'
  | 'secret_key_wrong'
  | 'secret_missing'
  // source API (per scope or per run)
  | 'unauthorized' // 401: credential expired, revoked or wrong
  | 'forbidden' // 403: credential lacks a scope or admin rights
  | 'not_found' // 404: wrong workspace slug, or the object vanished
  | 'rate_limited' // 429 after retries
  | 'budget_exhausted' // paced out of the hourly budget: pause and resume later
  | 'server_error' // 5xx after retries
  | 'network_error' // reset, timeout, DNS after retries
  | 'malformed_response' // body is not JSON or fails the schema
  | 'page_loop' // a `next` link that was already followed, or a page that repeats items
  | 'oauth_revoked' // the OAuth grant was revoked: the integration needs a new consumer
  // sync engine
  | 'sync_locked'
  | 'sync_aborted'
  | 'internal';

export class RosterError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** Extra structured facts for logs and run rows (endpoint, HTTP status, advice). Never secrets. */
  readonly details: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { retryable?: boolean; cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RosterError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }
}

/** A failure reading from a source API. `endpoint` is the path without host or query secrets. */
export class ConnectorError extends RosterError {
  readonly httpStatus: number | null;
  readonly endpoint: string;
  /** What the operator should do: which credential, scope or slug would fix it. */
  readonly advice: string | null;
  /** For `budget_exhausted` and `rate_limited`: when the source will accept requests again. */
  readonly resumeAt: Date | null;

  constructor(
    code: ErrorCode,
    message: string,
    options: {
      endpoint: string;
      httpStatus?: number | null;
      advice?: string | null;
      retryable?: boolean;
      resumeAt?: Date | null;
      cause?: unknown;
    },
  ) {
    super(code, message, {
      retryable: options.retryable,
      cause: options.cause,
      details: { endpoint: options.endpoint, httpStatus: options.httpStatus ?? null, advice: options.advice ?? null },
    });
    this.name = 'ConnectorError';
    this.httpStatus = options.httpStatus ?? null;
    this.endpoint = options.endpoint;
    this.advice = options.advice ?? null;
    this.resumeAt = options.resumeAt ?? null;
  }
}

/** Errors that end the whole run, not just one scope: the credential itself stopped working. */
export function isRunFatal(error: unknown): boolean {
  return error instanceof RosterError && (error.code === 'unauthorized' || error.code === 'oauth_revoked' || error.code === 'budget_exhausted' || error.code === 'sync_aborted');
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
