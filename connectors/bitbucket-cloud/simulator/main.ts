/**
 * Standalone entry: `node --import tsx connectors/bitbucket-cloud/simulator/main.ts [--profile P] [--port N] [--seed N]
 * [--faults SPEC] [--rate-limit N|off] [--reported-permissions READING] [--app-passwords enabled]`.
 * Same output as `roster sim`.
 * The bench runs the server through this file in a child process, so client and server do not
 * share an event loop.
 */
import { parseArgs } from 'node:util';
import { parseRateLimitFlag, parseReportedPermissionsFlag, runSimCommand } from './index.ts';

const { values } = parseArgs({
  options: {
    profile: { type: 'string' },
    port: { type: 'string' },
    seed: { type: 'string' },
    faults: { type: 'string' },
    'rate-limit': { type: 'string' },
    'reported-permissions': { type: 'string' },
    'app-passwords': { type: 'string' },
  },
});

const rate = values['rate-limit'];
const reported = values['reported-permissions'];
await runSimCommand({
  ...(values.profile ? { profile: values.profile } : {}),
  ...(values.port ? { port: Number(values.port) } : {}),
  ...(values.seed ? { seed: Number(values.seed) } : {}),
  ...(values.faults ? { faults: values.faults } : {}),
  ...(rate !== undefined ? { rateLimit: parseRateLimitFlag(rate) } : {}),
  ...(reported !== undefined ? { reportedPermissions: parseReportedPermissionsFlag(reported) } : {}),
  ...(values['app-passwords'] === 'enabled' ? { appPasswords: 'enabled' as const } : {}),
});
