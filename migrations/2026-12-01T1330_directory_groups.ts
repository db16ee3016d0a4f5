import { type Kysely, sql } from 'kysely';

/**
 * The organization's directory groups (centralized user management), read by the `atlassian-org`
 * connector. `org_groups` rows are versions of one group of one directory, keyed by
 * (integration, directory id, group id), over the integration's sync runs like `org_accounts`: a
 * change of name, description or members closes one row and opens another. The members are the
 * group's account ids, sorted, as a jsonb array: they are read whole with the group, and the
 * question asked of them ("does the workspace's group of that name have the same people?") reads
 * them whole.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table org_groups (
      id bigint generated always as identity primary key,
      integration_id bigint not null references integrations(id) on delete cascade,
      directory_id text not null check (directory_id <> ''),
      directory_name text,
      group_id text not null check (group_id <> ''),
      name text not null,
      description text,
      member_account_ids jsonb not null default '[]'::jsonb,
      first_seen_run bigint not null references sync_runs(id),
      last_seen_run bigint not null references sync_runs(id),
      removed_run bigint references sync_runs(id),
      check (last_seen_run >= first_seen_run),
      check (removed_run is null or removed_run > last_seen_run)
    )`.execute(db);
  await sql`create unique index org_groups_current on org_groups (integration_id, directory_id, group_id) where removed_run is null`.execute(db);
  await sql`create index org_groups_runs on org_groups (integration_id, first_seen_run)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists org_groups`.execute(db);
}
