import type { Kysely } from 'kysely';
import { credentialKindOf, sourceOf } from '../connectors.ts';
import { RosterError } from '../errors.ts';
import type { CredentialKind, CredentialKindDefinition, IntegrationKind, IntegrationSpec, SealedCredential } from '../interfaces.ts';
import { type Keyring, Secret } from '../secrets/index.ts';
import { SecretStore } from './credentials.ts';
import type { Database, Integration } from './types.ts';

export interface IntegrationInput {
  name: string;
  kind: IntegrationKind;
  /** Null for a source without workspaces. */
  workspace: string | null;
  baseUrl: string;
  credentialKind: CredentialKind;
  schedule: string | null;
  timezone: string;
  /** Checked against the kind's options table by the caller (config, CLI). */
  options?: Record<string, unknown>;
  /** The credential as the operator gives it: the secret, and `--username` for kinds that take one. */
  credential: { secret: Secret; username?: string | null };
}

/** What `--username` is for a credential kind ("the Atlassian account e-mail"), or null when it takes none. */
export function usernameOf(definition: CredentialKindDefinition): string | null {
  return Object.values(definition.fields).find((f) => f.from === 'username')?.description ?? null;
}

/**
 * The parts of a credential by field name, from what the operator gave, checked against the kind's
 * schema: a missing or empty part is `input_invalid`, naming it and the fix.
 */
export function credentialParts(kind: IntegrationKind, credentialKind: CredentialKind, given: { secret: Secret; username?: string | null }): Array<{ slot: string; value: Secret }> {
  const definition = credentialKindOf(kind, credentialKind);
  const username = usernameOf(definition);
  if (username && !given.username) throw new RosterError('input_invalid', `--credential-kind ${credentialKind} needs --username: ${username}.`);
  if (!username && given.username) throw new RosterError('input_invalid', `--credential-kind ${credentialKind} takes no --username (the secret is the whole credential); leave it out.`);
  const parts: Record<string, Secret> = {};
  for (const [name, field] of Object.entries(definition.fields)) parts[name] = field.from === 'secret' ? given.secret : new Secret(given.username ?? '');
  const checked = definition.schema.safeParse(parts);
  if (!checked.success) throw new RosterError('input_invalid', `The ${credentialKind} credential is not usable: ${checked.error.issues.map((i) => i.message).join('; ')}.`);
  return Object.entries(definition.fields).map(([name, field]) => ({ slot: field.slot, value: parts[name] as Secret }));
}

/**
 * Creates (or with `replace`, overwrites) an integration and its encrypted credential in one
 * transaction, so a failure leaves the earlier integration exactly as it was.
 */
export async function saveIntegration(db: Kysely<Database>, keyring: Keyring, input: IntegrationInput, replace: boolean): Promise<{ integration: Integration; replaced: boolean }> {
  sourceOf(input.kind);
  const parts = credentialParts(input.kind, input.credentialKind, input.credential);
  try {
    return await writeIntegration(db, keyring, input, parts, replace);
  } catch (error) {
    // Another process inserted the same name between our look and our insert (replicas of `roster
    // serve` bringing one config file's new integrations in at the same start): its row is there now.
    // Replacing, we go again and update it (the row lock orders the two); not replacing, it exists.
    if ((error as { constraint?: unknown }).constraint !== 'integrations_name_key') throw error;
    if (!replace) throw new RosterError('integration_exists', `An integration named "${input.name}" was just added by another process. Choose another name, or pass --replace to overwrite its settings and credential.`, { cause: error });
    return writeIntegration(db, keyring, input, parts, replace);
  }
}

