import { type Kysely, type Transaction, sql } from 'kysely';
import type { Database } from '../db/types.ts';
import { RosterError } from '../errors.ts';
import type { Batch, PrincipalRecord, ResourceRecord } from '../interfaces.ts';

/** The records of one scope, staged in memory until the scope has been read to its end. */
export interface StagedScope {
  scopeId: string;
  batches: Batch[];
}

export interface LoadCounts {
  principals: number;
  resources: number;
  memberships: number;
  grants: number;
  reportedAccess: number;
}

type Tx = Transaction<Database> | Kysely<Database>;

interface Tagged<T> {
  scope: string;
  listed: boolean;
  record: T;
}

/**
 * Writes the staged records of several completely-read scopes in set-based statements: one
 * `insert … select from unnest(…) on conflict` per table, whatever the number of rows. Every row seen
 * gets `last_seen_run = run`; rows listed by a scope are tagged with it, which is what deletion
 * inference later relies on. Nothing here removes anything.
 */
export async function loadScopes(trx: Tx, integrationId: string, runId: string, scopes: StagedScope[]): Promise<LoadCounts> {
  const principals = new Map<string, Tagged<PrincipalRecord>>();
  const resources = new Map<string, Tagged<ResourceRecord>>();
  const memberships = new Map<string, { scope: string; groupExt: string; memberKind: string; memberExt: string }>();
  const grants = new Map<string, { scope: string; pk: string; pe: string; rk: string; re: string; permission: string }>();
  const reported = new Map<string, { scope: string; ue: string; re: string; permission: string }>();

  // Listed beats referenced; a later listing of the same row in the same flush wins.
  const putPrincipal = (record: PrincipalRecord, scope: string, listed: boolean): void => {
    const key = `${record.kind}\u0000${record.externalId}`;
    const existing = principals.get(key);
    if (existing && existing.listed && !listed) return;
    principals.set(key, { scope, listed, record: existing && !listed ? mergePrincipal(existing.record, record) : record });
  };
  const putResource = (record: ResourceRecord, scope: string, listed: boolean): void => {
    const key = `${record.kind}\u0000${record.externalId}`;
    const existing = resources.get(key);
    if (existing && existing.listed && !listed) return;
    resources.set(key, { scope, listed, record });
  };

  for (const { scopeId, batches } of scopes) {
    for (const batch of batches) {
      for (const p of batch.referencedPrincipals ?? []) putPrincipal(p, scopeId, false);
      for (const p of batch.principals ?? []) putPrincipal(p, scopeId, true);
      for (const r of batch.referencedResources ?? []) putResource(r, scopeId, false);
      for (const r of batch.resources ?? []) putResource(r, scopeId, true);
      for (const m of batch.memberships ?? []) {
        memberships.set(`${m.group.externalId}\u0000${m.member.kind}\u0000${m.member.externalId}`, { scope: scopeId, groupExt: m.group.externalId, memberKind: m.member.kind, memberExt: m.member.externalId });
      }
      for (const g of batch.grants ?? []) {
        grants.set(`${g.principal.kind}\u0000${g.principal.externalId}\u0000${g.resource.kind}\u0000${g.resource.externalId}\u0000${g.permission}`, {
          scope: scopeId,
          pk: g.principal.kind,
          pe: g.principal.externalId,
          rk: g.resource.kind,
          re: g.resource.externalId,
          permission: g.permission,
        });
      }
      for (const a of batch.reportedAccess ?? []) {
        reported.set(`${a.user.externalId}\u0000${a.resource.externalId}`, { scope: scopeId, ue: a.user.externalId, re: a.resource.externalId, permission: a.permission });
      }
    }
  }

  // Listed and referenced rows go in separate statements: only a listing may change a row's owning scope.
  for (const listed of [true, false]) {
    const p = [...principals.values()].filter((r) => r.listed === listed);
    if (p.length > 0) await upsertPrincipals(trx, integrationId, runId, p, listed);
    const r = [...resources.values()].filter((row) => row.listed === listed);
    if (r.length > 0) await upsertResources(trx, integrationId, runId, r, listed);
  }
  // Parents after every resource of the flush exists, whichever way each was seen.
  await setResourceParents(trx, integrationId, [...resources.values()]);
  await refreshStatistics(trx, principals, resources);
  if (memberships.size > 0) {
    const rows = [...memberships.values()];
    const result = await sql<{ n: number }>`
      with input as (
        select * from unnest(${col(rows, (r) => r.groupExt)}::text[], ${col(rows, (r) => r.memberKind)}::text[], ${col(rows, (r) => r.memberExt)}::text[], ${col(rows, (r) => r.scope)}::text[])
          as t(group_ext, member_kind, member_ext, scope)
      ), resolved as (
        select g.id as group_id, m.id as member_id, input.scope
        from input
        join principals g on g.integration_id = ${integrationId} and g.kind = 'group' and g.external_id = input.group_ext
        join principals m on m.integration_id = ${integrationId} and m.kind = input.member_kind and m.external_id = input.member_ext
      ), upserted as (
        insert into memberships (integration_id, group_id, member_id, scope, first_seen_run, last_seen_run)
        select ${integrationId}, group_id, member_id, scope, ${runId}, ${runId} from resolved
        on conflict (integration_id, group_id, member_id) where removed_run is null
        do update set last_seen_run = excluded.last_seen_run, scope = excluded.scope
        returning 1
      )
      select count(*)::int as n from upserted`.execute(trx);
    assertAllResolved('membership', rows.length, result.rows[0]?.n, scopes);
  }
  if (grants.size > 0) {
    const rows = [...grants.values()];
    const result = await sql<{ n: number }>`
      with input as (
        select * from unnest(${col(rows, (r) => r.pk)}::text[], ${col(rows, (r) => r.pe)}::text[], ${col(rows, (r) => r.rk)}::text[], ${col(rows, (r) => r.re)}::text[], ${col(rows, (r) => r.permission)}::text[], ${col(rows, (r) => r.scope)}::text[])
          as t(pk, pe, rk, re, permission, scope)
      ), resolved as (
        select p.id as principal_id, r.id as resource_id, r.kind as resource_kind, input.permission, input.scope
        from input
        join principals p on p.integration_id = ${integrationId} and p.kind = input.pk and p.external_id = input.pe
        join resources r on r.integration_id = ${integrationId} and r.kind = input.rk and r.external_id = input.re
      ), upserted as (
        insert into grants (integration_id, principal_id, resource_id, resource_kind, permission, scope, first_seen_run, last_seen_run)
        select ${integrationId}, principal_id, resource_id, resource_kind, permission, scope, ${runId}, ${runId} from resolved
        on conflict (integration_id, principal_id, resource_id, permission) where removed_run is null
        do update set last_seen_run = excluded.last_seen_run, scope = excluded.scope
        returning 1
      )
      select count(*)::int as n from upserted`.execute(trx);
    assertAllResolved('grant', rows.length, result.rows[0]?.n, scopes);
  }
  if (reported.size > 0) {
    const rows = [...reported.values()];
    const result = await sql<{ n: number }>`
      with input as (
        select * from unnest(${col(rows, (r) => r.ue)}::text[], ${col(rows, (r) => r.re)}::text[], ${col(rows, (r) => r.permission)}::text[], ${col(rows, (r) => r.scope)}::text[])
          as t(ue, re, permission, scope)
      ), resolved as (
        select u.id as user_id, r.id as resource_id, input.permission, input.scope
        from input
        join principals u on u.integration_id = ${integrationId} and u.kind = 'user' and u.external_id = input.ue
        join resources r on r.integration_id = ${integrationId} and r.kind = 'repository' and r.external_id = input.re
      ), upserted as (
        insert into reported_access (integration_id, user_id, resource_id, permission, scope, first_seen_run, last_seen_run)
        select ${integrationId}, user_id, resource_id, permission, scope, ${runId}, ${runId} from resolved
        on conflict (integration_id, user_id, resource_id, permission) where removed_run is null
        do update set last_seen_run = excluded.last_seen_run, scope = excluded.scope
        returning 1
      )
      select count(*)::int as n from upserted`.execute(trx);
    assertAllResolved('reported access', rows.length, result.rows[0]?.n, scopes);
  }
  return { principals: principals.size, resources: resources.size, memberships: memberships.size, grants: grants.size, reportedAccess: reported.size };
}

