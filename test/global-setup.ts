import pg from 'pg';
import type { TestProject } from 'vitest/node';

export const DEFAULT_TEST_SERVER_URL = 'postgres://postgres@127.0.0.1:5432/test';

declare module 'vitest' {
  export interface ProvidedContext {
    serverUrl: string | null;
  }
}

function masked(url: string): string {
  return url.replace(/:[^:@/]*@/, ':*****@');
}

async function answers(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
  } finally {
    await client.end().catch(() => {});
  }
}

/** Creates the test database on a server that answers but does not have it yet. */
async function createDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query(`create database "${name.replace(/"/g, '""')}"`);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Finds out once whether a PostgreSQL server answers, so the `server` project can run or say why
 * not; creates the test database when the server answers without it. Under CI (CI=true) a server
 * run that cannot happen fails the run: a skipped half of the suite must not pass as green.
 */
export default async function setup(project: TestProject): Promise<void> {
  const url = process.env.ROSTER_TEST_DATABASE_URL ?? DEFAULT_TEST_SERVER_URL;
  let problem: string | null = null;
  try {
    await answers(url);
  } catch (error) {
    if ((error as { code?: string }).code === '3D000') {
      try {
        await createDatabase(url);
        await answers(url);
      } catch (inner) {
        problem = `the database does not exist and could not be created (${(inner as Error).message})`;
      }
    } else {
      problem = (error as Error).message || String((error as { code?: string }).code ?? error);
    }
  }
  project.provide('serverUrl', problem === null ? url : null);
  if (problem === null || project.name !== 'server') return;
  const ci = /^(1|true|yes)$/i.test(process.env.CI ?? '');
  if (ci) {
    throw new Error(`[roster] CI=true and no PostgreSQL server answered at ${masked(url)} (${problem}): the server test run cannot happen, so this run fails. .ci/run starts (and if needed installs) the machine's PostgreSQL; see the README "Development".`);
  }
  console.warn(`\n[roster] No PostgreSQL server answered at ${masked(url)} (${problem}): the server run is SKIPPED; only the embedded run counts.\n`);
}
