import { type RawBuilder, sql } from 'kysely';

/**
 * Reading history: what was present at the end of a run, with the values it had then. Used by the
 * sync's derivation of effective access and by every report, so "now" and `--as-of` are one query
 * with a different run id.
 *
 * Grants, memberships and reported access are presence intervals themselves. Principals and resources
 * are read through their versions (`principal_versions`, `resource_versions`): names, slugs, a
 * repository's project and visibility, key facts — each valid over an interval of runs.
 */

/** `alias` row present at the end of run `runId` (or now, when null): the history columns as a filter. */
export function presentAt(alias: string, runId: string | null): RawBuilder<unknown> {
  if (runId === null) return sql`${sql.ref(`${alias}.removed_run`)} is null`;
  return sql`(${sql.ref(`${alias}.first_seen_run`)} <= ${runId} and (${sql.ref(`${alias}.removed_run`)} is null or ${sql.ref(`${alias}.removed_run`)} > ${runId}))`;
}

function kindFilter(kinds: readonly string[] | undefined): RawBuilder<unknown> {
  if (!kinds || kinds.length === 0) return sql`true`;
  return sql`v.kind in (${sql.join(kinds.map((k) => sql`${k}`))})`;
}

/**
 * The principals present at the end of `runId` (null: now), with their values then: a subquery with
 * `id` (the principal's), `kind`, `external_id`, `display_name`, `handle`, `account_id`, `attributes`
 * and `present_since_run` (when this unbroken presence began).
 */
export function principalsAt(integrationId: string, runId: string | null, kinds?: readonly string[]): RawBuilder<unknown> {
  return sql`(
    select v.principal_id as id, v.kind, v.external_id, v.display_name, v.handle, v.account_id, v.attributes, v.present_since_run
      from principal_versions v
     where v.integration_id = ${integrationId} and ${kindFilter(kinds)} and ${presentAt('v', runId)})`;
}

/**
 * The resources present at the end of `runId` (null: now), with their values then: `id`, `kind`,
 * `external_id`, `name`, `handle`, `parent_id`, `attributes` and `present_since_run`.
 */
export function resourcesAt(integrationId: string, runId: string | null, kinds?: readonly string[]): RawBuilder<unknown> {
  return sql`(
    select v.resource_id as id, v.kind, v.external_id, v.name, v.handle, v.parent_id, v.attributes, v.present_since_run
      from resource_versions v
     where v.integration_id = ${integrationId} and ${kindFilter(kinds)} and ${presentAt('v', runId)})`;
}
