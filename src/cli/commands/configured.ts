import type { RosterDatabase } from '../../db/index.ts';
import { findIntegration, readCredential, saveIntegration } from '../../db/integrations.ts';
import { RosterError } from '../../errors.ts';
import { Secret } from '../../secrets/index.ts';
import type { CliContext } from '../context.ts';

/**
 * Integrations declared in the config file are brought into the database before a sync or serve:
 * settings from the file, the secret from the environment variable it names. A declared integration
 * whose secret variable is unset keeps the credential already stored (and is an error only when
 * there is none yet).
 */
export async function applyConfiguredIntegrations(ctx: CliContext, handle: RosterDatabase): Promise<void> {
  for (const declared of ctx.config.file.integrations) {
    const existing = await handle.db.selectFrom('integrations').select(['id', 'credential_kind']).where('name', '=', declared.name).executeTakeFirst();
    const secretValue = declared.secretEnv ? ctx.env[declared.secretEnv] : undefined;
    const settings = {
      workspace: declared.workspace,
      base_url: declared.baseUrl,
      credential_kind: declared.credentialKind,
      schedule: declared.schedule,
      timezone: declared.timezone,
      options: JSON.stringify({ tokenUrl: declared.tokenUrl, concurrency: declared.concurrency, budgetPerHour: declared.budgetPerHour }),
      updated_at: new Date(),
    };
    const unchanged =
      existing && secretValue && existing.credential_kind === declared.credentialKind
        ? await readCredential(handle.db, ctx.keyring(), await findIntegration(handle.db, declared.name))
            .then((c) => c.secret.reveal() === secretValue && (c.username ?? undefined) === declared.username)
            .catch(() => false)
        : false;
    if (secretValue && !unchanged) {
      await saveIntegration(
        handle.db,
        ctx.keyring(),
        { name: declared.name, workspace: declared.workspace, baseUrl: declared.baseUrl, credentialKind: declared.credentialKind, schedule: declared.schedule, timezone: declared.timezone, options: { tokenUrl: declared.tokenUrl, concurrency: declared.concurrency, budgetPerHour: declared.budgetPerHour }, credential: { secret: new Secret(secretValue), username: declared.username ?? null } },
        true,
      );
    } else if (existing && existing.credential_kind === declared.credentialKind) {
      // Same credential as stored: refresh the settings only, keeping e.g. OAuth tokens.
      await handle.db.updateTable('integrations').set(settings).where('id', '=', existing.id).execute();
    } else {
      throw new RosterError('config_invalid', `Integration "${declared.name}" in ${ctx.config.source ?? 'the config file'} needs its secret: set the environment variable ${declared.secretEnv ?? '(add secretEnv: NAME to the config)'}.`);
    }
  }
}
