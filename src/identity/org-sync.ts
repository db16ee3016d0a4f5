import { sql } from 'kysely';
import { checkOptions, identitySourceOf } from '../connectors.ts';
import type { RosterDatabase } from '../db/index.ts';
import { integrationSpec, sealedCredential } from '../db/integrations.ts';
import { tryLockIntegration } from '../db/lock.ts';
import type { Integration, ProductAccess } from '../db/types.ts';
import { ConnectorError, RosterError, errorMessage } from '../errors.ts';
import type { ConnectorTuning, IdentityAccount, IdentityDirectoryGroup, IdentityDomain, IdentityReader } from '../interfaces.ts';
import type { Logger } from '../log.ts';
import type { Keyring } from '../secrets/index.ts';
import { completeRun, insertRun, updateRunStats } from '../sync/sql/run-rows.ts';
import { upsertScopeRows } from '../sync/sql/scope-rows.ts';
import { plural } from '../text.ts';

/**
 * One sync of an Atlassian organization integration: the managed accounts (with last-active dates)
 * and the domains, each a scope, stored as versions over the integration's runs. An identity source
 * is not a permission source — no resources, grants or effective access — so it has this small
 * lifecycle of its own on the same run rows, scopes and lock as every sync.
 *
 * Removal: an account (or domain) is closed only when this run read its listing completely. A listing
 * that failed keeps every earlier version current and the run is `partial`/`failed`, never "everyone
 * left the organization".
 */

export interface OrgSyncOutcome {
  runId: string;
  status: 'succeeded' | 'partial' | 'failed';
  summary: string;
  accounts: { listed: number; added: number; changed: number; removed: number } | null;
  /** The directory groups stored, or null when the source has none or their listing failed. */
  groups: { listed: number; added: number; changed: number; removed: number } | null;
}

/**
 * The reader of a stored identity integration, through its kind's definition: stored options checked
 * against the kind's table, the credential handed over sealed (the reader opens it).
 */
export async function connectIdentitySource(
  handle: RosterDatabase,
  keyring: Keyring,
  integration: Integration,
  hooks: { logger: Logger; signal?: AbortSignal },
  tuning: ConnectorTuning = {},
): Promise<IdentityReader> {
  const definition = identitySourceOf(integration.kind);
  const { options, problems } = checkOptions(integration.kind, integration.options ?? {});
  if (problems.length > 0) {
    throw new RosterError('config_invalid', `Integration "${integration.name}" has options ${definition.title} does not take:\n${problems.map((p) => `  - ${p.option?.flag ?? p.name}: ${p.message}`).join('\n')}\nFix them with \`roster integration add ${integration.name} --replace\`.`);
  }
  return definition.createReader(integrationSpec(integration, options), sealedCredential(handle.db, keyring, integration), { logger: hooks.logger, onProgress: () => {}, priorRequests: [], tuning, signal: hooks.signal });
}

interface ScopeResult<T> {
  ok: T | null;
  error: ConnectorError | RosterError | null;
}

async function read<T>(f: () => Promise<T>): Promise<ScopeResult<T>> {
  try {
    return { ok: await f(), error: null };
  } catch (error) {
    if (error instanceof RosterError) return { ok: null, error };
    throw error;
  }
}

const iso = (s: string | null): string | null => {
  if (!s) return null;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
};

