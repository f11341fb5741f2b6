/**
 * Link keys: the shared secrets of an egress and an ingress node. A key has
 * an id, sent in every hop header, so an ingress can accept two keys while
 * they are rotated. An encryption subkey is derived once (HKDF-SHA256), and
 * from it one key per egress epoch (hop-epoch.ts), kept here so an ingress
 * derives each epoch's key once, not once per message.
 */
import { createSecretKey, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';

/** Epoch keys kept per link key; the oldest is dropped past this (an egress starts one epoch per process or worker). */
const EPOCHS_KEPT = 1024;

export class LinkKey {
  readonly id: string;
  /** A KeyObject, not bytes: HKDF from a KeyObject skips a key import per call. */
  readonly #encKey: KeyObject;
  readonly #epochs = new Map<string, KeyObject>();

  constructor(id: string, keyBase64Url: string) {
    const raw = Buffer.from(keyBase64Url, 'base64url');
    if (raw.length !== 32) throw new RangeError(`link key ${id} must be 32 bytes`);
    this.id = id;
    this.#encKey = createSecretKey(Buffer.from(hkdfSync('sha256', raw, 'tollgate-hop', 'enc', 32)));
  }

  /** The AES-256-GCM key of epoch `epochId` (22 base64url characters). */
  epochKey(epochId: string): KeyObject {
    let key = this.#epochs.get(epochId);
    if (key !== undefined) return key;
    key = createSecretKey(Buffer.from(hkdfSync('sha256', this.#encKey, Buffer.from(epochId, 'base64url'), 'tollgate-hop v2 epoch', 32)));
    if (this.#epochs.size >= EPOCHS_KEPT) this.#epochs.delete(this.#epochs.keys().next().value!);
    this.#epochs.set(epochId, key);
    return key;
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
