/**
 * Scratch databases for the benchmark: a fresh database on the PostgreSQL server per scenario
 * (dropped afterwards), or a fresh embedded data directory (removed afterwards). Workers open them
 * one at a time; the embedded one is a directory so that a report worker can read what a sync worker
 * wrote.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createScratchServerDatabase } from '../src/db/scratch.ts';
import type { BenchDbTarget, DbKind } from './types.ts';

export const DEFAULT_SERVER_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** The server the bench uses: `BENCH_DATABASE_URL`, else `DATABASE_URL`, else the local test server. */
export function serverUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env.BENCH_DATABASE_URL ?? env.DATABASE_URL ?? DEFAULT_SERVER_URL;
}

/** Null when the server answers, else why not (for the printed note). */
export async function serverProblem(url: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return null;
  } catch (error) {
    return error instanceof Error ? error.message || error.name : String(error);
  } finally {
    await client.end().catch(() => {});
  }
}

export interface ScratchDatabase {
  kind: DbKind;
  target: BenchDbTarget;
  drop(): Promise<void>;
}

export async function createScratchDatabase(kind: DbKind, baseUrl: string): Promise<ScratchDatabase> {
  if (kind === 'embedded') {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'roster-bench-'));
    return { kind, target: { kind: 'embedded', dataDir }, drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
  }
  const scratch = await createScratchServerDatabase(baseUrl, 'roster_bench');
  return { kind, target: { kind: 'server', url: scratch.url }, drop: scratch.drop };
}
