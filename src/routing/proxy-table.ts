/**
 * The egress table: which outbound proxy an attempt leaves through. Built
 * from the store at start and on every 'proxies' change, then swapped in
 * whole (like the route table); selection reads Maps and arrays and bumps a
 * counter — O(1), no lock, no await.
 *
 *   - a client key bound to a proxy, else its user bound to one: always that
 *     proxy (a sticky egress address), cooling or not; bound to a disabled or
 *     removed proxy: refused, never sent another way;
 *   - else round-robin over the channel's own enabled proxies, or over the
 *     global pool when the channel has none, skipping proxies in cooldown
 *     unless all are; no proxies at all: direct.
 *
 * Each proxy has one dispatcher (proxy-dispatcher.ts), kept across rebuilds
 * while its address and credentials are unchanged, so its pooled connections
 * survive a reload; the rebuild closes the dispatchers it no longer uses
 * (gracefully: requests in flight finish). Health lives in the HealthBook
 * (`proxy:<id>`), so a rebuild keeps cooldowns too.
 */
import { createHash } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { nextReady, type HealthBook, type HealthState } from './channel-health.ts';
import { proxyDispatcher, type ProxyDispatcherOptions } from './proxy-dispatcher.ts';

/** A proxy as the store describes it (credentials opened). */
export interface ProxySpec {
  id: number;
  name: string;
  url: string;
  username: string | null;
  password: string | null;
  channelId: number | null;
  enabled: boolean;
}

export interface ProxyBindingSpec {
  scope: 'user' | 'key';
  subjectId: number;
  proxyId: number;
}

/** Per-proxy counters, owned by whoever reports them (metrics). */
export interface ProxyCounters {
  attempt(): void;
  /** A failure blamed on the proxy, by error class. */
  failure(errorClass: string): void;
  /** Time from dispatch to the attempt's end, in seconds. */
  done(seconds: number): void;
}

export interface ProxyRoute {
  readonly id: number;
  readonly name: string;
  readonly dispatcher: Dispatcher;
  readonly health: HealthState;
  readonly counters: ProxyCounters;
}

interface Pool { readonly members: readonly ProxyRoute[]; cursor: number }

/** Bound to a proxy that is disabled or gone: such traffic is refused. */
export const UNAVAILABLE_BINDING = 'unavailable';

interface Built extends ProxyRoute {
  /** A hash of what the dispatcher was made for (address, credentials); another one needs a new dispatcher. */
  readonly fingerprint: string;
}

export class ProxyTable {
  readonly proxies: readonly ProxyRoute[];
  readonly #built: readonly Built[];
  readonly #byKey: ReadonlyMap<number, ProxyRoute | typeof UNAVAILABLE_BINDING>;
  readonly #byUser: ReadonlyMap<number, ProxyRoute | typeof UNAVAILABLE_BINDING>;
  readonly #byChannel: ReadonlyMap<number, Pool>;
  readonly #global: Pool;

  /**
   * `previous`: the table being replaced, whose dispatchers are reused where
   * unchanged; call `retire(previous)` on the new table once it is in place.
   */
  constructor(specs: readonly ProxySpec[], bindings: readonly ProxyBindingSpec[], health: HealthBook, opts: ProxyDispatcherOptions, counters: (name: string) => ProxyCounters, previous: ProxyTable | null = null) {
    const reusable = new Map((previous === null ? [] : previous.#built).map((b) => [b.id, b]));
    const built: Built[] = [];
    const byId = new Map<number, Built>();
    const byChannel = new Map<number, ProxyRoute[]>();
    const global: ProxyRoute[] = [];
    for (const spec of specs) {
      if (!spec.enabled) continue;
      const fingerprint = createHash('sha256').update(JSON.stringify([spec.url, spec.username, spec.password])).digest('hex');
      const old = reusable.get(spec.id);
      const route: Built = old !== undefined && old.fingerprint === fingerprint && old.name === spec.name
        ? old
        : { id: spec.id, name: spec.name, dispatcher: proxyDispatcher(spec, opts), health: health.stateFor(`proxy:${spec.id}`), counters: counters(spec.name), fingerprint };
      built.push(route);
      byId.set(spec.id, route);
      if (spec.channelId === null) global.push(route);
      else {
        let list = byChannel.get(spec.channelId);
        if (list === undefined) byChannel.set(spec.channelId, (list = []));
        list.push(route);
      }
    }
    const byKey = new Map<number, ProxyRoute | typeof UNAVAILABLE_BINDING>();
    const byUser = new Map<number, ProxyRoute | typeof UNAVAILABLE_BINDING>();
    for (const b of bindings) (b.scope === 'key' ? byKey : byUser).set(b.subjectId, byId.get(b.proxyId) ?? UNAVAILABLE_BINDING);
    this.#built = built;
    this.proxies = built;
    this.#byKey = byKey;
    this.#byUser = byUser;
    this.#byChannel = new Map([...byChannel].map(([id, members]) => [id, { members, cursor: 0 }]));
    this.#global = { members: global, cursor: 0 };
  }

  /** The proxy a key (or else its user) is bound to; undefined when neither is bound. */
  bound(userId: number, keyId: number): ProxyRoute | typeof UNAVAILABLE_BINDING | undefined {
    return this.#byKey.get(keyId) ?? this.#byUser.get(userId);
  }

  /** How many proxies unbound traffic to this channel rotates over (0: it goes direct). */
  poolSize(channelId: number): number {
    return (this.#byChannel.get(channelId) ?? this.#global).members.length;
  }

  /** The next proxy for unbound traffic to a channel, skipping cooling ones unless all are; null: direct. */
  pick(channelId: number, now: number): ProxyRoute | null {
    const pool = this.#byChannel.get(channelId) ?? this.#global;
    return pool.members.length === 0 ? null : nextReady(pool.members, pool.cursor++, now);
  }

  /** Closes the dispatchers of `previous` that this table does not reuse; their requests in flight finish first. */
  async retire(previous: ProxyTable): Promise<void> {
    const kept = new Set(this.#built);
    await Promise.all(previous.#built.filter((b) => !kept.has(b)).map((b) => b.dispatcher.close()));
  }

  /** Closes every dispatcher (shutdown). */
  async close(): Promise<void> {
    await Promise.all(this.#built.map((b) => b.dispatcher.close()));
  }
}
