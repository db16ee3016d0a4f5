import { type Kysely, type MigrationResult, Migrator } from 'kysely';
import { migrations } from '../../migrations/index.ts';
import { RosterError, errorMessage } from '../errors.ts';
import type { Database } from './types.ts';

function migrator(db: Kysely<Database>): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => migrations } });
}

export interface MigrationOutcome {
  applied: string[];
  /** Names already applied before this call. */
  alreadyApplied: number;
}

/**
 * Brings the schema up to date. Kysely's migrator serializes concurrent callers with an advisory
 * lock, so two processes migrating at once is safe: the second finds nothing left to do.
 */
export async function migrateToLatest(db: Kysely<Database>): Promise<MigrationOutcome> {
  const before = (await migrator(db).getMigrations()).filter((m) => m.executedAt !== undefined).length;
  const { error, results } = await migrator(db).migrateToLatest();
  const failed = results?.find((r: MigrationResult) => r.status === 'Error');
  if (error !== undefined || failed) {
    throw new RosterError('migration_failed', `Migration ${failed?.migrationName ?? '(setup)'} failed: ${errorMessage(error)}. Nothing after it was applied; fix the cause and run \`roster migrate\` again.`, { cause: error });
  }
  return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName), alreadyApplied: before };
}

/** True when every migration has been applied. */
export async function isSchemaCurrent(db: Kysely<Database>): Promise<boolean> {
  try {
    return (await migrator(db).getMigrations()).every((m) => m.executedAt !== undefined);
  } catch {
    return false;
  }
}
