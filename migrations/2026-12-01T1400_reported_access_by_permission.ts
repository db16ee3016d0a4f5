import { type Kysely, sql } from 'kysely';

/**
 * Bitbucket Cloud's effective permissions are read as one listing per permission
 * (`reported-access:admin`, `:write`, `:read`; see the connector README). Rows the single listing
 * stored carry the scope `reported-access`, which no run lists any more, so they would never be
 * removed: they move to the listing of their permission, which removes them when it no longer lists
 * them.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    update reported_access set scope = 'reported-access:' || permission
     where scope = 'reported-access' and permission in ('admin', 'write', 'read')`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`update reported_access set scope = 'reported-access' where scope in ('reported-access:admin', 'reported-access:write', 'reported-access:read')`.execute(db);
}
