import pino, { type Logger } from 'pino';

/**
 * The one list of log paths that may hold a secret. Reviewed: add to it whenever a new object with
 * credentials can reach a log call. Values of known secrets are also scrubbed by `scrubSecrets`.
 */
export const REDACT_PATHS = [
  'secret',
  'token',
  'password',
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'request.headers.authorization',
  'credential',
  'credentials',
  '*.secret',
  '*.token',
  '*.password',
  '*.authorization',
  '*.access_token',
  '*.refresh_token',
  '*.client_secret',
  'access_token',
  'refresh_token',
  'client_secret',
  'encryptionKey',
  '*.encryptionKey',
];

const knownSecrets = new Set<string>();

/** Registers a secret value so any log line or error message containing it is scrubbed. */
export function registerSecret(value: string | null | undefined): void {
  if (value && value.length >= 6) knownSecrets.add(value);
}

export function scrubSecrets(text: string): string {
  let out = text;
  for (const secret of knownSecrets) {
    if (out.includes(secret)) out = out.split(secret).join('[redacted]');
  }
  return out;
}

function createRootLogger(): Logger {
  // Interactive commands print their story on stdout; the log stays quiet unless asked (serve sets info).
  const level = process.env.ROSTER_LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'warn');
  return pino(
    {
      level,
      base: { app: 'roster' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      hooks: {
        // Scrub known secret values wherever they appear in a message or its string arguments.
        logMethod(args, method) {
          method.apply(
            this,
            args.map((a) => (typeof a === 'string' ? scrubSecrets(a) : a)) as Parameters<typeof method>,
          );
        },
      },
      formatters: {
        log(object) {
          const scrubbed: Record<string, unknown> = {};
          for (const [k, v] of Object.entries(object)) scrubbed[k] = typeof v === 'string' ? scrubSecrets(v) : v;
          return scrubbed;
        },
      },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}

/** The root logger: structured JSON on stderr. Child loggers bind run_id, integration, stream. */
export const logger: Logger = createRootLogger();

/** Raises the default level for long-running processes (`roster serve`), unless ROSTER_LOG_LEVEL decides. */
export function useServiceLogLevel(): void {
  if (!process.env.ROSTER_LOG_LEVEL && !process.env.VITEST) logger.level = 'info';
}

export type { Logger };
