import type { Command } from 'commander';
import { connectorKinds, connectorOf, defaultConnectorKind } from '../../connectors.ts';
import { RosterError } from '../../errors.ts';
import type { SimulatorOffer } from '../../interfaces.ts';
import type { CliHost } from '../host.ts';

/** The simulator a source offers (`ConnectorDefinition.simulator`), or `input_invalid` naming the sources that have one. */
export async function simulatorOf(kind: string, flag = '--source'): Promise<SimulatorOffer> {
  const offering = connectorKinds().filter((k) => connectorOf(k).simulator);
  if (!connectorKinds().includes(kind)) throw new RosterError('input_invalid', `${flag} ${kind}: no such source; use ${choiceList(offering)}.`);
  const definition = connectorOf(kind);
  if (!definition.simulator) throw new RosterError('input_invalid', `${definition.title} has no simulator: use ${flag} ${choiceList(offering)}.`);
  return definition.simulator();
}

/** "small, medium, large or enterprise". */
export function choiceList(values: readonly string[]): string {
  return values.length <= 1 ? (values[0] ?? '') : `${values.slice(0, -1).join(', ')} or ${values.at(-1)}`;
}

export function registerSim(program: Command, host: CliHost): void {
  program
    .command('sim')
    .description('run the built-in simulator of a source; prints one JSON line {baseUrl, workspace, tokenUrl, credentials}, then serves until stopped')
    .option('--source <kind>', `the source to simulate: ${choiceList(connectorKinds().filter((k) => connectorOf(k).simulator))}`, defaultConnectorKind())
    .option('--port <n>', 'port on 127.0.0.1 (default: a free one)')
    .option('--profile <name>', 'workspace size: small, medium, large or enterprise', 'small')
    .option('--seed <n>', 'seed of the generated workspace', '1')
    .option('--faults <spec>', 'faults to inject (see the simulator README beside the connector, e.g. connectors/bitbucket-cloud/simulator/README.md)')
    .option('--rate-limit <n|off>', 'requests per credential per rolling hour, or off (default: 1000)')
    .option(
      '--reported-permissions <reading>',
      'how the source\'s own effective permissions read (Bitbucket Cloud: includeOwners=true|false,includeProjectInherited=true|false; default includeOwners=false,includeProjectInherited=true)',
    )
    .action(
      host.run(async (_ctx, options: { source: string; port?: string; profile: string; seed: string; faults?: string; rateLimit?: string; reportedPermissions?: string }) => {
        // The simulator is product code, but loaded only when asked for.
        const offer = await simulatorOf(options.source);
        if (!offer.profiles.includes(options.profile)) {
          throw new RosterError('input_invalid', `Unknown profile "${options.profile}": use ${choiceList(offer.profiles)}.`);
        }
        const port = options.port === undefined ? 0 : Number(options.port);
        const seed = Number(options.seed);
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RosterError('input_invalid', `--port must be 0-65535 (got ${options.port}).`);
        if (!Number.isInteger(seed)) throw new RosterError('input_invalid', `--seed must be an integer (got ${options.seed}).`);
        await offer.serve({ port, profile: options.profile, seed, faults: options.faults, rateLimit: options.rateLimit, reportedPermissions: options.reportedPermissions });
        return 0;
      }),
    );
}
