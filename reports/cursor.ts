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
  const fetchPage = () => sql<T>`fetch forward ${count} from ${name}`.execute(db);
  let failed = false;
  let pending: ReturnType<typeof fetchPage> | null = null;
  try {
    let next = fetchPage();
    pending = next;
    for (;;) {
      const page = await next;
      pending = null;
      const more = page.rows.length >= pageSize;
      // The next page is asked for before this one is handed on, so the database produces it while
      // the caller renders and writes this one (one connection: the FETCH waits its turn behind
      // nothing else of ours). At most two pages are in memory.
      if (more) {
        next = fetchPage();
        pending = next;
      }
      if (page.rows.length > 0) yield page.rows;
      if (!more) break;
    }
  } catch (error) {
    // The transaction is aborted and takes the cursor with it; closing would only mask this error.
    failed = true;
    throw error;
  } finally {
    // A caller that stops early leaves a FETCH in flight: let it settle before the cursor closes.
    if (pending) await pending.catch(() => {});
    if (!failed) await sql`close ${name}`.execute(db);
  }
}

/** Maps each page; keeps the page structure so writers stay page-sized. */
export async function* mapPages<T, R>(pages: AsyncIterable<readonly T[]>, map: (row: T) => R): AsyncGenerator<R[]> {
  for await (const page of pages) yield page.map(map);
}
