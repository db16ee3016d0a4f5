import { type Kysely, sql } from 'kysely';

/**
 * Principals and resources get versions, so that a report `--as-of` a run says what the same report
 * said at that run: a repository's project and visibility, names, slugs and key facts are kept per
 * interval of runs, and presence is a list of intervals (someone who leaves and comes back has a gap).
 *
 * The `principals` and `resources` rows stay what they were — one row per source id, the identity the
 * other tables reference, holding the current state — and `*_versions` hold the history:
 *
 *   - A version is valid from `first_seen_run` until `removed_run` (exclusive; null while current).
 *   - A change of any versioned column closes the current version and opens a new one in the same run;
 *     both share `present_since_run`, the start of the unbroken presence they belong to.
 *   - A removal closes the current version and opens none; a return opens a new one with a new
 *     `present_since_run`, so the gap stays visible.
 *
 * Existing rows become one version each, valid over the entity's known interval: the best history
 * there is for data synced before this migration.
 *
 * `sync_notices` keeps what a run learned about single records outside the listings: a record it had
 * to change to store it (a NUL character in a name), a record it refused (a row that references
 * something nobody listed), and a record the source confirmed gone (a repository whose uuid no longer
 * resolves) — which the end of the run then removes like an unlisted one.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const history = sql`
      present_since_run bigint not null references sync_runs(id),
      first_seen_run bigint not null references sync_runs(id),
      last_seen_run bigint not null references sync_runs(id),
      removed_run bigint references sync_runs(id),
      check (present_since_run <= first_seen_run),
      check (last_seen_run >= first_seen_run),
      check (removed_run is null or removed_run > last_seen_run)`;

  await sql`
    create table principal_versions (
      id bigint generated always as identity primary key,
      integration_id bigint not null references integrations(id) on delete cascade,
      principal_id bigint not null references principals(id) on delete cascade,
      kind text not null,
      external_id text not null,
      display_name text,
      handle text,
      account_id text,
      attributes jsonb not null default '{}'::jsonb,
      ${history}
    )`.execute(db);
  await sql`create unique index principal_versions_current on principal_versions (principal_id) where removed_run is null`.execute(db);
  await sql`create index principal_versions_principal on principal_versions (principal_id, first_seen_run)`.execute(db);
  await sql`create index principal_versions_integration on principal_versions (integration_id, kind, first_seen_run)`.execute(db);

  await sql`
    create table resource_versions (
      id bigint generated always as identity primary key,
      integration_id bigint not null references integrations(id) on delete cascade,
      resource_id bigint not null references resources(id) on delete cascade,
      kind text not null,
      external_id text not null,
      name text not null,
      handle text,
      -- Cascade: a parent goes only with its integration, and then every version goes too.
      parent_id bigint references resources(id) on delete cascade,
      attributes jsonb not null default '{}'::jsonb,
      ${history}
    )`.execute(db);
  await sql`create unique index resource_versions_current on resource_versions (resource_id) where removed_run is null`.execute(db);
  await sql`create index resource_versions_resource on resource_versions (resource_id, first_seen_run)`.execute(db);
  await sql`create index resource_versions_integration on resource_versions (integration_id, kind, first_seen_run)`.execute(db);
  await sql`create index resource_versions_parent on resource_versions (parent_id)`.execute(db);

  await sql`
    insert into principal_versions (integration_id, principal_id, kind, external_id, display_name, handle, account_id, attributes,
                                    present_since_run, first_seen_run, last_seen_run, removed_run)
    select integration_id, id, kind, external_id, display_name, handle, account_id, attributes,
           first_seen_run, first_seen_run, last_seen_run, removed_run
      from principals`.execute(db);
  await sql`
    insert into resource_versions (integration_id, resource_id, kind, external_id, name, handle, parent_id, attributes,
                                   present_since_run, first_seen_run, last_seen_run, removed_run)
    select integration_id, id, kind, external_id, name, handle, parent_id, attributes,
           first_seen_run, first_seen_run, last_seen_run, removed_run
      from resources`.execute(db);

  await sql`
    create table sync_notices (
      id bigint generated always as identity primary key,
      run_id bigint not null references sync_runs(id) on delete cascade,
      scope text not null,
      kind text not null check (kind in ('sanitized', 'rejected', 'gone')),
      record_kind text not null,
      record_id text not null,
      detail text not null,
      created_at timestamptz not null default now()
    )`.execute(db);
  // One notice per record and kind per run, however many scopes list the record.
  await sql`create unique index sync_notices_record on sync_notices (run_id, kind, record_kind, record_id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['sync_notices', 'resource_versions', 'principal_versions']) {
    await sql`drop table if exists ${sql.table(table)}`.execute(db);
  }
}
