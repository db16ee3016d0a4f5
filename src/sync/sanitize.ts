/**
 * Text PostgreSQL cannot store as given: the NUL character (U+0000, "invalid byte sequence for
 * encoding UTF8: 0x00" in text, "unsupported Unicode escape sequence" in jsonb) and unpaired UTF-16
 * surrogates (which JSON allows as `\ud800` escapes and jsonb refuses). A record carrying them is
 * stored with each such character replaced by U+FFFD, and the run says which record and field —
 * one member's odd display name must not fail every sync.
 */

// eslint-disable-next-line no-control-regex -- finding NUL is the point
const UNSTORABLE = /[\u0000\uD800-\uDFFF]/;

/** The text with NUL and unpaired surrogates replaced by U+FFFD, or null when it needs no change. */
export function storableText(value: string): string | null {
  if (!UNSTORABLE.test(value)) return null;
  const fixed = value.replaceAll('\u0000', '\uFFFD').toWellFormed();
  return fixed === value ? null : fixed;
}

/**
 * A copy of `value` (string, array or plain object, any depth) with unstorable text replaced in
 * values and keys; `changed` receives the path of each change (`displayName`, `attributes.comment`).
 * Returns the value itself when nothing changed.
 */
export function storableValue<T>(value: T, path: string, changed: string[]): T {
  if (typeof value === 'string') {
    const fixed = storableText(value);
    if (fixed === null) return value;
    changed.push(path);
    return fixed as T;
  }
  if (Array.isArray(value)) {
    let copy: unknown[] | null = null;
    value.forEach((item: unknown, i) => {
      const fixed = storableValue(item, `${path}[${i}]`, changed);
      if (fixed !== item) (copy ??= [...value])[i] = fixed;
    });
    return (copy ?? value) as T;
  }
  if (value !== null && typeof value === 'object') {
    let copy: Record<string, unknown> | null = null;
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      const fixedKey = storableText(key);
      const name = fixedKey ?? key;
      const fixed = storableValue(item, path ? `${path}.${name}` : name, changed);
      if (fixedKey !== null) {
        changed.push(`${path ? `${path}.` : ''}${name} (key)`);
        copy ??= { ...(value as Record<string, unknown>) };
        delete copy[key];
        copy[name] = fixed;
      } else if (fixed !== item) {
        (copy ??= { ...(value as Record<string, unknown>) })[key] = fixed;
      }
    }
    return (copy ?? value) as T;
  }
  return value;
}
