import fs from 'node:fs';
import path from 'node:path';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import { RosterError, errorMessage } from '../errors.ts';
import type { Database } from './types.ts';

export type { Database } from './types.ts';

/** Where the embedded database lives unless `ROSTER_DATA_DIR` or `--data-dir` says otherwise. */
export const DEFAULT_DATA_DIR = './.roster';

/**
 * Connections one running sync may hold at once on a server: the session that keeps its advisory
 * lock for the whole run (src/db/lock.ts), the one its batches are written on, and one for the
 * heartbeat and the reads between batches.
 */
export const CONNECTIONS_PER_SYNC = 3;
/** Connections besides the syncs: GET /status, /metrics and the reviewer pages, and the scheduler's own reads. */
export const CONNECTIONS_BESIDES_SYNCS = 2;

/** The smallest pool that lets `concurrentSyncs` syncs run at once without waiting on one another for connections. */
export function poolSizeFor(concurrentSyncs: number): number {
  return concurrentSyncs * CONNECTIONS_PER_SYNC + CONNECTIONS_BESIDES_SYNCS;
}

/**
 * How many syncs one `roster serve` runs at once unless told otherwise (see `Scheduler`). A sync
 * mostly waits on the API's pacing and works the CPU in bursts (writes, effective access): four keep
 * a small machine busy without slowing every run, and four replicas' pools (4 × 14) fit PostgreSQL's
 * default max_connections of 100.
 */
export const DEFAULT_MAX_CONCURRENT_SYNCS = 4;
/** The server pool's size unless ROSTER_DB_POOL_SIZE or `database.poolSize` says otherwise: enough for the default concurrency. */
export const DEFAULT_POOL_SIZE = poolSizeFor(DEFAULT_MAX_CONCURRENT_SYNCS);

export type DatabaseTarget =
  /** `poolSize`: connections this process may open to the server (default `DEFAULT_POOL_SIZE`). */
  | { kind: 'server'; url: string; poolSize?: number }
  /** `dataDir` is Roster's data directory; the database itself lives in `<dataDir>/db`. Null: in memory. */
  | { kind: 'embedded'; dataDir: string | null };

export interface RosterDatabase {
  db: Kysely<Database>;
  target: DatabaseTarget;
  /** Where the data is, for messages: the masked URL or the data directory. */
  description: string;
  close(): Promise<void>;
}

/** Chooses the database from the environment: `DATABASE_URL` wins, else the embedded default. */
export function targetFromEnv(env: NodeJS.ProcessEnv, dataDirOverride?: string, poolSize?: number): DatabaseTarget {
  const url = env.DATABASE_URL?.trim();
  if (url) return { kind: 'server', url, ...(poolSize !== undefined ? { poolSize } : {}) };
  return { kind: 'embedded', dataDir: dataDirOverride ?? env.ROSTER_DATA_DIR ?? DEFAULT_DATA_DIR };
}

/** The URL with its password replaced, safe for messages and logs. */
export function maskDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '*****';
    // A password with an unescaped "/" or "?" spills into the path or query: show neither unless
    // the path is a plain database name.
    if (!/^\/[\w$-]*$/.test(parsed.pathname)) parsed.pathname = '/…';
    parsed.search = '';
    parsed.hash = '';
    return parsed.toString();
  } catch {
    // Unparseable: nothing of it is shown. Any part of it may be a password (a URL whose special
    // characters were not escaped is the usual way to get here).
    return '(value not shown)';
  }
}

export function parseDatabaseUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RosterError('db_url_invalid', 'DATABASE_URL does not parse as a URL (its value is not shown: it may hold a password). Expected postgres://user:password@host:5432/database, with special characters in the password percent-encoded (e.g. @ as %40).');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    // "user:password@host" without a scheme parses with the user name as its scheme: echo it only when it looks like one.
    const scheme = url.trim().startsWith(`${parsed.protocol}//`) ? ` (got ${parsed.protocol}//)` : '';
    throw new RosterError('db_url_invalid', `DATABASE_URL must start with postgres:// or postgresql://${scheme}. Expected postgres://user:password@host:5432/database.`);
  }
  if (!parsed.hostname) {
    throw new RosterError('db_url_invalid', `DATABASE_URL has no host (${maskDatabaseUrl(url)}). Expected postgres://user:password@host:5432/database.`);
  }
  return parsed;
}

/**
 * Opens the database and proves it answers. Failure is one clear line: which database, what failed,
 * and what to do, never a stack trace.
 */
export async function openDatabase(target: DatabaseTarget, options: EmbeddedLockOptions = {}): Promise<RosterDatabase> {
  return target.kind === 'server' ? openServer(target) : openEmbedded(target, options);
}

export interface EmbeddedLockOptions {
  /** What this process is, written into the lock file: `status` marks a short check others may wait out. */
  purpose?: string;
  /** How long to wait for a short check (`purpose: status`) to let go of the embedded database. Default 0. */
  waitForStatusMs?: number;
}

