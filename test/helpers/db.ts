import { sql } from 'kysely';
import { afterAll, beforeAll, describe, inject } from 'vitest';
import { type RosterDatabase, openDatabase } from '../../src/db/index.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { createScratchServerDatabase } from '../../src/db/scratch.ts';

export type TestDbKind = 'embedded' | 'server';

export function testDbKind(): TestDbKind {
  return process.env.ROSTER_TEST_DB === 'server' ? 'server' : 'embedded';
}

/**
 * Where each test database starts its identity sequences: just below a change in the number of
 * digits, so that a handful of rows later ids are one digit longer. Anything that sorts, compares or
 * takes the max of ids as text (run "1000" before run "998") gives a wrong answer in every test.
 */
export const TEST_ID_STARTS: Record<string, number> = {
  sync_runs: 997,
  principals: 9_990,
  resources: 99_990,
  grants: 99_900,
  memberships: 9_900,
  reported_access: 999_000,
  people_imports: 997,
  people: 9_990,
  org_accounts: 9_990,
};

async function startIdsHigh(handle: RosterDatabase): Promise<void> {
  for (const [table, start] of Object.entries(TEST_ID_STARTS)) {
    await sql`alter table ${sql.table(table)} alter column id restart with ${sql.raw(String(start))}`.execute(handle.db);
  }
}

/** A fresh, migrated database of its own for one test file; dropped afterwards. */
export async function createTestDatabase(kind: TestDbKind = testDbKind()): Promise<RosterDatabase & { url: string | null }> {
  if (kind === 'embedded') {
    const handle = await openDatabase({ kind: 'embedded', dataDir: null });
    await migrateToLatest(handle.db);
    await startIdsHigh(handle);
    return { ...handle, url: null };
  }
  const baseUrl = inject('serverUrl');
  if (!baseUrl) throw new Error('no PostgreSQL server for this test run');
  const scratch = await createScratchServerDatabase(baseUrl, 'roster_test');
  const handle = await openDatabase({ kind: 'server', url: scratch.url });
  await migrateToLatest(handle.db);
  await startIdsHigh(handle);
  return {
    ...handle,
    url: scratch.url,
    close: async () => {
      await handle.close();
      await scratch.drop();
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
