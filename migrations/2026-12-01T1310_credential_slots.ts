import { type Kysely, sql } from 'kysely';

/**
 * The slots of a stored credential are its connector's (`CredentialField.slot` in the connector's
 * definition: Bitbucket Cloud's `secret`, `username`, `client_id`, `client_secret`, `access_token`,
 * `refresh_token`; another source may name its own). The schema keeps only their shape. The check
 * was created without a name, so it is found by what it checks.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const found = await sql<{ conname: string }>`
    select c.conname from pg_constraint c
     where c.conrelid = to_regclass('credentials') and c.contype = 'c'
       and pg_get_constraintdef(c.oid) ~ '\\mname\\M' and pg_get_constraintdef(c.oid) ~ 'client_secret'`.execute(db);
  for (const { conname } of found.rows) await sql`alter table credentials drop constraint ${sql.id(conname)}`.execute(db);
  await sql`alter table credentials add constraint credentials_slot_shape check (name ~ '^[a-z][a-z0-9_]{0,62}$')`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table credentials drop constraint credentials_slot_shape`.execute(db);
  await sql`alter table credentials add constraint credentials_name_check check (name in ('secret', 'username', 'client_id', 'client_secret', 'access_token', 'refresh_token'))`.execute(db);
}
