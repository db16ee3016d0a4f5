import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { html, raw } from '../../src/server/review/html.ts';
import { GuessLimiter, csrfMatches, csrfToken, loadLinkKey, parseExpiry, signLink, verifyLink } from '../../src/server/review/links.ts';
import { pathWords } from '../../src/server/review/pages.ts';
import { loadKeyring } from '../../src/secrets/index.ts';
import type { PathJson } from '../../reports/access.ts';

describe('the reviewer page: escaping, link tokens, CSRF, guess limiting', () => {
  it('html escapes every interpolated value, in text and in attributes; html inside html is kept', () => {
    const name = `<img src=x onerror=alert(1)> "quoted" 'single' & \`tick\``;
    const out = html`<p title="${name}">${name}</p>${html`<b>${'<i>'}</b>`}${[name, 1, null, undefined, false]}`.text;
    expect(out).toBe(
      '<p title="&lt;img src=x onerror=alert(1)&gt; &quot;quoted&quot; &#39;single&#39; &amp; &#96;tick&#96;">&lt;img src=x onerror=alert(1)&gt; &quot;quoted&quot; &#39;single&#39; &amp; &#96;tick&#96;</p><b>&lt;i&gt;</b>&lt;img src=x onerror=alert(1)&gt; &quot;quoted&quot; &#39;single&#39; &amp; &#96;tick&#96;1',
    );
    expect(html`${raw('<br>')}`.text).toBe('<br>');
  });

  it('a token is bound to its campaign, reviewer and expiry: any edit breaks the signature; expiry is told apart from forgery', () => {
    const key = randomBytes(32);
    const now = new Date('2026-12-01T12:00:00Z');
    const claims = { campaignId: '1001', reviewer: 'user:{6e5b78c3-b633-4bd8-8cc2-0f1bca554eff}', owner: false, expiresAt: new Date('2026-12-15T12:00:00Z') };
    const token = signLink(key, claims);
    expect(verifyLink(key, token, now)).toEqual({ ok: true, claims });
    expect(verifyLink(randomBytes(32), token, now)).toEqual({ ok: false, reason: 'signature' });
    const [body, sig] = token.split('.') as [string, string];
    for (const edit of [{ c: '1002' }, { r: 'email:mallory@acme.example' }, { e: 4_102_444_800 }, { o: 1 }]) {
      const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), ...edit })).toString('base64url');
      expect(verifyLink(key, `${forged}.${sig}`, now)).toEqual({ ok: false, reason: 'signature' });
    }
    expect(verifyLink(key, 'not a token', now)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyLink(key, token, new Date('2026-12-15T12:00:00Z'))).toEqual({ ok: false, reason: 'expired', claims });
    const owner = signLink(key, { ...claims, reviewer: null, owner: true });
    expect(verifyLink(key, owner, now)).toMatchObject({ ok: true, claims: { reviewer: null, owner: true } });
  });

  it('the CSRF token belongs to one session', () => {
    const key = randomBytes(32);
    const t = csrfToken(key, 'session-a');
    expect(csrfMatches(key, 'session-a', t)).toBe(true);
    expect(csrfMatches(key, 'session-b', t)).toBe(false);
    expect(csrfMatches(key, 'session-a', null)).toBe(false);
    expect(csrfMatches(key, 'session-a', `${t}x`)).toBe(false);
  });

  it('link lifetimes: days or hours, from 1h to 366d, else a clear error', () => {
    expect(parseExpiry('14d')).toBe(14 * 86_400_000);
    expect(parseExpiry('36h')).toBe(36 * 3_600_000);
    expect(() => parseExpiry('2w')).toThrow('--expires "2w" is not a lifetime: give days or hours, e.g. 14d or 36h.');
    expect(() => parseExpiry('400d')).toThrow('--expires 400d is out of range: from 1h to 366d.');
  });

  it('guesses: an address is refused after the limit, until the window has passed', () => {
    const limiter = new GuessLimiter(3, 60_000);
    const t0 = 1_000_000;
    for (let i = 0; i < 3; i++) {
      expect(limiter.blockedFor('10.0.0.7', t0 + i)).toBe(0);
      limiter.fail('10.0.0.7', t0 + i);
    }
    expect(limiter.blockedFor('10.0.0.7', t0 + 10)).toBe(60_000 - 10);
    expect(limiter.blockedFor('10.0.0.8', t0 + 10)).toBe(0);
    expect(limiter.blockedFor('10.0.0.7', t0 + 60_001)).toBe(0);
  });

  it('the link key: ROSTER_LINK_KEY, else a 0600 file in the data directory, else derived from the encryption key', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roster-link-key-'));
    try {
      const keyring = () => loadKeyring({ ROSTER_ENCRYPTION_KEY: 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=' }, null);
      const generated = loadLinkKey({}, dir, keyring);
      expect(generated.generatedAt).toBe(path.join(dir, 'link.key'));
      expect(fs.statSync(path.join(dir, 'link.key')).mode & 0o777).toBe(0o600);
      expect(loadLinkKey({}, dir, keyring)).toEqual({ ...generated, generatedAt: null });
      const derived = loadLinkKey({}, null, keyring);
      expect(derived.key).toHaveLength(32);
      expect(derived.key.equals(keyring().current.key)).toBe(false);
      expect(derived.source).toMatch(/^ROSTER_ENCRYPTION_KEY \(key id k[0-9a-f]{10}\)$/);
      expect(loadLinkKey({ ROSTER_LINK_KEY: '0'.repeat(64) }, dir, keyring).key).toEqual(Buffer.alloc(32));
      expect(() => loadLinkKey({ ROSTER_LINK_KEY: 'short' }, dir, keyring)).toThrow('ROSTER_LINK_KEY is not a 32-byte key');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('paths read as words', () => {
    const p = (over: Partial<PathJson>): PathJson => ({ kind: 'group', permission: 'write', granted: 'write', group: 'developers', groupName: 'Developers', project: null, projectName: null, firstSeenRun: '1', singleUseGroup: false, category: 'group', privilegedGrant: false, ...over });
    expect(pathWords(p({}))).toBe('via group Developers (write)');
    expect(pathWords(p({ kind: 'project-group', category: 'inherited-group', project: 'PLAT', projectName: 'Platform' }))).toBe('via group Developers on project Platform (write)');
    expect(pathWords(p({ kind: 'project', category: 'inherited', group: null, groupName: null, project: 'PLAT', projectName: 'Platform', granted: 'create-repo' }))).toBe('via project Platform (grant: create-repo, gives write)');
    expect(pathWords(p({ kind: 'direct', category: 'direct', group: null, groupName: null }))).toBe('granted directly (write)');
    expect(pathWords(p({ kind: 'workspace-owner', category: 'root-role', group: null, groupName: null, permission: 'admin', granted: 'owner' }))).toBe('as workspace owner (grant: owner, gives admin)');
  });
});
