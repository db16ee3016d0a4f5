import type { Kysely } from 'kysely';
import { type Keyring, type Secret, seal, unseal } from '../secrets/index.ts';
import type { Database } from './types.ts';

/**
 * The credentials table: each part of an integration's credential (and what its connector keeps,
 * such as rotated OAuth tokens) in a slot of its own, sealed with AES-256-GCM bound to its row
 * (`src/secrets`: keys and sealing, no storage). Which slots a credential kind has is its
 * connector's declaration (`CredentialKindDefinition.fields`).
 */
export class SecretStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly keyring: Keyring,
  ) {}

  async put(integrationId: string, name: string, value: string, expiresAt: Date | null = null, db: Kysely<Database> = this.db): Promise<void> {
    const sealed = seal(this.keyring, value, integrationId, name);
    await db
      .insertInto('credentials')
      .values({ integration_id: integrationId, name, ...sealed, expires_at: expiresAt, updated_at: new Date() })
      .onConflict((oc) => oc.columns(['integration_id', 'name']).doUpdateSet({ ...sealed, expires_at: expiresAt, updated_at: new Date() }))
      .execute();
  }

  async get(integrationId: string, name: string, integrationName: string): Promise<{ value: Secret; expiresAt: Date | null } | null> {
    const row = await this.db
      .selectFrom('credentials')
      .select(['key_id', 'iv', 'auth_tag', 'ciphertext', 'expires_at'])
      .where('integration_id', '=', integrationId)
      .where('name', '=', name)
      .executeTakeFirst();
    if (!row) return null;
    return { value: unseal(this.keyring, row, integrationId, name, integrationName), expiresAt: row.expires_at };
  }

  async delete(integrationId: string, name: string): Promise<void> {
    await this.db.deleteFrom('credentials').where('integration_id', '=', integrationId).where('name', '=', name).execute();
  }

  /**
   * Re-encrypts every stored secret with the current key, in one transaction: either every row moves
   * to the new key or none does. Returns how many rows were re-encrypted and from which key ids.
   */
  async rotate(): Promise<{ rotated: number; fromKeys: string[] }> {
    return this.db.transaction().execute(async (trx) => {
      const rows = await trx
        .selectFrom('credentials')
        .innerJoin('integrations', 'integrations.id', 'credentials.integration_id')
        .select(['credentials.integration_id', 'credentials.name', 'credentials.key_id', 'credentials.iv', 'credentials.auth_tag', 'credentials.ciphertext', 'integrations.name as integration_name'])
        .forUpdate()
        .execute();
      const fromKeys = new Set<string>();
      let rotated = 0;
      for (const row of rows) {
        if (row.key_id === this.keyring.current.id) continue;
        const plain = unseal(this.keyring, row, String(row.integration_id), row.name, row.integration_name);
        const sealed = seal(this.keyring, plain.reveal(), String(row.integration_id), row.name);
        await trx
          .updateTable('credentials')
          .set({ ...sealed, updated_at: new Date() })
          .where('integration_id', '=', row.integration_id)
          .where('name', '=', row.name)
          .execute();
        fromKeys.add(row.key_id);
        rotated++;
      }
      return { rotated, fromKeys: [...fromKeys] };
    });
  }
}