function writeIntegration(db: Kysely<Database>, keyring: Keyring, input: IntegrationInput, parts: ReturnType<typeof credentialParts>, replace: boolean): Promise<{ integration: Integration; replaced: boolean }> {
  return db.transaction().execute(async (trx) => {
    const existing = await trx.selectFrom('integrations').selectAll().where('name', '=', input.name).forUpdate().executeTakeFirst();
    if (existing && !replace) {
      throw new RosterError('integration_exists', `An integration named "${input.name}" already exists (${existing.workspace ? `workspace ${existing.workspace}` : existing.base_url}). Choose another name, or pass --replace to overwrite its settings and credential (its sync history is kept).`);
    }
    const values = {
      name: input.name,
      kind: input.kind,
      workspace: input.workspace,
      base_url: input.baseUrl,
      credential_kind: input.credentialKind,
      schedule: input.schedule,
      timezone: input.timezone,
      options: JSON.stringify(input.options ?? {}),
      updated_at: new Date(),
    };
    let integration: Integration;
    if (existing) {
      integration = await trx.updateTable('integrations').set({ ...values, status: 'active', status_message: null }).where('id', '=', existing.id).returningAll().executeTakeFirstOrThrow();
      // A new credential invalidates every stored token of the old one.
      await trx.deleteFrom('credentials').where('integration_id', '=', existing.id).execute();
    } else {
      integration = await trx.insertInto('integrations').values({ ...values, created_at: new Date() }).returningAll().executeTakeFirstOrThrow();
    }
    const store = new SecretStore(trx, keyring);
    const id = String(integration.id);
    for (const part of parts) await store.put(id, part.slot, part.value.reveal(), null, trx);
    return { integration, replaced: existing !== undefined };
  });
}

export async function findIntegration(db: Kysely<Database>, name: string): Promise<Integration> {
  const row = await db.selectFrom('integrations').selectAll().where('name', '=', name).executeTakeFirst();
  if (!row) {
    const names = (await db.selectFrom('integrations').select('name').orderBy('name').execute()).map((r) => r.name);
    throw new RosterError('integration_not_found', `No integration named "${name}". ${names.length ? `Known: ${names.join(', ')}.` : 'None is configured yet: add one with `roster integration add`.'}`);
  }
  return row;
}

export async function listIntegrations(db: Kysely<Database>): Promise<Integration[]> {
  return db.selectFrom('integrations').selectAll().orderBy('name').execute();
}

/** Removes an integration with all of its history. The caller confirms with the user first. */
export async function removeIntegration(db: Kysely<Database>, name: string): Promise<void> {
  const integration = await findIntegration(db, name);
  await db.transaction().execute(async (trx) => {
    const id = integration.id;
    // Children first: history rows reference runs, runs reference the integration.
    for (const table of ['findings', 'effective_access', 'reported_access', 'grants', 'memberships'] as const) {
      await trx.deleteFrom(table).where('integration_id', '=', id).execute();
    }
    await trx.updateTable('resources').set({ parent_id: null }).where('integration_id', '=', id).execute();
    await trx.deleteFrom('resources').where('integration_id', '=', id).execute();
    await trx.deleteFrom('principals').where('integration_id', '=', id).execute();
    await trx.deleteFrom('integrations').where('id', '=', id).execute();
  });
}

/** An integration as its connector sees it (`create()`): settings and stored options. */
export function integrationSpec(integration: Integration, options: Readonly<Record<string, unknown>>): IntegrationSpec {
  return { id: String(integration.id), name: integration.name, kind: integration.kind, workspace: integration.workspace, baseUrl: integration.base_url, credentialKind: integration.credential_kind, options };
}

/**
 * An integration's credential, still sealed, for its connector to open (`SealedCredential`). Opening
 * fails with the fix when a part is missing (an integration added before its kind declared the part).
 */
