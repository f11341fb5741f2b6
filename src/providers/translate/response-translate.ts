/**
 * Non-streamed upstream bodies → the client's body, in the four directions the
 * gateway needs. Each reads the upstream body into an {@link Answer} and writes it
 * in the client's shape; a body that is not what the upstream protocol promises
 * throws TypeError (the gateway answers 502).
 */
import { answerFromAnthropicMessage, answerFromChatCompletion } from './answer-read.ts';
import { answerToAnthropicMessage, answerToChatCompletion, answerToResponse, type ResponsesEcho } from './answer-write.ts';
import type { AnthropicResponse } from './anthropic-wire.ts';
import type { ChatCompletion } from './chat-wire.ts';
import type { ResponsesResponse } from './responses-wire.ts';

/** A chat completion → an Anthropic message. */
export function chatCompletionToAnthropic(body: unknown): AnthropicResponse {
  return answerToAnthropicMessage(answerFromChatCompletion(body));
}

/** An Anthropic message → a chat completion. */
export function anthropicToChatCompletion(body: unknown): ChatCompletion {
  return answerToChatCompletion(answerFromAnthropicMessage(body));
}

/** A chat completion → a Responses object; `echo` is the client's Responses request. */
export function chatCompletionToResponse(body: unknown, echo: ResponsesEcho = {}): ResponsesResponse {
  return answerToResponse(answerFromChatCompletion(body), echo);
}

/** An Anthropic message → a Responses object. */
export function anthropicToResponse(body: unknown, echo: ResponsesEcho = {}): ResponsesResponse {
  return answerToResponse(answerFromAnthropicMessage(body), echo);
}
