/**
 * The mock's answers to requests that use a feature the cached plans do not cover:
 * tools, structured output, stop sequences, usage headers, and every /v1/responses
 * request. The answer is built once as a protocol-neutral Answer, then written with
 * the gateway's own protocol writers (non-streamed bodies and SSE frames), so all
 * three protocols get the same answer.
 *
 *   tools        when tools are offered and tool_choice is not none, the mock calls
 *                the named tool, else the first one, with the minimal arguments valid
 *                for its schema (mock-schema-value.ts) — unless the conversation ends
 *                with a tool result, when it answers in text (so agent loops end).
 *   json         under response_format / text.format / output_config.format json_schema
 *                the text is the minimal JSON valid for the schema; json_object gives {}.
 *   stop         the text is cut before the first stop sequence it contains
 *                (chat `stop`, Anthropic `stop_sequences`); Anthropic reports stop_sequence.
 *   usage        x-mock-cached-tokens, x-mock-cache-write-tokens (parts of the input,
 *                clamped to it) and x-mock-reasoning-tokens (added to the output).
 */
import { tokenizer } from '../metering/tokenizer.ts';
import type { Answer, AnswerToolCall } from '../providers/translate/answer.ts';
import { answerToAnthropicMessage, answerToChatCompletion, answerToResponse } from '../providers/translate/answer-write.ts';
import { AnthropicStreamWriter } from '../providers/translate/anthropic-stream-writer.ts';
import { ChatStreamWriter } from '../providers/translate/chat-stream-writer.ts';
import { ResponsesStreamWriter } from '../providers/translate/responses-stream-writer.ts';
import type { ClientWriter } from '../providers/translate/stream-sink.ts';
import type { NormalizedUsage } from '../providers/usage-normalized.ts';
import { completionPieces } from './mock-content.ts';
import { valueForSchema } from './mock-schema-value.ts';

/** The protocol a generation request speaks. */
export type MockProtocol = 'chat' | 'messages' | 'responses';

type Body = Record<string, any>;
type Headers = Record<string, string | string[] | undefined>;

/** A composed answer: the whole body, or the stream split into opening, content frames and closing. */
export interface ComposedAnswer {
  body: string;
  opening: string;
  frames: string[];
  closing: string;
}

/** True when a chat or messages request needs this path rather than a cached plan. */
export function needsFeatureAnswer(body: Body, headers: Headers): boolean {
  return (Array.isArray(body.tools) && body.tools.length > 0) ||
    (body.stop !== undefined && body.stop !== null) ||
    Array.isArray(body.stop_sequences) ||
    (body.response_format !== undefined && body.response_format !== null && body.response_format.type !== 'text') ||
    body.output_config?.format !== undefined || body.output_format !== undefined ||
    headers['x-mock-cached-tokens'] !== undefined || headers['x-mock-cache-write-tokens'] !== undefined ||
    headers['x-mock-reasoning-tokens'] !== undefined;
}

/** Builds the answer and writes it in `protocol`'s shape, streamed in up to `chunks` content pieces. */
export function composeFeatureAnswer(
  protocol: MockProtocol, body: Body, headers: Headers, id: string, words: number, inputTokens: number, chunks: number,
): ComposedAnswer {
  const answer = buildAnswer(protocol, body, headers, id, words, inputTokens);
  if (body.stream !== true) {
    const json = protocol === 'chat' ? answerToChatCompletion(answer) : protocol === 'messages' ? answerToAnthropicMessage(answer) : answerToResponse(answer, body);
    return { body: JSON.stringify(json), opening: '', frames: [], closing: '' };
  }
  const includeUsage = body.stream_options?.include_usage === true;
  const writer: ClientWriter = protocol === 'chat' ? new ChatStreamWriter(includeUsage) : protocol === 'messages' ? new AnthropicStreamWriter() : new ResponsesStreamWriter(body);
  // Input usage first, so Anthropic's message_start carries it as the real API's does.
  writer.usage({ ...answer.usage, outputTokens: 0, reasoningTokens: 0 });
  writer.start(answer.id, answer.model, answer.created);
  const opening = writer.take();
  const frames: string[] = [];
  for (const piece of splitText(answer.text, chunks)) {
    writer.text(piece);
    frames.push(writer.take());
  }
  answer.toolCalls.forEach((call, i) => {
    writer.toolCall(i, call.id, call.name);
    const half = call.arguments.length >> 1;
    writer.toolArguments(i, call.arguments.slice(0, half));
    frames.push(writer.take());
    writer.toolArguments(i, call.arguments.slice(half));
    frames.push(writer.take());
  });
  writer.finish(answer.finish, answer.stopSequence);
  writer.usage(answer.usage);
  writer.end();
  return { body: '', opening, frames, closing: writer.take() };
}

