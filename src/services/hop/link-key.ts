/**
 * Link keys: the shared secrets of an egress and an ingress node. A key has
 * an id, sent in every hop header, so an ingress can accept two keys while
 * they are rotated. Two independent subkeys are derived once (HKDF-SHA256):
 * one signs hop headers, one derives the per-message encryption keys.
 */
import { createSecretKey, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';

export class LinkKey {
  readonly id: string;
  /** KeyObjects, not bytes: HMAC and HKDF from a KeyObject skip a key import per call (5× cheaper for the HMAC). */
  readonly macKey: KeyObject;
  readonly encKey: KeyObject;

  constructor(id: string, keyBase64Url: string) {
    const raw = Buffer.from(keyBase64Url, 'base64url');
    if (raw.length !== 32) throw new RangeError(`link key ${id} must be 32 bytes`);
    this.id = id;
    this.macKey = createSecretKey(Buffer.from(hkdfSync('sha256', raw, 'tollgate-hop', 'mac', 32)));
    this.encKey = createSecretKey(Buffer.from(hkdfSync('sha256', raw, 'tollgate-hop', 'enc', 32)));
  }
}

/** The keys an ingress accepts, by id. */
export class LinkKeyRing {
  readonly #byId = new Map<string, LinkKey>();

  constructor(keys: ReadonlyArray<{ id: string; key: string }>) {
    for (const k of keys) this.#byId.set(k.id, new LinkKey(k.id, k.key));
  }

  get(id: string): LinkKey | undefined {
    return this.#byId.get(id);
  }

  get size(): number {
    return this.#byId.size;
  }
}

/** A new random link key and id, for `tollgate link-key generate`. */
export function generateLinkKey(): { id: string; key: string } {
  return { id: 'lk_' + randomBytes(6).toString('base64url'), key: randomBytes(32).toString('base64url') };
}
