import { type Kysely, sql } from 'kysely';

/**
 * The schema stops knowing Bitbucket Cloud's vocabulary. Integration kinds, credential kinds, resource
 * kinds, permissions and path kinds are a connector's, declared in its definition and checked against
 * it when written (the registry for integrations, the loader for records); the database keeps the
 * shapes (ids, history, references). `integrations.workspace` becomes optional: not every source has
 * a workspace (Bitbucket Data Center is one server).
 *
 * Check constraints created without a name were named by PostgreSQL (`grants_check2`, …), so they are
 * found by what they check rather than by name.
 */
const VOCABULARY_CHECKS: Array<{ table: string; column: string }> = [
  { table: 'integrations', column: 'kind' },
  { table: 'integrations', column: 'credential_kind' },
  { table: 'integrations', column: 'workspace' },
  { table: 'resources', column: 'kind' },
  { table: 'grants', column: 'permission' },
  { table: 'reported_access', column: 'permission' },
  { table: 'reported_access', column: 'resource_kind' },
  { table: 'effective_access', column: 'path_kind' },
  { table: 'effective_access', column: 'permission' },
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const { table, column } of VOCABULARY_CHECKS) {
    const found = await sql<{ conname: string }>`
      select c.conname from pg_constraint c
       where c.conrelid = to_regclass(${table}) and c.contype = 'c'
         and pg_get_constraintdef(c.oid) ~ ${`\\m${column}\\M`}
         and pg_get_constraintdef(c.oid) !~ '(first_seen_run|last_seen_run|removed_run)'`.execute(db);
    for (const { conname } of found.rows) {
      await sql`alter table ${sql.table(table)} drop constraint ${sql.id(conname)}`.execute(db);
    }
  }
  await sql`alter table integrations alter column workspace drop not null`.execute(db);
  await sql`alter table reported_access alter column resource_kind drop default`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table reported_access alter column resource_kind set default 'repository'`.execute(db);
  await sql`alter table integrations alter column workspace set not null`.execute(db);
  await sql`alter table integrations add constraint integrations_kind_check check (kind in ('bitbucket-cloud'))`.execute(db);
}
