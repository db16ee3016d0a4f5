import { checkOptions, connectorOf } from '../connectors.ts';
import type { RosterDatabase } from '../db/index.ts';
import { integrationSpec, sealedCredential } from '../db/integrations.ts';
import type { Integration } from '../db/types.ts';
import { RosterError } from '../errors.ts';
import type { Connector, ConnectorTuning, ProgressEvent } from '../interfaces.ts';
import type { Logger } from '../log.ts';
import type { Keyring } from '../secrets/index.ts';

/**
 * Builds the connector for one integration through its kind's definition: the stored options checked
 * against the kind's table (defaults filled in), the credential handed over sealed — the connector
 * opens it itself — and the requests recent runs made, so a fresh process paces from the truth.
 */
export async function connectIntegration(
  handle: RosterDatabase,
  keyring: Keyring,
  integration: Integration,
  hooks: { onProgress: (event: ProgressEvent) => void; logger: Logger },
  tuning: ConnectorTuning = {},
): Promise<Connector> {
  const definition = connectorOf(integration.kind);
  const { options, problems } = checkOptions(integration.kind, integration.options ?? {});
  if (problems.length > 0) {
    throw new RosterError('config_invalid', `Integration "${integration.name}" has options ${definition.title} does not take:\n${problems.map((p) => `  - ${p.option?.flag ?? p.name}: ${p.message}`).join('\n')}\nFix them with \`roster integration add ${integration.name} --replace\` (or in the config file).`);
  }
  const integrationId = String(integration.id);
  // Requests of this integration's runs in the last hour, made by other processes: a fresh process
  // must not assume a full budget. Counted at the run's last sign of life, which errs on the side of
  // waiting longer, never of a 429.
  const recent = await handle.db
    .selectFrom('sync_runs')
    .select(['api_requests', 'heartbeat_at', 'finished_at'])
    .where('integration_id', '=', integrationId)
    .where('heartbeat_at', '>', new Date(Date.now() - 3_600_000))
    .execute();
  const priorRequests = recent.map((r) => ({ at: (r.finished_at ?? r.heartbeat_at).getTime(), count: r.api_requests }));
  return definition.create(integrationSpec(integration, options), sealedCredential(handle.db, keyring, integration), {
    logger: hooks.logger,
    onProgress: hooks.onProgress,
    priorRequests,
    tuning,
  });
}
