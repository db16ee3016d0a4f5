import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Secret, keyId, loadKeyring, parseKey, seal, unseal } from '../../src/secrets/index.ts';

const KEY_A = 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=';
const KEY_B = 'ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=';

describe('secrets', () => {
  it('round-trips, and the ciphertext does not contain the plaintext', () => {
    const keyring = loadKeyring({ ROSTER_ENCRYPTION_KEY: KEY_A }, null);
    const sealed = seal(keyring, 'my-token-value', '7', 'secret');
    expect(sealed.ciphertext.toString('utf8')).not.toContain('my-token-value');
    expect(sealed.key_id).toBe(keyId(Buffer.from(KEY_A, 'base64')));
    expect(unseal(keyring, sealed, '7', 'secret', 'acme').reveal()).toBe('my-token-value');
  });

  it('a sealed value moved to another row does not open', () => {
    const keyring = loadKeyring({ ROSTER_ENCRYPTION_KEY: KEY_A }, null);
    const sealed = seal(keyring, 'my-token-value', '7', 'secret');
    expect(() => unseal(keyring, sealed, '8', 'secret', 'acme')).toThrow(/does not decrypt/);
    expect(() => unseal(keyring, sealed, '7', 'refresh_token', 'acme')).toThrow(/does not decrypt/);
  });

  it('a missing key names the key id that sealed the row', () => {
    const a = loadKeyring({ ROSTER_ENCRYPTION_KEY: KEY_A }, null);
    const b = loadKeyring({ ROSTER_ENCRYPTION_KEY: KEY_B }, null);
    const sealed = seal(a, 'v', '1', 'secret');
    expect(() => unseal(b, sealed, '1', 'secret', 'acme')).toThrow(new RegExp(`key id ${a.current.id}, which is not loaded`));
    const both = loadKeyring({ ROSTER_ENCRYPTION_KEY: KEY_B, ROSTER_ENCRYPTION_KEYS_OLD: KEY_A }, null);
    expect(unseal(both, sealed, '1', 'secret', 'acme').reveal()).toBe('v');
  });

  it('without a key, a server database refuses and says how to get one', () => {
    expect(() => loadKeyring({}, null)).toThrow(/ROSTER_ENCRYPTION_KEY is not set.*roster secrets generate-key/);
  });

  it('rejects keys of the wrong size', () => {
    expect(() => parseKey('tooshort', 'ROSTER_ENCRYPTION_KEY')).toThrow(/not a 32-byte key/);
    expect(parseKey('00'.repeat(32), 'hex').key.length).toBe(32);
  });

  it('a Secret prints as [redacted] everywhere', () => {
    const secret = new Secret('hunter2-hunter2');
    expect(String(secret)).toBe('[redacted]');
    expect(JSON.stringify({ secret })).toBe('{"secret":"[redacted]"}');
    expect(inspect({ secret })).not.toContain('hunter2');
    expect(`${secret}`).toBe('[redacted]');
  });
});
