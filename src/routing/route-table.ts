/**
 * The routing table: client model → channels grouped by priority, built once from
 * the store whenever channels change and swapped in whole, so the hot path only
 * reads. Selection is weighted round-robin with a plain counter: JavaScript runs
 * one callback at a time, so an increment is already atomic — no lock, no await.
 */
import { nextReady, type HealthBook, type HealthState } from './channel-health.ts';
import type { ChannelType } from '../store/channel-repo.ts';
import type { Protocol } from '../edge/endpoints.ts';
import { providerFor } from '../providers/index.ts';

export type ProviderType = ChannelType;

/** A channel as the store (or the built-in mock) describes it. */
export interface ChannelSpec {
  id: number;
  name: string;
  type: ProviderType;
  baseUrl: string;
  weight: number;
  priority: number;
  enabled: boolean;
  /** ms; null or absent: none. */
  firstTokenTimeoutMs?: number | null;
  models: ReadonlyArray<{ model: string; upstreamModel: string }>;
  keys: ReadonlyArray<{ id: number; secret: string; enabled: boolean }>;
}

/** An upstream key with its auth header precomputed by its channel's provider. */
export interface UpstreamKey {
  readonly id: number;
  readonly authHeader: string;
  readonly authValue: string;
  /** The key itself, so an upstream error that echoes it can be scrubbed before anyone sees it. */
  readonly secret: string;
  readonly health: HealthState;
}

export interface ChannelRoute {
  readonly id: number;
  readonly name: string;
  readonly type: ProviderType;
  /** `http://host:port`, the undici pool key. */
  readonly origin: string;
  /** Prefix put before the client path with its leading `/v1` removed; '' means the client path is used as is. */
  readonly basePath: string;
  readonly health: HealthState;
  readonly keys: readonly UpstreamKey[];
  /** client model → upstream model, only for renamed models. */
  readonly renames: ReadonlyMap<string, string>;
  /** The protocols the channel's provider speaks natively; the first is the one translated requests use. */
  readonly protocols: readonly Protocol[];
  /** Streamed attempts fail over when no byte came within this many ms; 0: no limit. */
  readonly firstTokenTimeoutMs: number;
  keyCursor: number;
}

interface Tier { readonly channels: readonly ChannelRoute[]; readonly schedule: readonly number[]; cursor: number }
export interface ModelRoute { readonly model: string; readonly tiers: readonly Tier[] }
type Entry = { route: ChannelRoute; spec: ChannelSpec };

export class RouteTable {
  /** Per client protocol, the models served by the channels whose provider speaks it natively. */
  readonly byProtocol: { readonly [P in Protocol]: ReadonlyMap<string, ModelRoute> };
  /**
   * Every model of every channel, whichever protocol serves it: the routes of the
   * translatable endpoints (chat, Responses, Messages) and the GET /v1/models list.
   */
  readonly models: ReadonlyMap<string, ModelRoute>;
  readonly channels: readonly ChannelRoute[];
  /** Sorted model ids and the time the table was built (the models' `created`). */
  readonly modelIds: readonly string[];
  readonly builtAt: number;
  /** GET /v1/models in OpenAI's list shape, serialised once per table. */
  readonly modelsJson: Buffer;

  constructor(specs: readonly ChannelSpec[], health: HealthBook) {
    const channels: ChannelRoute[] = [];
    const all: Entry[] = [];
    const served = new Map<Protocol, Entry[]>();
    for (const spec of specs) {
      if (!spec.enabled) continue;
      const provider = providerFor(spec.type);
      const keys = spec.keys.filter((k) => k.enabled).map((k) => {
        const auth = provider.auth(k.secret);
        return { id: k.id, authHeader: auth.name, authValue: auth.value, secret: k.secret, health: health.stateFor(`key:${k.id}`) };
      });
      const url = new URL(spec.baseUrl);
      const path = url.pathname.replace(/\/+$/, '');
      const route: ChannelRoute = {
        id: spec.id,
        name: spec.name,
        type: spec.type,
        origin: url.origin,
        basePath: path === '' ? '' : path,
        health: health.stateFor(`channel:${spec.id}`),
        keys,
        renames: new Map(spec.models.filter((m) => m.upstreamModel !== m.model).map((m) => [m.model, m.upstreamModel])),
        protocols: provider.protocols,
        firstTokenTimeoutMs: spec.firstTokenTimeoutMs ?? 0,
        keyCursor: 0,
      };
      channels.push(route);
      all.push({ route, spec });
      for (const protocol of provider.protocols) {
        let list = served.get(protocol);
        if (list === undefined) served.set(protocol, (list = []));
        list.push({ route, spec });
      }
    }
    const native = (p: Protocol) => modelRoutes(served.get(p) ?? []);
    this.byProtocol = { openai: native('openai'), responses: native('responses'), anthropic: native('anthropic') };
    this.models = modelRoutes(all);
    this.channels = channels;
    this.modelIds = [...this.models.keys()].sort();
    this.builtAt = Math.floor(Date.now() / 1000);
    this.modelsJson = Buffer.from(JSON.stringify({ object: 'list', data: this.modelIds.map((id) => openaiModel(id, this.builtAt)) }));
  }