function buildAnswer(protocol: MockProtocol, body: Body, headers: Headers, id: string, words: number, inputTokens: number): Answer {
  let text = '';
  let finish: Answer['finish'] = 'stop';
  let stopSequence: string | null = null;
  const toolCalls: AnswerToolCall[] = [];
  const tool = endsWithToolResult(protocol, body) ? null : toolToCall(protocol, body);
  const schema = jsonSchemaOf(protocol, body);
  if (tool !== null) {
    const callId = (protocol === 'messages' ? 'toolu_' : 'call_') + id.slice(id.indexOf('mock'));
    toolCalls.push({ id: callId, name: tool.name, arguments: JSON.stringify(valueForSchema(tool.schema)) });
    finish = 'tool_calls';
  } else if (schema !== undefined) {
    text = schema === null ? '{}' : JSON.stringify(valueForSchema(schema));
  } else {
    text = completionPieces(words, 1)[0] ?? '';
    const stops = protocol === 'chat' ? (typeof body.stop === 'string' ? [body.stop] : body.stop) : body.stop_sequences;
    let cut = -1;
    if (Array.isArray(stops)) {
      for (const stop of stops) {
        const at = typeof stop === 'string' && stop !== '' ? text.indexOf(stop) : -1;
        if (at >= 0 && (cut < 0 || at < cut)) {
          cut = at;
          stopSequence = stop;
        }
      }
    }
    if (cut >= 0) text = text.slice(0, cut);
  }
  const visible = text !== '' ? tokenizer().countTokens(text) : toolCalls.reduce((sum, call) => sum + tokenizer().countTokens(call.arguments), 0);
  return {
    id,
    model: String(body.model),
    created: Math.floor(Date.now() / 1000),
    text,
    reasoning: '',
    toolCalls,
    finish,
    // Only Anthropic says which stop sequence matched.
    stopSequence: protocol === 'messages' ? stopSequence : null,
    usage: usageFor(headers, inputTokens, visible),
  };
}

function usageFor(headers: Headers, inputTokens: number, visible: number): NormalizedUsage {
  const cached = Math.min(headerCount(headers['x-mock-cached-tokens']), inputTokens);
  const write = Math.min(headerCount(headers['x-mock-cache-write-tokens']), inputTokens - cached);
  const reasoning = headerCount(headers['x-mock-reasoning-tokens']);
  return { inputTokens, cachedInputTokens: cached, cacheWriteTokens: write, outputTokens: visible + reasoning, reasoningTokens: reasoning };
}

function headerCount(value: string | string[] | undefined): number {
  const number = typeof value === 'string' ? Number(value) : 0;
  return Number.isInteger(number) && number > 0 ? number : 0;
}

function endsWithToolResult(protocol: MockProtocol, body: Body): boolean {
  if (protocol === 'responses') {
    const last = Array.isArray(body.input) ? body.input.at(-1) : undefined;
    return last?.type === 'function_call_output';
  }
  const last = Array.isArray(body.messages) ? body.messages.at(-1) : undefined;
  if (protocol === 'chat') return last?.role === 'tool';
  return last?.role === 'user' && Array.isArray(last.content) && last.content.some((block: any) => block?.type === 'tool_result');
}

function toolToCall(protocol: MockProtocol, body: Body): { name: string; schema: unknown } | null {
  if (!Array.isArray(body.tools) || body.tools.length === 0) return null;
  const tools: Array<{ name: string; schema: unknown }> = [];
  for (const tool of body.tools) {
    if (protocol === 'chat' && tool?.type === 'function' && typeof tool.function?.name === 'string') tools.push({ name: tool.function.name, schema: tool.function.parameters });
    else if (protocol === 'responses' && tool?.type === 'function' && typeof tool.name === 'string') tools.push({ name: tool.name, schema: tool.parameters });
    else if (protocol === 'messages' && typeof tool?.name === 'string' && tool.input_schema !== undefined) tools.push({ name: tool.name, schema: tool.input_schema });
  }
  const choice = body.tool_choice;
  if (choice === 'none' || choice?.type === 'none' || tools.length === 0) return null;
  const named = choice?.function?.name ?? (choice?.type === 'tool' || choice?.type === 'function' ? choice.name : undefined);
  return tools.find((t) => t.name === named) ?? tools[0];
}

/** The JSON schema the answer must follow: a schema, null for plain JSON mode, undefined for none. */
function jsonSchemaOf(protocol: MockProtocol, body: Body): unknown {
  const format = protocol === 'chat' ? body.response_format : protocol === 'responses' ? body.text?.format : body.output_config?.format ?? body.output_format;
  if (format?.type === 'json_object') return null;
  if (format?.type !== 'json_schema') return undefined;
  return (protocol === 'chat' ? format.json_schema?.schema : format.schema) ?? null;
}

/** Splits text into at most `chunks` pieces at word boundaries. */
function splitText(text: string, chunks: number): string[] {
  if (text === '') return [];
  const words = text.split(/(?=\s)/);
  const count = Math.min(chunks, words.length);
  const pieces: string[] = [];
  for (let i = 0; i < count; i++) pieces.push(words.slice(Math.floor((i * words.length) / count), Math.floor(((i + 1) * words.length) / count)).join(''));
  return pieces;
}
