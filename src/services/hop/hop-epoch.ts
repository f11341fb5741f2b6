/**
 * Egress epochs. Deriving a key per message (HKDF, a KeyObject, the AES key
 * schedule) was the largest single cost of a hop call. Instead an egress picks
 * a random 128-bit epoch id when it starts (each process and each worker
 * thread its own), both ends derive the epoch's key once, and each message
 * takes the next 48-bit counter of the epoch: counter and direction make the
 * IV (frame-codec.ts), so no IV repeats under a key without any per-message
 * derivation. A fresh epoch is started long before the counter could wrap.
 *
 * The counter is also the message's replay id (with the epoch id): unique,
 * and only remembered by an ingress after the message authenticated.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import type { LinkKey } from './link-key.ts';

/** Messages per epoch: far below the 48-bit counter, and below the usual 2^32 invocations per AES-GCM key. */
export const MESSAGES_PER_EPOCH = 2 ** 32;

export class Epoch {
  /** 16 random bytes, base64url (22 characters). */
  readonly id: string;
  readonly key: KeyObject;

  constructor(link: LinkKey) {
    this.id = randomBytes(16).toString('base64url');
    this.key = link.epochKey(this.id);
  }
}

/** The egress side: the current epoch and the next message counter. */
export class EpochSequence {
  readonly #link: LinkKey;
  #epoch: Epoch;
  #next = 0;

  constructor(link: LinkKey) {
    this.#link = link;
    this.#epoch = new Epoch(link);
  }

  /** The counter of a new message, in `current` (read it after `take`: a take may start a new epoch). */
  take(): number {
    if (this.#next === MESSAGES_PER_EPOCH) {
      this.#epoch = new Epoch(this.#link);
      this.#next = 0;
    }
    return this.#next++;
  }

  get current(): Epoch {
    return this.#epoch;
  }
}
