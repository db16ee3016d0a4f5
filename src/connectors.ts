import { BITBUCKET_CLOUD_API_LIMITS } from '../connectors/bitbucket-cloud/limits.ts';
import type { ApiLimit, IntegrationKind } from './interfaces.ts';

/**
 * The registry of connector kinds: the one engine file that names connectors. Reports, status and the
 * CLI ask it what a kind declares instead of knowing any source themselves.
 */
interface ConnectorFacts {
  /** What gives access in this source that its API cannot list with any credential. */
  apiLimits: readonly ApiLimit[];
}

const CONNECTORS: Record<IntegrationKind, ConnectorFacts> = {
  'bitbucket-cloud': { apiLimits: BITBUCKET_CLOUD_API_LIMITS },
};

/** Standing limits of what the source's API can list, for an integration of `kind`. */
export function apiLimitsOf(kind: string): readonly ApiLimit[] {
  return CONNECTORS[kind as IntegrationKind]?.apiLimits ?? [];
}
