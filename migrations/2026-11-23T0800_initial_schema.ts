import { type Kysely, sql } from 'kysely';

/**
 * The normalized access model. Every row belongs to one integration. Principals and resources are
 * entities (one row per source id, reopened if they come back); memberships, grants and reported
 * access are presence intervals: a permission change closes one row and opens another, so history is
 * a plain query over first_seen_run / removed_run.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table integrations (
      id bigint generated always as identity primary key,
      name text not null unique check (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
      kind text not null check (kind in ('bitbucket-cloud')),
      workspace text not null check (workspace ~ '^[a-z0-9][a-z0-9_.-]*$'),
      base_url text not null,
      credential_kind text not null check (credential_kind in (
        'workspace-access-token', 'project-access-token', 'repository-access-token',
        'oauth-client-credentials', 'api-token', 'app-password')),
      schedule text,
      timezone text not null default 'UTC',
      options jsonb not null default '{}'::jsonb,
      status text not null default 'active' check (status in ('active', 'revoked', 'disabled')),
      status_message text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);

  // Secrets are AES-256-GCM ciphertext; key_id names the key that sealed them so keys can rotate.
  await sql`
    create table credentials (
      integration_id bigint not null references integrations(id) on delete cascade,
      name text not null check (name in ('secret', 'username', 'client_id', 'client_secret', 'access_token', 'refresh_token')),
      key_id text not null,
      iv bytea not null check (octet_length(iv) = 12),
      auth_tag bytea not null check (octet_length(auth_tag) = 16),
      ciphertext bytea not null,
      expires_at timestamptz,
      updated_at timestamptz not null default now(),
      primary key (integration_id, name)
    )`.execute(db);

  await sql`
    create table sync_runs (
      id bigint generated always as identity primary key,
      integration_id bigint not null references integrations(id) on delete cascade,
      trigger text not null check (trigger in ('manual', 'schedule', 'demo', 'test')),
      mode text not null check (mode in ('full', 'incremental')),
      since timestamptz,
      -- The cron slot a scheduled run serves; unique, so two schedulers can never both serve one slot.
      slot timestamptz,
      status text not null check (status in ('running', 'paused', 'succeeded', 'partial', 'failed')),
      started_at timestamptz not null default now(),
      finished_at timestamptz,
      heartbeat_at timestamptz not null default now(),
      resume_after timestamptz,
      holder text,
      capabilities jsonb,
      counts jsonb not null default '{}'::jsonb,
      api_requests integer not null default 0 check (api_requests >= 0),
      api_retries integer not null default 0,
      rate_limit_waits integer not null default 0,
      rate_limit_wait_ms bigint not null default 0,
      responses_429 integer not null default 0,
      error_code text,
      error_message text,
      summary text,
      check ((status in ('running', 'paused')) = (finished_at is null))
    )`.execute(db);
  await sql`create index sync_runs_integration_started on sync_runs (integration_id, started_at desc)`.execute(db);
  // One unfinished run per integration: a second one must resume it, never run beside it.
  await sql`create unique index sync_runs_one_open on sync_runs (integration_id) where status in ('running', 'paused')`.execute(db);
  await sql`create unique index sync_runs_slot on sync_runs (integration_id, slot) where slot is not null`.execute(db);

  // One row per scope a run dealt with: read completely, failed, or not covered by the credential.
  // A 'complete' row is also the run's checkpoint: a resumed run skips scopes already complete.
  await sql`
    create table sync_scopes (
      run_id bigint not null references sync_runs(id) on delete cascade,
      scope text not null,
      stream text not null,
      label text not null,
      status text not null check (status in ('complete', 'failed', 'not_covered')),
      filtered boolean not null default false,
      endpoint text,
      http_status integer,
      error_code text,
      message text,
      advice text,
      items integer not null default 0,
      pages integer not null default 0,
      finished_at timestamptz not null default now(),
      primary key (run_id, scope)
    )`.execute(db);
  await sql`create index sync_scopes_run_status on sync_scopes (run_id, status)`.execute(db);

  const history = sql`
      scope text not null,
      first_seen_run bigint not null references sync_runs(id),
      last_seen_run bigint not null references sync_runs(id),
      removed_run bigint references sync_runs(id),
      check (last_seen_run >= first_seen_run),
      check (removed_run is null or removed_run > last_seen_run)`;

  await sql`
    create table principals (
      id bigint generated always as identity primary key,
      integration_id bigint not null references integrations(id) on delete cascade,
      kind text not null check (kind in ('user', 'group', 'deploy_key', 'access_token')),
      external_id text not null check (external_id <> ''),
      display_name text,
      handle text,
      account_id text,
      attributes jsonb not null default '{}'::jsonb,
      ${history},
      unique (integration_id, kind, external_id),
      unique (id, kind)
    )`.execute(db);
  await sql`create index principals_integration_live on principals (integration_id, kind) where removed_run is null`.execute(db);

  await sql`
    create table resources (
      id bigint generated always as identity primary key,
      integration_id bigint not null references integrations(id) on delete cascade,
      kind text not null check (kind in ('workspace', 'project', 'repository')),
      external_id text not null check (external_id <> ''),
      name text not null,
      handle text,
      parent_id bigint references resources(id),
      attributes jsonb not null default '{}'::jsonb,
      ${history},
      unique (integration_id, kind, external_id),
      unique (id, kind)
    )`.execute(db);
  await sql`create index resources_integration_live on resources (integration_id, kind) where removed_run is null`.execute(db);
  await sql`create index resources_parent on resources (parent_id)`.execute(db);

  await sql`
    create table memberships (
      id bigint generated always as identity primary key,
      integration_id bigint not null references integrations(id) on delete cascade,
      group_id bigint not null,
      group_kind text not null default 'group' check (group_kind = 'group'),
      member_id bigint not null references principals(id),
      ${history},
      foreign key (group_id, group_kind) references principals(id, kind)
    )`.execute(db);
  await sql`create unique index memberships_live on memberships (integration_id, group_id, member_id) where removed_run is null`.execute(db);
  await sql`create index memberships_member on memberships (integration_id, member_id)`.execute(db);
  await sql`create index memberships_runs on memberships (integration_id, first_seen_run, removed_run)`.execute(db);

  // resource_kind is denormalized so the permission vocabulary can be checked per resource kind;
  // the composite foreign key keeps it honest.
  await sql`
    create table grants (
      id bigint generated always as identity primary key,
      integration_id bigint not null references integrations(id) on delete cascade,
      principal_id bigint not null references principals(id),
      resource_id bigint not null,
      resource_kind text not null,
      permission text not null,
      ${history},
      foreign key (resource_id, resource_kind) references resources(id, kind),
      check (
        (resource_kind = 'workspace' and permission in ('member', 'collaborator', 'owner')) or
        (resource_kind = 'project' and permission in ('read', 'write', 'create-repo', 'admin')) or
        (resource_kind = 'repository' and permission in ('read', 'write', 'admin')))
    )`.execute(db);
  await sql`create unique index grants_live on grants (integration_id, principal_id, resource_id, permission) where removed_run is null`.execute(db);
  await sql`create index grants_resource on grants (integration_id, resource_id)`.execute(db);
  await sql`create index grants_principal on grants (integration_id, principal_id)`.execute(db);
  await sql`create index grants_runs on grants (integration_id, first_seen_run, removed_run)`.execute(db);
  await sql`create index grants_scope_live on grants (integration_id, scope) where removed_run is null`.execute(db);

  // Bitbucket's own effective permissions, kept to reconcile against Roster's derivation.
  await sql`
    create table reported_access (
      id bigint generated always as identity primary key,
      integration_id bigint not null references integrations(id) on delete cascade,
      user_id bigint not null,
      user_kind text not null default 'user' check (user_kind = 'user'),
      resource_id bigint not null,
      resource_kind text not null default 'repository' check (resource_kind = 'repository'),
      permission text not null check (permission in ('read', 'write', 'admin')),
      ${history},
      foreign key (user_id, user_kind) references principals(id, kind),
      foreign key (resource_id, resource_kind) references resources(id, kind)
    )`.execute(db);
  await sql`create unique index reported_access_live on reported_access (integration_id, user_id, resource_id, permission) where removed_run is null`.execute(db);

  // Effective access, derived at the end of each run: one row per path that gives a user a
  // permission on a repository. The highest permission over a user's paths is their access.
  await sql`
    create table effective_access (
      integration_id bigint not null references integrations(id) on delete cascade,
      run_id bigint not null references sync_runs(id),
      user_id bigint not null references principals(id),
      repository_id bigint not null references resources(id),
      path_kind text not null check (path_kind in ('direct', 'group', 'project', 'project-group', 'workspace-owner')),
      via_group_id bigint references principals(id),
      via_project_id bigint references resources(id),
      permission text not null check (permission in ('read', 'write', 'admin'))
    )`.execute(db);
  await sql`create index effective_access_repository on effective_access (integration_id, repository_id)`.execute(db);
  await sql`create index effective_access_user on effective_access (integration_id, user_id)`.execute(db);

  // Every disagreement between Roster's derivation and what the source reports, per run.
  await sql`
    create table findings (
      id bigint generated always as identity primary key,
      integration_id bigint not null references integrations(id) on delete cascade,
      run_id bigint not null references sync_runs(id),
      kind text not null check (kind in ('missing_in_source', 'missing_in_roster', 'permission_mismatch')),
      user_id bigint not null references principals(id),
      repository_id bigint not null references resources(id),
      roster_permission text,
      source_permission text,
      detail text not null
    )`.execute(db);
  await sql`create index findings_run on findings (integration_id, run_id)`.execute(db);

  for (const table of ['principals', 'resources', 'memberships', 'grants', 'reported_access']) {
    await sql`create index ${sql.id(`${table}_first_seen`)} on ${sql.table(table)} (first_seen_run)`.execute(db);
    await sql`create index ${sql.id(`${table}_removed`)} on ${sql.table(table)} (removed_run) where removed_run is not null`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['findings', 'effective_access', 'reported_access', 'grants', 'memberships', 'resources', 'principals', 'sync_scopes', 'sync_runs', 'credentials', 'integrations']) {
    await sql`drop table if exists ${sql.table(table)} cascade`.execute(db);
  }
}
