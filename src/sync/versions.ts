import { type Kysely, type RawBuilder, type Transaction, sql } from 'kysely';
import type { Database } from '../db/types.ts';

type Tx = Transaction<Database> | Kysely<Database>;

/**
 * Keeps `principal_versions` / `resource_versions` in step with the entity rows a flush just wrote
 * (see the 2026-12-01 migration for the model). For every entity of the flush, in this order:
 *
 *   1. its current version, if this run opened it, takes the entity's values (one run, one version);
 *   2. its current version, if an earlier run opened it and a versioned column differs, is closed at
 *      this run — it stays valid for every run before this one;
 *   3. an entity with no current version (new, back after a removal, or just closed in 2) gets one
 *      opened at this run; after a change it continues the presence of the version it replaces.
 *
 * Two statements, not one: a closed and a new current version of one entity in one statement would
 * meet the one-current-version index in no defined order.
 */
interface VersionedTable {
  versions: 'principal_versions' | 'resource_versions';
  entities: 'principals' | 'resources';
  key: 'principal_id' | 'resource_id';
  /** Versioned columns, the same name in both tables. */
  columns: readonly string[];
}

const PRINCIPALS: VersionedTable = { versions: 'principal_versions', entities: 'principals', key: 'principal_id', columns: ['display_name', 'handle', 'account_id', 'attributes'] };
const RESOURCES: VersionedTable = { versions: 'resource_versions', entities: 'resources', key: 'resource_id', columns: ['name', 'handle', 'parent_id', 'attributes'] };

export function syncPrincipalVersions(trx: Tx, integrationId: string, runId: string, keys: ReadonlyArray<{ kind: string; externalId: string }>): Promise<void> {
  return syncVersions(trx, PRINCIPALS, integrationId, runId, keys);
}

export function syncResourceVersions(trx: Tx, integrationId: string, runId: string, keys: ReadonlyArray<{ kind: string; externalId: string }>): Promise<void> {
  return syncVersions(trx, RESOURCES, integrationId, runId, keys);
}

async function syncVersions(trx: Tx, t: VersionedTable, integrationId: string, runId: string, keys: ReadonlyArray<{ kind: string; externalId: string }>): Promise<void> {
  if (keys.length === 0) return;
  const touched = sql`(
    select e.* from ${sql.table(t.entities)} e
      join unnest(${keys.map((k) => k.kind)}::text[], ${keys.map((k) => k.externalId)}::text[]) as k(kind, external_id)
        on e.integration_id = ${integrationId} and e.kind = k.kind and e.external_id = k.external_id)`;
  const columns = (alias: string): RawBuilder<unknown> => sql.join(t.columns.map((c) => sql.ref(`${alias}.${c}`)));
  const differs = sql`(${columns('v')}) is distinct from (${columns('e')})`;
  const key = sql.ref(`v.${t.key}`);

  await sql`
    update ${sql.table(t.versions)} v set ${sql.join(t.columns.map((c) => sql`${sql.ref(c)} = ${sql.ref(`e.${c}`)}`))}
      from ${touched} e
     where ${key} = e.id and v.removed_run is null and v.first_seen_run = ${runId} and ${differs}`.execute(trx);
  await sql`
    update ${sql.table(t.versions)} v set removed_run = ${runId}
      from ${touched} e
     where ${key} = e.id and v.removed_run is null and v.first_seen_run < ${runId} and ${differs}`.execute(trx);
  await sql`
    insert into ${sql.table(t.versions)} (integration_id, ${sql.ref(t.key)}, kind, external_id, ${sql.join(t.columns.map((c) => sql.ref(c)))},
                                          present_since_run, first_seen_run, last_seen_run)
    select e.integration_id, e.id, e.kind, e.external_id, ${columns('e')},
           -- Continuing after a change in this run, or beginning again after an absence.
           coalesce((select max(c.present_since_run) from ${sql.table(t.versions)} c where ${sql.ref(`c.${t.key}`)} = e.id and c.removed_run = ${runId}), ${runId}),
           ${runId}, ${runId}
      from ${touched} e
     where e.removed_run is null
       and not exists (select 1 from ${sql.table(t.versions)} v where ${key} = e.id and v.removed_run is null)`.execute(trx);
}

/**
 * At the end of a run: current versions of entities this run saw are confirmed by it (their
 * `last_seen_run`), and entities the run removed close their current version. Done once here rather
 * than per flush, so a version closed mid-run by a change keeps the last run that really saw it.
 */
export async function finalizeVersions(trx: Tx, integrationId: string, runId: string): Promise<void> {
  for (const t of [PRINCIPALS, RESOURCES]) {
    const key = sql.ref(`v.${t.key}`);
    await sql`
      update ${sql.table(t.versions)} v set last_seen_run = ${runId}
        from ${sql.table(t.entities)} e
       where ${key} = e.id and e.integration_id = ${integrationId} and e.last_seen_run = ${runId}
         and v.removed_run is null and v.last_seen_run < ${runId}`.execute(trx);
    await sql`
      update ${sql.table(t.versions)} v set removed_run = ${runId}
        from ${sql.table(t.entities)} e
       where ${key} = e.id and e.integration_id = ${integrationId} and e.removed_run = ${runId}
         and v.removed_run is null`.execute(trx);
  }
}
