/**
 * What a call on either side of the hop keeps about it: the epoch key and the
 * message counter (together they make each direction's IVs), and the hop
 * settings the reply is encoded with.
 */
import type { KeyObject } from 'node:crypto';
import type { Config } from '../../config.ts';
import { MessageSeal, REPLY, REQUEST } from './frame-codec.ts';
import { replyBinding, type HopEncoding } from './hop-header.ts';

export class HopState {
  readonly key: KeyObject;
  readonly counter: number;
  readonly settings: Config['services']['hop'];

  constructor(key: KeyObject, counter: number, settings: Config['services']['hop']) {
    this.key = key;
    this.counter = counter;
    this.settings = settings;
  }

  /** The request body's seal; `binding` from requestBinding. */
  request(binding: string): MessageSeal {
    return new MessageSeal(this.key, this.counter, REQUEST, binding);
  }

  /** The reply's seal, bound to its status and encoding. */
  reply(status: number, enc: HopEncoding): MessageSeal {
    return new MessageSeal(this.key, this.counter, REPLY, replyBinding(status, enc));
  }
}
