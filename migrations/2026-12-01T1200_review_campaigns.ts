import { type Kysely, sql } from 'kysely';

/**
 * Access review campaigns. A campaign freezes one finished run per integration into items; the items
 * never change afterwards. What does change — who an item is assigned to and what was decided — lives
 * in `review_item_states`, and every change to it is an entry of `review_decision_log`, an append-only
 * hash chain (each entry's SHA-256 covers the previous one's). The log refuses UPDATE and DELETE at the
 * database itself, so an edit cannot be made quietly even by a script with the table's credentials.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table review_campaigns (
      id bigint generated always as identity primary key,
      name text not null unique check (name <> '' and length(name) <= 200),
      status text not null default 'open' check (status in ('open', 'closed')),
      reviewer_rule text not null check (reviewer_rule in ('reviewer', 'resource-admins', 'reviewers-file')),
      undecided_policy text not null default 'flag' check (undecided_policy in ('flag', 'keep', 'revoke')),
      -- YYYY-MM-DD as text: pg parses a date column into a local-time Date, PGlite differently.
      due_on text check (due_on ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'),
      -- Delta campaigns: what they were compared with (a closed campaign, or a run).
      base_campaign_id bigint references review_campaigns(id),
      base_run_id bigint references sync_runs(id) on delete set null,
      -- The canonical JSON the evidence bundle ships as campaign.json; its SHA-256 starts the decision log.
      definition text not null,
      definition_sha256 text not null check (definition_sha256 ~ '^[0-9a-f]{64}$'),
      created_at timestamptz not null default now(),
      closed_at timestamptz,
      close_forced boolean,
      evidence_manifest_sha256 text,
      check ((status = 'closed') = (closed_at is not null))
    )`.execute(db);

  // The snapshot each campaign reviews: one finished run per integration, with its content hash.
  await sql`
    create table review_campaign_runs (
      campaign_id bigint not null references review_campaigns(id) on delete cascade,
      integration_id bigint not null references integrations(id) on delete cascade,
      run_id bigint not null references sync_runs(id),
      snapshot_sha256 text not null check (snapshot_sha256 ~ '^[0-9a-f]{64}$'),
      access_rows integer not null,
      items integer not null,
      primary key (campaign_id, integration_id)
    )`.execute(db);

  // People who review: a Bitbucket user (by uuid) or someone outside Bitbucket (by e-mail).
  await sql`
    create table review_reviewers (
      id bigint generated always as identity primary key,
      campaign_id bigint not null references review_campaigns(id) on delete cascade,
      kind text not null check (kind in ('user', 'email')),
      -- 'user:{uuid}' or 'email:someone@example.com' (lower case): one reviewer per key per campaign.
      key text not null,
      principal_id bigint,
      external_id text,
      account_id text,
      display_name text,
      handle text,
      email text,
      unique (campaign_id, key)
    )`.execute(db);

  // Frozen at creation: no column of an item is ever updated. principal/resource ids are the history
  // tables' ids (never hard-deleted), kept without foreign keys like effective_access: the names and
  // paths are copied in, so an item reads the same whatever later syncs do.
  await sql`
    create table review_items (
      id bigint generated always as identity primary key,
      campaign_id bigint not null references review_campaigns(id) on delete cascade,
      integration_id bigint not null references integrations(id) on delete cascade,
      run_id bigint not null,
      -- Null on a resource's implicit-access item (a public repository: anyone can read it).
      principal_id bigint,
      principal_kind text not null,
      principal_external_id text,
      principal_name text,
      principal_handle text,
      account_id text,
      workspace_role text,
      resource_id bigint not null,
      resource_kind text not null,
      resource_external_id text not null,
      resource_handle text,
      resource_name text not null,
      project_handle text,
      permission text not null,
      paths jsonb not null,
      first_seen_run bigint not null,
      first_seen_at timestamptz,
      flags jsonb not null,
      -- Who the rule chose, which rule chose them, and why when it was not the first choice.
      reviewer_id bigint not null references review_reviewers(id),
      reviewer_rule text not null,
      reviewer_note text,
      -- Delta campaigns: how the access differs from the base, and why.
      change text,
      change_causes jsonb,
      base_item_id bigint,
      carried_forward boolean not null default false,
      unique (campaign_id, principal_id, resource_id)
    )`.execute(db);

  // The current assignment and decision of each item: a fold of the decision log, kept for queries.
  await sql`
    create table review_item_states (
      item_id bigint primary key references review_items(id) on delete cascade,
      campaign_id bigint not null references review_campaigns(id) on delete cascade,
      reviewer_id bigint not null references review_reviewers(id),
      decision text check (decision in ('keep', 'revoke', 'reduce')),
      reduce_to text,
      comment text,
      decided_by bigint references review_reviewers(id),
      decided_at timestamptz,
      -- How the decision came: a reviewer, carried forward from the base campaign, or the undecided policy at close.
      decided_via text check (decided_via in ('reviewer', 'carried-forward', 'policy')),
      log_seq integer not null,
      check ((decision = 'reduce') = (reduce_to is not null))
    )`.execute(db);
  await sql`create index review_item_states_campaign on review_item_states (campaign_id, reviewer_id)`.execute(db);

  await sql`
    create table review_decision_log (
      campaign_id bigint not null references review_campaigns(id),
      seq integer not null check (seq >= 1),
      item_id bigint,
      action text not null check (action in ('create', 'decide', 'reassign', 'carry-forward', 'policy', 'close')),
      at timestamptz not null,
      -- The exact JSON text that was hashed: sha256 = SHA-256 of prev_sha256, a line feed, and body.
      body text not null,
      prev_sha256 text not null check (prev_sha256 ~ '^[0-9a-f]{64}$'),
      sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
      primary key (campaign_id, seq)
    )`.execute(db);
  await sql`create index review_decision_log_item on review_decision_log (item_id)`.execute(db);
  await sql`
    create function review_decision_log_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'review_decision_log is append-only: % refused', tg_op using errcode = 'P0001';
    end
    $$`.execute(db);
  await sql`
    create trigger review_decision_log_append_only before update or delete on review_decision_log
      for each row execute function review_decision_log_append_only()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop trigger if exists review_decision_log_append_only on review_decision_log`.execute(db);
  await sql`drop function if exists review_decision_log_append_only()`.execute(db);
  for (const table of ['review_decision_log', 'review_item_states', 'review_items', 'review_reviewers', 'review_campaign_runs', 'review_campaigns']) {
    await sql`drop table if exists ${sql.table(table)} cascade`.execute(db);
  }
}
