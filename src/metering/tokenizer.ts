/**
 * gpt-tokenizer (o200k_base), loaded on first use instead of at start-up: its
 * merge tables are ~74 MB of heap, which every major GC walks, and most
 * gateways never need them — the credit reservation uses a byte bound
 * (token-estimate.ts) and upstreams that report usage are billed from it.
 * count_tokens, answers without usage and the built-in mock count exactly and
 * load it then (once; the first call takes ~100 ms).
 *
 * Loaded with require() because the first count happens inside a synchronous
 * path (settling a request): the package ships a CommonJS build for that.
 */
import { createRequire } from 'node:module';

type Tokenizer = typeof import('gpt-tokenizer');

let loaded: Tokenizer | null = null;

/** The tokenizer module, loaded on the first call. */
export function tokenizer(): Tokenizer {
  loaded ??= createRequire(import.meta.url)('gpt-tokenizer') as Tokenizer;
  return loaded;
}

/** True once something has counted exactly (for tests and the footprint report). */
export function tokenizerLoaded(): boolean {
  return loaded !== null;
}
