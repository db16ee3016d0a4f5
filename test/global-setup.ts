import pg from 'pg';
import type { TestProject } from 'vitest/node';

export const DEFAULT_TEST_SERVER_URL = 'postgres://postgres@127.0.0.1:5432/test';

declare module 'vitest' {
  export interface ProvidedContext {
    serverUrl: string | null;
  }
}

/** Finds out once whether a PostgreSQL server answers, so the `server` project can run or say why not. */
export default async function setup(project: TestProject): Promise<void> {
  const url = process.env.ROSTER_TEST_DATABASE_URL ?? DEFAULT_TEST_SERVER_URL;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    project.provide('serverUrl', url);
  } catch (error) {
    project.provide('serverUrl', null);
    if (project.name === 'server') {
      console.warn(`\n[roster] No PostgreSQL server answered at ${url.replace(/:[^:@/]*@/, ':*****@')} (${(error as Error).message}): the server run is SKIPPED; only the embedded run counts.\n`);
    }
  } finally {
    await client.end().catch(() => {});
  }
}
