import { BITBUCKET_CLOUD_API_LIMITS } from '../connectors/bitbucket-cloud/limits.ts';
import { BITBUCKET_CLOUD_MODEL } from '../connectors/bitbucket-cloud/model.ts';
import { RosterError } from './errors.ts';
import type { ApiLimit, IntegrationKind, PermissionModel } from './interfaces.ts';

/**
 * The registry of connector kinds: the one engine file that names connectors. Reports, status and the
 * CLI ask it what a kind declares instead of knowing any source themselves.
 */
interface ConnectorFacts {
  /** The source's name in messages ("Bitbucket Cloud's own effective permissions"). */
  title: string;
  /** How access works in the source: resources, ladders, inheritance, root roles, implicit access. */
  permissionModel: PermissionModel;
  /** What gives access in this source that its API cannot list with any credential. */
  apiLimits: readonly ApiLimit[];
}

const CONNECTORS: Record<IntegrationKind, ConnectorFacts> = {
  'bitbucket-cloud': { title: 'Bitbucket Cloud', permissionModel: BITBUCKET_CLOUD_MODEL, apiLimits: BITBUCKET_CLOUD_API_LIMITS },
};

/** The permission model of an integration's kind. */
export function permissionModelOf(kind: string): PermissionModel {
  const facts = CONNECTORS[kind as IntegrationKind];
  if (!facts) throw new RosterError('internal', `No connector is registered for integration kind "${kind}"`);
  return facts.permissionModel;
}

/** Standing limits of what the source's API can list, for an integration of `kind`. */
export function apiLimitsOf(kind: string): readonly ApiLimit[] {
  return CONNECTORS[kind as IntegrationKind]?.apiLimits ?? [];
}

/** The source's name for messages. */
export function connectorTitleOf(kind: string): string {
  return CONNECTORS[kind as IntegrationKind]?.title ?? kind;
}
