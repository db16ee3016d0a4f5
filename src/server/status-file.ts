import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Database } from '../db/types.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { type HealthFacts, type LiveProgress, readHealthFacts } from '../access/health.ts';
import type { EngineEvent } from '../sync/runner.ts';

/**
 * The embedded database is open in one process at a time, so while a sync holds it `roster status`
 * cannot read it. The holder keeps this small file in the data directory current instead — the
 * facts the verdict rests on, and the live progress of its runs — and `roster status` answers from
 * it. Written atomically (a temporary file renamed over it), so a reader never sees half a file.
 */
export const STATUS_FILE_NAME = 'status.json';
export const STATUS_FILE_FORMAT = 'roster-status-file/1';

export interface StatusFileContent {
  format: typeof STATUS_FILE_FORMAT;
  writtenAt: string;
  writer: { host: string; pid: number };
  /** True while the writer holds the database; false when it wrote the file as it let go. */
  holding: boolean;
  integrations: HealthFacts[];
  /** Live progress of the writer's runs, by run id. */
  progress: Record<string, LiveProgress>;
}

/** Live progress is written at most this often; run starts and ends are written at once. */
const WRITE_INTERVAL_MS = 1000;

export class StatusFileWriter {
  readonly path: string;
  readonly #db: Kysely<Database>;
  readonly #logger: Logger | null;
  #facts: HealthFacts[] = [];
  readonly #progress = new Map<string, LiveProgress>();
  #lastWrite = 0;
  #trailing: NodeJS.Timeout | null = null;
  #refreshing: Promise<void> = Promise.resolve();
  #warned = false;

  constructor(dataDir: string, db: Kysely<Database>, logger: Logger | null = null) {
    this.path = path.join(dataDir, STATUS_FILE_NAME);
    this.#db = db;
    this.#logger = logger;
  }

  /** Reads the facts again from the database and writes the file (queued behind any refresh under way). */
  refresh(): Promise<void> {
    this.#refreshing = this.#refreshing.then(async () => {
      try {
        this.#facts = await readHealthFacts(this.#db);
        this.write(true);
      } catch (error) {
        this.#warn(error);
      }
    });
    return this.#refreshing;
  }

  /**
   * A listener for the engine events of one sync request: kept as live progress of its run; the
   * run's start re-reads the facts (they now hold the open run).
   */
  track(): (event: EngineEvent) => void {
    let current: LiveProgress | null = null;
    return (event) => {
      const now = new Date().toISOString();
      if (event.type === 'run-start') {
        current = { runId: event.runId, scopesDone: 0, scopesTotal: 0, scopesNotRead: 0, requests: 0, rateLimitWaits: 0, waitingUntil: null, lastEventAt: now };
        this.#progress.set(event.runId, current);
        void this.refresh();
        return;
      }
      if (!current) return;
      switch (event.type) {
        case 'request':
          current.requests++;
          if (current.waitingUntil && Date.parse(current.waitingUntil) < Date.now()) current.waitingUntil = null;
          break;
        case 'rate-limit-wait':
          current.rateLimitWaits++;
          current.waitingUntil = event.until.toISOString();
          break;
        case 'stream-start':
          current.scopesTotal += event.scopes;
          break;
        case 'scope-end':
          current.scopesDone++;
          if (event.status !== 'complete') current.scopesNotRead++;
          break;
        default:
          break;
      }
      current.lastEventAt = now;
      this.#writeSoon();
    };
  }

  /** A run of this process ended: forget its live progress and re-read the facts. */
  runEnded(runId: string): Promise<void> {
    this.#progress.delete(runId);
    return this.refresh();
  }

  /** Writes the file as this process lets go of the database. */
  async close(): Promise<void> {
    if (this.#trailing) clearTimeout(this.#trailing);
    this.#trailing = null;
    await this.#refreshing;
    try {
      this.#facts = await readHealthFacts(this.#db);
    } catch (error) {
      this.#warn(error);
    }
    this.#progress.clear();
    this.write(false);
  }

  #writeSoon(): void {
    const wait = WRITE_INTERVAL_MS - (Date.now() - this.#lastWrite);
    if (wait <= 0) {
      this.write(true);
      return;
    }
    if (this.#trailing) return;
    this.#trailing = setTimeout(() => {
      this.#trailing = null;
      this.write(true);
    }, wait);
    this.#trailing.unref();
  }

  write(holding: boolean): void {
    const content: StatusFileContent = {
      format: STATUS_FILE_FORMAT,
      writtenAt: new Date().toISOString(),
      writer: { host: os.hostname(), pid: process.pid },
      holding,
      integrations: this.#facts,
      progress: Object.fromEntries(this.#progress),
    };
    const temporary = `${this.path}.${process.pid}.tmp`;
    try {
      fs.writeFileSync(temporary, `${JSON.stringify(content)}\n`, { mode: 0o600 });
      fs.renameSync(temporary, this.path);
      this.#lastWrite = Date.now();
    } catch (error) {
      fs.rmSync(temporary, { force: true });
      this.#warn(error);
    }
  }

  #warn(error: unknown): void {
    if (this.#warned) return;
    this.#warned = true;
    this.#logger?.warn({ err: errorMessage(error), path: this.path }, 'could not keep the status file current; roster status cannot answer while this process holds the embedded database');
  }
}

/** The status file of a data directory, or null (with why) when there is none or it cannot be used. */
export function readStatusFile(dataDir: string): { content: StatusFileContent; path: string } | { content: null; path: string; problem: string } {
  const file = path.join(dataDir, STATUS_FILE_NAME);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    return { content: null, path: file, problem: (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'it keeps no status file there (a Roster older than this one?)' : `its status file cannot be read (${errorMessage(error)})` };
  }
  try {
    const content = JSON.parse(text) as StatusFileContent;
    if (content.format !== STATUS_FILE_FORMAT || !Array.isArray(content.integrations)) return { content: null, path: file, problem: `its status file ${file} has an unknown format` };
    return { content, path: file };
  } catch (error) {
    return { content: null, path: file, problem: `its status file ${file} is not valid JSON (${errorMessage(error)})` };
  }
}
