/**
 * The simulator for a bench run: `connectors/bitbucket-cloud/simulator/main.ts`'s command, plus it exits when the bench that
 * started it goes away (its stdin closes), so an interrupted bench leaves no simulator behind.
 */
import { parseArgs } from 'node:util';
import { runSimCommand } from '../connectors/bitbucket-cloud/simulator/index.ts';

const { values } = parseArgs({ options: { profile: { type: 'string' }, seed: { type: 'string' } } });
process.stdin.on('end', () => process.kill(process.pid, 'SIGTERM'));
process.stdin.resume();
await runSimCommand({ profile: values.profile ?? 'small', seed: Number(values.seed ?? 1), rateLimit: false });
process.exit(0);
