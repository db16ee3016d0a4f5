import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import type { Kysely } from 'kysely';
import type { Database } from '../src/db/types.ts';
import { apiLimitsOf } from '../src/connectors.ts';
import { RosterError } from '../src/errors.ts';
import { changeWindow } from './access-changes.ts';
import { ensurePlannerStatistics } from './context.ts';
import { REPORTS, rosterVersion } from './registry.ts';
import { checkOptions, inSnapshot, loadSyncedState, streamReport } from './run.ts';
import type { Manifest, ManifestReport, ReportOptions } from './types.ts';

/** Report options (`user` does not apply: a bundle covers everyone) and the directory to write. */
export type EvidenceOptions = ReportOptions & { outDir: string };

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Creates `outDir`, or accepts it empty: a bundle never mixes files of two runs or two campaigns. */
export async function ensureEmptyDir(outDir: string): Promise<void> {
  const existing = await fs.readdir(outDir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  if (existing.length > 0) throw new RosterError('input_invalid', `${outDir} is not empty: write an evidence bundle into a new directory.`);
  await fs.mkdir(outDir, { recursive: true });
}

/** Writes `manifest.json` and `SHA256SUMS` (each file's hash, then the manifest's) for `sha256sum -c`. */
export async function writeManifestAndSums(outDir: string, manifest: unknown, files: ReadonlyArray<{ file: string; sha256: string }>): Promise<string> {
  const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
  await fs.writeFile(path.join(outDir, 'manifest.json'), manifestText, { flag: 'wx' });
  const sums = [...files.map((r) => `${r.sha256}  ${r.file}`), `${createHash('sha256').update(manifestText).digest('hex')}  manifest.json`];
  await fs.writeFile(path.join(outDir, 'SHA256SUMS'), `${sums.join('\n')}\n`, { flag: 'wx' });
  return createHash('sha256').update(manifestText).digest('hex');
}

/**
 * Writes every report into `outDir` plus `manifest.json` (what each file reflects, its row count and
 * SHA-256) and `SHA256SUMS` (the same hashes and the manifest's, for `sha256sum -c`). All reports read
 * one database snapshot. The directory must be new or empty, so a bundle never mixes two runs.
 */
export async function writeEvidence(db: Kysely<Database>, options: EvidenceOptions): Promise<Manifest> {
  if (options.user !== undefined) throw new RosterError('input_invalid', 'An evidence bundle covers every user; --user does not apply.');
  const outDir = path.resolve(options.outDir);
  await ensureEmptyDir(outDir);

  const now = options.now ?? new Date();
  const reportOptions: ReportOptions = { ...options, user: undefined };
  await ensurePlannerStatistics(db);
  const state = await loadSyncedState(db, reportOptions, now);
  const extension = options.format === 'csv' ? 'csv' : options.format === 'json' ? 'json' : 'ndjson';
  const warnings = [...state.warnings];
  const files: ManifestReport[] = [];
  const changes: { sinceRun: string | null; untilRun: string | null } = { sinceRun: null, untilRun: null };

  await inSnapshot(db, async (trx) => {
    for (const def of REPORTS) {
      const opts: ReportOptions = {
        ...reportOptions,
        integration: state.integration.name,
        asOf: def.options.includes('asOf') ? options.asOf : undefined,
        since: def.options.includes('since') ? options.since : undefined,
        until: def.options.includes('until') ? options.until : undefined,
        includeKeyBody: def.options.includes('includeKeyBody') ? options.includeKeyBody : undefined,
      };
      checkOptions(def, opts);
      if (def.name === 'access-changes') {
        Object.assign(changes, changeWindow({ db: trx, options: opts, now, pageSize: 0, warnings: [], integration: state.integration, run: state.run, runs: state.runs }));
      }
      const file = `${def.name}.${extension}`;
      const out = createWriteStream(path.join(outDir, file), { flags: 'wx' });
      let result: { rows: number; warnings: string[] };
      try {
        result = await streamReport(trx, def, opts, def.readsSyncedState ? state : null, now, out);
      } finally {
        out.end();
        await finished(out);
      }
      warnings.push(...result.warnings);
      const stat = await fs.stat(path.join(outDir, file));
      files.push({
        name: def.name,
        file,
        format: options.format,
        rows: result.rows,
        runId: def.readsSyncedState ? state.run.id : null,
        bytes: stat.size,
        sha256: await sha256File(path.join(outDir, file)),
        columns: def.columns(opts).map((c) => c.name),
      });
    }
  });

  const { integration, run, gaps } = state;
  const manifest: Manifest = {
    kind: 'roster-evidence',
    manifestVersion: 1,
    generatedAt: now.toISOString(),
    roster: { version: rosterVersion() },
    integration: { name: integration.name, kind: integration.kind, workspace: integration.workspace, credentialKind: integration.credential_kind, status: integration.status },
    asOf: options.asOf?.toISOString() ?? null,
    run: { id: run.id, status: run.status, startedAt: run.startedAt.toISOString(), finishedAt: run.finishedAt.toISOString() },
    dataAgeSeconds: Math.max(0, Math.round(((options.asOf ?? now).getTime() - run.finishedAt.getTime()) / 1000)),
    // A cross-check a setting skipped (reconcile: weekly or off) leaves no access out of the bundle.
    complete: warnings.length === 0 && gaps.every((g) => g.kind === 'skipped-by-setting') && run.status === 'succeeded',
    warnings,
    coverageGaps: gaps,
    apiLimits: [...apiLimitsOf(integration.kind)],
    changes,
    files,
    verify: 'sha256sum -c SHA256SUMS (each file, and manifest.json); every report reflects run.id of integration.name',
  };
  await writeManifestAndSums(outDir, manifest, files);
  return manifest;
}
