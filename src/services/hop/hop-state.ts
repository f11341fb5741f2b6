/**
 * What a call on either side of the hop keeps about it: the link key, the
 * request's nonce (text, and bytes for the frame IVs), and the hop settings
 * the reply is encoded with.
 */
import type { KeyObject } from 'node:crypto';
import type { Config } from '../../config.ts';
import type { LinkKey } from './link-key.ts';
import { messageKey } from './frame-codec.ts';

export class HopState {
  readonly key: LinkKey;
  readonly nonce: string;
  readonly nonceBytes: Buffer;
  readonly settings: Config['services']['hop'];

  constructor(key: LinkKey, nonce: string, settings: Config['services']['hop']) {
    this.key = key;
    this.nonce = nonce;
    this.nonceBytes = Buffer.from(nonce, 'base64url');
    this.settings = settings;
  }

  /** The request body's key. */
  requestKey(): KeyObject {
    return messageKey(this.key.encKey, this.nonceBytes, 'req');
  }

  /** The reply body's key. */
  replyKey(): KeyObject {
    return messageKey(this.key.encKey, this.nonceBytes, 'res');
  }
}
