import { ATLASSIAN_ORG } from '../connectors/atlassian-org/definition.ts';
import { BITBUCKET_CLOUD } from '../connectors/bitbucket-cloud/definition.ts';
import { BITBUCKET_DATACENTER } from '../connectors/bitbucket-datacenter/definition.ts';
import { z } from 'zod';
import { RosterError } from './errors.ts';
import type { ApiLimit, ConnectorDefinition, CredentialKindDefinition, IdentitySourceDefinition, OptionDefinition, PermissionModel, SourceSettingsDefinition } from './interfaces.ts';
import { plural } from './text.ts';

/**
 * The registry of connector kinds: the one engine file that names connectors. The CLI, the config
 * file, `db/integrations.ts`, run start-up, status, reports, `roster sim` and `roster demo` ask it
 * what a kind declares (its `ConnectorDefinition`, exported by `connectors/<kind>/definition.ts`)
 * instead of knowing any source themselves. A new source adds one `registerConnector` line at the
 * end of this file (or, in a test, calls `registerConnector`) and touches no other engine file.
 */
const CONNECTORS = new Map<string, ConnectorDefinition>();

/** Adds a connector kind. Refuses a kind already registered, and a definition that does not hold together. */
export function registerConnector(definition: ConnectorDefinition): void {
  if (CONNECTORS.has(definition.kind)) throw new RosterError('internal', `Connector kind "${definition.kind}" is registered twice`);
  const problems = [...checkModel(definition.permissionModel), ...checkDefinition(definition)];
  if (problems.length > 0) throw new RosterError('internal', `The definition of connector "${definition.kind}" does not hold together: ${problems.join('; ')}`);
  CONNECTORS.set(definition.kind, definition);
}

/** Removes a kind registered by a test. */
export function unregisterConnector(kind: string): void {
  CONNECTORS.delete(kind);
  IDENTITY_SOURCES.delete(kind);
}

/**
 * Identity sources (`IdentitySourceDefinition`): who is behind the accounts, not who holds what. They
 * share the settings, credentials and options of a definition — so `integration add`, the config file
 * and credential storage treat them like any source — but have no permission model: reports read
 * them beside an access source, never as the integration a report is about.
 */
const IDENTITY_SOURCES = new Map<string, IdentitySourceDefinition>();

export function registerIdentitySource(definition: IdentitySourceDefinition): void {
  if (CONNECTORS.has(definition.kind) || IDENTITY_SOURCES.has(definition.kind)) throw new RosterError('internal', `Connector kind "${definition.kind}" is registered twice`);
  const problems = checkDefinition(definition);
  if (problems.length > 0) throw new RosterError('internal', `The definition of identity source "${definition.kind}" does not hold together: ${problems.join('; ')}`);
  IDENTITY_SOURCES.set(definition.kind, definition);
}

/** True for an identity source's kind (the Atlassian organization). */
export function isIdentitySource(kind: string): boolean {
  return IDENTITY_SOURCES.has(kind);
}

export function identitySourceOf(kind: string): IdentitySourceDefinition {
  const found = IDENTITY_SOURCES.get(kind);
  if (!found) throw new RosterError('input_invalid', `"${kind}" is not an identity source (identity sources: ${[...IDENTITY_SOURCES.keys()].join(', ') || 'none'}).`);
  return found;
}

/** Every kind an integration can be — access connectors, then identity sources. */
export function sourceKinds(): string[] {
  return [...CONNECTORS.keys(), ...IDENTITY_SOURCES.keys()];
}

export function sourceDefinitions(): SourceSettingsDefinition[] {
  return [...CONNECTORS.values(), ...IDENTITY_SOURCES.values()];
}

/** The settings, credentials and options of any kind, access connector or identity source. */
export function sourceOf(kind: string): SourceSettingsDefinition {
  const found = CONNECTORS.get(kind) ?? IDENTITY_SOURCES.get(kind);
  if (!found) throw new RosterError('input_invalid', `Unknown integration kind "${kind}": use one of ${sourceDefinitions().map((d) => `${d.kind} (${d.title})`).join(', ')}.`);
  return found;
}

/** Every registered kind, in registration order. */
export function connectorKinds(): string[] {
  return [...CONNECTORS.keys()];
}

/** Every registered definition, in registration order. */
export function connectorDefinitions(): ConnectorDefinition[] {
  return [...CONNECTORS.values()];
}

/** The kind `roster integration add`, the config file, `roster sim` and `roster demo` take when none is given: the first registered. */
export function defaultConnectorKind(): string {
  const first = CONNECTORS.keys().next();
  if (first.done) throw new RosterError('internal', 'No connector is registered');
  return first.value;
}

function knownKinds(): string {
  return connectorDefinitions()
    .map((d) => `${d.kind} (${d.title})`)
    .join(', ');
}

/** The definition of a kind; an unknown kind is `input_invalid`, naming the kinds there are. */
export function connectorOf(kind: string): ConnectorDefinition {
  const found = CONNECTORS.get(kind);
  if (!found) throw new RosterError('input_invalid', `Unknown integration kind "${kind}": use one of ${knownKinds()}.`);
  return found;
}

/** The permission model of an integration's kind. */
export function permissionModelOf(kind: string): PermissionModel {
  return connectorOf(kind).permissionModel;
}