/** Listed rows in one load from which a table's planner statistics are refreshed. */
export const ANALYZE_AFTER_LISTED_ROWS = 1000;

/**
 * A big listing (members, repositories) can grow a table from nothing to thousands of rows in one
 * flush, and every later flush resolves keys against it by join. With statistics from when the table
 * was empty (PGlite has no autovacuum; a server's comes round once a minute) the planner expects one
 * row and nests loops over the whole input: on `large`, each 20,000-row part of Bitbucket's effective
 * permissions took 25–50 s to resolve instead of well under a second. ANALYZE is cheap at these
 * sizes and runs only after a big listing, not after every flush.
 */
async function refreshStatistics(trx: Tx, principals: Map<string, Tagged<PrincipalRecord>>, resources: Map<string, Tagged<ResourceRecord>>): Promise<void> {
  const listed = (rows: Map<string, Tagged<unknown>>): number => {
    let n = 0;
    for (const row of rows.values()) if (row.listed) n += 1;
    return n;
  };
  if (listed(principals) >= ANALYZE_AFTER_LISTED_ROWS) await sql`analyze principals`.execute(trx);
  if (listed(resources) >= ANALYZE_AFTER_LISTED_ROWS) await sql`analyze resources`.execute(trx);
}

function mergePrincipal(a: PrincipalRecord, b: PrincipalRecord): PrincipalRecord {
  return {
    ...a,
    displayName: b.displayName ?? a.displayName,
    handle: b.handle ?? a.handle,
    accountId: b.accountId ?? a.accountId ?? null,
    attributes: { ...(a.attributes ?? {}), ...(b.attributes ?? {}) },
  };
}

