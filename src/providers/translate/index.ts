/**
 * Translation between the client protocols (OpenAI chat, OpenAI Responses,
 * Anthropic Messages): pure mappings with no I/O, for the gateway's translation
 * handler. Requests translate whole; non-streamed answers through a neutral Answer;
 * streams event by event through a reader (upstream protocol) and a writer (client
 * protocol). Normalised usage lives next door in ../usage-normalized.ts.
 */
export { TranslationError } from './translation-error.ts';
export { chatToAnthropicRequest, DEFAULT_ANTHROPIC_MAX_TOKENS } from './request-chat-to-anthropic.ts';
export { anthropicToChatRequest, type AnthropicToChatOptions } from './request-anthropic-to-chat.ts';
export { responsesToAnthropicRequest, responsesToChatRequest } from './request-responses.ts';
export { anthropicToChatCompletion, anthropicToResponse, chatCompletionToAnthropic, chatCompletionToResponse } from './response-translate.ts';
export type { Answer, AnswerToolCall, FinishReason } from './answer.ts';
export { answerFromAnthropicMessage, answerFromChatCompletion } from './answer-read.ts';
export { answerToAnthropicMessage, answerToChatCompletion, answerToResponse, type ResponsesEcho } from './answer-write.ts';
export {
  anthropicToChatStream, anthropicToResponsesStream, chatToAnthropicStream, chatToResponsesStream, StreamTranslator,
} from './stream-translator.ts';
export { AnthropicStreamReader } from './anthropic-stream-reader.ts';
export { ChatStreamReader } from './chat-stream-reader.ts';
export { AnthropicStreamWriter } from './anthropic-stream-writer.ts';
export { ChatStreamWriter } from './chat-stream-writer.ts';
export { ResponsesStreamWriter } from './responses-stream-writer.ts';
export type { ClientWriter, StreamReader, StreamSink } from './stream-sink.ts';
export { SSE_DONE, SseDecoder, sseData, sseEvent } from './sse-frame.ts';
export { anthropicErrorBody, anthropicErrorType, openaiErrorBody, openaiErrorType, readErrorBody } from './error-shape.ts';
export { clientErrorBody, translationBetween, type Translation } from './directions.ts';
