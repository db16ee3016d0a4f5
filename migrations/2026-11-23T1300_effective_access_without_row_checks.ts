import { type Kysely, sql } from 'kysely';

/**
 * Effective access keeps only its integration's foreign key. The rows are derived in one
 * transaction from rows whose keys are already checked, so the other checks cannot fail, and as
 * per-row triggers they cost seven times the insert itself (2.85 million rows on the enterprise
 * profile). The integration's key stays: removing an integration still cascades.
 */
const dropped = [
  'effective_access_run_id_fkey',
  'effective_access_user_id_fkey',
  'effective_access_repository_id_fkey',
  'effective_access_via_group_id_fkey',
  'effective_access_via_project_id_fkey',
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const name of dropped) {
    await sql`alter table effective_access drop constraint if exists ${sql.id(name)}`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    alter table effective_access
      add constraint effective_access_run_id_fkey foreign key (run_id) references sync_runs(id),
      add constraint effective_access_user_id_fkey foreign key (user_id) references principals(id),
      add constraint effective_access_repository_id_fkey foreign key (repository_id) references resources(id),
      add constraint effective_access_via_group_id_fkey foreign key (via_group_id) references principals(id),
      add constraint effective_access_via_project_id_fkey foreign key (via_project_id) references resources(id)`.execute(db);
}
