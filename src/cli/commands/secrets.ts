import type { Command } from 'commander';
import { SecretStore } from '../../db/credentials.ts';
import { generateKeyText } from '../../secrets/index.ts';
import type { CliHost } from '../host.ts';
import { plural } from '../table.ts';

export function registerSecrets(program: Command, host: CliHost): void {
  const secrets = program.command('secrets').description('manage the key that encrypts stored credentials');

  secrets
    .command('generate-key')
    .description('print a new random 32-byte key (base64) for ROSTER_ENCRYPTION_KEY')
    .action(
      host.run(async (ctx) => {
        ctx.out(generateKeyText());
        return 0;
      }),
    );

  secrets
    .command('rotate')
    .description('re-encrypt every stored credential with the current key (ROSTER_ENCRYPTION_KEY); old keys from ROSTER_ENCRYPTION_KEYS_OLD')
    .action(
      host.run(async (ctx) => {
        const handle = await ctx.database();
        const keyring = ctx.keyring();
        const { rotated, fromKeys } = await new SecretStore(handle.db, keyring).rotate();
        ctx.out(
          rotated === 0
            ? `Every stored credential is already encrypted with key ${keyring.current.id}.`
            : `Re-encrypted ${plural(rotated, 'credential value')} from ${fromKeys.length === 1 ? 'key' : 'keys'} ${fromKeys.join(', ')} to key ${keyring.current.id}. The old ${fromKeys.length === 1 ? 'key is' : 'keys are'} no longer needed.`,
        );
        return 0;
      }),
    );
}
