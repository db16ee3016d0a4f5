import type { Kysely } from 'kysely';
import type { Database } from '../../db/types.ts';
import type { PrincipalKind, PrincipalRecord, ResourceKind, ResourceRecord } from '../../interfaces.ts';

/** What earlier streams committed, read back for later streams (their `StreamContext`). */

type Db = Kysely<Database>;

/**
 * Live resources of a kind, each with its parent reference. `seenInRun`: only those the run saw
 * (when it listed the kind completely), not every one still known from earlier runs.
 */
export async function liveResources(db: Db, integrationId: string, kind: ResourceKind, seenInRun: string | null): Promise<ResourceRecord[]> {
  const rows = await db
    .selectFrom('resources as r')
    .leftJoin('resources as parent', 'parent.id', 'r.parent_id')
    .select(['r.kind', 'r.external_id', 'r.name', 'r.handle', 'r.attributes', 'parent.kind as parent_kind', 'parent.external_id as parent_external_id'])
    .where('r.integration_id', '=', integrationId)
    .where('r.kind', '=', kind)
    .where('r.removed_run', 'is', null)
    .$if(seenInRun !== null, (qb) => qb.where('r.last_seen_run', '=', seenInRun as string))
    .orderBy('r.id')
    .execute();
  return rows.map((r) => ({
    kind: r.kind,
    externalId: r.external_id,
    name: r.name,
    handle: r.handle,
    attributes: r.attributes,
    parent: r.parent_kind && r.parent_external_id ? { kind: r.parent_kind, externalId: r.parent_external_id } : null,
  }));
}

export async function livePrincipals(db: Db, integrationId: string, kind: PrincipalKind): Promise<PrincipalRecord[]> {
  const rows = await db
    .selectFrom('principals')
    .select(['kind', 'external_id', 'display_name', 'handle', 'account_id', 'attributes'])
    .where('integration_id', '=', integrationId)
    .where('kind', '=', kind)
    .where('removed_run', 'is', null)
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ kind: r.kind, externalId: r.external_id, displayName: r.display_name, handle: r.handle, accountId: r.account_id, attributes: r.attributes }));
}
