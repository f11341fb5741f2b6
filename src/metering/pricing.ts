/**
 * The price table the hot path consults: which models may be served and what
 * a request costs, in integer micro-credits.
 *
 * Lookup is two Map probes and returns a shared, frozen object, so it
 * allocates nothing per request. A change event of kind 'prices' makes the
 * composition root reload the rows and call `replace`, which swaps the whole
 * table in one assignment: a request sees either the old or the new table.
 */
import type { StoredPrice } from '../store/price-repo.ts';

/** One price row as the store lists it (its `id` is not needed here). */
export type PriceRow = Pick<StoredPrice, 'model' | 'channelId' | 'inputMicrosPerMTok' | 'outputMicrosPerMTok' | 'free'>
  & Partial<Pick<StoredPrice, 'cachedInputMicrosPerMTok' | 'cacheWriteMicrosPerMTok' | 'reasoningMicrosPerMTok'>>;

/** A resolved price; `free` prices cost 0 whatever the per-token figures say. */
export interface Price {
  readonly model: string;
  /** null: the model-wide price (or a built-in free default). */
  readonly channelId: number | null;
  readonly inputMicrosPerMTok: number;
  readonly outputMicrosPerMTok: number;
  /** Prompt tokens read from the prompt cache; the input price when not set. */
  readonly cachedInputMicrosPerMTok: number;
  /** Prompt tokens written to the prompt cache; the input price when not set. */
  readonly cacheWriteMicrosPerMTok: number;
  /** Reasoning tokens; the output price when not set. */
  readonly reasoningMicrosPerMTok: number;
  readonly free: boolean;
}

/** Prices of one model: the model-wide row and the channel-specific overrides. */
interface ModelEntry {
  any: Price | null;
  byChannel: Map<number, Price> | null;
}

const MICROS_PER_MTOK_DIVISOR = 1_000_000;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const BIG_DIVISOR = 1_000_000n;
const BIG_ROUND_UP = 999_999n;

/**
 * Token counts come from upstreams and tokenizers; a negative, fractional or
 * non-numeric count must not make money fractional. Fractions round up
 * (never undercharge), garbage counts as 0, and anything past 2^53 is clamped.
 */
function tokenCount(n: number): number {
  if (!(n > 0)) return 0; // also NaN and non-numbers
  if (n >= MAX_SAFE) return MAX_SAFE;
  return Math.ceil(n);
}

/**
 * Cost of a request in micro-credits, exact in integers:
 *   ceil((uncached·in + cached·cachedIn + cacheWrite·write + visible·out + reasoning·reasoningOut) / 10^6)
 * where the kinds are parts of the totals (usage-normalized.ts): uncached = prompt − cached −
 * cacheWrite, visible = completion − reasoning. Without kinds it is (prompt·in + completion·out).
 
 *
 * Bound: the fast path is taken when the sum stays ≤ 2^53 − 1, so every
 * intermediate is an exact integer double. Realistic inputs stay far below it
 * (10^7 tokens × 10^8 micros/MTok = 10^15 < 9·10^15). The test is sound even
 * though it is made on rounded doubles: rounding is monotone and 2^53 is
 * representable, so a true product or sum above 2^53 − 1 rounds to ≥ 2^53 and
 * fails the test. Past the bound the same formula runs in BigInt (slow but
 * exact), and a result above 2^53 − 1 micro-credits (≈ 9·10^9 credits) is
 * clamped: such a charge is already a refusal, never a rounding question.
 */
export function costMicros(price: Price, promptTokens: number, completionTokens: number, cachedTokens = 0, cacheWriteTokens = 0, reasoningTokens = 0): number {
  if (price.free) return 0;
  const prompt = tokenCount(promptTokens);
  const completion = tokenCount(completionTokens);
  // Parts never exceed their whole, whatever the counts say.
  const cached = Math.min(tokenCount(cachedTokens), prompt);
  const written = Math.min(tokenCount(cacheWriteTokens), prompt - cached);
  const reasoning = Math.min(tokenCount(reasoningTokens), completion);
  const p = prompt - cached - written;
  const c = completion - reasoning;
  const sum = p * price.inputMicrosPerMTok + cached * price.cachedInputMicrosPerMTok + written * price.cacheWriteMicrosPerMTok +
    c * price.outputMicrosPerMTok + reasoning * price.reasoningMicrosPerMTok;
  if (sum <= MAX_SAFE) {
    // % on integer doubles is exact; (sum - rem) is a multiple of 10^6, so the
    // division is exact too. No float rounding can flip the ceiling.
    const rem = sum % MICROS_PER_MTOK_DIVISOR;
    return (sum - rem) / MICROS_PER_MTOK_DIVISOR + (rem > 0 ? 1 : 0);
  }
  const big =
    (BigInt(p) * BigInt(price.inputMicrosPerMTok) + BigInt(cached) * BigInt(price.cachedInputMicrosPerMTok) +
      BigInt(written) * BigInt(price.cacheWriteMicrosPerMTok) + BigInt(c) * BigInt(price.outputMicrosPerMTok) +
      BigInt(reasoning) * BigInt(price.reasoningMicrosPerMTok) + BIG_ROUND_UP) /
    BIG_DIVISOR;
  return big > BigInt(MAX_SAFE) ? MAX_SAFE : Number(big);
}

