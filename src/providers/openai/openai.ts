/**
 * OpenAI and every OpenAI-compatible API: Bearer keys, chat/completions/
 * embeddings under `/v1`, usage in the final stream event only when asked
 * for with `stream_options.include_usage`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { usageFromBody, usageFromObject } from '../token-usage.ts';
import { jsonErrorMessage } from '../error-body.ts';
import type { AuthHeader, Dialect, Provider, StreamEvents } from '../provider.ts';

const INCLUDE_USAGE = Buffer.from('{"stream_options":{"include_usage":true},');

/** `Authorization: Bearer <key>`, shared by the OpenAI-compatible providers. */
export const bearerAuth = (secret: string): AuthHeader => ({ name: 'authorization', value: `Bearer ${secret}` });

const streamEvents: StreamEvents = {
  // Chat deltas carry `content`, legacy completions `text`.
  deltaMarks: ['"content":"', '"text":"'],
  usageOf: (event) => usageFromObject(event.usage),
  // The include_usage event: `"choices":[]` and the usage object.
  isUsageOnly: (event) => Array.isArray(event.choices) && event.choices.length === 0,
  deltaText: (event) => event.choices?.[0]?.delta?.content ?? event.choices?.[0]?.text,
};

export const openaiDialect: Dialect = {
  protocol: 'openai',
  streamEvents,
  streamCarriesUsage: (json) => json.stream_options?.include_usage === true,
  upstreamPath: (basePath, endpointPath) => (basePath === '' ? '/v1' + endpointPath : basePath + endpointPath),
  upstreamHeaders(_client: IncomingHttpHeaders, stream: boolean, authName: string, authValue: string): Record<string, string> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: stream ? 'text/event-stream' : 'application/json' };
    headers[authName] = authValue;
    return headers;
  },
  upstreamBody(body, json, rename, askStreamUsage) {
    if (rename === undefined && !askStreamUsage) return body;
    // The common change — adding stream_options — is a splice after the opening brace, not a re-serialisation.
    if (rename === undefined && json.stream_options === undefined) {
      const brace = body.indexOf(0x7b);
      return Buffer.concat([INCLUDE_USAGE, body.subarray(brace + 1)]);
    }
    const copy: Record<string, any> = { ...json };
    if (rename !== undefined) copy.model = rename;
    if (askStreamUsage) copy.stream_options = { ...json.stream_options, include_usage: true };
    return Buffer.from(JSON.stringify(copy));
  },
  bodyUsage: usageFromBody,
  errorMessage: jsonErrorMessage,
};

/**
 * OpenAI serves chat and the Responses API natively; Anthropic Messages reach it
 * translated to chat (the first protocol listed is the translation target).
 */
export const openaiProvider: Provider = { type: 'openai', protocols: ['openai', 'responses'], auth: bearerAuth };

/**
 * An OpenAI-compatible server without the Responses API (many self-hosted ones):
 * chat, completions and embeddings natively; Responses and Messages translated to chat.
 */
export const openaiCompatibleProvider: Provider = { type: 'openai-compatible', protocols: ['openai'], auth: bearerAuth };
