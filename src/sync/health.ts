import type { Kysely } from 'kysely';
import type { Database } from '../db/types.ts';
import type { CredentialKind } from '../interfaces.ts';

export type Health = 'healthy' | 'stale' | 'failing' | 'never-synced';

export const CREDENTIAL_WARNINGS: Partial<Record<CredentialKind, string>> = {
  'app-password': 'Bitbucket app passwords were switched off in July 2026: replace this credential with an Atlassian API token (credential kind api-token).',
};

export interface ScopeProblem {
  scope: string;
  stream: string;
  label: string;
  status: string;
  httpStatus: number | null;
  code: string | null;
  message: string | null;
  advice: string | null;
}

export interface IntegrationHealth {
  integration: string;
  workspace: string | null;
  credentialKind: CredentialKind;
  integrationStatus: string;
  integrationMessage: string | null;
  health: Health;
  /** One sentence: why this health. */
  reason: string;
  lastRun: {
    id: string;
    status: string;
    startedAt: string;
    finishedAt: string | null;
    apiRequests: number;
    summary: string | null;
    error: string | null;
  } | null;
  lastSuccessAt: string | null;
  /** Age of the data, in seconds since the last finished run ended. */
  dataAgeSeconds: number | null;
  openRun: { id: string; status: string; startedAt: string; resumeAfter: string | null; holder: string | null; heartbeatAt: string } | null;
  /** Streams the credential cannot read, with the advice that would cover them. */
  coverageGaps: ScopeProblem[];
  /** Scopes of the last run that failed: their data is from an earlier run. */
  failedScopes: ScopeProblem[];
  warnings: string[];
}

/** The health of every integration (or one), as `roster status`, `GET /status` and the reports see it. */
export async function integrationHealth(db: Kysely<Database>, options: { maxAgeMs: number; now?: Date; integration?: string }): Promise<IntegrationHealth[]> {
  const now = options.now ?? new Date();
  const integrations = await db
    .selectFrom('integrations')
    .selectAll()
    .$if(options.integration !== undefined, (qb) => qb.where('name', '=', options.integration as string))
    .orderBy('name')
    .execute();
  const result: IntegrationHealth[] = [];
  for (const integration of integrations) {
    const lastRun = await db.selectFrom('sync_runs').selectAll().where('integration_id', '=', integration.id).where('finished_at', 'is not', null).orderBy('id', 'desc').limit(1).executeTakeFirst();
    const openRun = await db.selectFrom('sync_runs').selectAll().where('integration_id', '=', integration.id).where('status', 'in', ['running', 'paused']).executeTakeFirst();
    const lastSuccess = await db.selectFrom('sync_runs').select('finished_at').where('integration_id', '=', integration.id).where('status', '=', 'succeeded').orderBy('id', 'desc').limit(1).executeTakeFirst();
    const scopes = lastRun
      ? await db.selectFrom('sync_scopes').selectAll().where('run_id', '=', lastRun.id).where('status', '<>', 'complete').orderBy('scope').execute()
      : [];
    const toProblem = (s: (typeof scopes)[number]): ScopeProblem => ({ scope: s.scope, stream: s.stream, label: s.label, status: s.status, httpStatus: s.http_status, code: s.error_code, message: s.message, advice: s.advice });
    const coverageGaps = scopes.filter((s) => s.error_code === 'credential_gap').map(toProblem);
    const failedScopes = scopes.filter((s) => s.error_code !== 'credential_gap').map(toProblem);
    const dataAgeSeconds = lastRun?.finished_at ? Math.max(0, Math.round((now.getTime() - lastRun.finished_at.getTime()) / 1000)) : null;

    let health: Health;
    let reason: string;
    if (integration.status === 'revoked') {
      health = 'failing';
      reason = integration.status_message ?? 'the credential was rejected; replace it with `roster integration add --replace`';
    } else if (!lastRun) {
      health = 'never-synced';
      reason = openRun ? `first run ${openRun.id} is ${openRun.status}` : 'no sync has finished yet';
    } else if (lastRun.status === 'failed') {
      health = 'failing';
      reason = `last run ${lastRun.id} failed: ${lastRun.error_message ?? 'unknown error'}`;
    } else if (lastRun.status === 'partial') {
      health = 'failing';
      reason = `last run ${lastRun.id} was partial: ${failedScopes.length} scope(s) could not be read (${failedScopes.slice(0, 2).map((s) => s.label).join('; ')}${failedScopes.length > 2 ? '; …' : ''})`;
    } else if (dataAgeSeconds !== null && dataAgeSeconds * 1000 > options.maxAgeMs) {
      health = 'stale';
      reason = `last successful run finished ${formatAge(dataAgeSeconds)} ago, more than the allowed ${formatAge(options.maxAgeMs / 1000)}`;
    } else {
      health = 'healthy';
      reason = `last run ${lastRun.id} succeeded ${formatAge(dataAgeSeconds ?? 0)} ago`;
    }
    const warnings: string[] = [];
    const credentialWarning = CREDENTIAL_WARNINGS[integration.credential_kind];
    if (credentialWarning) warnings.push(credentialWarning);
    if (coverageGaps.length > 0) warnings.push(`${coverageGaps.length} stream(s) not covered by this credential: ${coverageGaps.map((g) => g.stream).join(', ')}`);
    if (openRun?.status === 'paused') {
      warnings.push(
        openRun.error_code === 'budget_exhausted'
          ? `run ${openRun.id} is paused for the API rate limit until ${openRun.resume_after?.toISOString() ?? 'budget returns'}`
          : `run ${openRun.id} was interrupted; the next sync continues from its checkpoint`,
      );
    }

    result.push({
      integration: integration.name,
      workspace: integration.workspace,
      credentialKind: integration.credential_kind,
      integrationStatus: integration.status,
      integrationMessage: integration.status_message,
      health,
      reason,
      lastRun: lastRun
        ? {
            id: String(lastRun.id),
            status: lastRun.status,
            startedAt: lastRun.started_at.toISOString(),
            finishedAt: lastRun.finished_at?.toISOString() ?? null,
            apiRequests: lastRun.api_requests,
            summary: lastRun.summary,
            error: lastRun.error_message,
          }
        : null,
      lastSuccessAt: lastSuccess?.finished_at?.toISOString() ?? null,
      dataAgeSeconds,
      openRun: openRun
        ? { id: String(openRun.id), status: openRun.status, startedAt: openRun.started_at.toISOString(), resumeAfter: openRun.resume_after?.toISOString() ?? null, holder: openRun.holder, heartbeatAt: openRun.heartbeat_at.toISOString() }
        : null,
      coverageGaps,
      failedScopes,
      warnings,
    });
  }
  return result;
}

export function formatAge(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)}s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)}m`;
  if (seconds < 48 * 3600) return `${(seconds / 3600).toFixed(1).replace(/\.0$/, '')}h`;
  return `${(seconds / 86400).toFixed(1).replace(/\.0$/, '')}d`;
}