function col<T>(rows: readonly T[], pick: (row: T) => string | null | undefined): (string | null)[] {
  return rows.map((row) => pick(row) ?? null);
}

/**
 * A record that points at a principal or resource nobody listed is a connector bug or a source
 * inconsistency. Dropping it silently would under-report access, so the whole flush fails instead.
 */
function assertAllResolved(what: string, expected: number, got: number | undefined, scopes: StagedScope[]): void {
  if (got !== expected) {
    throw new RosterError('internal', `${expected - (got ?? 0)} of ${expected} ${what} rows from ${scopes.map((s) => s.scopeId).slice(0, 3).join(', ')}${scopes.length > 3 ? ', …' : ''} reference a principal or resource that was not listed or referenced; they were not written`);
  }
}

async function upsertPrincipals(trx: Tx, integrationId: string, runId: string, rows: Tagged<PrincipalRecord>[], listed: boolean): Promise<void> {
  await sql`
    insert into principals (integration_id, kind, external_id, display_name, handle, account_id, attributes, scope, first_seen_run, last_seen_run)
    select ${integrationId}, t.kind, t.external_id, t.display_name, t.handle, t.account_id, coalesce(t.attributes::jsonb, '{}'::jsonb), t.scope, ${runId}, ${runId}
    from unnest(${col(rows, (r) => r.record.kind)}::text[], ${col(rows, (r) => r.record.externalId)}::text[], ${col(rows, (r) => r.record.displayName)}::text[],
                ${col(rows, (r) => r.record.handle)}::text[], ${col(rows, (r) => r.record.accountId)}::text[],
                ${col(rows, (r) => (r.record.attributes ? JSON.stringify(r.record.attributes) : null))}::text[],
                ${col(rows, (r) => r.scope)}::text[])
      as t(kind, external_id, display_name, handle, account_id, attributes, scope)
    on conflict (integration_id, kind, external_id) do update set
      display_name = coalesce(excluded.display_name, principals.display_name),
      handle = coalesce(excluded.handle, principals.handle),
      account_id = coalesce(excluded.account_id, principals.account_id),
      attributes = principals.attributes || excluded.attributes,
      -- Only the scope that lists a principal owns it; a mere reference never changes who may remove it.
      scope = ${listed ? sql`excluded.scope` : sql`principals.scope`},
      last_seen_run = excluded.last_seen_run,
      removed_run = null`.execute(trx);
}

async function upsertResources(trx: Tx, integrationId: string, runId: string, rows: Tagged<ResourceRecord>[], listed: boolean): Promise<void> {
  await sql`
    insert into resources (integration_id, kind, external_id, name, handle, attributes, scope, first_seen_run, last_seen_run)
    select ${integrationId}, t.kind, t.external_id, t.name, t.handle, coalesce(t.attributes::jsonb, '{}'::jsonb), t.scope, ${runId}, ${runId}
    from unnest(${col(rows, (r) => r.record.kind)}::text[], ${col(rows, (r) => r.record.externalId)}::text[], ${col(rows, (r) => r.record.name)}::text[],
                ${col(rows, (r) => r.record.handle)}::text[], ${col(rows, (r) => (r.record.attributes ? JSON.stringify(r.record.attributes) : null))}::text[],
                ${col(rows, (r) => r.scope)}::text[])
      as t(kind, external_id, name, handle, attributes, scope)
    on conflict (integration_id, kind, external_id) do update set
      name = excluded.name,
      handle = coalesce(excluded.handle, resources.handle),
      attributes = resources.attributes || excluded.attributes,
      scope = ${listed ? sql`excluded.scope` : sql`resources.scope`},
      last_seen_run = excluded.last_seen_run,
      removed_run = null`.execute(trx);
}

async function setResourceParents(trx: Tx, integrationId: string, rows: Tagged<ResourceRecord>[]): Promise<void> {
  const withParent = rows.filter((r) => r.record.parent !== null);
  if (withParent.length > 0) {
    await sql`
      update resources child set parent_id = parent.id
      from unnest(${col(withParent, (r) => r.record.kind)}::text[], ${col(withParent, (r) => r.record.externalId)}::text[],
                  ${col(withParent, (r) => r.record.parent?.kind)}::text[], ${col(withParent, (r) => r.record.parent?.externalId)}::text[])
        as t(kind, external_id, parent_kind, parent_external_id)
      join resources parent on parent.integration_id = ${integrationId} and parent.kind = t.parent_kind and parent.external_id = t.parent_external_id
      where child.integration_id = ${integrationId} and child.kind = t.kind and child.external_id = t.external_id
        and child.parent_id is distinct from parent.id`.execute(trx);
  }
}
