/**
 * The translations the gateway performs, one per (client protocol, upstream
 * protocol) pair it can bridge. A channel is spoken to in its provider's first
 * protocol when it does not speak the client's, so four directions cover every
 * channel type: chat ⇄ Messages, and Responses → chat or Messages.
 */
import type { Protocol } from '../../edge/endpoints.ts';
import { chatToAnthropicRequest } from './request-chat-to-anthropic.ts';
import { anthropicToChatRequest } from './request-anthropic-to-chat.ts';
import { responsesToAnthropicRequest, responsesToChatRequest } from './request-responses.ts';
import { anthropicToChatCompletion, anthropicToResponse, chatCompletionToAnthropic, chatCompletionToResponse } from './response-translate.ts';
import { anthropicToChatStream, anthropicToResponsesStream, chatToAnthropicStream, chatToResponsesStream, type StreamTranslator } from './stream-translator.ts';
import { anthropicErrorBody, openaiErrorBody } from './error-shape.ts';

/** How one request and its answer cross from the client's protocol to the upstream's and back. */
export interface Translation {
  readonly client: Protocol;
  readonly upstream: Protocol;
  /** The upstream endpoint path, relative to the `/v1` root. */
  readonly upstreamPath: string;
  /** The upstream request for the client's parsed body; throws TranslationError for what has no equivalent. */
  request(json: Record<string, any>): object;
  /** A translator for a streamed answer (one per attempt). */
  stream(json: Record<string, any>): StreamTranslator;
  /** A parsed non-streamed upstream answer → the client's body; throws TypeError when it is not the upstream protocol's shape. */
  answer(body: unknown, json: Record<string, any>): object;
}

const wantsStreamUsage = (json: Record<string, any>) => json.stream_options?.include_usage === true;

const DIRECTIONS: readonly Translation[] = [
  {
    client: 'openai', upstream: 'anthropic', upstreamPath: '/messages',
    request: (json) => chatToAnthropicRequest(json),
    stream: (json) => anthropicToChatStream(wantsStreamUsage(json)),
    answer: (body) => anthropicToChatCompletion(body),
  },
  {
    client: 'anthropic', upstream: 'openai', upstreamPath: '/chat/completions',
    request: (json) => anthropicToChatRequest(json),
    stream: () => chatToAnthropicStream(),
    answer: (body) => chatCompletionToAnthropic(body),
  },
  {
    client: 'responses', upstream: 'openai', upstreamPath: '/chat/completions',
    request: (json) => responsesToChatRequest(json),
    stream: (json) => chatToResponsesStream(json),
    answer: (body, json) => chatCompletionToResponse(body, json),
  },
  {
    client: 'responses', upstream: 'anthropic', upstreamPath: '/messages',
    request: (json) => responsesToAnthropicRequest(json),
    stream: (json) => anthropicToResponsesStream(json),
    answer: (body, json) => anthropicToResponse(body, json),
  },
];

/** The translation from `client` to `upstream`, or null when the gateway has none. */
export function translationBetween(client: Protocol, upstream: Protocol): Translation | null {
  return DIRECTIONS.find((t) => t.client === client && t.upstream === upstream) ?? null;
}

/** An error body in the client's protocol: Anthropic's shape on Messages, OpenAI's elsewhere. */
export function clientErrorBody(client: Protocol, status: number, message: string, param: string | null = null, code: string | null = null): string {
  return client === 'anthropic' ? anthropicErrorBody(status, message) : openaiErrorBody(status, message, param, code);
}
