import { createHash } from 'node:crypto';
import { DECISIONS, type Decision } from './types.ts';

/**
 * What a decision word means, and the decision log's hash chain. Pure: no I/O, so the same rules
 * hold for the file import, the web page and the tests.
 */

/**
 * The permissions lower than `permission` on its resource kind's ladder (the connector's permission
 * model, lowest first): what `reduce:` may name.
 */
export function lowerPermissions(ladder: readonly string[], permission: string): string[] {
  const rank = ladder.indexOf(permission);
  return rank <= 0 ? [] : ladder.slice(0, rank);
}

/** Every word a reviewer may write for an item holding `permission` on a resource with that ladder. */
export function decisionWords(ladder: readonly string[], permission: string): string[] {
  return ['keep', 'revoke', ...lowerPermissions(ladder, permission).map((p) => `reduce:${p}`)];
}

export type ParsedDecision = { ok: true; value: Decision } | { ok: false; message: string; fix: string };

/**
 * `keep`, `revoke` or `reduce:<permission>` (case and spaces around the parts ignored). A reduce must
 * name a permission lower than the one held, on the ladder of the resource's kind.
 */
export function parseDecision(word: string, kind: string, ladder: readonly string[], permission: string): ParsedDecision {
  const raw = word.trim();
  const lower = raw.toLowerCase();
  const words = decisionWords(ladder, permission);
  if (lower === 'keep' || lower === 'revoke') return { ok: true, value: { decision: lower, reduceTo: null } };
  const reduce = /^reduce\s*:\s*(.*)$/.exec(lower);
  if (reduce) {
    const target = (reduce[1] ?? '').trim();
    const lowerOnes = lowerPermissions(ladder, permission);
    if (lowerOnes.includes(target)) return { ok: true, value: { decision: 'reduce', reduceTo: target } };
    return {
      ok: false,
      message: target === '' ? `"${raw}" names no permission to reduce to` : `reduce:${target} is not lower than ${permission} (the access held on this ${kind})`,
      fix: lowerOnes.length > 0 ? `write ${lowerOnes.map((p) => `reduce:${p}`).join(' or ')}, or revoke` : `nothing is lower than ${permission} on a ${kind}: write keep or revoke`,
    };
  }
  return { ok: false, message: `decision "${raw}" is not one of ${DECISIONS.join(', ')}`, fix: `write one of ${words.join(', ')}` };
}

/** The word for a decision, as export files show it. */
export function decisionWord(decision: Decision | { decision: string | null; reduceTo: string | null }): string {
  if (decision.decision === null) return '';
  return decision.decision === 'reduce' ? `reduce:${decision.reduceTo ?? ''}` : decision.decision;
}

export const requiresComment = (d: Decision): boolean => d.decision === 'revoke' || d.decision === 'reduce';

// ─── The decision log's chain ───────────────────────────────────────────────────────────────

export const sha256Hex = (text: string | Buffer): string => createHash('sha256').update(text).digest('hex');

/** Entry n's hash: SHA-256 of entry n−1's hash, a line feed, and entry n's body (its exact JSON text). */
export function chainHash(previous: string, body: string): string {
  return sha256Hex(`${previous}\n${body}`);
}

export interface ChainEntry {
  seq: number;
  prev_sha256: string;
  sha256: string;
  body: string;
}

/**
 * Checks a log from its first entry: each entry names the previous entry's hash (the first one the
 * genesis: the SHA-256 of the campaign definition), and its own hash is recomputed from the body. Any
 * edited, removed, inserted or reordered entry breaks the chain from there on.
 */
export function verifyChain(entries: readonly ChainEntry[], genesis: string): { ok: boolean; problems: string[]; last: string } {
  const problems: string[] = [];
  let previous = genesis;
  entries.forEach((e, i) => {
    if (e.seq !== i + 1) problems.push(`entry ${i + 1} has seq ${e.seq}: an entry is missing or out of order`);
    if (e.prev_sha256 !== previous) problems.push(`entry ${e.seq}: prev_sha256 ${e.prev_sha256.slice(0, 12)}… is not the previous entry's hash ${previous.slice(0, 12)}…`);
    const recomputed = chainHash(e.prev_sha256, e.body);
    if (recomputed !== e.sha256) problems.push(`entry ${e.seq}: its body does not hash to its sha256 (the entry was edited)`);
    previous = e.sha256;
  });
  return { ok: problems.length === 0, problems, last: previous };
}
