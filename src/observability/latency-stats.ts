/**
 * Exact-to-a-precision latency and TTFT percentiles for GET /api/metrics.
 *
 * HDR histograms (hdr-histogram-js) with 3 significant digits: every reported
 * value is within 0.1% of the true recorded value (the histogram reports the
 * highest value equivalent to the bucket, so never below it). Values are
 * recorded in integer microseconds (range 1 µs .. 1 h, larger values are clamped)
 * and reported in milliseconds with 3 decimals.
 *
 * Engine: the WebAssembly build by default, because it measured faster here
 * (Node 24, 3 digits): `recordValue` ~20 ns WASM vs ~55 ns pure JS (Int32 counts;
 * the packed JS build ~480 ns), and per request (3 records, 6 when streamed,
 * bench/observability-bench.ts) ~120 ns vs ~300-340 ns. WASM histograms live in
 * WebAssembly memory that is not garbage-collected, hence `close()` (with a
 * finalizer as a safety net). `engine: 'js'` selects the pure-JS build.
 */
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, initWebAssemblySync, type Histogram } from 'hdr-histogram-js';
import { LabelCap } from './label-cap.ts';
import type { RequestOutcome } from './request-outcome.ts';

/** Largest recorded value in microseconds (1 hour); larger ones are clamped, bounding memory. */
const HIGHEST_US = 3_600_000_000;
const SIGNIFICANT_DIGITS = 3;

/** Stated precision, echoed in the snapshot so consumers need not guess. */
export const LATENCY_PRECISION = '3 significant digits (recorded in microseconds, reported in milliseconds)';

export interface LatencyStatsOptions {
  /** Distinct models and distinct channels tracked (each); the rest fold into "other". Default 50. */
  maxKeys?: number;
  /** 'wasm' (default, faster record) or 'js'. */
  engine?: 'wasm' | 'js';
}

/** Percentiles of one histogram, in milliseconds. */
export interface Percentiles {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Latency (all requests) and TTFT (streamed requests with a first token) of one group. */
export interface GroupStats {
  count: number;
  latency: Percentiles;
  ttft: Percentiles;
}

/** The JSON body of GET /api/metrics. */
export interface LatencySnapshot {
  since: string;
  precision: string;
  overall: GroupStats;
  models: Record<string, GroupStats>;
  channels: Record<string, GroupStats>;
}

/** One group's histograms in HDR's compressed encoding (to merge the workers' of `serve --workers N`). */
export interface EncodedGroup {
  latency: string;
  ttft: string | null;
}

/** Every histogram of one LatencyStats, encoded: what a worker sends for GET /api/metrics. */
export interface EncodedLatency {
  since: string;
  overall: EncodedGroup;
  models: Record<string, EncodedGroup>;
  channels: Record<string, EncodedGroup>;
}

/**
 * Latency and TTFT histograms of one group. Memory: ~4 KiB per doubling of the
 * largest value seen (auto-resizing from 2 µs), e.g. ~60 KiB for a histogram
 * whose max is 30 s; the TTFT histogram is created on the first streamed request.
 */
class Group {
  readonly latency: Histogram;
  ttft: Histogram | null = null;
  private readonly wasm: boolean;

  constructor(wasm: boolean) {
    this.wasm = wasm;
    this.latency = newHistogram(wasm);
  }

  record(latencyUs: number, ttftUs: number): void {
    this.latency.recordValue(latencyUs);
    if (ttftUs >= 0) (this.ttft ??= newHistogram(this.wasm)).recordValue(ttftUs);
  }

  stats(): GroupStats {
    return { count: this.latency.totalCount, latency: percentiles(this.latency), ttft: percentiles(this.ttft) };
  }

  reset(): void {
    this.latency.reset();
    this.ttft?.reset();
  }

  encode(): EncodedGroup {
    return { latency: encodeIntoCompressedBase64(this.latency), ttft: this.ttft === null ? null : encodeIntoCompressedBase64(this.ttft) };
  }

  /** Adds another process's (or worker's) counts into these histograms. */
  add(e: EncodedGroup): void {
    addEncoded(this.latency, e.latency);
    if (e.ttft !== null) addEncoded((this.ttft ??= newHistogram(this.wasm)), e.ttft);
  }

  destroy(): void {
    this.latency.destroy();
    this.ttft?.destroy();
  }
}

function newHistogram(wasm: boolean): Histogram {
  return build({
    bitBucketSize: 32,
    numberOfSignificantValueDigits: SIGNIFICANT_DIGITS,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 2,
    autoResize: true,
    useWebAssembly: wasm,
  });
}

function addEncoded(into: Histogram, base64: string): void {
  const h = decodeFromCompressedBase64(base64, 32, false);
  into.add(h);
  h.destroy();
}

function toMs(us: number): number {
  return Math.round(us) / 1000;
}

function percentiles(h: Histogram | null): Percentiles {
  const count = h === null ? 0 : h.totalCount;
  if (h === null || count === 0) return { count: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 };
  return {
    count,
    p50: toMs(h.getValueAtPercentile(50)),
    p95: toMs(h.getValueAtPercentile(95)),
    p99: toMs(h.getValueAtPercentile(99)),
    max: toMs(h.maxValue),
    mean: toMs(h.mean),
  };
}

function toUs(ms: number): number {
  if (!(ms > 0)) return 0;
  const us = Math.round(ms * 1000);
  return us > HIGHEST_US ? HIGHEST_US : us;
}

/** Every histogram of one LatencyStats, kept apart so a finalizer can free them without the instance. */
interface GroupSet {
  overall: Group;
  models: Map<string, Group>;
  channels: Map<string, Group>;
}

function destroyAll(set: GroupSet): void {
  set.overall.destroy();
  for (const g of set.models.values()) g.destroy();
  for (const g of set.channels.values()) g.destroy();
  set.models.clear();
  set.channels.clear();
}

/** Frees the WebAssembly memory of instances dropped without close(). */
const finalizer = new FinalizationRegistry<GroupSet>(destroyAll);

/** Latency and TTFT percentiles overall, per model and per channel, since start or last reset. */
export class LatencyStats {
  private readonly wasm: boolean;
  private readonly set: GroupSet;
  private readonly modelCap: LabelCap;
  private readonly channelCap: LabelCap;
  private since = new Date();
  private closed = false;