  /** The route of a client's model for an endpoint: any channel when the endpoint translates, else native ones only. */
  routeFor(endpoint: { readonly protocol: Protocol; readonly translatable: boolean }, model: string): ModelRoute | null {
    return (endpoint.translatable ? this.models : this.byProtocol[endpoint.protocol]).get(model) ?? null;
  }

  /**
   * The channels to try for one request, in order: the weighted pick of the top
   * tier, the rest of that tier, then lower tiers. Channels cooling down go last
   * (still tried: a cooldown is a preference, not an outage of the whole model).
   */
  attemptOrder(route: ModelRoute, maxAttempts: number, now: number): ChannelRoute[] {
    const ready: ChannelRoute[] = [];
    const cooling: ChannelRoute[] = [];
    for (const tier of route.tiers) {
      const n = tier.channels.length;
      const first = tier.schedule[tier.cursor++ % tier.schedule.length];
      for (let i = 0; i < n; i++) {
        const channel = tier.channels[(first + i) % n];
        (isCooling(channel, now) ? cooling : ready).push(channel);
      }
      if (ready.length >= maxAttempts) break;
    }
    for (const c of cooling) ready.push(c);
    if (ready.length > maxAttempts) ready.length = maxAttempts;
    return ready;
  }
}

/** A model in OpenAI's shape (GET /v1/models and /v1/models/{id}). */
export const openaiModel = (id: string, created: number) => ({ id, object: 'model', created, owned_by: 'tollgate' });

/** A model in Anthropic's shape (the same routes when the request carries `anthropic-version`). */
export const anthropicModel = (id: string, created: number) => ({ type: 'model', id, display_name: id, created_at: new Date(created * 1000).toISOString() });

/** Model → priority tiers of the channels that serve it. */
function modelRoutes(entries: readonly Entry[]): Map<string, ModelRoute> {
  const byModel = new Map<string, Entry[]>();
  for (const e of entries) {
    for (const m of e.spec.models) {
      let list = byModel.get(m.model);
      if (list === undefined) byModel.set(m.model, (list = []));
      list.push(e);
    }
  }
  const models = new Map<string, ModelRoute>();
  for (const [model, list] of byModel) {
    const priorities = [...new Set(list.map((e) => e.spec.priority))].sort((a, b) => b - a);
    const tiers = priorities.map((p) => {
      const members = list.filter((e) => e.spec.priority === p);
      return { channels: members.map((e) => e.route), schedule: smoothSchedule(members.map((e) => e.spec.weight)), cursor: 0 };
    });
    models.set(model, { model, tiers });
  }
  return models;
}

/** A channel cools down itself (connect errors, 5xx) or when every one of its keys does (401/403/429). */
function isCooling(channel: ChannelRoute, now: number): boolean {
  if (channel.health.cooldownUntil > now) return true;
  for (const key of channel.keys) if (key.health.cooldownUntil <= now) return false;
  return channel.keys.length > 0;
}

/** The protocol a channel is spoken to in for a client protocol: the client's own when the channel speaks it. */
export function upstreamProtocol(channel: ChannelRoute, client: Protocol): Protocol {
  return channel.protocols.includes(client) ? client : channel.protocols[0];
}

/** Round-robin over a channel's upstream keys, skipping keys in cooldown unless all are. */
export function pickKey(channel: ChannelRoute, now: number): UpstreamKey | null {
  return channel.keys.length === 0 ? null : nextReady(channel.keys, channel.keyCursor++, now);
}

/**
 * Smooth weighted round-robin (as in nginx): weights 5,1,1 give a a b a c a a —
 * interleaved rather than in bursts. Precomputed once per table build.
 */
function smoothSchedule(weights: readonly number[]): number[] {
  const w = weights.map((x) => Math.max(1, Math.floor(x)));
  const divisor = w.reduce(gcd);
  const scaled = w.map((x) => x / divisor);
  const total = scaled.reduce((a, b) => a + b, 0);
  if (total > 10_000) return w.map((_, i) => i); // absurd weights: fall back to plain rotation
  const current = scaled.map(() => 0);
  const schedule: number[] = [];
  for (let step = 0; step < total; step++) {
    let best = 0;
    for (let i = 0; i < scaled.length; i++) {
      current[i] += scaled[i];
      if (current[i] > current[best]) best = i;
    }
    current[best] -= total;
    schedule.push(best);
  }
  return schedule;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
