/**
 * OpenAI's Responses API as an upstream dialect: the same Bearer keys, headers
 * and `/v1` root as chat, a different answer shape. Its streams always end with
 * `response.completed` (or `response.incomplete` / `response.failed`), whose
 * response object carries the usage, so nothing is ever asked on the client's
 * behalf and nothing is filtered out.
 */
import { usageFromBody, usageFromObject } from '../token-usage.ts';
import type { Dialect, StreamEvents } from '../provider.ts';
import { openaiDialect } from './openai.ts';

const streamEvents: StreamEvents = {
  // response.output_text.delta and response.function_call_arguments.delta: both generated tokens.
  deltaMarks: ['"delta":"'],
  usageOf: (event) => usageFromObject(event.response?.usage),
  isUsageOnly: () => false,
  deltaText: (event) => (typeof event.type === 'string' && event.type.endsWith('.delta') ? event.delta : undefined),
};

export const responsesDialect: Dialect = {
  ...openaiDialect,
  protocol: 'responses',
  streamEvents,
  streamCarriesUsage: () => true,
  // Usage comes unasked, so the only change is a renamed model.
  upstreamBody: (body, json, rename) => (rename === undefined ? body : Buffer.from(JSON.stringify({ ...json, model: rename }))),
  bodyUsage: usageFromBody,
};
