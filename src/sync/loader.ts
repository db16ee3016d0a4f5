import { type Kysely, type Transaction, sql } from 'kysely';
import type { Database } from '../db/types.ts';
import { RosterError } from '../errors.ts';
import { PRINCIPAL_KINDS, type Batch, type PermissionModel, type PrincipalRecord, type ResourceRecord } from '../interfaces.ts';
import { storableValue } from './sanitize.ts';
import { syncPrincipalVersions, syncResourceVersions } from './versions.ts';

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

/** What a load learned about single records: changed to be storable, refused, or confirmed gone. */
interface Notice {
  scope: string;
  kind: 'sanitized' | 'rejected' | 'gone';
  recordKind: string;
  recordId: string;
  detail: string;
}

/**
 * The record with text PostgreSQL cannot store replaced (see sanitize.ts), and a notice naming the
 * record and the fields that changed. The record's id may itself have changed: it is then stored under
 * the replaced id, the same on every run.
 */
function storable<T extends { kind: string; externalId: string }>(record: T, scope: string, notices: Notice[]): T {
  const changed: string[] = [];
  const fixed = storableValue(record, '', changed);
  if (changed.length > 0) {
    notices.push({ scope, kind: 'sanitized', recordKind: fixed.kind, recordId: fixed.externalId, detail: `${changed.join(', ')}: NUL or unpaired surrogate characters replaced by U+FFFD` });
  }
  return fixed;
}

/**
 * Writes the staged records of several completely-read scopes in set-based statements: one
 * `insert … select from unnest(…) on conflict` per table, whatever the number of rows. Every row seen
 * gets `last_seen_run = run`; rows listed by a scope are tagged with it, which is what deletion
 * inference later relies on. Nothing here removes anything.
 */
export async function loadScopes(trx: Tx, integrationId: string, runId: string, scopes: StagedScope[], model: PermissionModel): Promise<LoadCounts> {
  assertVocabulary(scopes, model);
  const principals = new Map<string, Tagged<PrincipalRecord>>();
  const resources = new Map<string, Tagged<ResourceRecord>>();
  const memberships = new Map<string, { scope: string; groupExt: string; memberKind: string; memberExt: string }>();
  const grants = new Map<string, { scope: string; pk: string; pe: string; rk: string; re: string; permission: string }>();
  const reported = new Map<string, { scope: string; ue: string; re: string; permission: string }>();
  const notices: Notice[] = [];

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
      for (const p of batch.referencedPrincipals ?? []) putPrincipal(storable(p, scopeId, notices), scopeId, false);
      for (const p of batch.principals ?? []) putPrincipal(storable(p, scopeId, notices), scopeId, true);
      for (const r of batch.referencedResources ?? []) putResource(storable(r, scopeId, notices), scopeId, false);
      for (const r of batch.resources ?? []) putResource(storable(r, scopeId, notices), scopeId, true);
      for (const g of batch.goneResources ?? []) notices.push({ scope: scopeId, kind: 'gone', recordKind: g.kind, recordId: g.externalId, detail: g.evidence });
      // References in memberships, grants and reported access are made storable the same way as the
      // records they point at, so they still match; the notice is on the record itself.
      for (const raw of batch.memberships ?? []) {
        const m = storableValue(raw, '', []);
        memberships.set(`${m.group.externalId}\u0000${m.member.kind}\u0000${m.member.externalId}`, { scope: scopeId, groupExt: m.group.externalId, memberKind: m.member.kind, memberExt: m.member.externalId });
      }
      for (const raw of batch.grants ?? []) {
        const g = storableValue(raw, '', []);
        grants.set(`${g.principal.kind}\u0000${g.principal.externalId}\u0000${g.resource.kind}\u0000${g.resource.externalId}\u0000${g.permission}`, {
          scope: scopeId,
          pk: g.principal.kind,
          pe: g.principal.externalId,
          rk: g.resource.kind,
          re: g.resource.externalId,
          permission: g.permission,
        });
      }
      for (const raw of batch.reportedAccess ?? []) {
        const a = storableValue(raw, '', []);
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
  await syncPrincipalVersions(trx, integrationId, runId, [...principals.values()].map((p) => p.record));
  await syncResourceVersions(trx, integrationId, runId, [...resources.values()].map((r) => r.record));
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
    await assertAllResolved(trx, integrationId, 'membership', rows, result.rows[0]?.n,
      (r) => [{ table: 'principals', kind: 'group', externalId: r.groupExt }, { table: 'principals', kind: r.memberKind, externalId: r.memberExt }],
      (r) => `membership of ${r.memberKind} ${r.memberExt} in group ${r.groupExt}`);
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
    await assertAllResolved(trx, integrationId, 'grant', rows, result.rows[0]?.n,
      (r) => [{ table: 'principals', kind: r.pk, externalId: r.pe }, { table: 'resources', kind: r.rk, externalId: r.re }],
      (r) => `${r.permission} grant of ${r.pk} ${r.pe} on ${r.rk} ${r.re}`);
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
        join resources r on r.integration_id = ${integrationId} and r.kind = ${model.leaf} and r.external_id = input.re
      ), upserted as (
        insert into reported_access (integration_id, user_id, resource_id, resource_kind, permission, scope, first_seen_run, last_seen_run)
        select ${integrationId}, user_id, resource_id, ${model.leaf}, permission, scope, ${runId}, ${runId} from resolved
        on conflict (integration_id, user_id, resource_id, permission) where removed_run is null
        do update set last_seen_run = excluded.last_seen_run, scope = excluded.scope
        returning 1
      )
      select count(*)::int as n from upserted`.execute(trx);
    await assertAllResolved(trx, integrationId, 'reported access', rows, result.rows[0]?.n,
      (r) => [{ table: 'principals', kind: 'user', externalId: r.ue }, { table: 'resources', kind: model.leaf, externalId: r.re }],
      (r) => `reported ${r.permission} of user ${r.ue} on ${model.leaf} ${r.re}`);
  }
  if (notices.length > 0) {
    await sql`
      insert into sync_notices (run_id, scope, kind, record_kind, record_id, detail)
      select ${runId}, * from unnest(${notices.map((n) => n.scope)}::text[], ${notices.map((n) => n.kind)}::text[], ${notices.map((n) => n.recordKind)}::text[],
                                     ${notices.map((n) => n.recordId)}::text[], ${notices.map((n) => n.detail)}::text[])
      on conflict (run_id, kind, record_kind, record_id) do nothing`.execute(trx);
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
 * Records must speak the connector's declared vocabulary: resource kinds of its permission model,
 * permissions on the ladder of the resource kind they are on, principal kinds the engine knows. A
 * record that does not is a connector bug; it fails its scope, named, instead of being stored as
 * something no report understands.
 */
function assertVocabulary(scopes: readonly StagedScope[], model: PermissionModel): void {
  const problems: string[] = [];
  const principalKinds: readonly string[] = PRINCIPAL_KINDS;
  const resourceKind = (kind: string, where: string) => {
    if (!model.resources[kind]) problems.push(`${where}: resource kind "${kind}" is not in the permission model (${Object.keys(model.resources).join(', ')})`);
  };
  const principalKind = (kind: string, where: string) => {
    if (!principalKinds.includes(kind)) problems.push(`${where}: principal kind "${kind}" is not one of ${principalKinds.join(', ')}`);
  };
  for (const { scopeId, batches } of scopes) {
    for (const b of batches) {
      for (const r of [...(b.resources ?? []), ...(b.referencedResources ?? [])]) resourceKind(r.kind, `scope ${scopeId}, resource ${r.externalId}`);
      for (const p of [...(b.principals ?? []), ...(b.referencedPrincipals ?? [])]) principalKind(p.kind, `scope ${scopeId}, principal ${p.externalId}`);
      for (const g of b.grants ?? []) {
        const ladder = model.resources[g.resource.kind]?.ladder;
        if (!ladder) resourceKind(g.resource.kind, `scope ${scopeId}, grant on ${g.resource.externalId}`);
        else if (!ladder.includes(g.permission)) problems.push(`scope ${scopeId}: ${g.permission} grant of ${g.principal.kind} ${g.principal.externalId} on ${g.resource.kind} ${g.resource.externalId} is not on the ${g.resource.kind} ladder (${ladder.join(' < ')})`);
      }
      const leaf = model.resources[model.leaf]?.ladder ?? [];
      for (const a of b.reportedAccess ?? []) {
        if (!leaf.includes(a.permission)) problems.push(`scope ${scopeId}: reported ${a.permission} of user ${a.user.externalId} on ${a.resource.externalId} is not on the ${model.leaf} ladder`);
      }
      if (problems.length >= 3) break;
    }
  }
  if (problems.length > 0) {
    throw new RosterError('internal', `Records outside the connector's declared vocabulary were not stored: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? '; …' : ''}. Nothing from this scope was written or removed.`);
  }
}

