/**
 * Where the master key comes from. In order:
 *   1. env TOLLGATE_SECRET_KEY: 32 bytes as 64 hex digits or base64;
 *   2. else the key file `<dataDir>/secret.key`, created at first use with a
 *      fresh random key and mode 0600.
 * An older key still accepted for opening (during a rotation) comes from env
 * TOLLGATE_SECRET_KEY_PREVIOUS, else `<dataDir>/secret.key.previous` when
 * that file exists.
 *
 * A key file readable by group or others is refused (like ssh refuses a
 * private key file): the key protects every upstream key in the store. The
 * server and the CLI find the same key given the same env and data dir. With
 * several nodes on one PostgreSQL, every node needs the same key: set
 * TOLLGATE_SECRET_KEY on all of them (or give them the same key file).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../config.ts';
import { masterKey, type KeyRing, type MasterKey } from './secret-box.ts';

/** A bad or unsafe master key source; a configuration error (CLI exit 2). */
export class SecretKeyError extends ConfigError {}

export const KEY_FILE = 'secret.key';
export const PREVIOUS_KEY_FILE = 'secret.key.previous';
export const KEY_ENV = 'TOLLGATE_SECRET_KEY';
export const PREVIOUS_KEY_ENV = 'TOLLGATE_SECRET_KEY_PREVIOUS';

/** Where to look for the keys. */
export interface KeySource {
  env: NodeJS.ProcessEnv;
  dataDir: string;
}

/** Parses 64 hex digits or base64 (standard or URL-safe) of exactly 32 bytes; the message never repeats the value. */
export function parseMasterKey(text: string, source: string): Buffer {
  const s = text.trim();
  let key: Buffer | null = null;
  if (/^[0-9a-fA-F]{64}$/.test(s)) key = Buffer.from(s, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(s)) key = Buffer.from(s, 'base64');
  if (key === null || key.length !== 32) {
    throw new SecretKeyError(`${source} must be a 32-byte key written as 64 hex digits or base64 (got ${s.length} characters); generate one with: openssl rand -base64 32`);
  }
  return key;
}

/** A new random master key, as the key file stores it. */
export function generateMasterKey(): Buffer {
  return randomBytes(32);
}

/** Reads a key file, refusing one that group or others may read or write. */
export function readKeyFile(path: string): Buffer {
  if (process.platform !== 'win32') {
    const mode = statSync(path).mode & 0o777;
    if ((mode & 0o077) !== 0) throw new SecretKeyError(`master key file ${path} has mode ${mode.toString(8).padStart(4, '0')}: it must be readable by its owner only; run chmod 600 ${path}`);
  }
  return parseMasterKey(readFileSync(path, 'utf8'), `master key file ${path}`);
}

/**
 * Writes a key file with mode 0600, complete or not at all: the key goes to a
 * temporary file that is then linked (`exclusive`: fails if the file exists,
 * so two processes starting at once agree on one key) or renamed into place.
 */
export function writeKeyFile(path: string, key: Buffer, exclusive: boolean): boolean {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  try {
    if (!exclusive) {
      renameSync(tmp, path);
      return true;
    }
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    if (existsSync(tmp)) unlinkSync(tmp);
  }
}

function currentKey(src: KeySource): Buffer {
  const fromEnv = src.env[KEY_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return parseMasterKey(fromEnv, KEY_ENV);
  const path = join(src.dataDir, KEY_FILE);
  if (!existsSync(path)) {
    mkdirSync(src.dataDir, { recursive: true });
    writeKeyFile(path, generateMasterKey(), true);
  }
  return readKeyFile(path);
}

/** Loads the key ring (creating the key file when there is neither env key nor file). */
export function loadKeyRing(src: KeySource): KeyRing {
  const current = masterKey(currentKey(src));
  const previous: MasterKey[] = [];
  const prevEnv = src.env[PREVIOUS_KEY_ENV];
  const prevPath = join(src.dataDir, PREVIOUS_KEY_FILE);
  if (prevEnv !== undefined && prevEnv !== '') previous.push(masterKey(parseMasterKey(prevEnv, PREVIOUS_KEY_ENV)));
  else if (existsSync(prevPath)) previous.push(masterKey(readKeyFile(prevPath)));
  return { current, previous: previous.filter((k) => k.id !== current.id) };
}
