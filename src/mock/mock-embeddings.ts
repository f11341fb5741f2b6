/**
 * Deterministic embeddings for the mock upstream: the same input text always maps to
 * the same unit vector, different texts to different ones, so tests can check a
 * gateway's caching and ordering without a model.
 */
import { countInputTokens, inputAt } from './mock-content.ts';

/** Vector length when the request names no `dimensions`. */
export const DEFAULT_EMBEDDING_DIMENSIONS = 8;
/** Largest `dimensions` accepted. */
export const MAX_EMBEDDING_DIMENSIONS = 4096;
/** Most inputs accepted in one request (OpenAI's limit). */
export const MAX_EMBEDDING_INPUTS = 2048;

// One vector is built at a time on the single JS thread, so module-level scratch
// space serves every request without per-request buffers.
const raw = new Float64Array(MAX_EMBEDDING_DIMENSIONS);
const packed = Buffer.allocUnsafe(MAX_EMBEDDING_DIMENSIONS * 4);

/**
 * The `data` list and usage of an embeddings response for `count` validated inputs.
 * Base64 vectors are little-endian float32 arrays, the encoding the openai client
 * requests by default and decodes; float vectors carry the same float32 values.
 */
export function composeEmbeddingsBody(input: unknown, count: number, model: string, dimensions: number, base64: boolean): string {
  let body = '{"object":"list","data":[';
  let tokens = 0;
  for (let i = 0; i < count; i++) {
    const item = inputAt(input, i);
    tokens += countInputTokens(item);
    fillVector(item, dimensions);
    body += (i === 0 ? '' : ',') + '{"object":"embedding","index":' + i + ',"embedding":';
    if (base64) {
      body += '"' + packed.toString('base64', 0, dimensions * 4) + '"}';
    } else {
      body += '[';
      for (let d = 0; d < dimensions; d++) body += (d === 0 ? '' : ',') + packed.readFloatLE(d * 4);
      body += ']}';
    }
  }
  return body + '],"model":' + JSON.stringify(model) + ',"usage":{"prompt_tokens":' + tokens + ',"total_tokens":' + tokens + '}}';
}

/** Writes the unit vector for `item` into `packed` as little-endian float32. */
function fillVector(item: string | readonly number[], dimensions: number): void {
  let state = seedOf(item) || 0x9e3779b9;
  let norm = 0;
  for (let d = 0; d < dimensions; d++) {
    // xorshift32: cheap, deterministic, and good enough to make vectors distinct.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const value = (state >>> 0) / 0x80000000 - 1;
    raw[d] = value;
    norm += value * value;
  }
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  for (let d = 0; d < dimensions; d++) packed.writeFloatLE(raw[d] * scale, d * 4);
}

/** FNV-1a over UTF-16 code units (text) or the token ids. */
function seedOf(item: string | readonly number[]): number {
  let hash = 0x811c9dc5;
  if (typeof item === 'string') {
    for (let i = 0; i < item.length; i++) hash = Math.imul(hash ^ item.charCodeAt(i), 0x01000193);
  } else {
    for (let i = 0; i < item.length; i++) hash = Math.imul(hash ^ item[i], 0x01000193);
  }
  return hash | 0;
}
