import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { inspect } from 'node:util';
import { RosterError } from '../errors.ts';
import { registerSecret } from '../log.ts';

/** A secret value that prints as `[redacted]` wherever it ends up: logs, errors, JSON, util.inspect. */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
    registerSecret(value);
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[redacted]';
  }
  toJSON(): string {
    return '[redacted]';
  }
  [inspect.custom](): string {
    return '[redacted]';
  }
}

export interface EncryptionKey {
  id: string;
  key: Buffer;
}

export interface Keyring {
  current: EncryptionKey;
  /** Every key that may open a stored secret, current first. */
  byId: Map<string, EncryptionKey>;
  /** Set when the key was generated just now into the data directory. */
  generatedAt: string | null;
}

/** The key id is derived from the key, so a row always says exactly which key it needs. */
export function keyId(key: Buffer): string {
  return `k${createHash('sha256').update(key).digest('hex').slice(0, 10)}`;
}

/** Parses a 32-byte key given as base64 (44 characters) or hex (64 characters). */
export function parseKey(text: string, source: string): EncryptionKey {
  const trimmed = text.trim();
  let key: Buffer | null = null;
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) key = Buffer.from(trimmed, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)) key = Buffer.from(trimmed, 'base64');
  if (!key || key.length !== 32) {
    throw new RosterError('secret_key_wrong', `${source} is not a 32-byte key: give 44 base64 or 64 hex characters. Generate one with \`roster secrets generate-key\`.`);
  }
  return { id: keyId(key), key };
}

export function generateKeyText(): string {
  return randomBytes(32).toString('base64');
}

export const KEY_FILE_NAME = 'encryption.key';

/**
 * The keys Roster may use: `ROSTER_ENCRYPTION_KEY` (current) and `ROSTER_ENCRYPTION_KEYS_OLD`
 * (comma-separated, for rotation). Without them, the embedded default keeps a key file in the data
 * directory, created with mode 0600 on first use. A server database never gets a generated key: a key
 * on one laptop would make the shared database unreadable for everyone else.
 */
/**
 * Writes a new key file (mode 0600, its folder 0700) unless one exists; true when this call wrote
 * it. Two processes starting at once cannot both write one: the file is opened exclusively.
 */
export function createKeyFile(file: string): boolean {
  if (fs.existsSync(file)) return false;
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    fs.writeFileSync(file, `${generateKeyText()}\n`, { mode: 0o600, flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return false;
  }
}

export function loadKeyring(env: NodeJS.ProcessEnv, dataDir: string | null): Keyring {
  const old = (env.ROSTER_ENCRYPTION_KEYS_OLD ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((text, i) => parseKey(text, `ROSTER_ENCRYPTION_KEYS_OLD entry ${i + 1}`));
  let current: EncryptionKey;
  let generatedAt: string | null = null;
  if (env.ROSTER_ENCRYPTION_KEY) {
    current = parseKey(env.ROSTER_ENCRYPTION_KEY, 'ROSTER_ENCRYPTION_KEY');
    // A generated key file from before stays readable, so moving to your own key is one rotate away.
    const file = dataDir === null ? null : path.resolve(dataDir, KEY_FILE_NAME);
    if (file && fs.existsSync(file)) old.push(parseKey(fs.readFileSync(file, 'utf8'), file));
  } else if (dataDir !== null) {
    const file = path.resolve(dataDir, KEY_FILE_NAME);
    if (createKeyFile(file)) generatedAt = file;
    current = parseKey(fs.readFileSync(file, 'utf8'), file);
  } else {
    throw new RosterError('secret_key_missing', 'ROSTER_ENCRYPTION_KEY is not set. With a PostgreSQL server (DATABASE_URL) Roster needs the key in the environment of every process: generate one with `roster secrets generate-key` and keep it in your secret manager.');
  }
  const byId = new Map<string, EncryptionKey>([[current.id, current]]);
  for (const key of old) if (!byId.has(key.id)) byId.set(key.id, key);
  return { current, byId, generatedAt };
}

export interface SealedSecret {
  key_id: string;
  iv: Buffer;
  auth_tag: Buffer;
  ciphertext: Buffer;
}

/** Additional authenticated data binds a ciphertext to its row: a sealed value moved to another row won't open. */
function aad(integrationId: string, name: string): Buffer {
  return Buffer.from(`roster:credential:${integrationId}:${name}`);
}

export function seal(keyring: Keyring, plaintext: string, integrationId: string, name: string): SealedSecret {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyring.current.key, iv);
  cipher.setAAD(aad(integrationId, name));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { key_id: keyring.current.id, iv, auth_tag: cipher.getAuthTag(), ciphertext };
}

export function unseal(keyring: Keyring, row: { key_id: string; iv: Uint8Array; auth_tag: Uint8Array; ciphertext: Uint8Array }, integrationId: string, name: string, integrationName: string): Secret {
  const key = keyring.byId.get(row.key_id);
  if (!key) {
    const loaded = [...keyring.byId.keys()].join(', ');
    throw new RosterError('secret_key_wrong', `The ${name} of integration "${integrationName}" was encrypted with key id ${row.key_id}, which is not loaded (loaded: ${loaded}). Set ROSTER_ENCRYPTION_KEY to that key, or add it to ROSTER_ENCRYPTION_KEYS_OLD and run \`roster secrets rotate\`.`);
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.key, Buffer.from(row.iv));
    decipher.setAAD(aad(integrationId, name));
    decipher.setAuthTag(Buffer.from(row.auth_tag));
    return new Secret(Buffer.concat([decipher.update(Buffer.from(row.ciphertext)), decipher.final()]).toString('utf8'));
  } catch (error) {
    throw new RosterError('secret_key_wrong', `The ${name} of integration "${integrationName}" does not decrypt with key id ${row.key_id}: the stored value was altered or belongs to another row. Re-add the credential with \`roster integration add ${integrationName} --replace\`.`, { cause: error });
  }
}
