/**
 * Scratch databases for the benchmark: a fresh database on the PostgreSQL server per scenario
 * (dropped afterwards), or a fresh embedded data directory (removed afterwards). Workers open them
 * one at a time; the embedded one is a directory so that a report worker can read what a sync worker
 * wrote.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
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
  const name = `roster_bench_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    kind,
    target: { kind: 'server', url: url.toString() },
    drop: async () => {
      const dropper = new pg.Client({ connectionString: baseUrl });
      await dropper.connect();
      try {
        await dropper.query(`drop database if exists ${name} with (force)`);
      } finally {
        await dropper.end();
      }
    },
  };
}
