import { type Kysely, sql } from 'kysely';

/**
 * A run can be paused for the rate limit, interrupted or killed, and resumed later by another
 * process: one run, several segments of work. Each segment is kept on the run (when it started,
 * which process ran it, when and how it ended), so a resumed run's summary, `roster status` and the
 * run duration metric give the run's whole time, not only its last segment. Runs from before this
 * migration have no segments; readers fall back to started_at/finished_at.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table sync_runs add column segments jsonb not null default '[]'::jsonb`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table sync_runs drop column segments`.execute(db);
}
