/**
 * The exact response cache for model calls: which requests use it, under
 * which key, and what a hit costs. The entries live in a TwoLevelCache; the
 * stages that read and fill it are in src/gateway/cache-stage.ts.
 *
 * A request uses the cache when it asks to (`x-tollgate-cache: use` or
 * `refresh`), or its key opted in, or its model is in `cache.models` ('*':
 * every model); `x-tollgate-cache: skip` opts a request out whatever the rest says.
 */
import { requestKey } from './request-key.ts';
import type { TwoLevelCache } from './two-level-cache.ts';
import type { CachedAnswer } from './cached-answer.ts';

/** What a request does with the cache: look up and fill it, fill it without looking (`refresh`), or neither. */
export type CacheMode = 'use' | 'refresh' | 'bypass';
/** The x-tollgate-cache-status response header. */
export type CacheStatus = 'hit' | 'miss' | 'bypass' | 'refresh';

export interface ResponseCacheSettings {
  /** Models cached for every key; '*' in the list: all. */
  models: readonly string[];
  /** One entry per request for every user (true), or one per user (false). */
  shared: boolean;
  /** A larger answer is delivered but not stored. */
  maxEntryBytes: number;
  /** A hit costs this many thousandths of what the original answer would cost now (0: free). */
  hitPricePermille: number;
}

export class ResponseCache {
  readonly entries: TwoLevelCache<CachedAnswer>;
  readonly maxEntryBytes: number;
  readonly #models: ReadonlySet<string>;
  readonly #allModels: boolean;
  readonly #shared: boolean;
  readonly #hitPricePermille: number;

  constructor(settings: ResponseCacheSettings, entries: TwoLevelCache<CachedAnswer>) {
    this.entries = entries;
    this.maxEntryBytes = settings.maxEntryBytes;
    this.#models = new Set(settings.models);
    this.#allModels = this.#models.has('*');
    this.#shared = settings.shared;
    this.#hitPricePermille = settings.hitPricePermille;
  }

  /**
   * The request's mode from its header (undefined when absent), its key's
   * opt-in and its model; null for a header value that is none of
   * use/refresh/skip (the client gets a 400).
   */
  modeFor(header: string | string[] | undefined, keyOptedIn: boolean, model: string): CacheMode | null {
    if (header === undefined) return keyOptedIn || this.#allModels || this.#models.has(model) ? 'use' : 'bypass';
    if (header === 'use') return 'use';
    if (header === 'refresh') return 'refresh';
    if (header === 'skip') return 'bypass';
    return null;
  }

  /** The entry key of a request (see request-key.ts); throws RangeError for a body nested too deeply. */
  keyFor(endpointPath: string, userId: number, body: Record<string, unknown>): string {
    return requestKey(endpointPath, this.#shared ? 'shared' : `u${userId}`, body);
  }

  /** What a hit is charged, from the original answer's cost at today's price; rounded up, in micro-credits. */
  hitCost(originalMicros: number): number {
    if (this.#hitPricePermille === 0 || originalMicros <= 0) return 0;
    return Math.ceil((originalMicros * this.#hitPricePermille) / 1000);
  }
}
