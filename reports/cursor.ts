import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { Database } from '../src/db/types.ts';

let cursors = 0;

/**
 * Streams a query's rows in pages through a SQL cursor (`DECLARE … CURSOR` / `FETCH`), which both
 * PostgreSQL and PGlite run: the database evaluates and sorts the query once, and the report holds
 * one page at a time. Must run inside a transaction (`runReport` opens one, REPEATABLE READ, so every
 * page of every report in it sees the same snapshot).
 */
export async function* cursorPages<T>(db: Kysely<Database>, query: RawBuilder<T>, pageSize: number): AsyncGenerator<T[]> {
  const name = sql.id(`roster_report_${++cursors}`);
  const count = sql.raw(String(Math.max(1, Math.trunc(pageSize))));
  await sql`declare ${name} no scroll cursor for ${query}`.execute(db);
  let failed = false;
  try {
    for (;;) {
      const page = await sql<T>`fetch forward ${count} from ${name}`.execute(db);
      if (page.rows.length > 0) yield page.rows;
      if (page.rows.length < pageSize) break;
    }
  } catch (error) {
    // The transaction is aborted and takes the cursor with it; closing would only mask this error.
    failed = true;
    throw error;
  } finally {
    if (!failed) await sql`close ${name}`.execute(db);
  }
}

/** Maps each page; keeps the page structure so writers stay page-sized. */
export async function* mapPages<T, R>(pages: AsyncIterable<readonly T[]>, map: (row: T) => R): AsyncGenerator<R[]> {
  for await (const page of pages) yield page.map(map);
}
