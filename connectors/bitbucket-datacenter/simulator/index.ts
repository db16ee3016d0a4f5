/**
 * The Bitbucket Data Center simulator: public entry points. See README.md in this folder.
 *
 *   const sim = await startDcSimulator({ profile: 'small' });
 *   // sim.baseUrl + '/rest/api/latest/…', sim.credentials.adminToken, sim.truth.effectiveAccess(), sim.mutate…, sim.faults…
 *   await sim.close();
 */
import { type DcProfile, isDcProfile } from './generate.ts';
import { type DcRateLimit, startDcSimulator } from './server.ts';

export { startDcSimulator, DC_ROUTES, DcMutationError, type DcSimulator, type DcSimulatorOptions, type DcGroundTruth, type DcRateLimit, type DcSimStats } from './server.ts';
export { DC_PROFILES, PROFILE_SIZES, DC_CREDENTIAL_NAMES, isDcProfile, type DcProfile, type DcSimCredential, type DcSimCredentials, type DcCredentialName } from './generate.ts';
export { parseDcFaults, DcFaultSpecError, DC_FAULT_KINDS, type DcFaultSpec } from './faults.ts';
export type { TruthAccess, TruthPath, TruthSummary } from './truth.ts';
export type { DcMutations } from './mutations.ts';

/** Data Center's defaults when an admin turns rate limiting on: a bucket of 60, refilled at 5 a second. */
export const DC_DEFAULT_RATE_LIMIT: DcRateLimit = { bucketSize: 60, refillPerSecond: 5 };

export class DcSimFlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DcSimFlagError';
  }
}

/**
 * `--rate-limit N|off` for Data Center, in the same unit as for Cloud: N requests per hour sustained —
 * the token bucket refills at N / 3600 a second and holds 60 (Data Center's default size), or N when
 * smaller — or `off`. Without the flag the simulator uses Data Center's defaults (60, 5 a second).
 */
export function parseDcRateLimitFlag(value: string): DcRateLimit | false {
  if (value === 'off') return false;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new DcSimFlagError(`--rate-limit takes a positive number of requests per hour or "off" (got ${JSON.stringify(value)})`);
  return { bucketSize: Math.min(60, n), refillPerSecond: n / 3600 };
}

export interface DcSimCommandOptions {
  port?: number;
  profile?: string;
  seed?: number;
  faults?: string;
  /** Default Data Center's defaults (60, 5 a second). */
  rateLimit?: DcRateLimit | false;
}

/**
 * `roster sim --source bitbucket-datacenter`: prints one JSON line `{"baseUrl":…,"source":…,
 * "credentials":{…}}` (the same shape as Cloud's; `credentials.adminToken` is a system
 * administrator's HTTP access token) and serves until SIGINT/SIGTERM.
 */
export async function runDcSimCommand(opts: DcSimCommandOptions): Promise<void> {
  const profile = opts.profile ?? 'small';
  if (!isDcProfile(profile)) throw new DcSimFlagError(`unknown profile ${JSON.stringify(profile)}; use small, medium, large or enterprise`);
  const sim = await startDcSimulator({
    profile: profile as DcProfile,
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.faults ? { faults: opts.faults } : {}),
    rateLimit: opts.rateLimit ?? DC_DEFAULT_RATE_LIMIT,
  });
  process.stdout.write(`${JSON.stringify({ baseUrl: sim.baseUrl, source: 'bitbucket-datacenter', workspace: null, tokenUrl: null, credentials: sim.credentials })}\n`);
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
export { minimumDcRequests } from './minimum.ts';