export async function syncOrganization(handle: RosterDatabase, integration: Integration, reader: IdentityReader, options: { trigger?: 'manual' | 'schedule' | 'demo' | 'test'; logger?: Logger } = {}): Promise<OrgSyncOutcome> {
  const lock = await tryLockIntegration(handle, String(integration.id));
  if (!lock) throw new RosterError('sync_locked', `Integration "${integration.name}" is being synced by another process; try again when it finishes.`, { retryable: true });
  const db = handle.db;
  const integrationId = String(integration.id);
  let runId = '';
  try {
    const run = await insertRun(db, { integrationId, trigger: options.trigger ?? 'manual', since: null, slot: null });
    runId = String(run.id);
    const accounts = await read(() => reader.listAccounts());
    const domains = await read(() => reader.listDomains());
    const listGroups = reader.listDirectoryGroups?.bind(reader);
    const groups = listGroups ? await read(() => listGroups()) : null;
    const endpointOf = (e: RosterError | null): string | null => (e instanceof ConnectorError ? e.endpoint : null);
    await upsertScopeRows(db, [
      scopeRow(runId, 'org-accounts', 'organization accounts', accounts, accounts.ok?.length ?? 0, endpointOf(accounts.error)),
      scopeRow(runId, 'org-domains', 'organization domains', domains, domains.ok?.length ?? 0, endpointOf(domains.error)),
      ...(groups ? [scopeRow(runId, 'org-groups', 'organization directory groups', groups, groups.ok?.length ?? 0, endpointOf(groups.error))] : []),
    ]);
    let groupCounts: OrgSyncOutcome['groups'] = null;
    let counts: OrgSyncOutcome['accounts'] = null;
    await db.transaction().execute(async (trx) => {
      if (accounts.ok) counts = await storeAccounts(trx as never, integrationId, runId, accounts.ok);
      if (domains.ok) await storeDomains(trx as never, integrationId, runId, domains.ok);
      if (groups?.ok) groupCounts = await storeGroups(trx as never, integrationId, runId, groups.ok);
    });
    const stats = reader.stats();
    await updateRunStats(db, runId, { api_requests: stats.requests, api_retries: stats.retries, rate_limit_waits: stats.rateLimitWaits, rate_limit_wait_ms: stats.rateLimitWaitMs, responses_429: stats.responses429 });
    const failed = [accounts, domains, ...(groups ? [groups] : [])].filter((s) => s.error);
    const status: OrgSyncOutcome['status'] = failed.length === 0 ? 'succeeded' : accounts.ok ? 'partial' : 'failed';
    const c = counts as OrgSyncOutcome['accounts'];
    const summary = [
      `Organization sync of "${integration.name}" ${status} (run ${runId}).`,
      c ? `${plural(c.listed, 'managed account')}: ${c.added} new, ${c.changed} changed, ${c.removed} no longer listed.` : 'The accounts were not read; the earlier state stays.',
      ...(groupCounts ? [`${plural((groupCounts as NonNullable<OrgSyncOutcome['groups']>).listed, 'directory group')}.`] : []),
      ...failed.map((s) => `Not read: ${s.error?.message}${s.error instanceof ConnectorError && s.error.advice ? ` — ${s.error.advice}` : ''}`),
    ].join(' ');
    const firstError = failed[0]?.error ?? null;
    await completeRun(db, runId, { status, counts: { live: { org_accounts: c?.listed ?? null } }, errorCode: firstError?.code ?? null, errorMessage: firstError ? errorMessage(firstError) : null, summary });
    options.logger?.info({ run_id: runId, integration: integration.name, status }, 'organization sync finished');
    return { runId, status, summary, accounts: c, groups: groupCounts };
  } catch (error) {
    if (runId) await completeRun(db, runId, { status: 'failed', counts: {}, errorCode: error instanceof RosterError ? error.code : 'internal', errorMessage: errorMessage(error), summary: `Organization sync of "${integration.name}" failed: ${errorMessage(error)}` });
    throw error;
  } finally {
    await reader.close();
    await lock.release();
  }
}

function scopeRow(runId: string, scope: string, label: string, result: ScopeResult<unknown>, items: number, endpoint: string | null) {
  const e = result.error;
  return {
    run_id: runId,
    scope,
    stream: scope,
    label,
    status: e ? ('failed' as const) : ('complete' as const),
    endpoint,
    http_status: e instanceof ConnectorError ? e.httpStatus : null,
    error_code: e?.code ?? null,
    message: e ? errorMessage(e) : null,
    advice: e instanceof ConnectorError ? e.advice : null,
    items,
    pages: 0,
  };
}

type Trx = RosterDatabase['db'];

const canonicalProducts = (list: readonly ProductAccess[]): string => JSON.stringify(list.map((p) => [p.key, p.name ?? null, p.url ?? null, iso(p.last_active ?? null)]));

/** Versions of the listed accounts: confirmed when unchanged, closed and reopened when changed, new ones opened, unlisted ones closed. */
async function storeAccounts(trx: Trx, integrationId: string, runId: string, listed: readonly IdentityAccount[]): Promise<NonNullable<OrgSyncOutcome['accounts']>> {
  const rows = listed.map((a) => ({
    account_id: a.accountId,
    email: a.email,
    email_key: a.email?.toLowerCase() ?? null,
    name: a.name,
    account_type: a.accountType,
    account_status: a.accountStatus,
    last_active: iso(a.lastActive),
    product_access: JSON.stringify([...a.productAccess].sort((x, y) => (x.key + (x.url ?? '') < y.key + (y.url ?? '') ? -1 : 1))),
    added_to_org: iso(a.addedToOrg),
  }));
  const unique = new Map(rows.map((r) => [r.account_id, r]));
  const current = await trx.selectFrom('org_accounts').selectAll().where('integration_id', '=', integrationId).where('removed_run', 'is', null).execute();
  const byId = new Map(current.map((c) => [c.account_id, c]));
  const unchanged: string[] = [];
  const closed: string[] = [];
  const fresh: Array<(typeof rows)[number]> = [];
  const ms = (d: Date | string | null): number | null => (d === null ? null : new Date(d).getTime());
  for (const r of unique.values()) {
    const c = byId.get(r.account_id);
    byId.delete(r.account_id);
    if (!c) {
      fresh.push(r);
      continue;
    }
    const same =
      c.email === r.email &&
      c.name === r.name &&
      c.account_type === r.account_type &&
      c.account_status === r.account_status &&
      ms(c.last_active) === ms(r.last_active) &&
      ms(c.added_to_org) === ms(r.added_to_org) &&
      // jsonb keeps its own key order: compare the entries field by field, not as text.
      canonicalProducts(typeof c.product_access === 'string' ? (JSON.parse(c.product_access) as ProductAccess[]) : c.product_access) === canonicalProducts(JSON.parse(r.product_access) as ProductAccess[]);
    if (same) unchanged.push(String(c.id));
    else {
      closed.push(String(c.id));
      fresh.push(r);
    }
  }
  // The listing was read completely (a failed one never gets here): whoever it no longer lists left the organization's management.
  const removed = [...byId.values()].map((c) => String(c.id));
  if (unchanged.length > 0) await sql`update org_accounts set last_seen_run = ${runId} where id = any(${unchanged}::bigint[])`.execute(trx);
  if (closed.length + removed.length > 0) await sql`update org_accounts set removed_run = ${runId} where id = any(${[...closed, ...removed]}::bigint[])`.execute(trx);
  for (let i = 0; i < fresh.length; i += 1000) {
    await trx
      .insertInto('org_accounts')
      .values(fresh.slice(i, i + 1000).map((r) => ({ ...r, integration_id: integrationId, first_seen_run: runId, last_seen_run: runId })))
      .execute();
  }
  return { listed: unique.size, added: fresh.length - closed.length, changed: closed.length, removed: removed.length };
}

