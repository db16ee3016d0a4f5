import { permissionModelOf } from '../connectors.ts';
import type { RosterDatabase } from '../db/index.ts';
import type { SyncRun } from '../db/types.ts';
import type { RosterError } from '../errors.ts';
import type { Capabilities } from '../interfaces.ts';
import { scrubSecrets } from '../log.ts';
import { CREDENTIAL_GAP, type SyncRequest } from './contract.ts';
import { SKIPPED_BY_SETTING } from '../interfaces.ts';
import { rebuildEffectiveAccess, reconcileReportedAccess } from './effective.ts';
import { inferRemovals } from './history.ts';
import type { LoadCounts } from './loader.ts';
import { analyzeAccessTables, changeCounts, disableJit, liveCounts, sanitizedNotices } from './sql/run-counts.ts';
import { completeRun, readRunStats } from './sql/run-rows.ts';
import { runScopeRows } from './sql/scope-rows.ts';
import { describeRun } from './summary.ts';
import { finalizeVersions } from './versions.ts';

export interface FinalizeInput {
  request: SyncRequest;
  runId: string;
  /** What stopped the run early (it still finalizes what it read cleanly), or null. */
  runError: RosterError | null;
  capabilities: Capabilities | null;
  loaded: LoadCounts;
  /** "in 37.9 s", or a resumed run's whole time with its segments. */
  duration: string;
  /** The stream that reads the source's own effective answer, to reconcile against (null: none). */
  answerStream: string | null;
  /** What the connector says of itself for the summary (a credential that left its pool). */
  notices?: readonly string[];
}

/**
 * The end of a run, in one transaction: removals (only for scopes read completely and cleanly),
 * versions, effective access, reconciliation with the source's own answer, counts, the final
 * status and the summary. Readers see the run's data from the moment this commits.
 */
export async function finalizeRun(handle: RosterDatabase, input: FinalizeInput): Promise<{ status: SyncRun['status']; summary: string }> {
  const { db } = handle;
  const { request, runId, runError } = input;
  const integrationId = String(request.integration.id);
  const model = permissionModelOf(request.integration.kind);
  await analyzeAccessTables(db);
  return db.transaction().execute(async (trx) => {
    await disableJit(trx);
    const removed = await inferRemovals(trx, integrationId, runId);
    await finalizeVersions(trx, integrationId, runId);
    await rebuildEffectiveAccess(trx, model, integrationId, runId);
    const reconcile = await reconcileReportedAccess(trx, model, integrationId, runId, input.answerStream);
    const scopeRows = await runScopeRows(trx, runId);
    const live = await liveCounts(trx, integrationId, runId);
    const added = await changeCounts(trx, integrationId, runId);
    // A scope the credential kind cannot read is a coverage gap, not a failure: it does not make the run partial.
    // Nor is a scope a setting left unread (reconcile: weekly or off).
    const failures = scopeRows.filter((s) => s.status === 'failed' || (s.status === 'not_covered' && s.error_code !== CREDENTIAL_GAP && s.error_code !== SKIPPED_BY_SETTING));
    const gaps = scopeRows.filter((s) => s.error_code === CREDENTIAL_GAP);
    const status: SyncRun['status'] = runError ? 'failed' : failures.length > 0 ? 'partial' : 'succeeded';
    const stats = await readRunStats(trx, runId);
    const sanitized = await sanitizedNotices(trx, runId);
    const described = describeRun({ request, runId, status, duration: input.duration, live, added, removed, failures, gaps, reconcile, runError, stats, capabilities: input.capabilities, sanitized });
    const summary = [described, ...(input.notices ?? [])].join(' ');
    const counts = {
      live,
      loaded: input.loaded,
      added,
      removed,
      scopes: { complete: scopeRows.filter((s) => s.status === 'complete').length, failed: failures.length, gaps: gaps.length },
      reconciled: reconcile.reconciled,
      reconciliation: reconcile,
    };
    await completeRun(trx, runId, { status, counts, errorCode: runError?.code ?? null, errorMessage: runError ? scrubSecrets(runError.message) : null, summary });
    return { status, summary };
  });
}
