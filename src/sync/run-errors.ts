import { RosterError, errorMessage } from '../errors.ts';
import { scrubSecrets } from '../log.ts';

/** Any error as a RosterError: an abort is `sync_aborted`, anything unexpected `internal`. */
export function toRosterError(error: unknown): RosterError {
  if (error instanceof RosterError) return error;
  if (error instanceof Error && error.name === 'AbortError') return new RosterError('sync_aborted', 'The sync was interrupted.', { cause: error });
  return new RosterError('internal', scrubSecrets(errorMessage(error)), { cause: error });
}

/**
 * Log fields for an error that is logged rather than thrown: its code (Roster's, or the driver's
 * SQLSTATE / errno name) and its scrubbed message.
 */
export function errorLogFields(error: unknown): { code: string; err: string } {
  const own = (error as { code?: unknown } | null)?.code;
  return { code: typeof own === 'string' ? own : 'internal', err: scrubSecrets(errorMessage(error)) };
}
