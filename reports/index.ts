import type { Kysely } from 'kysely';
import type { Database } from '../src/db/types.ts';
import { findReport } from './registry.ts';
import { runReportWith } from './run.ts';
import type { ReportOptions, ReportResult } from './types.ts';

/**
 * Reports and evidence exports. Every report reads committed sync data only: the state at the end of
 * the integration's latest finished run (or, with `asOf`, of the latest run finished by then).
 *
 *   runReport(db, 'access-review', { format: 'csv' }, process.stdout)
 *   writeEvidence(db, { format: 'csv', outDir: './evidence/2026-q4' })
 */

export { REPORTS, findReport, listReports, rosterVersion } from './registry.ts';
export { writeEvidence, type EvidenceOptions } from './evidence.ts';
export type { CoverageGapInfo, Manifest, ManifestReport, ReportFormat, ReportOptions, ReportResult } from './types.ts';
export { REPORT_FORMATS } from './types.ts';

/** Writes report `name` to `out` (never ends it). Warnings (stale, partial, gaps) are returned for stderr, never written into the data. */
export async function runReport(db: Kysely<Database>, name: string, options: ReportOptions, out: NodeJS.WritableStream): Promise<ReportResult> {
  return runReportWith(db, findReport(name), options, out);
}