/** Standing limits of what the source's API can list, for an integration of `kind`. */
export function apiLimitsOf(kind: string): readonly ApiLimit[] {
  return CONNECTORS.get(kind)?.apiLimits ?? [];
}

/** The source's name for messages. */
export function connectorTitleOf(kind: string): string {
  return CONNECTORS.get(kind)?.title ?? IDENTITY_SOURCES.get(kind)?.title ?? kind;
}

/** A credential kind of a connector kind; an unknown one is `input_invalid`, naming the kind's credential kinds. */
export function credentialKindOf(kind: string, credentialKind: string): CredentialKindDefinition {
  const definition = sourceOf(kind);
  const found = definition.credentials.find((c) => c.kind === credentialKind);
  if (!found) {
    throw new RosterError('input_invalid', `${definition.title} has no credential kind "${credentialKind}": use one of ${definition.credentials.map((c) => c.kind).join(', ')}.`);
  }
  return found;
}

/** The standing warning about a credential kind (end-of-life), or null. */
export function credentialWarningOf(kind: string, credentialKind: string): string | null {
  return (CONNECTORS.get(kind) ?? IDENTITY_SOURCES.get(kind))?.credentials.find((c) => c.kind === credentialKind)?.warning ?? null;
}

/** A whole number option: a wrong value is named with the allowed range ("must be a whole number from 1 to 32 (got \"abc\")"). */
export function wholeNumber(min: number, max: number) {
  const range = `a whole number from ${min.toLocaleString('en-US')} to ${max.toLocaleString('en-US')}`;
  return z.number({ error: (issue) => `must be ${range} (got ${typeof issue.input === 'string' ? `"${issue.input}"` : String(issue.input)})` }).int().min(min).max(max);
}

/** The zod schema of each option in a kind's table, with its default: what config, CLI and run start-up check options with. */
export function optionSchemas(kind: string): Record<string, z.ZodType> {
  return Object.fromEntries(
    sourceOf(kind).options.map((o) => [
      o.name,
      o.type === 'integer'
        ? wholeNumber(o.min, o.max).default(o.default)
        : o.type === 'text'
          ? z.string({ error: `is required: ${o.description} (e.g. ${o.example})` }).regex(o.pattern, { error: (issue) => `"${String(issue.input)}" is not one: ${o.description} (e.g. ${o.example})` })
          : o.type === 'choice'
            ? z.enum(o.choices as [string, ...string[]], { error: (issue) => `must be one of ${o.choices.join(', ')} (got ${JSON.stringify(issue.input)})` }).optional()
            : z.url({ protocol: /^https?$/, error: `must be an http(s) URL` }).optional(),
    ]),
  );
}

/**
 * An integration's stored options checked against its kind's table: defaults filled in, unknown
 * names and wrong values listed (each naming the option; the caller says where it came from).
 */
export function checkOptions(kind: string, given: Readonly<Record<string, unknown>>): { options: Record<string, unknown>; problems: Array<{ option: OptionDefinition | null; name: string; message: string }> } {
  const table = sourceOf(kind).options;
  const present = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined && v !== null));
  const result = z.strictObject(optionSchemas(kind)).safeParse(present);
  if (result.success) return { options: result.data, problems: [] };
  const problems = result.error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') return issue.keys.map((name) => ({ option: null, name, message: `is not an option of ${connectorTitleOf(kind)} (its options: ${table.map((o) => o.name).join(', ') || 'none'})` }));
    const name = String(issue.path[0] ?? '');
    return [{ option: table.find((o) => o.name === name) ?? null, name, message: issue.message }];
  });
  return { options: {}, problems };
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

/** The parts of a definition the engine relies on: a kind's name, one secret per credential kind, one row per option. */
function checkDefinition(definition: SourceSettingsDefinition): string[] {
  const problems: string[] = [];
  if (!/^[a-z][a-z0-9-]*$/.test(definition.kind)) problems.push(`kind "${definition.kind}" must be lowercase letters, digits and "-"`);
  if (definition.credentials.length === 0) problems.push('it declares no credential kind');
  const seen = new Set<string>();
  for (const credential of definition.credentials) {
    if (seen.has(credential.kind)) problems.push(`credential kind "${credential.kind}" is declared twice`);
    seen.add(credential.kind);
    const fields = Object.values(credential.fields);
    const secrets = fields.filter((f) => f.from === 'secret').length;
    if (secrets !== 1) problems.push(`credential kind "${credential.kind}" has ${plural(secrets, 'secret field')} (needs exactly one)`);
    if (fields.filter((f) => f.from === 'username').length > 1) problems.push(`credential kind "${credential.kind}" takes more than one field from --username`);
    const slots = fields.map((f) => f.slot);
    if (new Set(slots).size !== slots.length) problems.push(`credential kind "${credential.kind}" stores two fields in one slot`);
  }
  const names = definition.options.map((o) => o.name);
  if (new Set(names).size !== names.length) problems.push('an option is declared twice');
  for (const option of definition.options) {
    if (option.type === 'integer' && !(option.min <= option.default && option.default <= option.max)) problems.push(`option ${option.name}: default ${option.default} is outside ${option.min}–${option.max}`);
  }
  return problems;
}

// The sources Roster ships, one line each; the first is the default kind.
registerConnector(BITBUCKET_CLOUD);
registerConnector(BITBUCKET_DATACENTER);
registerIdentitySource(ATLASSIAN_ORG);