interface Reference {
  table: 'principals' | 'resources';
  kind: string;
  externalId: string;
}

/**
 * A record that points at a principal or resource nobody listed is a connector bug or a source
 * inconsistency. Dropping it silently would under-report access, so the load fails, naming the first
 * records that do not resolve and their scope; the runner then writes scope by scope so that only the
 * scope holding them fails.
 */
async function assertAllResolved<T extends { scope: string }>(
  trx: Tx,
  integrationId: string,
  what: string,
  rows: readonly T[],
  got: number | undefined,
  references: (row: T) => Reference[],
  describe: (row: T) => string,
): Promise<void> {
  if (got === rows.length) return;
  const known = new Set<string>();
  for (const table of ['principals', 'resources'] as const) {
    const refs = rows.flatMap(references).filter((r) => r.table === table);
    const found = await sql<{ kind: string; external_id: string }>`
      select e.kind, e.external_id from ${sql.table(table)} e
        join unnest(${refs.map((r) => r.kind)}::text[], ${refs.map((r) => r.externalId)}::text[]) as k(kind, external_id)
          on e.integration_id = ${integrationId} and e.kind = k.kind and e.external_id = k.external_id`.execute(trx);
    for (const r of found.rows) known.add(`${table} ${r.kind} ${r.external_id}`);
  }
  const unresolved = rows.filter((row) => references(row).some((r) => !known.has(`${r.table} ${r.kind} ${r.externalId}`)));
  const sample = unresolved.slice(0, 3).map((row) => {
    const missing = references(row).filter((r) => !known.has(`${r.table} ${r.kind} ${r.externalId}`)).map((r) => `${r.kind} ${r.externalId}`);
    return `${describe(row)} in scope ${row.scope} (no ${missing.join(' and no ')} was listed or referenced)`;
  });
  throw new RosterError(
    'internal',
    `${unresolved.length || rows.length - (got ?? 0)} of ${rows.length} ${what} records cannot be stored because they reference something the source did not list: ${sample.join('; ')}${unresolved.length > 3 ? '; …' : ''}. Nothing from this scope was written or removed.`,
  );
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
