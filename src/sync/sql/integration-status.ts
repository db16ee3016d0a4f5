import type { Kysely } from 'kysely';
import type { Database } from '../../db/types.ts';

/** The credential works again (it was replaced, or the outage is over): a revoked integration is active. */
export async function reactivateRevokedIntegration(db: Kysely<Database>, integrationId: string): Promise<void> {
  await db.updateTable('integrations').set({ status: 'active', status_message: null, updated_at: new Date() }).where('id', '=', integrationId).where('status', '=', 'revoked').execute();
}
