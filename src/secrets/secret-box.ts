/**
 * Encryption at rest for stored secrets (upstream API keys): AES-256-GCM with
 * a random 12-byte IV per value, stored as text
 *
 *     v1:<keyId>:<iv base64>:<tag base64>:<ciphertext base64>
 *
 * `keyId` names the master key that sealed the value, so during a rotation
 * the old and new keys can both be configured and each value opened with its
 * own. The value's context (e.g. the channel it belongs to) is bound as
 * additional authenticated data: a ciphertext copied to another row does not
 * open there.
 *
 * Decryption happens when channels are loaded (cold path); the route table is
 * built from the opened secrets once, and the hot path never decrypts.
 * Messages never contain a secret or a key, only key ids.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

/** A 32-byte master key and its public id (not derived reversibly: an HMAC fingerprint). */
export interface MasterKey {
  readonly id: string;
  readonly key: Buffer;
}

/** The key that seals new values, and older keys still accepted for opening. */
export interface KeyRing {
  readonly current: MasterKey;
  readonly previous: readonly MasterKey[];
}

/** A secret that cannot be opened (unknown key, altered value) or sealed. */
export class SecretError extends Error {}

const VERSION = 'v1';
const IV_BYTES = 12;
const SEALED = /^v1:([0-9a-f]{8}):([A-Za-z0-9+/]{16}):([A-Za-z0-9+/]{22}==):([A-Za-z0-9+/]*={0,2})$/;

/** Wraps a 32-byte key with its id. */
export function masterKey(key: Buffer): MasterKey {
  if (key.length !== 32) throw new SecretError('a master key must be 32 bytes');
  return { id: createHmac('sha256', key).update('tollgate master key id').digest('hex').slice(0, 8), key };
}

/** Whether a stored value is in the sealed format (anything else is a legacy plaintext value). */
export function isSealed(stored: string): boolean {
  return SEALED.test(stored);
}

/**
 * Seals and opens secrets with a key ring that is loaded on first use (so a
 * store that never touches a secret never needs a key) and loaded again once
 * when a value names a key it does not hold: another process may have
 * rotated the key file since.
 */
export class SecretBox {
  readonly #load: () => KeyRing;
  #ring: KeyRing | null = null;

  /** `initial`: the ring already loaded (a server loads it at start, to fail early); else it is loaded on first use. */
  constructor(ring: KeyRing | (() => KeyRing), initial?: KeyRing) {
    this.#load = typeof ring === 'function' ? ring : () => ring;
    this.#ring = initial ?? null;
  }

  #keys(): KeyRing {
    return (this.#ring ??= this.#load());
  }

  /** Id of the key new values are sealed with. */
  get currentKeyId(): string {
    return this.#keys().current.id;
  }

  /** Encrypts `plaintext` bound to `context`. */
  seal(plaintext: string, context: string): string {
    const { current } = this.#keys();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', current.key, iv);
    cipher.setAAD(Buffer.from(context));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${VERSION}:${current.id}:${iv.toString('base64')}:${cipher.getAuthTag().toString('base64')}:${ct.toString('base64')}`;
  }

  /** Decrypts a sealed value; a legacy plaintext value comes back as is. Throws `SecretError`. */
  open(stored: string, context: string): string {
    const m = SEALED.exec(stored);
    if (m === null) return stored;
    const [, id, iv, tag, ct] = m;
    const key = this.#find(id);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.key, Buffer.from(iv, 'base64'));
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(Buffer.from(tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(ct, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretError(`a stored secret (${context}) failed authentication under master key ${id}: the value was altered or moved`);
    }
  }

  /** Whether a stored value is sealed with the current key (nothing to do for a rotation). */
  isCurrent(stored: string): boolean {
    const m = SEALED.exec(stored);
    return m !== null && m[1] === this.#keys().current.id;
  }

  #find(id: string): MasterKey {
    for (let attempt = 0; attempt < 2; attempt++) {
      const ring = this.#keys();
      if (ring.current.id === id) return ring.current;
      const old = ring.previous.find((k) => k.id === id);
      if (old !== undefined) return old;
      if (attempt === 0) this.#ring = this.#load();
    }
    const ring = this.#keys();
    const known = [ring.current.id, ...ring.previous.map((k) => k.id)].join(', ');
    throw new SecretError(`a stored secret was encrypted with master key ${id}, which is not configured (configured: ${known}); set TOLLGATE_SECRET_KEY or TOLLGATE_SECRET_KEY_PREVIOUS to that key, or use the data directory's secret.key it was created with`);
  }
}
