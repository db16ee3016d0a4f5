import type { Kysely } from 'kysely';
import type { Database, Integration } from '../src/db/types.ts';
import type { ApiLimit, RunStatus } from '../src/interfaces.ts';

/** The public contract of `reports/`: what the CLI passes in and gets back. */

export const REPORT_FORMATS = ['csv', 'json', 'ndjson'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export interface ReportOptions {
  /** Integration name. Default: the only integration; an error lists the names when there are several. */
  integration?: string;
  format: ReportFormat;
  /** CSV only: start with a UTF-8 byte order mark so Excel detects the encoding. Default false. */
  bom?: boolean;
  /** State as it was at the end of the latest run of the integration that finished at or before this time. Default: the latest finished run. */
  asOf?: Date;
  /** `access-changes`: start of the window, exclusive — a time (runs finished after it) or a run id (runs after it). Default: the first run. */
  since?: Date | string;
  /** `access-changes`: end of the window, inclusive — a time or a run id. Default: the run the report reflects (latest finished, or `asOf`). */
  until?: Date | string;
  /** `user-access`: one user, by uuid, account_id, nickname or display name. Default: every user. */
  user?: string;
  /** `machine-credentials`: fill the `public_key` column with the key body. Default false. */
  includeKeyBody?: boolean;
  /** `identity-findings` (and the identity flags): dormant after this many days without Bitbucket activity. Default 90; 1 to 3650. */
  dormantDays?: number;
  /** `identity-findings` (and the identity flags): e-mail domains that count as the organization's besides its verified ones. Default none. */
  domains?: readonly string[];
  /** Data older than this (from the run's end to now, or to `asOf`) is reported as stale. Default 26 h. */
  maxAgeMs?: number;
  /** The time "now" stands for (key ages, data age). Default: the current time. */
  now?: Date;
}

/** One scope of the reflected run that was not read: its data in the report is from an earlier run, or missing. */
export interface CoverageGapInfo {
  integration: string;
  runId: string;
  stream: string;
  scope: string;
  label: string;
  status: 'failed' | 'not_covered' | 'not_listable';
  /**
   * `credential-gap`: the credential kind cannot read this (expected; `advice` says what would).
   * `failure`: it should have been read. `api-limit`: no credential can list it (a standing statement
   * about the source's API; it does not make the data incomplete by Roster's doing). `identity-gap`:
   * an account with access that the Atlassian organization has no managed record of (coverage only).
   * `directory-group-gap`: a group of the organization's directory that the workspace's `/1.0/groups`
   * does not list, or lists with other members (coverage only; `src/identity/directory-groups.ts`).
   * `skipped-by-setting`: left unread on purpose (`reconcile: weekly|off` skips the source's own
   * effective permissions, read only to cross-check; no grant is missing because of it).
   */
  kind: 'credential-gap' | 'failure' | 'api-limit' | 'identity-gap' | 'directory-group-gap' | 'skipped-by-setting';
  endpoint: string | null;
  httpStatus: number | null;
  errorCode: string | null;
  message: string | null;
  advice: string | null;
  /** The latest run at or before the reflected one that read this scope completely, if any: where its data comes from. */
  dataFromRun: string | null;
  dataFromRunFinishedAt: string | null;
}

export interface ReportResult {
  report: string;
  rows: number;
  /** The sync run whose end state the report reflects; null for reports that read no synced state (`sync-status`). */
  runId: string | null;
  /** Stale data, partial or failed run, credential gaps, unknown user: the CLI prints these on stderr. */
  warnings: string[];
  /** Standing statements about what the source's API cannot list (not warnings: nothing is wrong). */
  notes: string[];
  coverageGaps: CoverageGapInfo[];
}

export interface ManifestReport {
  name: string;
  file: string;
  format: ReportFormat;
  rows: number;
  runId: string | null;
  bytes: number;
  sha256: string;
  columns: string[];
}

export interface Manifest {
  kind: 'roster-evidence';
  manifestVersion: 1;
  generatedAt: string;
  roster: { version: string };
  integration: { name: string; kind: string; workspace: string | null; credentialKind: string; status: string };
  asOf: string | null;
  run: { id: string; status: RunStatus; startedAt: string; finishedAt: string } | null;
  dataAgeSeconds: number | null;
  /** False when the reflected run was partial or failed, the data is stale, or some scopes were not read. */
  complete: boolean;
  warnings: string[];
  coverageGaps: CoverageGapInfo[];
  /** What gives access in this source that its API cannot list with any credential: not in any file. */
  apiLimits: ApiLimit[];
  /** `access-changes` window. */
  changes: { sinceRun: string | null; untilRun: string | null };
  /** One entry per report file. */
  files: ManifestReport[];
  /** How to check the bundle. */
  verify: string;
}

// ─── Report definitions (internal to reports/, exported for the registry and tests) ──────────

/** A JSON cell. CSV renders arrays joined with `; ` unless a column says otherwise. */
export type Cell = string | number | boolean | null | readonly Cell[] | { readonly [key: string]: Cell };

export interface Column<Row> {
  name: string;
  description: string;
  /** The JSON value. */
  value(row: Row): Cell;
  /** The CSV text, when it differs from the default rendering of `value`. */
  csv?(row: Row): string;
}

export const REPORT_OPTION_NAMES = ['asOf', 'since', 'until', 'user', 'includeKeyBody', 'dormantDays', 'domains'] as const;
export type ReportOptionName = (typeof REPORT_OPTION_NAMES)[number];

export interface RunInfo {
  id: string;
  integrationId: string;
  status: RunStatus;
  startedAt: Date;
  finishedAt: Date;
}

/** What every report's query sees. */
export interface BaseContext {
  db: Kysely<Database>;
  options: ReportOptions;
  now: Date;
  /** Rows per database round trip. */
  pageSize: number;
  /** Reports add warnings here (e.g. an unknown user); the caller returns them. */
  warnings: string[];
  /** Statements that are not warnings (nothing is wrong with the data), e.g. which identity sources exist; the CLI prints them as notes. */
  notes?: string[];
}

/** A report over synced state also sees the integration and the run it reflects. */
export interface ReportContext extends BaseContext {
  integration: Integration;
  run: RunInfo;
  /** Finished runs of the integration by id (for "first seen" times). */
  runs: ReadonlyMap<string, RunInfo>;
}

interface ReportDefinitionBase<Row> {
  name: string;
  title: string;
  description: string;
  /** Sort order, as a sentence for `--list` and the README. */
  sort: string;
  options: readonly ReportOptionName[];
  columns: (options: ReportOptions) => readonly Column<Row>[];
  /** Standing statements the report must carry for this integration (e.g. what the API cannot list). */
  notes?: (integration: Integration) => string[];
}

/** Pages of rows in the report's order; each page is at most `ctx.pageSize` rows. */
export type ReportDefinition<Row> =
  | (ReportDefinitionBase<Row> & { readsSyncedState: true; pages(ctx: ReportContext): AsyncIterable<readonly Row[]> })
  /** Reads run metadata only (`sync-status`): no finished run is required. */
  | (ReportDefinitionBase<Row> & { readsSyncedState: false; pages(ctx: BaseContext): AsyncIterable<readonly Row[]> });
