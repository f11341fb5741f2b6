/**
 * PriceBook lookups and the integer cost formula.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PriceBook, costMicros, type Price, type PriceRow } from '../src/metering/pricing.ts';

const row = (model: string, channelId: number | null, input: number, output: number, free = false): PriceRow => ({
  model,
  channelId,
  inputMicrosPerMTok: input,
  outputMicrosPerMTok: output,
  free,
});

const price = (input: number, output: number): Price => ({ model: 'm', channelId: null, inputMicrosPerMTok: input, outputMicrosPerMTok: output, cachedInputMicrosPerMTok: input, cacheWriteMicrosPerMTok: input, reasoningMicrosPerMTok: output, free: false });

/** The reference: exact in BigInt. */
function refCost(p: number, c: number, input: number, output: number): number {
  const num = BigInt(p) * BigInt(input) + BigInt(c) * BigInt(output);
  return Number((num + 999_999n) / 1_000_000n);
}

describe('PriceBook', () => {
  test('channel-specific row wins over the model-wide row', () => {
    const book = new PriceBook([row('gpt-x', null, 2_500_000, 10_000_000), row('gpt-x', 7, 1_000_000, 4_000_000)]);
    assert.equal(book.lookup('gpt-x', 7)?.inputMicrosPerMTok, 1_000_000);
    assert.equal(book.lookup('gpt-x', 8)?.inputMicrosPerMTok, 2_500_000);
    assert.equal(book.lookup('gpt-x', null)?.inputMicrosPerMTok, 2_500_000);
    // Same object each time: no allocation per lookup.
    assert.equal(book.lookup('gpt-x', 8), book.lookup('gpt-x', 9));
  });

  test('a model with only channel prices is unpriced on other channels', () => {
    const book = new PriceBook([row('only-7', 7, 1, 1)]);
    assert.notEqual(book.lookup('only-7', 7), null);
    assert.equal(book.lookup('only-7', 8), null);
    assert.equal(book.lookup('only-7', null), null);
  });

  test('unknown model is null; free-by-default models are free until the operator prices them', () => {
    const book = new PriceBook([], ['mock-gpt']);
    assert.equal(book.lookup('gpt-unknown', 1), null);
    const free = book.lookup('mock-gpt', 3);
    assert.ok(free?.free);
    assert.equal(costMicros(free!, 1_000_000, 1_000_000), 0);

    book.replace([row('mock-gpt', null, 1_000_000, 2_000_000)]);
    const priced = book.lookup('mock-gpt', 3)!;
    assert.equal(priced.free, false);
    assert.equal(costMicros(priced, 1_000_000, 1_000_000), 3_000_000);
  });

  test('an operator row marked free makes the model free', () => {
    const book = new PriceBook([row('gift', null, 5_000_000, 5_000_000, true)]);
    assert.equal(costMicros(book.lookup('gift', null)!, 1000, 1000), 0);
  });

  test('replace swaps the whole table', () => {
    const book = new PriceBook([row('a', null, 1, 1)]);
    book.replace([row('b', null, 1, 1)]);
    assert.equal(book.lookup('a', null), null);
    assert.notEqual(book.lookup('b', null), null);
  });

  test('malformed rows are refused with the row named', () => {
    assert.throws(() => new PriceBook([row('bad', null, 1.5, 1)]), /bad.*inputMicrosPerMTok/);
    assert.throws(() => new PriceBook([row('neg', 2, 1, -1)]), /neg.*outputMicrosPerMTok/);
  });
});

describe('costMicros', () => {
  test('rounds up to the next micro-credit, exactly', () => {
    const p = price(2_500_000, 10_000_000); // $2.50 / $10 per 1M tokens
    assert.equal(costMicros(p, 0, 0), 0);
    assert.equal(costMicros(p, 1, 0), 3); // 2.5 → 3
    assert.equal(costMicros(p, 2, 0), 5);
    assert.equal(costMicros(p, 1000, 500), 7_500); // 2_500_000_000 + 5_000_000_000 = 7.5e9 / 1e6
    assert.equal(costMicros(price(1, 1), 1, 0), 1); // 1e-6 → 1
    assert.equal(costMicros(price(1_000_000, 0), 123_456, 99), 123_456);
  });

  test('matches a BigInt reference on many inputs, including near 2^53', () => {
    let x = 12345;
    const rand = (max: number) => {
      x = (x * 1103515245 + 12345) % 2147483648;
      return Math.floor((x / 2147483648) * max);
    };
    for (let i = 0; i < 2000; i++) {
      const p = rand(2_000_000);
      const c = rand(200_000);
      const input = rand(100_000_000);
      const output = rand(400_000_000);
      assert.equal(costMicros(price(input, output), p, c), refCost(p, c, input, output), `${p} ${c} ${input} ${output}`);
    }
    // Just below and above the fast path's bound.
    const nearMax = [
      [90_071_992, 100_000_000, 0, 0],
      [90_071_993, 100_000_000, 0, 0],
      [2 ** 26, 2 ** 26, 2 ** 26, 2 ** 26],
      [1e9, 9e6, 1e9, 9e6],
      [1e12, 1e9, 1e12, 1e9], // far past 2^53: the BigInt path
    ];
    for (const [p, input, c, output] of nearMax) {
      const got = costMicros(price(input, output), p, c);
      assert.ok(Number.isSafeInteger(got));
      assert.equal(got, Math.min(refCost(p, c, input, output), Number.MAX_SAFE_INTEGER), `${p} ${input} ${c} ${output}`);
    }
  });

  test('results past 2^53 − 1 are clamped, never a float', () => {
    const got = costMicros(price(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER, 5);
    assert.equal(got, Number.MAX_SAFE_INTEGER);
  });

  test('garbage token counts never make money fractional or negative', () => {
    const p = price(3_000_000, 3_000_000);
    assert.equal(costMicros(p, -5, -5), 0);
    assert.equal(costMicros(p, Number.NaN, 0), 0);
    assert.equal(costMicros(p, 0.5, 0), 3); // fraction of a token rounds up to one token
    assert.equal(costMicros(p, Number.POSITIVE_INFINITY, 0), refCost(Number.MAX_SAFE_INTEGER, 0, 3_000_000, 0) > Number.MAX_SAFE_INTEGER ? Number.MAX_SAFE_INTEGER : refCost(Number.MAX_SAFE_INTEGER, 0, 3_000_000, 0));
  });
});
