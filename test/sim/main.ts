/**
 * Standalone entry: `node --import tsx test/sim/main.ts [--profile P] [--port N] [--seed N]
 * [--faults SPEC] [--rate-limit N|off] [--app-passwords enabled]`. Same output as `roster sim`.
 * The bench runs the server through this file in a child process, so client and server do not
 * share an event loop.
 */
import { parseArgs } from 'node:util';
import { runSimCommand } from './index.ts';

const { values } = parseArgs({
  options: {
    profile: { type: 'string' },
    port: { type: 'string' },
    seed: { type: 'string' },
    faults: { type: 'string' },
    'rate-limit': { type: 'string' },
    'app-passwords': { type: 'string' },
  },
});

const rate = values['rate-limit'];
await runSimCommand({
  ...(values.profile ? { profile: values.profile } : {}),
  ...(values.port ? { port: Number(values.port) } : {}),
  ...(values.seed ? { seed: Number(values.seed) } : {}),
  ...(values.faults ? { faults: values.faults } : {}),
  ...(rate ? { rateLimit: rate === 'off' ? false : Number(rate) } : {}),
  ...(values['app-passwords'] === 'enabled' ? { appPasswords: 'enabled' as const } : {}),
});
