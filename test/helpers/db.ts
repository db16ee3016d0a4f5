import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, inject } from 'vitest';
import { type RosterDatabase, openDatabase } from '../../src/db/index.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';

export type TestDbKind = 'embedded' | 'server';

export function testDbKind(): TestDbKind {
  return process.env.ROSTER_TEST_DB === 'server' ? 'server' : 'embedded';
}

/** A fresh, migrated database of its own for one test file; dropped afterwards. */
export async function createTestDatabase(kind: TestDbKind = testDbKind()): Promise<RosterDatabase & { url: string | null }> {
  if (kind === 'embedded') {
    const handle = await openDatabase({ kind: 'embedded', dataDir: null });
    await migrateToLatest(handle.db);
    return { ...handle, url: null };
  }
  const baseUrl = inject('serverUrl');
  if (!baseUrl) throw new Error('no PostgreSQL server for this test run');
  const name = `roster_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  const handle = await openDatabase({ kind: 'server', url: url.toString() });
  await migrateToLatest(handle.db);
  return {
    ...handle,
    url: url.toString(),
    close: async () => {
      await handle.close();
      const dropper = new pg.Client({ connectionString: baseUrl });
      await dropper.connect();
      await dropper.query(`drop database if exists ${name} with (force)`);
      await dropper.end();
    },
  };
}

/**
 * `describe` for a suite that needs a database: runs on the file's database kind, and is skipped
 * (with its reason in the name) when the server run has no server.
 */
export function describeWithDb(name: string, body: (get: () => RosterDatabase & { url: string | null }) => void): void {
  const kind = testDbKind();
  const skip = kind === 'server' && !inject('serverUrl');
  const suite = skip ? describe.skip : describe;
  suite(`${name} [${kind}${skip ? ': no server, skipped' : ''}]`, () => {
    let handle: (RosterDatabase & { url: string | null }) | undefined;
    beforeAll(async () => {
      handle = await createTestDatabase(kind);
    });
    afterAll(async () => {
      await handle?.close();
    });
    body(() => {
      if (!handle) throw new Error('database not ready');
      return handle;
    });
  });
}
