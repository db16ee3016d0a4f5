import { BITBUCKET_CLOUD_API_LIMITS } from '../connectors/bitbucket-cloud/limits.ts';
import { BITBUCKET_CLOUD_MODEL } from '../connectors/bitbucket-cloud/model.ts';
import { RosterError } from './errors.ts';
import type { ApiLimit, PermissionModel } from './interfaces.ts';

/**
 * The registry of connector kinds: the one engine file that names connectors. Reports, status, the
 * sync and the CLI ask it what a kind declares instead of knowing any source themselves; a new source
 * registers its definition here (or, in a test, through `registerConnector`) and touches no other
 * engine file.
 */
export interface ConnectorFacts {
  kind: string;
  /** The source's name in messages ("Bitbucket Cloud's own effective permissions"). */
  title: string;
  /** How access works in the source: resources, ladders, inheritance, root roles, implicit access. */
  permissionModel: PermissionModel;
  /** What gives access in this source that its API cannot list with any credential. */
  apiLimits: readonly ApiLimit[];
}

const CONNECTORS = new Map<string, ConnectorFacts>();

/** Adds a connector kind. Refuses a kind already registered, and a model that does not hold together. */
export function registerConnector(facts: ConnectorFacts): void {
  if (CONNECTORS.has(facts.kind)) throw new RosterError('internal', `Connector kind "${facts.kind}" is registered twice`);
  const problems = checkModel(facts.permissionModel);
  if (problems.length > 0) throw new RosterError('internal', `The permission model of "${facts.kind}" does not hold together: ${problems.join('; ')}`);
  CONNECTORS.set(facts.kind, facts);
}

/** Removes a kind registered by a test. */
export function unregisterConnector(kind: string): void {
  CONNECTORS.delete(kind);
}

function facts(kind: string): ConnectorFacts {
  const found = CONNECTORS.get(kind);
  if (!found) throw new RosterError('internal', `No connector is registered for integration kind "${kind}" (known: ${[...CONNECTORS.keys()].join(', ')})`);
  return found;
}

/** The permission model of an integration's kind. */
export function permissionModelOf(kind: string): PermissionModel {
  return facts(kind).permissionModel;
}

/** Standing limits of what the source's API can list, for an integration of `kind`. */
export function apiLimitsOf(kind: string): readonly ApiLimit[] {
  return CONNECTORS.get(kind)?.apiLimits ?? [];
}

/** The source's name for messages. */
export function connectorTitleOf(kind: string): string {
  return CONNECTORS.get(kind)?.title ?? IDENTITY_SOURCES.get(kind)?.title ?? kind;
}

/** Every rule must name kinds the model declares, on their ladders. */
export function checkModel(model: PermissionModel): string[] {
  const problems: string[] = [];
  const kinds = model.resources;
  const ladder = (kind: string) => kinds[kind]?.ladder ?? [];
  if (!kinds[model.leaf]) problems.push(`leaf kind "${model.leaf}" is not declared`);
  for (const [kind, k] of Object.entries(kinds)) {
    for (const parent of k.parents) if (!kinds[parent]) problems.push(`${kind}'s parent "${parent}" is not declared`);
    for (const p of k.privileged) if (!k.ladder.includes(p)) problems.push(`${kind}'s privileged "${p}" is not on its ladder`);
  }
  for (const rule of model.inheritance) {
    if (!kinds[rule.to]?.parents.includes(rule.from)) problems.push(`inheritance ${rule.from} → ${rule.to}: ${rule.from} is not a parent of ${rule.to}`);
    for (const [from, to] of Object.entries(rule.map)) {
      if (!ladder(rule.from).includes(from)) problems.push(`inheritance ${rule.from} → ${rule.to}: "${from}" is not on the ${rule.from} ladder`);
      if (!ladder(rule.to).includes(to)) problems.push(`inheritance ${rule.from} → ${rule.to}: "${to}" is not on the ${rule.to} ladder`);
    }
  }
  for (const role of model.rootRoles) {
    if (!ladder(role.on).includes(role.permission)) problems.push(`root role ${role.path}: "${role.permission}" is not on the ${role.on} ladder`);
    for (const [kind, p] of Object.entries(role.gives)) if (!ladder(kind).includes(p)) problems.push(`root role ${role.path}: "${p}" is not on the ${kind} ladder`);
  }
  for (const rule of model.implicit) if (!ladder(rule.resource).includes(rule.permission)) problems.push(`implicit ${rule.path}: "${rule.permission}" is not on the ${rule.resource} ladder`);
  return problems;
}

/**
 * Sources that say who is behind the accounts rather than who holds what: no permission model, no
 * access of their own. Reports read them beside a permission source (identity-findings, the identity
 * columns), never as the integration a report is about.
 */
export interface IdentitySourceFacts {
  kind: string;
  title: string;
}

const IDENTITY_SOURCES = new Map<string, IdentitySourceFacts>();

export function registerIdentitySource(facts: IdentitySourceFacts): void {
  if (IDENTITY_SOURCES.has(facts.kind) || CONNECTORS.has(facts.kind)) throw new RosterError('internal', `Connector kind "${facts.kind}" is registered twice`);
  IDENTITY_SOURCES.set(facts.kind, facts);
}

/** True for an identity source's kind (e.g. the Atlassian organization). */
export function isIdentitySource(kind: string): boolean {
  return IDENTITY_SOURCES.has(kind);
}

registerIdentitySource({ kind: 'atlassian-org', title: 'Atlassian organization' });

registerConnector({ kind: 'bitbucket-cloud', title: 'Bitbucket Cloud', permissionModel: BITBUCKET_CLOUD_MODEL, apiLimits: BITBUCKET_CLOUD_API_LIMITS });
