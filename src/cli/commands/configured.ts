import type { RosterDatabase } from '../../db/index.ts';
import { credentialUnchanged, findIntegration, saveIntegration } from '../../db/integrations.ts';
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
    const existing = await handle.db.selectFrom('integrations').select(['id', 'kind', 'credential_kind']).where('name', '=', declared.name).executeTakeFirst();
    const secretValue = declared.secretEnv ? ctx.env[declared.secretEnv] : undefined;
    const given = secretValue ? { secret: new Secret(secretValue), username: declared.username ?? null } : null;
    const sameCredentialKind = existing !== undefined && existing.kind === declared.kind && existing.credential_kind === declared.credentialKind;
    const settings = {
      kind: declared.kind,
      workspace: declared.workspace,
      base_url: declared.baseUrl,
      credential_kind: declared.credentialKind,
      schedule: declared.schedule,
      timezone: declared.timezone,
      options: JSON.stringify(declared.options),
      updated_at: new Date(),
    };
    const unchanged =
      sameCredentialKind && given
        ? await credentialUnchanged(handle.db, ctx.keyring(), await findIntegration(handle.db, declared.name), given)
            // A stored credential that does not open (another key, a missing part) is replaced by the declared one.
            .catch(() => false)
        : false;
    if (given && !unchanged) {
      await saveIntegration(
        handle.db,
        ctx.keyring(),
        { name: declared.name, kind: declared.kind, workspace: declared.workspace, baseUrl: declared.baseUrl, credentialKind: declared.credentialKind, schedule: declared.schedule, timezone: declared.timezone, options: declared.options, credential: given },
        true,
      );
    } else if (sameCredentialKind) {
      // Same credential as stored: refresh the settings only, keeping e.g. OAuth tokens.
      await handle.db.updateTable('integrations').set(settings).where('id', '=', existing.id).execute();
    } else {
      throw new RosterError('config_invalid', `Integration "${declared.name}" in ${ctx.config.source ?? 'the config file'} needs its secret: set the environment variable ${declared.secretEnv ?? '(add secretEnv: NAME to the config)'}.`);
    }
  }
}
