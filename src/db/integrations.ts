import type { Kysely } from 'kysely';
import { RosterError } from '../errors.ts';
import type { CredentialKind, IdentityCredentialKind } from '../interfaces.ts';
import type { Keyring } from '../secrets/index.ts';
import { Secret, SecretStore } from '../secrets/index.ts';
import type { CredentialName, Database, Integration } from './types.ts';

export interface IntegrationInput {
  name: string;
  /** Null for a source without a workspace (the Atlassian organization). */
  workspace: string | null;
  baseUrl: string;
  credentialKind: CredentialKind | IdentityCredentialKind;
  /** Default bitbucket-cloud. */
  kind?: 'bitbucket-cloud' | 'atlassian-org';
  schedule: string | null;
  timezone: string;
  options?: { tokenUrl?: string; concurrency?: number; budgetPerHour?: number; orgId?: string };
  /** The credential's parts. `secret` is the token, API token, password or OAuth client secret. */
  credential: { secret: Secret; username?: string | null };
}

/** Which extra identifier each credential kind needs besides its secret, for messages and checks. */
export const CREDENTIAL_USERNAME: Record<CredentialKind, string | null> = {
  'workspace-access-token': null,
  'project-access-token': null,
  'repository-access-token': null,
  'api-token': 'the Atlassian account e-mail (--username)',
  'app-password': 'the Bitbucket username (--username)',
  'oauth-client-credentials': 'the OAuth consumer key (--username)',
};

function usernameSlot(kind: CredentialKind | IdentityCredentialKind): CredentialName {
  return kind === 'oauth-client-credentials' ? 'client_id' : 'username';
}

function secretSlot(kind: CredentialKind | IdentityCredentialKind): CredentialName {
  return kind === 'oauth-client-credentials' ? 'client_secret' : 'secret';
}

/**
 * Creates (or with `replace`, overwrites) an integration and its encrypted credential in one
 * transaction, so a failure leaves the earlier integration exactly as it was.
 */
export async function saveIntegration(db: Kysely<Database>, keyring: Keyring, input: IntegrationInput, replace: boolean): Promise<{ integration: Integration; replaced: boolean }> {
  const needsUsername = input.credentialKind === 'org-api-key' ? null : CREDENTIAL_USERNAME[input.credentialKind];
  if (needsUsername && !input.credential.username) {
    throw new RosterError('input_invalid', `Credential kind ${input.credentialKind} needs ${needsUsername} besides the secret.`);
  }
  return db.transaction().execute(async (trx) => {
    const existing = await trx.selectFrom('integrations').selectAll().where('name', '=', input.name).forUpdate().executeTakeFirst();
    if (existing && !replace) {
      throw new RosterError('integration_exists', `An integration named "${input.name}" already exists (workspace ${existing.workspace}). Choose another name, or pass --replace to overwrite its settings and credential (its sync history is kept).`);
    }
    const values = {
      name: input.name,
      kind: input.kind ?? ('bitbucket-cloud' as const),
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
    await store.put(id, secretSlot(input.credentialKind), input.credential.secret.reveal(), null, trx);
    if (input.credential.username) await store.put(id, usernameSlot(input.credentialKind), input.credential.username, null, trx);
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
    for (const table of ['findings', 'effective_access', 'reported_access', 'grants', 'memberships', 'org_accounts', 'org_domains'] as const) {
      await trx.deleteFrom(table).where('integration_id', '=', id).execute();
    }
    await trx.updateTable('resources').set({ parent_id: null }).where('integration_id', '=', id).execute();
    await trx.deleteFrom('resources').where('integration_id', '=', id).execute();
    await trx.deleteFrom('principals').where('integration_id', '=', id).execute();
    await trx.deleteFrom('integrations').where('id', '=', id).execute();
  });
}

export interface ResolvedCredential {
  kind: CredentialKind | IdentityCredentialKind;
  secret: Secret;
  username: string | null;
  /** OAuth only: the last access token and its expiry, and the current refresh token. */
  accessToken: { value: Secret; expiresAt: Date | null } | null;
  refreshToken: Secret | null;
}

export async function readCredential(db: Kysely<Database>, keyring: Keyring, integration: Integration): Promise<ResolvedCredential> {
  const store = new SecretStore(db, keyring);
  const id = String(integration.id);
  const kind = integration.credential_kind;
  const secret = await store.get(id, secretSlot(kind), integration.name);
  if (!secret) {
    throw new RosterError('secret_missing', `Integration "${integration.name}" has no stored credential. Add it again with \`roster integration add ${integration.name} --replace\`.`);
  }
  const username = await store.get(id, usernameSlot(kind), integration.name);
  const accessToken = kind === 'oauth-client-credentials' ? await store.get(id, 'access_token', integration.name) : null;
  const refreshToken = kind === 'oauth-client-credentials' ? await store.get(id, 'refresh_token', integration.name) : null;
  return {
    kind,
    secret: secret.value,
    username: username ? username.value.reveal() : null,
    accessToken: accessToken ? { value: accessToken.value, expiresAt: accessToken.expiresAt } : null,
    refreshToken: refreshToken?.value ?? null,
  };
}

/** Persists rotated OAuth tokens at once, before they are used, so a crash cannot lose the only valid refresh token. */
export async function saveOAuthTokens(db: Kysely<Database>, keyring: Keyring, integrationId: string, tokens: { accessToken: string; refreshToken: string | null; expiresAt: Date }): Promise<void> {
  const store = new SecretStore(db, keyring);
  await db.transaction().execute(async (trx) => {
    await store.put(integrationId, 'access_token', tokens.accessToken, tokens.expiresAt, trx);
    if (tokens.refreshToken) await store.put(integrationId, 'refresh_token', tokens.refreshToken, null, trx);
  });
}

export async function setIntegrationStatus(db: Kysely<Database>, integrationId: string, status: 'active' | 'revoked' | 'disabled', message: string | null): Promise<void> {
  await db.updateTable('integrations').set({ status, status_message: message, updated_at: new Date() }).where('id', '=', integrationId).execute();
}
