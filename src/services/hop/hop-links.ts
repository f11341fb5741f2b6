/**
 * The two ends of the secure hop as a node configures them: where an egress
 * sends remote services (with its epoch of message counters), and what an
 * ingress accepts.
 */
import { EpochSequence } from './hop-epoch.ts';
import { MuxClient } from './mux/mux-client.ts';
import type { LinkKey, LinkKeyRing } from './link-key.ts';
import type { ReplayCheck } from './replay-guard.ts';

/** Where and how this node forwards remote services. */
export class EgressLink {
  readonly origin: string;
  readonly basePath: string;
  readonly key: LinkKey;
  readonly epochs: EpochSequence;
  /** The multiplexed connection for calls whose body is held whole; null with `hop.transport: http`. */
  readonly mux: MuxClient | null;

  constructor(ingressUrl: string, key: LinkKey, transport: 'mux' | 'http') {
    const u = new URL(ingressUrl);
    this.origin = u.origin;
    this.basePath = u.pathname.endsWith('/') ? u.pathname.slice(0, -1) : u.pathname;
    this.key = key;
    this.epochs = new EpochSequence(key);
    this.mux = transport === 'mux' ? new MuxClient(this.origin, this.basePath) : null;
  }
}

/** What this node accepts from egress nodes. */
export interface IngressLink { readonly keys: LinkKeyRing; readonly guard: ReplayCheck }