export function sealedCredential(db: Kysely<Database>, keyring: Keyring, integration: Integration): SealedCredential {
  const store = new SecretStore(db, keyring);
  const id = String(integration.id);
  return {
    kind: integration.credential_kind,
    async open() {
      const definition = credentialKindOf(integration.kind, integration.credential_kind);
      const parts: Record<string, Secret> = {};
      for (const [name, field] of Object.entries(definition.fields)) {
        const stored = await store.get(id, field.slot, integration.name);
        if (!stored) throw new RosterError('secret_missing', `Integration "${integration.name}" has no stored ${field.description}. Add it again with \`roster integration add ${integration.name} --replace\`.`);
        parts[name] = stored.value;
      }
      const checked = definition.schema.safeParse(parts);
      if (!checked.success) throw new RosterError('secret_missing', `The stored credential of integration "${integration.name}" is not usable (${checked.error.issues.map((i) => i.message).join('; ')}). Add it again with \`roster integration add ${integration.name} --replace\`.`);
      return parts;
    },
    async openPool() {
      const definition = credentialKindOf(integration.kind, integration.credential_kind);
      const members: Array<Record<string, Secret>> = [];
      for (const n of await poolMembers(db, id)) {
        const parts: Record<string, Secret> = {};
        for (const [name, field] of Object.entries(definition.fields)) {
          const stored = await store.get(id, poolSlot(field.slot, n), integration.name);
          if (!stored) throw new RosterError('secret_missing', `Pool member ${n} of integration "${integration.name}" has no stored ${field.description}. Add it again with \`roster integration credential add ${integration.name}\`.`);
          parts[name] = stored.value;
        }
        const checked = definition.schema.safeParse(parts);
        if (!checked.success) throw new RosterError('secret_missing', `Pool member ${n} of integration "${integration.name}" is not usable (${checked.error.issues.map((i) => i.message).join('; ')}).`);
        members.push(parts);
      }
      return members;
    },
    openState: (slot) => store.get(id, slot, integration.name),
    // Persisted at once, in one transaction, before they are used: a crash cannot lose the only valid refresh token.
    saveState: (values) =>
      db.transaction().execute(async (trx) => {
        for (const v of values) await store.put(id, v.slot, v.value, v.expiresAt, trx);
      }),
  };
}

/** The slot of member `n` (2, 3, …) of an integration's credential pool: `secret_pool2`. */
export function poolSlot(slot: string, n: number): string {
  return `${slot}_pool${n}`;
}

/** The pool members stored for an integration, in order (the integration's own credential is member 1). */
export async function poolMembers(db: Kysely<Database>, integrationId: string): Promise<number[]> {
  const rows = await db.selectFrom('credentials').select('name').where('integration_id', '=', integrationId).where('name', 'like', '%\\_pool%').execute();
  const members = new Set<number>();
  for (const r of rows) {
    const m = /_pool(\d+)$/.exec(r.name);
    if (m) members.add(Number(m[1]));
  }
  return [...members].sort((a, b) => a - b);
}

/** Adds one credential of the integration's kind to its pool; returns its member number. */
export async function addPoolMember(db: Kysely<Database>, keyring: Keyring, integration: Integration, given: { secret: Secret; username?: string | null }): Promise<number> {
  const parts = credentialParts(integration.kind, integration.credential_kind, given);
  const store = new SecretStore(db, keyring);
  return db.transaction().execute(async (trx) => {
    const n = Math.max(1, ...(await poolMembers(trx, String(integration.id)))) + 1;
    for (const part of parts) await store.put(String(integration.id), poolSlot(part.slot, n), part.value.reveal(), null, trx);
    return n;
  });
}

/** Removes member `n` of the integration's pool (its every stored part); false when there is no such member. */
export async function removePoolMember(db: Kysely<Database>, integrationId: string, n: number): Promise<boolean> {
  const removed = await db.deleteFrom('credentials').where('integration_id', '=', integrationId).where('name', 'like', `%\\_pool${n}`).executeTakeFirst();
  return Number(removed.numDeletedRows) > 0;
}

/** Whether the stored credential is exactly the one given (the config file's, re-read at every start). */
export async function credentialUnchanged(db: Kysely<Database>, keyring: Keyring, integration: Integration, given: { secret: Secret; username?: string | null }): Promise<boolean> {
  const definition = credentialKindOf(integration.kind, integration.credential_kind);
  const store = new SecretStore(db, keyring);
  for (const field of Object.values(definition.fields)) {
    const stored = await store.get(String(integration.id), field.slot, integration.name);
    const value = field.from === 'secret' ? given.secret.reveal() : (given.username ?? '');
    if (stored?.value.reveal() !== value) return false;
  }
  return true;
}

export async function setIntegrationStatus(db: Kysely<Database>, integrationId: string, status: 'active' | 'revoked' | 'disabled', message: string | null): Promise<void> {
  await db.updateTable('integrations').set({ status, status_message: message, updated_at: new Date() }).where('id', '=', integrationId).execute();
}
