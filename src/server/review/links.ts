import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { RosterError } from '../../errors.ts';
import { type Keyring, createKeyFile, parseKey } from '../../secrets/index.ts';

/**
 * Signed reviewer links. A link carries a token bound to one campaign, one reviewer (or the
 * campaign's owner) and an expiry, signed with HMAC-SHA256 under the link key. Nothing is stored:
 * the signature is the proof, so a link cannot be widened to another reviewer, another campaign or a
 * later date without the key.
 *
 * The link key is kept the way the encryption key is (src/secrets): `ROSTER_LINK_KEY` (44 base64 or
 * 64 hex characters) when set; else, on the embedded database, `link.key` in the data directory
 * (generated with mode 0600 on first use); else, on a PostgreSQL server, derived (HKDF) from
 * `ROSTER_ENCRYPTION_KEY`, which every process of a server installation already shares. Changing the
 * key invalidates every link handed out.
 */

export const LINK_KEY_FILE_NAME = 'link.key';

export interface LinkKey {
  key: Buffer;
  /** Where the key came from, for messages (never the key). */
  source: string;
  /** Set when the key file was generated just now. */
  generatedAt: string | null;
}

export function loadLinkKey(env: NodeJS.ProcessEnv, dataDir: string | null, keyring: () => Keyring): LinkKey {
  const given = env.ROSTER_LINK_KEY?.trim();
  if (given) return { key: parseKey(given, 'ROSTER_LINK_KEY').key, source: 'ROSTER_LINK_KEY', generatedAt: null };
  if (dataDir !== null) {
    const file = path.resolve(dataDir, LINK_KEY_FILE_NAME);
    const generatedAt = createKeyFile(file) ? file : null;
    return { key: parseKey(fs.readFileSync(file, 'utf8'), file).key, source: file, generatedAt };
  }
  const current = keyring().current;
  return { key: Buffer.from(hkdfSync('sha256', current.key, Buffer.alloc(0), 'roster:review-links:v1', 32)), source: `ROSTER_ENCRYPTION_KEY (key id ${current.id})`, generatedAt: null };
}

export interface LinkClaims {
  campaignId: string;
  /** The reviewer's Roster key (`user:{uuid}` or `email:…`); null on an owner link. */
  reviewer: string | null;
  owner: boolean;
  expiresAt: Date;
}

const b64 = (b: Buffer | string): string => Buffer.from(b).toString('base64url');
const sign = (key: Buffer, purpose: string, body: string): Buffer => createHmac('sha256', key).update(`roster:${purpose}:${body}`).digest();

export function signLink(key: Buffer, claims: LinkClaims): string {
  const body = b64(JSON.stringify({ c: claims.campaignId, r: claims.reviewer, o: claims.owner ? 1 : 0, e: Math.floor(claims.expiresAt.getTime() / 1000) }));
  return `${body}.${b64(sign(key, 'link', body))}`;
}

export type Verified = { ok: true; claims: LinkClaims } | { ok: false; reason: 'malformed' | 'signature' } | { ok: false; reason: 'expired'; claims: LinkClaims };

/** Checks a token's signature (in constant time) and expiry. A bad signature is a guess: count it. */
export function verifyLink(key: Buffer, token: string, now: Date): Verified {
  const match = /^([A-Za-z0-9_-]{10,400})\.([A-Za-z0-9_-]{43})$/.exec(token.trim());
  if (!match) return { ok: false, reason: 'malformed' };
  const [, body, signature] = match as unknown as [string, string, string];
  const expected = sign(key, 'link', body);
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'signature' };
  let parsed: { c?: unknown; r?: unknown; o?: unknown; e?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as typeof parsed;
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (typeof parsed.c !== 'string' || !/^\d+$/.test(parsed.c) || typeof parsed.e !== 'number' || (parsed.r !== null && typeof parsed.r !== 'string')) return { ok: false, reason: 'malformed' };
  const claims: LinkClaims = { campaignId: parsed.c, reviewer: parsed.r, owner: parsed.o === 1, expiresAt: new Date(parsed.e * 1000) };
  if (claims.expiresAt.getTime() <= now.getTime()) return { ok: false, reason: 'expired', claims };
  return { ok: true, claims };
}

/** The CSRF token of a session: bound to what authenticated it (the link token, or the proxy identity). */
export function csrfToken(key: Buffer, session: string): string {
  return b64(sign(key, 'csrf', session));
}

export function csrfMatches(key: Buffer, session: string, presented: string | null | undefined): boolean {
  const expected = Buffer.from(csrfToken(key, session));
  const given = Buffer.from(presented ?? '');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Link lifetimes: `14d`, `36h`; at most a year (a link is a credential). */
export function parseExpiry(text: string): number {
  const match = /^(\d+)\s*([hd])$/.exec(text.trim());
  if (!match) throw new RosterError('input_invalid', `--expires "${text}" is not a lifetime: give days or hours, e.g. 14d or 36h.`);
  const ms = Number(match[1]) * (match[2] === 'd' ? 86_400_000 : 3_600_000);
  if (ms < 3_600_000 || ms > 366 * 86_400_000) throw new RosterError('input_invalid', `--expires ${text} is out of range: from 1h to 366d.`);
  return ms;
}

/** The URL of a link: the review page (owner: the overview) with the token as `t`. */
export function linkUrl(baseUrl: string, claims: LinkClaims, token: string): string {
  const base = baseUrl.replace(/\/+$/, '');
  return `${base}/review/${claims.campaignId}${claims.owner ? '/overview' : ''}?t=${token}`;
}

/**
 * Counts bad tokens per client address: after `limit` guesses within `windowMs` the address is
 * refused (HTTP 429) until the window has passed. Memory is bounded by dropping stale entries.
 */
export class GuessLimiter {
  readonly #hits = new Map<string, number[]>();
  constructor(
    readonly limit = 20,
    readonly windowMs = 10 * 60_000,
  ) {}

  #recent(address: string, now: number): number[] {
    const list = (this.#hits.get(address) ?? []).filter((t) => now - t < this.windowMs);
    if (list.length === 0) this.#hits.delete(address);
    else this.#hits.set(address, list);
    return list;
  }

  /** Milliseconds until the address may try again; 0 when it may now. */
  blockedFor(address: string, now = Date.now()): number {
    const list = this.#recent(address, now);
    if (list.length < this.limit) return 0;
    return this.windowMs - (now - (list[list.length - this.limit] as number));
  }

  fail(address: string, now = Date.now()): void {
    if (this.#hits.size > 10_000) for (const a of [...this.#hits.keys()]) this.#recent(a, now);
    this.#hits.set(address, [...this.#recent(address, now), now]);
  }
}
