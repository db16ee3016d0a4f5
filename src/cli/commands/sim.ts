import type { Command } from 'commander';
import { RosterError } from '../../errors.ts';
import type { CliHost } from '../main.ts';

export function registerSim(program: Command, host: CliHost): void {
  program
    .command('sim')
    .description('run the built-in Bitbucket Cloud simulator; prints one JSON line {baseUrl, workspace, tokenUrl, credentials}, then serves until stopped')
    .option('--port <n>', 'port on 127.0.0.1 (default: a free one)')
    .option('--profile <name>', 'workspace size: small, medium, large or enterprise', 'small')
    .option('--seed <n>', 'seed of the generated workspace', '1')
    .option('--faults <spec>', 'faults to inject (see connectors/bitbucket-cloud/simulator/README.md)')
    .option('--rate-limit <n|off>', 'requests per credential per rolling hour, or off (default: 1000)')
    .option(
      '--reported-permissions <reading>',
      'how Bitbucket\'s own effective permissions read: includeOwners=true|false,includeProjectInherited=true|false (default: includeOwners=false,includeProjectInherited=true)',
    )
    .action(
      host.run(async (_ctx, options: { port?: string; profile: string; seed: string; faults?: string; rateLimit?: string; reportedPermissions?: string }) => {
        if (!['small', 'medium', 'large', 'enterprise'].includes(options.profile)) {
          throw new RosterError('input_invalid', `Unknown profile "${options.profile}": use small, medium, large or enterprise.`);
        }
        const port = options.port === undefined ? 0 : Number(options.port);
        const seed = Number(options.seed);
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RosterError('input_invalid', `--port must be 0-65535 (got ${options.port}).`);
        if (!Number.isInteger(seed)) throw new RosterError('input_invalid', `--seed must be an integer (got ${options.seed}).`);
        // The simulator is test tooling: loaded only when asked for.
        const { SimFlagError, parseRateLimitFlag, parseReportedPermissionsFlag, runSimCommand } = await import('../../../connectors/bitbucket-cloud/simulator/index.ts');
        let rateLimit: number | false | undefined;
        let reportedPermissions: ReturnType<typeof parseReportedPermissionsFlag> | undefined;
        try {
          if (options.rateLimit !== undefined) rateLimit = parseRateLimitFlag(options.rateLimit);
          if (options.reportedPermissions !== undefined) reportedPermissions = parseReportedPermissionsFlag(options.reportedPermissions);
        } catch (error) {
          if (error instanceof SimFlagError) throw new RosterError('input_invalid', `${error.message}.`);
          throw error;
        }
        await runSimCommand({
          port,
          profile: options.profile,
          seed,
          faults: options.faults,
          ...(rateLimit !== undefined ? { rateLimit } : {}),
          ...(reportedPermissions ? { reportedPermissions } : {}),
        });
        return 0;
      }),
    );
}
