import { readFileSync } from 'node:fs';
import { RosterError } from '../src/errors.ts';
import { accessChanges } from './access-changes.ts';
import { accessReview } from './access-review.ts';
import { coverage, syncStatus } from './coverage.ts';
import { effectiveAccessChanges } from './effective-access-changes.ts';
import { groups } from './groups.ts';
import { identityFindings } from './identity-findings.ts';
import { machineCredentials } from './machine-credentials.ts';
import { privilegedAccess } from './privileged-access.ts';
import { OPTION_FLAGS } from './run.ts';
import type { ReportDefinition, ReportOptions } from './types.ts';
import { userAccess } from './user-access.ts';

/** Every report, in the order `--list`, the README and an evidence bundle show them. */
export const REPORTS: readonly ReportDefinition<unknown>[] = [
  accessReview,
  userAccess,
  privilegedAccess,
  machineCredentials,
  groups,
  accessChanges,
  effectiveAccessChanges,
  identityFindings,
  coverage,
  syncStatus,
];

export function findReport(name: string): ReportDefinition<unknown> {
  const def = REPORTS.find((r) => r.name === name);
  if (!def) throw new RosterError('input_invalid', `Unknown report "${name}". Reports: ${REPORTS.map((r) => r.name).join(', ')}, and evidence (every report plus a manifest).`);
  return def;
}

/** The text of `roster report --list`: every report, what it takes, its order and its columns. */
export function listReports(): string {
  const defaults: ReportOptions = { format: 'csv' };
  const blocks = REPORTS.map((def) => {
    const columns = def.columns(defaults);
    const width = Math.max(...columns.map((c) => c.name.length));
    return [
      `${def.name} — ${def.title}`,
      `  ${def.description}`,
      `  Options: ${def.options.length > 0 ? def.options.map((o) => OPTION_FLAGS[o]).join(', ') : 'none'} (all: --integration, --format csv|json|ndjson, --bom)`,
      `  Sorted by: ${def.sort}`,
      '  Columns:',
      ...columns.map((c) => `    ${c.name.padEnd(width)}  ${c.description}`),
    ].join('\n');
  });
  blocks.push(
    [
      'evidence — Evidence bundle',
      '  Every report above into --out DIR, plus manifest.json (generation time, Roster version, integration, the run each',
      '  report reflects, coverage gaps, row counts, SHA-256 of each file) and SHA256SUMS (check with sha256sum -c SHA256SUMS).',
      `  Options: ${OPTION_FLAGS.asOf}, ${OPTION_FLAGS.since}, ${OPTION_FLAGS.until}, ${OPTION_FLAGS.includeKeyBody}`,
    ].join('\n'),
  );
  return `${blocks.join('\n\n')}\n`;
}

let version: string | null = null;

export function rosterVersion(): string {
  if (version === null) {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    version = typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  }
  return version;
}
