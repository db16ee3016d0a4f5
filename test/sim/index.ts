/**
 * The Bitbucket Cloud simulator: public entry points. See README.md in this folder.
 *
 *   const sim = await startSimulator({ profile: 'small' });
 *   // sim.baseUrl + '/2.0/…', sim.credentials.adminApiToken, sim.truth.effectiveAccess(), sim.mutate…, sim.faults…
 *   await sim.close();
 */
import { startSimulator } from './server.ts';
import { isProfile } from './profiles.ts';
import type { SimProfile } from './types.ts';

export { startSimulator, type SimulatorInternals } from './server.ts';
export { createClock } from './clock.ts';
export { parseFaults, FaultSpecError } from './faults.ts';
export { PROFILES } from './profiles.ts';
export { benchSimulator, type BenchOptions, type BenchResult } from './bench.ts';
export type * from './types.ts';
export { SIM_PROFILES, FAULT_KINDS } from './types.ts';

/**
 * `roster sim`: starts the simulator, prints exactly one JSON line
 * `{"baseUrl":…,"workspace":…,"credentials":{…}}` on stdout, and serves until SIGINT/SIGTERM.
 */
export async function runSimCommand(opts: { port?: number; profile?: string; seed?: number; faults?: string; rateLimit?: number | false; appPasswords?: 'enabled' | 'disabled' }): Promise<void> {
  const profile = opts.profile ?? 'small';
  if (!isProfile(profile)) throw new Error(`unknown profile ${JSON.stringify(profile)}; use small, medium, large or enterprise`);
  const sim = await startSimulator({
    profile: profile as SimProfile,
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.faults ? { faults: opts.faults } : {}),
    ...(opts.rateLimit !== undefined ? { rateLimit: opts.rateLimit === false ? false : { perHour: opts.rateLimit } } : {}),
    ...(opts.appPasswords ? { appPasswords: opts.appPasswords } : {}),
  });
  process.stdout.write(`${JSON.stringify({ baseUrl: sim.baseUrl, workspace: sim.workspace, credentials: sim.credentials })}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await sim.close();
}
