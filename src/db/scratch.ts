import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * A throwaway database on a PostgreSQL server, for tests and the benchmark: created under a unique
 * name beside `baseUrl`'s database, dropped (with its connections) by `drop()`.
 */
export interface ScratchServerDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export async function createScratchServerDatabase(baseUrl: string, prefix: string): Promise<ScratchServerDatabase> {
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  await withClient(baseUrl, (c) => c.query(`create database ${name}`));
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return { name, url: url.toString(), drop: () => withClient(baseUrl, (c) => c.query(`drop database if exists ${name} with (force)`)).then(() => undefined) };
}

async function withClient<T>(url: string, body: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await body(client);
  } finally {
    await client.end();
  }
}
