import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, inject } from 'vitest';
import { type RosterDatabase, openDatabase } from '../../src/db/index.ts';
import { main } from '../../src/cli/main.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { createTestDatabase, testDbKind } from './db.ts';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The `roster` a user runs: `bin/roster.js`. */
export const ROSTER_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/roster.js');

export interface RunningRoster {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** The exit code, or null when a signal ended it. */
  exited: Promise<number | null>;
}

/**
 * Runs the real CLI in-process against a database of the test's own: a fresh data directory for the
 * embedded run, a fresh server database otherwise.
 */
export class CliHarness {
  readonly dataDir: string;
  readonly env: NodeJS.ProcessEnv;

  constructor(serverUrl: string | null, extraEnv: NodeJS.ProcessEnv = {}) {
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'roster-cli-'));
    this.env = { PATH: process.env.PATH, ROSTER_LOG_LEVEL: 'silent', ...(serverUrl ? { DATABASE_URL: serverUrl, ROSTER_ENCRYPTION_KEY: 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=' } : {}), ...extraEnv };
  }

  async run(args: string[], options: { stdin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    stdout.on('data', (c: Buffer) => out.push(c));
    stderr.on('data', (c: Buffer) => err.push(c));
    const stdin = Readable.from(options.stdin === undefined ? [] : [options.stdin]) as NodeJS.ReadableStream & { isTTY?: boolean };
    const code = await main(['node', 'roster', '--data-dir', this.dataDir, ...args], { stdout, stderr, stdin, env: { ...this.env, ...options.env } });
    return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
  }

  /**
   * Runs the real binary in a child process, as a user's shell would: its own process (so the
   * embedded database's pid lock, signals and pipes behave as they do for users), stdin closed
   * unless given, stdout and stderr pipes (not terminals).
   */
  spawn(args: string[], options: { env?: NodeJS.ProcessEnv; stdin?: string } = {}): RunningRoster {
    const child = spawn(process.execPath, [ROSTER_BIN, '--data-dir', this.dataDir, ...args], { env: { ...this.env, ...options.env }, stdio: 'pipe' });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.end(options.stdin ?? '');
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    return { child, stdout: () => Buffer.concat(out).toString('utf8'), stderr: () => Buffer.concat(err).toString('utf8'), exited };
  }

  /** Runs the real binary to its end (see `spawn`). */
  async runBinary(args: string[], options: { env?: NodeJS.ProcessEnv; stdin?: string } = {}): Promise<CliResult> {
    const running = this.spawn(args, options);
    const code = await running.exited;
    return { code: code ?? -1, stdout: running.stdout(), stderr: running.stderr() };
  }

  /** Opens the same database the CLI uses, for setup and checks (closed again before the next CLI call). */
  async withDb<T>(fn: (handle: RosterDatabase) => Promise<T>): Promise<T> {
    const handle = await openDatabase(this.env.DATABASE_URL ? { kind: 'server', url: this.env.DATABASE_URL } : { kind: 'embedded', dataDir: this.dataDir });
    try {
      await migrateToLatest(handle.db);
      return await fn(handle);
    } finally {
      await handle.close();
    }
  }

  cleanup(): void {
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** `describe` for CLI suites: one harness per file, on the embedded database or a fresh server database. */
export function describeCli(name: string, body: (get: () => CliHarness) => void): void {
  const kind = testDbKind();
  const skip = kind === 'server' && !inject('serverUrl');
  (skip ? describe.skip : describe)(`${name} [${kind}${skip ? ': no server, skipped' : ''}]`, () => {
    let harness: CliHarness | undefined;
    let close: (() => Promise<void>) | undefined;
    beforeAll(async () => {
      if (kind === 'server') {
        const db = await createTestDatabase('server');
        close = db.close;
        harness = new CliHarness(db.url);
      } else {
        harness = new CliHarness(null);
      }
    });
    afterAll(async () => {
      harness?.cleanup();
      await close?.().catch(() => {});
    });
    body(() => {
      if (!harness) throw new Error('harness not ready');
      return harness;
    });
  });
}
