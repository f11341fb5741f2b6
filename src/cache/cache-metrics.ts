/**
 * Prometheus metrics of the two-level caches, on the gateway's registry:
 * lookups by cache, level and result, and what each L1 holds (bytes, entries),
 * read at scrape time. Counter children are resolved once per cache, so a
 * lookup costs a counter bump.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { CacheLevel, CacheObserver, TwoLevelCache } from './two-level-cache.ts';

export class CacheMetrics {
  readonly #lookups: Counter<'cache' | 'level' | 'result'>;
  readonly #caches: TwoLevelCache<unknown>[] = [];

  constructor(registry: Registry) {
    this.#lookups = new Counter({
      name: 'tollgate_cache_level_lookups_total',
      help: 'Two-level cache lookups, by cache (response, account), level (l1, l2) and result (hit, miss).',
      labelNames: ['cache', 'level', 'result'],
      registers: [registry],
    });
    const caches = this.#caches;
    new Gauge({
      name: 'tollgate_cache_bytes',
      help: 'Bytes held in the in-process level (L1) of a cache.',
      labelNames: ['cache'],
      registers: [registry],
      collect() {
        for (const c of caches) this.set({ cache: c.name }, c.bytes);
      },
    });
    new Gauge({
      name: 'tollgate_cache_entries',
      help: 'Entries held in the in-process level (L1) of a cache.',
      labelNames: ['cache'],
      registers: [registry],
      collect() {
        for (const c of caches) this.set({ cache: c.name }, c.entries);
      },
    });
  }

  /** The observer a cache named `name` reports its lookups to. */
  observerFor(name: string): CacheObserver {
    const child = (level: CacheLevel, result: 'hit' | 'miss') => this.#lookups.labels(name, level, result);
    const l1 = { hit: child('l1', 'hit'), miss: child('l1', 'miss') };
    const l2 = { hit: child('l2', 'hit'), miss: child('l2', 'miss') };
    return {
      lookup(level, hit) {
        const c = level === 'l1' ? l1 : l2;
        (hit ? c.hit : c.miss).inc();
      },
    };
  }

  /** Reports `cache`'s size at each scrape. */
  watch(cache: TwoLevelCache<unknown>): void {
    this.#caches.push(cache);
  }
}