async function openServer(target: Extract<DatabaseTarget, { kind: 'server' }>): Promise<RosterDatabase> {
  parseDatabaseUrl(target.url);
  const masked = maskDatabaseUrl(target.url);
  const pool = new pg.Pool({ connectionString: target.url, max: target.poolSize ?? DEFAULT_POOL_SIZE, connectionTimeoutMillis: 10_000 });
  // An idle client losing its connection must not crash the process; the next query reports it.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    await sql`select 1`.execute(db);
  } catch (error) {
    await db.destroy().catch(() => {});
    throw new RosterError('db_unreachable', `Cannot connect to PostgreSQL at ${masked}: ${describePgError(error)}. Check DATABASE_URL and that the server is running, or unset DATABASE_URL to use the embedded database.`, { retryable: true, cause: error });
  }
  return { db, target, description: masked, close: () => db.destroy() };
}

function describePgError(error: unknown): string {
  const code = (error as { code?: string }).code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND') return 'host not found';
  if (code === 'ETIMEDOUT') return 'connection timed out';
  if (code === '28P01' || code === '28000') return 'authentication failed';
  if (code === '3D000') return 'database does not exist';
  const message = errorMessage(error) || (error instanceof AggregateError ? error.errors.map(errorMessage).join('; ') : '');
  return message || String(code ?? 'unknown error');
}

async function openEmbedded(target: Extract<DatabaseTarget, { kind: 'embedded' }>, options: EmbeddedLockOptions): Promise<RosterDatabase> {
  const { PGlite } = await import('@electric-sql/pglite');
  let release: () => void = () => {};
  let dbDir: string | undefined;
  if (target.dataDir !== null) {
    dbDir = path.resolve(target.dataDir, 'db');
    try {
      fs.mkdirSync(dbDir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new RosterError('db_unreachable', `Cannot create the embedded database directory ${dbDir}: ${errorMessage(error)}. Set ROSTER_DATA_DIR to a writable directory.`, { cause: error });
    }
    release = await lockDataDirWaiting(path.resolve(target.dataDir), options);
  }
  let client: InstanceType<typeof PGlite>;
  try {
    client = await PGlite.create(dbDir);
  } catch (error) {
    release();
    throw new RosterError('db_unreachable', `Cannot open the embedded database at ${dbDir ?? 'memory'}: ${errorMessage(error)}. If the directory is damaged, move it aside and run \`roster migrate\` again.`, { cause: error });
  }
  const db = new Kysely<Database>({ dialect: new PGliteDialect(client) });
  return {
    db,
    target,
    description: dbDir ? `embedded database at ${dbDir}` : 'embedded in-memory database',
    close: async () => {
      try {
        await db.destroy();
      } finally {
        release();
      }
    },
  };
}

/**
 * A monitor's `roster status` holds the embedded database for a second or two; a sync that starts
 * then (cron at 03:00, a check every minute) waits for it instead of failing. Any other holder is
 * refused at once, as before.
 */
async function lockDataDirWaiting(dataDir: string, options: EmbeddedLockOptions): Promise<() => void> {
  const deadline = Date.now() + (options.waitForStatusMs ?? 0);
  for (;;) {
    try {
      return lockDataDir(dataDir, options.purpose ?? 'roster');
    } catch (error) {
      if (!(error instanceof RosterError) || error.code !== 'db_locked' || error.details.purpose !== 'status' || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/**
 * The embedded database is a single-process store: two processes writing one data directory would
 * corrupt it. A pid lock file ("pid purpose") refuses the second process with a clear message.
 */
function lockDataDir(dataDir: string, purpose: string): () => void {
  const lockPath = path.join(dataDir, 'db.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockPath, `${process.pid} ${purpose}\n`, { flag: 'wx', mode: 0o600 });
      return () => {
        try {
          if (Number.parseInt(fs.readFileSync(lockPath, 'utf8'), 10) === process.pid) fs.unlinkSync(lockPath);
        } catch {
          // Already gone: nothing to release.
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const [pidText, holderPurpose] = fs.readFileSync(lockPath, 'utf8').trim().split(/\s+/);
      const holder = Number.parseInt(pidText ?? '', 10);
      if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) {
        throw new RosterError('db_locked', `The embedded database in ${dataDir} is in use by another Roster process (pid ${holder}). Wait for it to finish, or use a PostgreSQL server (DATABASE_URL) to run several processes at once.`, { retryable: true, details: { pid: holder, purpose: holderPurpose ?? null } });
      }
      // The holder died without cleaning up: take the lock over.
      fs.rmSync(lockPath, { force: true });
    }
  }
  throw new RosterError('db_locked', `Could not lock the embedded database in ${dataDir}.`, { retryable: true });
}

/** Whether a process of this machine is still there (a zombie or another user's process counts as there). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
