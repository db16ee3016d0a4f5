import type { AssignmentRule } from './types.ts';

/**
 * Who reviews an item: the first candidate of the first level of the rule that is not the item's own
 * principal, else the fallback reviewer. Pure; the levels come from the rule (see `create.ts`).
 */

/** Someone who could review: a Bitbucket user (with their uuid) or an e-mail address. */
export interface Candidate {
  key: string;
  /** Bitbucket uuid of a user candidate; null for someone outside Bitbucket. */
  externalId: string | null;
  label: string;
}

export interface Level {
  rule: AssignmentRule;
  candidates: readonly Candidate[];
}

export type Assignment =
  | { ok: true; candidate: Candidate; rule: AssignmentRule; note: string | null; ownAccess: boolean }
  /** `own-access`: every candidate was the item's principal; `no-reviewer`: the rule names nobody. */
  | { ok: false; reason: 'own-access' | 'no-reviewer' };

/** The item's principal, as far as self-review goes: users by uuid; a machine credential reviews nothing. */
export interface ItemPrincipal {
  kind: string;
  externalId: string;
  name: string | null;
}

const isOwn = (c: Candidate, p: ItemPrincipal): boolean => p.kind === 'user' && c.externalId !== null && c.externalId === p.externalId;

/**
 * `spread` (the resource's id) picks where in a level's list to start, so the items of a workspace
 * with three owners go a third to each — every item of one resource to the same person — instead of
 * all to the first owner. Without it, the list's first candidate.
 */
export function chooseReviewer(principal: ItemPrincipal, levels: readonly Level[], fallback: Candidate | null, spread?: string): Assignment {
  let skipped: Level | null = null;
  for (const level of levels) {
    const n = level.candidates.length;
    const start = spread === undefined || n === 0 ? 0 : spreadIndex(spread, n);
    const rotated = n === 0 ? [] : [...level.candidates.slice(start), ...level.candidates.slice(0, start)];
    const chosen = rotated.find((c) => !isOwn(c, principal));
    if (chosen) {
      const note = skipped ? ownAccessNote(principal, skipped, `${describeRule(level.rule)} ${chosen.label}`) : null;
      return { ok: true, candidate: chosen, rule: level.rule, note, ownAccess: skipped !== null };
    }
    if (!skipped && level.candidates.length > 0) skipped = level;
  }
  if (fallback && !isOwn(fallback, principal)) {
    return { ok: true, candidate: fallback, rule: 'fallback', note: skipped ? ownAccessNote(principal, skipped, `the fallback reviewer ${fallback.label}`) : 'the rule names no reviewer for this item: the fallback reviewer has it', ownAccess: skipped !== null };
  }
  return { ok: false, reason: skipped || (fallback && isOwn(fallback, principal)) ? 'own-access' : 'no-reviewer' };
}

/** A stable index in [0, n) for a key: the same resource always lands on the same candidate. */
export function spreadIndex(key: string, n: number): number {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) >>> 0;
  return h % n;
}

function ownAccessNote(principal: ItemPrincipal, level: Level, instead: string): string {
  return `own access: ${principal.name ?? principal.externalId} is the ${describeRule(level.rule)} who would review it; it went to ${instead}`;
}

export function describeRule(rule: AssignmentRule): string {
  switch (rule) {
    case 'reviewer':
      return 'named reviewer';
    case 'manager':
      return 'manager (people file)';
    case 'repository-admin':
      return 'repository admin';
    case 'project-admin':
      return 'project admin';
    case 'workspace-owner':
      return 'workspace owner';
    case 'mapping:repository':
      return 'repository reviewer (mapping file)';
    case 'mapping:project':
      return 'project reviewer (mapping file)';
    case 'mapping:default':
      return 'default reviewer (mapping file)';
    case 'fallback':
      return 'fallback reviewer';
  }
}
