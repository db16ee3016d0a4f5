/**
 * "1 row", "3 rows", "2 retries", "1,204 API requests": a count and its noun, for every message.
 * The plural is `many` when given, else the noun with -ies for a consonant + y, else with -s.
 */
export function plural(n: number, one: string, many?: string): string {
  const more = many ?? (one.endsWith('y') && !/[aeiou]y$/.test(one) ? `${one.slice(0, -1)}ies` : `${one}s`);
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : more}`;
}
