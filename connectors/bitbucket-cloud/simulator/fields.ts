/**
 * Partial responses (`fields=`, "Partial responses" in the spec): `a.b` keeps only the named fields
 * (and what leads to them), `-a.b` removes, `+a.b` adds back, `*` matches every key at its level.
 * Later tokens win over earlier ones for the same path; arrays are transparent (`values.uuid`).
 * Fields that are not in the default representation are not invented (`+` of an unknown field
 * is a no-op).
 */
import type { Json, JsonObject } from './render.ts';

interface Token {
  mode: 'include' | 'add' | 'remove';
  path: string[];
}

export interface FieldsFilter {
  apply(value: JsonObject): JsonObject;
}

export function parseFields(spec: string): FieldsFilter {
  const tokens: Token[] = spec
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0)
    .map((t) => {
      const mode = t.startsWith('-') ? 'remove' : t.startsWith('+') ? 'add' : 'include';
      const path = (mode === 'include' ? t : t.slice(1)).split('.').filter((s) => s.length > 0);
      return { mode, path };
    });
  const inclusive = tokens.some((t) => t.mode === 'include');

  const segMatch = (pattern: string, key: string): boolean => pattern === '*' || pattern === key;
  const prefixMatches = (pattern: string[], path: string[]): boolean => path.every((seg, i) => i < pattern.length && segMatch(pattern[i] as string, seg));

  const filter = (value: Json, path: string[], keepByDefault: boolean): Json => {
    if (Array.isArray(value)) return value.map((v) => filter(v, path, keepByDefault));
    if (value === null || typeof value !== 'object') return value;
    const out: JsonObject = {};
    for (const [key, child] of Object.entries(value)) {
      const p = [...path, key];
      let exact: Token | null = null;
      let exactAt = -1;
      let deeper = false;
      let deeperAddAfterExact = false;
      tokens.forEach((t, i) => {
        if (t.path.length === p.length && prefixMatches(t.path, p)) {
          exact = t;
          exactAt = i;
          deeperAddAfterExact = false;
        } else if (t.path.length > p.length && prefixMatches(t.path, p)) {
          deeper = true;
          if (t.mode !== 'remove' && i > exactAt) deeperAddAfterExact = true;
        }
      });
      const verdict = exact as Token | null;
      if (verdict) {
        if (verdict.mode === 'remove') {
          // `-*,+project.key`: removed as a whole, but a later token adds part of it back.
          if (deeperAddAfterExact) out[key] = filter(child, p, false);
          continue;
        }
        // Kept as a whole, but deeper tokens (e.g. `-values.links`) still apply inside it.
        out[key] = deeper ? filter(child, p, true) : child;
      } else if (deeper) {
        out[key] = filter(child, p, keepByDefault);
      } else if (keepByDefault) {
        out[key] = child;
      }
    }
    return out;
  };

  return { apply: (value) => filter(value, [], !inclusive) as JsonObject };
}
