import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileMigrationProvider, type Kysely, type MigrationResult, Migrator } from 'kysely';
import { RosterError, errorMessage } from '../errors.ts';
import type { Database } from './types.ts';

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

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
  const migrator = new Migrator({
    db,
    provider: new FileMigrationProvider({ fs, path, migrationFolder: MIGRATIONS_DIR }),
  });
  const before = (await migrator.getMigrations()).filter((m) => m.executedAt !== undefined).length;
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r: MigrationResult) => r.status === 'Error');
  if (error !== undefined || failed) {
    throw new RosterError('migration_failed', `Migration ${failed?.migrationName ?? '(setup)'} failed: ${errorMessage(error)}. Nothing after it was applied; fix the cause and run \`roster migrate\` again.`, { cause: error });
  }
  return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName), alreadyApplied: before };
}

/** True when every migration has been applied. */
export async function isSchemaCurrent(db: Kysely<Database>): Promise<boolean> {
  const migrator = new Migrator({
    db,
    provider: new FileMigrationProvider({ fs, path, migrationFolder: MIGRATIONS_DIR }),
  });
  try {
    return (await migrator.getMigrations()).every((m) => m.executedAt !== undefined);
  } catch {
    return false;
  }
}
