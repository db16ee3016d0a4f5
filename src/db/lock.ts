import os from 'node:os';
import { type Kysely, sql } from 'kysely';
import type { Database, RosterDatabase } from './index.ts';

/** Arbitrary, fixed first key of Roster's advisory locks ("Rost"), so other applications' locks don't collide. */
const LOCK_NAMESPACE = 0x526f7374;

/** Who this process is, for "held by" messages and the run row. */
export const HOLDER = `${os.hostname()}:${process.pid}`;

const heldInProcess = new Set<string>();

export interface IntegrationLock {
  release(): Promise<void>;
}

/**
 * Takes the integration's sync lock, or returns null when another holder has it.
 *
 * On a PostgreSQL server this is a session advisory lock on a connection reserved for the whole run:
 * if the process dies, the server drops the connection and the lock with it, so a crashed run never
 * blocks the next one. The embedded database is single-process (its data directory is locked by
 * pid), so an in-process set is enough there.
 */
export async function tryLockIntegration(handle: RosterDatabase, integrationId: string): Promise<IntegrationLock | null> {
  const key = `${handle.description}#${integrationId}`;
  if (heldInProcess.has(key)) return null;
  if (handle.target.kind === 'embedded') {
    heldInProcess.add(key);
    return { release: async () => void heldInProcess.delete(key) };
  }
  heldInProcess.add(key);
  // Reserve one connection for as long as the lock is held; learn the outcome before returning.
  let releaseConnection!: () => void;
  const released = new Promise<void>((resolve) => (releaseConnection = resolve));
  let resolveAcquired!: (locked: boolean) => void;
  const acquired = new Promise<boolean>((resolve) => (resolveAcquired = resolve));
  const session = handle.db.connection().execute(async (conn) => {
    const result = await sql<{ locked: boolean }>`select pg_try_advisory_lock(${LOCK_NAMESPACE}, ${Number(integrationId)}) as locked`.execute(conn);
    const locked = result.rows[0]?.locked === true;
    resolveAcquired(locked);
    if (!locked) return;
    await released;
    await sql`select pg_advisory_unlock(${LOCK_NAMESPACE}, ${Number(integrationId)})`.execute(conn);
  });
  const outcome = await Promise.race([acquired, session.then(() => false)]).catch((error: unknown) => {
    heldInProcess.delete(key);
    throw error;
  });
  if (!outcome) {
    // Not locked: the session only ends after answering, and how it ends cannot change the answer.
    await session.catch(() => {});
    heldInProcess.delete(key);
    return null;
  }
  return {
    release: async () => {
      releaseConnection();
      heldInProcess.delete(key);
      // A failed unlock is harmless: the lock dies with the session when the pool drops it.
      await session.catch(() => {});
    },
  };
}

/**
 * Integration ids whose sync lock some session holds right now (PostgreSQL server), read from
 * `pg_locks` without taking anything, so asking never gets in a sync's way. A run that is `running`
 * while its integration is not in this set belongs to a process that is gone. Empty on the embedded
 * database, which takes no advisory locks.
 */
export async function integrationsLockedNow(db: Kysely<Database>): Promise<Set<string>> {
  const result = await sql<{ id: string }>`
    select objid::text as id from pg_locks
     where locktype = 'advisory' and granted and objsubid = 2 and classid = ${LOCK_NAMESPACE}::oid
       and database = (select oid from pg_database where datname = current_database())`.execute(db);
  return new Set(result.rows.map((r) => r.id));
}