function checkMicros(row: PriceRow, field: 'inputMicrosPerMTok' | 'outputMicrosPerMTok' | 'cachedInputMicrosPerMTok' | 'cacheWriteMicrosPerMTok' | 'reasoningMicrosPerMTok'): void {
  const v = row[field];
  if (v === null || v === undefined) {
    if (field === 'inputMicrosPerMTok' || field === 'outputMicrosPerMTok') throw new RangeError(`price of ${row.model}: ${field} is required`);
    return;
  }
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`price of ${row.model} (channel ${String(row.channelId)}): ${field} must be a non-negative integer, got ${String(v)}`);
  }
}

function freePrice(model: string): Price {
  return Object.freeze({ model, channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 0, cachedInputMicrosPerMTok: 0, cacheWriteMicrosPerMTok: 0, reasoningMicrosPerMTok: 0, free: true });
}

function buildTable(rows: readonly PriceRow[], freeModels: ReadonlySet<string>): Map<string, ModelEntry> {
  const table = new Map<string, ModelEntry>();
  // Free defaults first: an operator's row for the same model replaces them.
  for (const model of freeModels) table.set(model, { any: freePrice(model), byChannel: null });
  for (const row of rows) {
    for (const field of ['inputMicrosPerMTok', 'outputMicrosPerMTok', 'cachedInputMicrosPerMTok', 'cacheWriteMicrosPerMTok', 'reasoningMicrosPerMTok'] as const) checkMicros(row, field);
    const price: Price = Object.freeze({
      model: row.model,
      channelId: row.channelId ?? null,
      inputMicrosPerMTok: row.inputMicrosPerMTok,
      outputMicrosPerMTok: row.outputMicrosPerMTok,
      cachedInputMicrosPerMTok: row.cachedInputMicrosPerMTok ?? row.inputMicrosPerMTok,
      cacheWriteMicrosPerMTok: row.cacheWriteMicrosPerMTok ?? row.inputMicrosPerMTok,
      reasoningMicrosPerMTok: row.reasoningMicrosPerMTok ?? row.outputMicrosPerMTok,
      free: row.free,
    });
    let entry = table.get(row.model);
    if (entry === undefined) {
      entry = { any: null, byChannel: null };
      table.set(row.model, entry);
    }
    if (price.channelId === null) entry.any = price;
    else (entry.byChannel ??= new Map()).set(price.channelId, price);
  }
  return table;
}

/** The live price table. */
export class PriceBook {
  #table: Map<string, ModelEntry>;
  readonly #freeModels: ReadonlySet<string>;

  /**
   * @param rows the store's price rows (`store.prices.list()`); a malformed
   *   row is a RangeError naming it (the price repo refuses such rows anyway).
   * @param freeModels models served free when no row prices them, e.g. the
   *   built-in mock channel's models.
   */
  constructor(rows: readonly PriceRow[], freeModels: Iterable<string> = []) {
    this.#freeModels = new Set(freeModels);
    this.#table = buildTable(rows, this.#freeModels);
  }

  /**
   * The price of `model` on `channelId`: the channel's own row wins over the
   * model-wide row. null: not priced, so the request must be refused
   * (403 model_not_priced) before it reaches an upstream.
   */
  lookup(model: string, channelId: number | null): Price | null {
    const entry = this.#table.get(model);
    if (entry === undefined) return null;
    if (channelId !== null && entry.byChannel !== null) {
      const own = entry.byChannel.get(channelId);
      if (own !== undefined) return own;
    }
    return entry.any;
  }

  /** Swaps in a new table (after a 'prices' change event); built fully before the swap. */
  replace(rows: readonly PriceRow[]): void {
    this.#table = buildTable(rows, this.#freeModels);
  }
}
