/**
 * The Bitbucket Cloud simulator: public entry points. See README.md in this folder.
 *
 *   const sim = await startSimulator({ profile: 'small' });
 *   // sim.baseUrl + '/2.0/…', sim.credentials.adminApiToken, sim.truth.effectiveAccess(), sim.mutate…, sim.faults…
 *   await sim.close();
 */
import { startSimulator } from './server.ts';
import { isProfile } from './profiles.ts';
import type { ReportedPermissionsReading, SimProfile } from './types.ts';

export { startSimulator, type SimulatorInternals } from './server.ts';
export { advanceWhenWaiting, createClock } from './clock.ts';
export { parseFaults, FaultSpecError } from './faults.ts';
export { PROFILES } from './profiles.ts';
export { benchSimulator, type BenchOptions, type BenchResult } from './bench.ts';
export type * from './types.ts';
export { SIM_PROFILES, FAULT_KINDS } from './types.ts';

/** A `roster sim` flag value the simulator cannot take; the message says what it takes. */
export class SimFlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimFlagError';
  }
}

/** `--rate-limit N|off`: requests per credential per rolling hour (a positive integer), or no limit. */
export function parseRateLimitFlag(value: string): number | false {
  if (value === 'off') return false;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new SimFlagError(`--rate-limit takes a positive number of requests per hour or "off" (got ${JSON.stringify(value)})`);
  return n;
}

/**
 * `--reported-permissions includeOwners=true|false,includeProjectInherited=true|false` (either key
 * may be left out; default `includeOwners=false,includeProjectInherited=true`).
 */
export function parseReportedPermissionsFlag(value: string): Partial<ReportedPermissionsReading> {
  const out: Partial<ReportedPermissionsReading> = {};
  const usage = 'use includeOwners=true|false,includeProjectInherited=true|false';
  for (const part of value.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const [key, raw, extra] = part.split('=');
    if (key !== 'includeOwners' && key !== 'includeProjectInherited') throw new SimFlagError(`--reported-permissions: unknown reading ${JSON.stringify(key)}; ${usage}`);
    if ((raw !== 'true' && raw !== 'false') || extra !== undefined) throw new SimFlagError(`--reported-permissions: ${key} must be true or false (got ${JSON.stringify(part)}); ${usage}`);
    out[key] = raw === 'true';
  }
  if (Object.keys(out).length === 0) throw new SimFlagError(`--reported-permissions needs a value; ${usage}`);
  return out;
}

/** What `roster sim` takes (its flags, parsed). */
export interface SimCommandOptions {
  port?: number;
  profile?: string;
  seed?: number;
  faults?: string;
  /** Requests per credential per rolling hour; `false` switches limiting off. Default 1,000. */
  rateLimit?: number | false;
  appPasswords?: 'enabled' | 'disabled';
  /** The reading of `/workspaces/{ws}/permissions/repositories`. Default owners not listed, project-inherited included. */
  reportedPermissions?: Partial<ReportedPermissionsReading>;
}

/**
 * `roster sim`: starts the simulator, prints exactly one JSON line
 * `{"baseUrl":…,"workspace":…,"tokenUrl":…,"credentials":{…}}` on stdout, and serves until
 * SIGINT/SIGTERM. `tokenUrl` is the OAuth 2.0 token endpoint (`<baseUrl>/site/oauth2/access_token`).
 */
export async function runSimCommand(opts: SimCommandOptions): Promise<void> {
  const profile = opts.profile ?? 'small';
  if (!isProfile(profile)) throw new Error(`unknown profile ${JSON.stringify(profile)}; use small, medium, large or enterprise`);
  const sim = await startSimulator({
    profile: profile as SimProfile,
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.faults ? { faults: opts.faults } : {}),
    ...(opts.rateLimit !== undefined ? { rateLimit: opts.rateLimit === false ? false : { perHour: opts.rateLimit } } : {}),
    ...(opts.appPasswords ? { appPasswords: opts.appPasswords } : {}),
    ...(opts.reportedPermissions ? { reportedPermissions: opts.reportedPermissions } : {}),
  });
  const tokenUrl = `${sim.baseUrl}/site/oauth2/access_token`;
  process.stdout.write(`${JSON.stringify({ baseUrl: sim.baseUrl, workspace: sim.workspace, tokenUrl, credentials: { ...sim.credentials, orgApiKey: sim.org.credential } })}\n`);
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
