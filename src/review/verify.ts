import fs from 'node:fs/promises';
import path from 'node:path';
import { sha256File } from '../../reports/evidence.ts';
import { type ChainEntry, sha256Hex, verifyChain } from './decisions.ts';

export interface BundleVerification {
  ok: boolean;
  /** Files whose SHA-256 matches SHA256SUMS. */
  files: number;
  logEntries: number;
  problems: string[];
}

/**
 * Checks a campaign's evidence bundle the way an auditor would: every file against SHA256SUMS (what
 * `sha256sum -c` does), then the decision log's chain from `campaign.json` (its SHA-256 is the first
 * entry's prev_sha256) to the last hash the manifest records. Reads files only.
 */
export async function verifyBundle(dir: string): Promise<BundleVerification> {
  const problems: string[] = [];
  const read = async (name: string): Promise<string | null> => fs.readFile(path.join(dir, name), 'utf8').catch(() => null);
  const sums = await read('SHA256SUMS');
  let files = 0;
  if (sums === null) problems.push('SHA256SUMS is missing');
  else {
    for (const line of sums.split('\n').filter((l) => l.trim() !== '')) {
      const match = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
      if (!match) {
        problems.push(`SHA256SUMS: unreadable line "${line}"`);
        continue;
      }
      const [, hash, file] = match as unknown as [string, string, string];
      const actual = await sha256File(path.join(dir, file)).catch(() => null);
      if (actual === null) problems.push(`${file}: listed in SHA256SUMS but missing`);
      else if (actual !== hash) problems.push(`${file}: SHA-256 ${actual.slice(0, 12)}… is not ${hash.slice(0, 12)}… (the file changed)`);
      else files += 1;
    }
  }
  const definition = await read('campaign.json');
  const logText = await read('decision-log.ndjson');
  const manifestText = await read('manifest.json');
  let entries: ChainEntry[] = [];
  if (definition === null || logText === null || manifestText === null) problems.push('campaign.json, decision-log.ndjson or manifest.json is missing');
  else {
    try {
      entries = logText
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as ChainEntry);
      const chain = verifyChain(entries, sha256Hex(definition));
      problems.push(...chain.problems.map((p) => `decision log: ${p}`));
      const manifest = JSON.parse(manifestText) as { decisionLog?: { lastSha256?: string; entries?: number } };
      if (manifest.decisionLog?.lastSha256 !== chain.last) problems.push(`decision log: ends at ${chain.last.slice(0, 12)}…, the manifest says ${String(manifest.decisionLog?.lastSha256).slice(0, 12)}… (entries removed or added)`);
      if (manifest.decisionLog?.entries !== entries.length) problems.push(`decision log: ${entries.length} entries, the manifest says ${String(manifest.decisionLog?.entries)}`);
    } catch (error) {
      problems.push(`decision log or manifest is not valid JSON: ${(error as Error).message}`);
    }
  }
  return { ok: problems.length === 0, files, logEntries: entries.length, problems };
}
