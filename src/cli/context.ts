import path from 'node:path';
import { type EmbeddedLockOptions, type RosterDatabase, openDatabase, targetFromEnv } from '../db/index.ts';
import { isSchemaCurrent, migrateToLatest } from '../db/migrate.ts';
import { RosterError } from '../errors.ts';
import { type RosterConfig, loadConfig } from '../config/index.ts';
import { logger } from '../log.ts';
import { type Keyring, loadKeyring } from '../secrets/index.ts';
import { StatusFileWriter } from '../server/status-file.ts';

export interface GlobalOptions {
  dataDir?: string;
  config?: string;
}

/** What a command needs, opened lazily and closed once. */
export class CliContext {
  readonly config: RosterConfig;
  readonly dataDir: string;
  #handle: RosterDatabase | null = null;
  #keyring: Keyring | null = null;
  #statusFile: StatusFileWriter | null = null;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;

  constructor(options: GlobalOptions, io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream; env: NodeJS.ProcessEnv }) {
    this.config = loadConfig(io.env, options.config);
    this.dataDir = path.resolve(options.dataDir ?? this.config.env.ROSTER_DATA_DIR ?? '.roster');
    this.stdout = io.stdout;
    this.stderr = io.stderr;
    this.env = io.env;
  }

  readonly env: NodeJS.ProcessEnv;

  /**
   * Opens the database. The embedded default migrates itself (one user, nothing to coordinate); a
   * server must be migrated on purpose with `roster migrate`, so production schema changes are a decision.
   */
  async database(options: { schema?: 'auto' | 'skip'; lock?: EmbeddedLockOptions; poolSize?: number } = {}): Promise<RosterDatabase> {
    if (this.#handle) return this.#handle;
    const target = targetFromEnv(this.env, this.dataDir, options.poolSize ?? this.configuredPoolSize()?.size);
    // A monitor's `roster status` holds the embedded database briefly: wait it out rather than fail.
    const handle = await openDatabase(target, options.lock ?? { waitForStatusMs: 15_000 });
    try {
      if (options.schema === 'skip') {
        // The caller deals with the schema itself (roster migrate).
      } else if (target.kind === 'embedded') {
        await migrateToLatest(handle.db);
      } else if (!(await isSchemaCurrent(handle.db))) {
        throw new RosterError('migration_failed', `The database at ${handle.description} is not migrated to this version of Roster. Run \`roster migrate\` first.`);
      }
    } catch (error) {
      await handle.close();
      throw error;
    }
    this.#handle = handle;
    if (target.kind === 'embedded' && target.dataDir !== null && options.schema !== 'skip') {
      // While this process holds the embedded database, `roster status` reads this file instead.
      this.#statusFile = new StatusFileWriter(path.resolve(target.dataDir), handle.db, logger);
      await this.#statusFile.refresh();
    }
    return handle;
  }

  /** The server pool size the operator set, and where (the variable wins over the file); undefined: the default. */
  configuredPoolSize(): { size: number; setBy: string } | undefined {
    const { env, file } = this.config;
    if (env.ROSTER_DB_POOL_SIZE !== undefined) return { size: env.ROSTER_DB_POOL_SIZE, setBy: 'ROSTER_DB_POOL_SIZE' };
    if (file.database.poolSize !== undefined) return { size: file.database.poolSize, setBy: 'database.poolSize' };
    return undefined;
  }

  /** The status file this process keeps while it holds the embedded database (null on a server). */
  get statusFile(): StatusFileWriter | null {
    return this.#statusFile;
  }

  keyring(): Keyring {
    if (this.#keyring) return this.#keyring;
    const embedded = !this.env.DATABASE_URL?.trim();
    this.#keyring = loadKeyring(this.env, embedded ? this.dataDir : null);
    if (this.#keyring.generatedAt) {
      this.stderr.write(`roster: generated an encryption key for stored credentials at ${this.#keyring.generatedAt} (mode 0600). Back it up: without it the stored credentials cannot be read. Set ROSTER_ENCRYPTION_KEY to use your own.\n`);
    }
    return this.#keyring;
  }

  out(line = ''): void {
    this.stdout.write(`${line}\n`);
  }

  err(line: string): void {
    this.stderr.write(`${line}\n`);
  }

  async close(): Promise<void> {
    await this.#statusFile?.close();
    this.#statusFile = null;
    await this.#handle?.close();
    this.#handle = null;
  }
}
