/**
 * Anthropic's Messages API: `x-api-key` keys, an `anthropic-version` header on
 * every call, and usage in every stream — input tokens in `message_start`,
 * output tokens in `message_delta` — so the gateway never has to ask for it.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { mergeAnthropicStreamUsage, usageFromBody, usageFromObject } from '../token-usage.ts';
import { jsonErrorMessage } from '../error-body.ts';
import type { Dialect, Provider, StreamEvents } from '../provider.ts';

/** Sent when the client names no version of its own. */
const ANTHROPIC_VERSION = '2023-06-01';

const streamEvents: StreamEvents = {
  // content_block_delta: {"delta":{"type":"text_delta","text":"…"}}
  deltaMarks: ['"text":"'],
  usageOf: (event) => usageFromObject(event.usage ?? event.message?.usage),
  mergeUsage: (into, event) => mergeAnthropicStreamUsage(into, event.usage ?? event.message?.usage),
  isUsageOnly: () => false,
  deltaText: (event) => event.delta?.text,
};

export const anthropicDialect: Dialect = {
  protocol: 'anthropic',
  streamEvents,
  streamCarriesUsage: () => true,
  upstreamPath: (basePath, endpointPath) => (basePath === '' ? '/v1' + endpointPath : basePath + endpointPath),
  upstreamHeaders(client: IncomingHttpHeaders, stream: boolean, authName: string, authValue: string): Record<string, string> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: stream ? 'text/event-stream' : 'application/json' };
    headers[authName] = authValue;
    headers['anthropic-version'] = typeof client['anthropic-version'] === 'string' ? client['anthropic-version'] : ANTHROPIC_VERSION;
    if (typeof client['anthropic-beta'] === 'string') headers['anthropic-beta'] = client['anthropic-beta'];
    return headers;
  },
  // Streams carry usage unasked, so the only change is a renamed model.
  upstreamBody: (body, json, rename) => (rename === undefined ? body : Buffer.from(JSON.stringify({ ...json, model: rename }))),
  bodyUsage: usageFromBody,
  errorMessage: jsonErrorMessage,
};

export const anthropicProvider: Provider = {
  type: 'anthropic',
  protocols: ['anthropic'],
  auth: (secret) => ({ name: 'x-api-key', value: secret }),
};