async function storeDomains(trx: Trx, integrationId: string, runId: string, listed: readonly IdentityDomain[]): Promise<void> {
  const current = await trx.selectFrom('org_domains').selectAll().where('integration_id', '=', integrationId).where('removed_run', 'is', null).execute();
  const byDomain = new Map(current.map((c) => [c.domain, c]));
  for (const d of new Map(listed.map((x) => [x.domain, x])).values()) {
    const c = byDomain.get(d.domain);
    byDomain.delete(d.domain);
    if (c && c.verified === d.verified) {
      await trx.updateTable('org_domains').set({ last_seen_run: runId }).where('id', '=', c.id).execute();
      continue;
    }
    if (c) await trx.updateTable('org_domains').set({ removed_run: runId }).where('id', '=', c.id).execute();
    await trx.insertInto('org_domains').values({ integration_id: integrationId, domain: d.domain, verified: d.verified, first_seen_run: runId, last_seen_run: runId }).execute();
  }
  for (const gone of byDomain.values()) await trx.updateTable('org_domains').set({ removed_run: runId }).where('id', '=', gone.id).execute();
}

const sameMembers = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Versions of the directory groups, keyed by (directory id, group id) — never by name, which an admin
 * can change. Only a complete listing gets here, so a group it no longer lists was deleted.
 */
async function storeGroups(trx: Trx, integrationId: string, runId: string, listed: readonly IdentityDirectoryGroup[]): Promise<NonNullable<OrgSyncOutcome['groups']>> {
  const current = await trx.selectFrom('org_groups').selectAll().where('integration_id', '=', integrationId).where('removed_run', 'is', null).execute();
  const key = (directoryId: string, groupId: string): string => JSON.stringify([directoryId, groupId]);
  const byKey = new Map(current.map((c) => [key(c.directory_id, c.group_id), c]));
  let added = 0;
  let changed = 0;
  for (const g of new Map(listed.map((x) => [key(x.directoryId, x.groupId), x])).values()) {
    const members = [...new Set(g.memberAccountIds)].sort();
    const c = byKey.get(key(g.directoryId, g.groupId));
    byKey.delete(key(g.directoryId, g.groupId));
    const stored = c ? (typeof c.member_account_ids === 'string' ? (JSON.parse(c.member_account_ids) as string[]) : c.member_account_ids) : null;
    if (c && stored && c.name === g.name && c.description === g.description && c.directory_name === g.directoryName && sameMembers(stored, members)) {
      await trx.updateTable('org_groups').set({ last_seen_run: runId }).where('id', '=', c.id).execute();
      continue;
    }
    if (c) {
      await trx.updateTable('org_groups').set({ removed_run: runId }).where('id', '=', c.id).execute();
      changed += 1;
    } else added += 1;
    await trx
      .insertInto('org_groups')
      .values({ integration_id: integrationId, directory_id: g.directoryId, directory_name: g.directoryName, group_id: g.groupId, name: g.name, description: g.description, member_account_ids: JSON.stringify(members), first_seen_run: runId, last_seen_run: runId })
      .execute();
  }
  // The listing was complete: a group it no longer shows was deleted in the organization.
  for (const gone of byKey.values()) await trx.updateTable('org_groups').set({ removed_run: runId }).where('id', '=', gone.id).execute();
  return { listed: listed.length, added, changed, removed: byKey.size };
}
