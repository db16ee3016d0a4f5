import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { type AccessRow, type AccessRules, accessRules } from '../../reports/access.ts';
import { pathText } from '../../reports/effective-access-changes.ts';
import type { ReportContext, RunInfo } from '../../reports/types.ts';
import { permissionModelOf } from '../connectors.ts';
import type { Database, Integration } from '../db/types.ts';

/** Helpers shared by the campaign modules: a report context at a run, flags, and the canonical hashes. */

export const PAGE_SIZE = 2000;

export function contextAt(db: Kysely<Database>, integration: Integration, run: RunInfo, runs: ReadonlyMap<string, RunInfo>, now: Date): ReportContext {
  return { db, options: { format: 'csv' }, now, pageSize: PAGE_SIZE, warnings: [], integration, run, runs };
}

/** The reports' rules (ladders, path categories, privileged permissions) for an integration's connector. */
export function rulesOf(integrationKind: string): AccessRules {
  return accessRules(permissionModelOf(integrationKind));
}

/** A resource kind's permission ladder in the connector's model, lowest first (empty: unknown kind). */
export function ladderOf(integrationKind: string, resourceKind: string): readonly string[] {
  return permissionModelOf(integrationKind).resources[resourceKind]?.ladder ?? [];
}

/**
 * An item's flags: the reports' review flags, plus `machine-credential` for deploy keys and access
 * tokens (context the reports carry in their own column). Unknown flags pass through untouched.
 */
export function itemFlags(row: Pick<AccessRow, 'principal_kind'>, flags: readonly string[]): string[] {
  // The reports say `machine-credential` themselves now; kept here so an item says it whatever they do.
  const out = [...flags];
  if ((row.principal_kind === 'deploy_key' || row.principal_kind === 'access_token') && !out.includes('machine-credential')) out.push('machine-credential');
  return out;
}

/**
 * One line of the snapshot hash: the access as the campaign saw it. The snapshot hash is the SHA-256
 * of these lines (each ending in a line feed) for every access row of the run, in access-review order.
 */
export function snapshotLine(row: AccessRow, flags: readonly string[]): string {
  return `${JSON.stringify([row.principal_kind, row.principal_external_id, row.resource_kind, row.resource_external_id, row.permission, row.paths.map(pathText), flags])}\n`;
}

export interface DigestItem {
  integration: string;
  principal_kind: string;
  principal_external_id: string | null;
  resource_kind: string;
  resource_external_id: string;
  permission: string;
  pathTexts: string[];
  flags: string[];
  reviewerKey: string;
  rule: string;
  change: string | null;
}

/** The items' digest: SHA-256 over one JSON line per item, in item order. Close recomputes it. */
export function itemsDigest(items: Iterable<DigestItem>): string {
  const hash = createHash('sha256');
  for (const i of items) hash.update(`${JSON.stringify([i.integration, i.principal_kind, i.principal_external_id, i.resource_kind, i.resource_external_id, i.permission, i.pathTexts, i.flags, i.reviewerKey, i.rule, i.change])}\n`);
  return hash.digest('hex');
}
