import { type Kysely, sql } from 'kysely';

/**
 * Who is behind each account: two identity sources joined to the Bitbucket accounts on Atlassian
 * `account_id` (and e-mail, case-insensitively).
 *
 * People files (HR / identity-provider exports). Each `roster people import` is a snapshot, one
 * `people_imports` row, with history like a sync: `people` rows are versions valid from
 * `first_seen_import` until `removed_import` (exclusive; null while current), one current version per
 * (source, e-mail). A changed field closes the current version and opens a new one in the same import;
 * a person missing from a later file of the same source has their version closed and none opened —
 * they are *gone*, never deleted, and "who was terminated as of D" stays a plain query.
 *
 * Organization accounts (the `atlassian-org` connector). `org_accounts` rows are versions of one
 * managed account of an organization integration, keyed by `account_id`, over that integration's
 * sync runs (`first_seen_run`, `last_seen_run`, `removed_run`), the way grants are: a change of status,
 * e-mail or activity closes one row and opens another. `org_domains` are the organization's domains
 * (verified or not), with the same history.
 *
 * Review campaigns gain the `manager` reviewer rule (the person's manager in the people file).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table people_imports (
      id bigint generated always as identity primary key,
      source text not null check (source ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
      file_name text not null,
      file_sha256 text not null check (file_sha256 ~ '^[0-9a-f]{64}$'),
      preset text not null,
      -- field -> column header the file was read with.
      mapping jsonb not null,
      rows integer not null check (rows >= 0),
      imported_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index people_imports_source on people_imports (source, id)`.execute(db);

  await sql`
    create table people (
      id bigint generated always as identity primary key,
      source text not null,
      -- As the file spells it; email_key (lower case) is what matching uses.
      email text not null check (email <> ''),
      email_key text not null check (email_key = lower(email_key) and email_key <> ''),
      account_id text,
      name text,
      employee_id text,
      status text not null check (status in ('active', 'terminated', 'leave')),
      -- YYYY-MM-DD as text: pg parses a date column into a local-time Date, PGlite differently.
      termination_date text check (termination_date ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'),
      manager_email text,
      department text,
      type text check (type in ('employee', 'contractor', 'service')),
      -- The file's line the person was read from (for evidence).
      line integer not null,
      first_seen_import bigint not null references people_imports(id),
      last_seen_import bigint not null references people_imports(id),
      removed_import bigint references people_imports(id),
      check (last_seen_import >= first_seen_import),
      check (removed_import is null or removed_import > last_seen_import)
    )`.execute(db);
  await sql`create unique index people_current on people (source, email_key) where removed_import is null`.execute(db);
  await sql`create index people_email on people (email_key, first_seen_import)`.execute(db);
  await sql`create index people_account on people (account_id) where account_id is not null`.execute(db);

  const history = sql`
      first_seen_run bigint not null references sync_runs(id),
      last_seen_run bigint not null references sync_runs(id),
      removed_run bigint references sync_runs(id),
      check (last_seen_run >= first_seen_run),
      check (removed_run is null or removed_run > last_seen_run)`;

  await sql`
    create table org_accounts (
      id bigint generated always as identity primary key,
      integration_id bigint not null references integrations(id) on delete cascade,
      account_id text not null check (account_id <> ''),
      email text,
      email_key text check (email_key is null or email_key = lower(email_key)),
      name text,
      account_type text not null,
      account_status text not null,
      last_active timestamptz,
      -- [{ key, name, url, last_active }]: one entry per product the account can reach.
      product_access jsonb not null default '[]'::jsonb,
      added_to_org timestamptz,
      ${history}
    )`.execute(db);
  await sql`create unique index org_accounts_current on org_accounts (integration_id, account_id) where removed_run is null`.execute(db);
  await sql`create index org_accounts_account on org_accounts (account_id, first_seen_run)`.execute(db);
  await sql`create index org_accounts_email on org_accounts (email_key) where email_key is not null`.execute(db);

  await sql`
    create table org_domains (
      id bigint generated always as identity primary key,
      integration_id bigint not null references integrations(id) on delete cascade,
      domain text not null check (domain = lower(domain) and domain <> ''),
      verified boolean not null,
      ${history}
    )`.execute(db);
  await sql`create unique index org_domains_current on org_domains (integration_id, domain) where removed_run is null`.execute(db);

  // Who is behind each item's account when the campaign was created (e-mail, status, last active,
  // department, identity flags): frozen with the item, like its names and paths. Null on older items.
  await sql`alter table review_items add column identity jsonb`.execute(db);

  const found = await sql<{ conname: string }>`
    select c.conname from pg_constraint c
     where c.conrelid = to_regclass('review_campaigns') and c.contype = 'c'
       and pg_get_constraintdef(c.oid) ~ '\\mreviewer_rule\\M'`.execute(db);
  for (const { conname } of found.rows) await sql`alter table review_campaigns drop constraint ${sql.id(conname)}`.execute(db);
  await sql`alter table review_campaigns add constraint review_campaigns_reviewer_rule_check
              check (reviewer_rule in ('reviewer', 'resource-admins', 'reviewers-file', 'manager'))`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table review_items drop column if exists identity`.execute(db);
  await sql`alter table review_campaigns drop constraint if exists review_campaigns_reviewer_rule_check`.execute(db);
  await sql`alter table review_campaigns add constraint review_campaigns_reviewer_rule_check check (reviewer_rule in ('reviewer', 'resource-admins', 'reviewers-file'))`.execute(db);
  for (const table of ['org_domains', 'org_accounts', 'people', 'people_imports']) {
    await sql`drop table if exists ${sql.table(table)}`.execute(db);
  }
}