  constructor(opts: LatencyStatsOptions = {}) {
    this.wasm = (opts.engine ?? 'wasm') === 'wasm';
    if (this.wasm) initWebAssemblySync();
    const maxKeys = opts.maxKeys ?? 50;
    this.modelCap = new LabelCap(maxKeys);
    this.channelCap = new LabelCap(maxKeys);
    this.set = { overall: new Group(this.wasm), models: new Map(), channels: new Map() };
    if (this.wasm) finalizer.register(this, this.set, this);
  }

  /** Records one finished request. TTFT only for streamed requests with ttftMs >= 0. */
  record(o: RequestOutcome): void {
    if (this.closed) return;
    const latencyUs = toUs(o.latencyMs);
    const ttftUs = o.stream && o.ttftMs >= 0 ? toUs(o.ttftMs) : -1;
    const set = this.set;
    set.overall.record(latencyUs, ttftUs);
    if (o.model !== '') {
      (set.models.get(o.model) ?? this.resolve(set.models, this.modelCap, o.model, o)).record(latencyUs, ttftUs);
    }
    if (o.channel !== '') {
      (set.channels.get(o.channel) ?? this.resolve(set.channels, this.channelCap, o.channel, o)).record(latencyUs, ttftUs);
    }
  }

  /** The JSON for GET /api/metrics; groups with no request since the last reset are omitted. */
  snapshot(): LatencySnapshot {
    const empty = { count: 0, latency: percentiles(null), ttft: percentiles(null) };
    return {
      since: this.since.toISOString(),
      precision: LATENCY_PRECISION,
      overall: this.closed ? empty : this.set.overall.stats(),
      models: groupsToJson(this.set.models),
      channels: groupsToJson(this.set.channels),
    };
  }

  /** Every histogram, encoded, to be merged elsewhere with `merge`. */
  exportHistograms(): EncodedLatency {
    const encodeAll = (groups: Map<string, Group>) => Object.fromEntries([...groups].filter(([, g]) => g.latency.totalCount > 0).map(([k, g]) => [k, g.encode()]));
    return { since: this.since.toISOString(), overall: this.set.overall.encode(), models: encodeAll(this.set.models), channels: encodeAll(this.set.channels) };
  }

  /**
   * The snapshot of several workers' histograms together: counts are added,
   * so the percentiles are those of all their requests (not an average of
   * percentiles). `since` is the earliest.
   */
  static merge(parts: readonly EncodedLatency[]): LatencySnapshot {
    const all = new LatencyStats({ engine: 'js' });
    for (const p of parts) {
      all.set.overall.add(p.overall);
      for (const [k, e] of Object.entries(p.models)) mergeInto(all.set.models, k, e);
      for (const [k, e] of Object.entries(p.channels)) mergeInto(all.set.channels, k, e);
      if (p.since < all.since.toISOString()) all.since = new Date(p.since);
    }
    const snapshot = all.snapshot();
    all.close();
    return snapshot;
  }

  /** Clears every histogram (keys are kept so their slots stay spent); `since` becomes now. */
  reset(): void {
    if (this.closed) return;
    this.set.overall.reset();
    for (const g of this.set.models.values()) g.reset();
    for (const g of this.set.channels.values()) g.reset();
    this.since = new Date();
  }

  /**
   * Frees the histograms now (WebAssembly memory is not garbage-collected; an
   * instance dropped without close() is freed by a finalizer, later). Later
   * records are ignored and snapshots are empty.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    finalizer.unregister(this);
    destroyAll(this.set);
  }

  /** Cold path: bounds the key; raw keys that fold into "other" are not cached. */
  private resolve(groups: Map<string, Group>, cap: LabelCap, raw: string, o: RequestOutcome): Group {
    // Same rule as the metrics labels: a failed request that never reached an
    // upstream does not spend a slot on a name the client may have invented.
    const key = cap.bound(raw, o.attempts > 0 || o.status < 400);
    let g = groups.get(key);
    if (g === undefined) {
      g = new Group(this.wasm);
      groups.set(key, g);
    }
    return g;
  }
}

function mergeInto(groups: Map<string, Group>, key: string, e: EncodedGroup): void {
  let g = groups.get(key);
  if (g === undefined) {
    g = new Group(false);
    groups.set(key, g);
  }
  g.add(e);
}

function groupsToJson(groups: Map<string, Group>): Record<string, GroupStats> {
  const out: Record<string, GroupStats> = {};
  for (const [k, g] of groups) {
    if (g.latency.totalCount > 0) out[k] = g.stats();
  }
  return out;
}
