/**
 * {@link Answer} → the client's non-streamed body: a chat completion, an Anthropic
 * message or a Responses object. The Responses stream writer builds its final
 * `response.completed` object with {@link responseObject} too, so streamed and
 * non-streamed answers have the same shape.
 */
import { usageToAnthropic, usageToChat, usageToResponses, type NormalizedUsage } from '../usage-normalized.ts';
import { finishToAnthropic, incompleteReason, withPrefix, type Answer, type FinishReason } from './answer.ts';
import type { AnthropicResponse } from './anthropic-wire.ts';
import type { ChatCompletion, ChatToolCall } from './chat-wire.ts';
import type { ResponsesOutputItem, ResponsesResponse } from './responses-wire.ts';

/** Echoed request fields of a Responses object (what the client asked for). */
export interface ResponsesEcho {
  instructions?: unknown;
  tools?: unknown;
  tool_choice?: unknown;
  parallel_tool_calls?: unknown;
  text?: unknown;
  max_output_tokens?: unknown;
  temperature?: unknown;
  top_p?: unknown;
  metadata?: unknown;
}

/** Writes a chat completion. */
export function answerToChatCompletion(answer: Answer): ChatCompletion {
  const message: ChatCompletion['choices'][0]['message'] = { role: 'assistant', content: answer.text, refusal: null };
  if (answer.toolCalls.length > 0) {
    if (answer.text === '') message.content = null;
    message.tool_calls = answer.toolCalls.map(
      (call): ChatToolCall => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }),
    );
  }
  if (answer.reasoning !== '') message.reasoning_content = answer.reasoning;
  return {
    id: withPrefix('chatcmpl-', answer.id),
    object: 'chat.completion',
    created: answer.created,
    model: answer.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: answer.finish }],
    usage: usageToChat(answer.usage),
  };
}

/** Writes an Anthropic message (thinking is not written: it would need a signature we do not have). */
export function answerToAnthropicMessage(answer: Answer): AnthropicResponse {
  const content: AnthropicResponse['content'] = [];
  if (answer.text !== '' || answer.toolCalls.length === 0) content.push({ type: 'text', text: answer.text });
  for (const call of answer.toolCalls) content.push({ type: 'tool_use', id: call.id, name: call.name, input: parseArguments(call.arguments) });
  return {
    id: withPrefix('msg_', answer.id),
    type: 'message',
    role: 'assistant',
    model: answer.model,
    content,
    stop_reason: finishToAnthropic(answer.finish, answer.stopSequence),
    stop_sequence: answer.stopSequence,
    usage: usageToAnthropic(answer.usage),
  };
}

/** Writes a Responses object. */
export function answerToResponse(answer: Answer, echo: ResponsesEcho = {}): ResponsesResponse {
  const id = withPrefix('resp_', answer.id);
  const output: ResponsesOutputItem[] = [];
  if (answer.reasoning !== '') output.push({ type: 'reasoning', id: 'rs_' + id.slice(5), summary: [{ type: 'summary_text', text: answer.reasoning }] });
  if (answer.text !== '' || answer.toolCalls.length === 0) {
    output.push({
      type: 'message', id: 'msg_' + id.slice(5), status: 'completed', role: 'assistant',
      content: [{ type: 'output_text', text: answer.text, annotations: [] }],
    });
  }
  for (const call of answer.toolCalls) {
    output.push({ type: 'function_call', id: functionItemId(call.id), call_id: call.id, name: call.name, arguments: call.arguments, status: 'completed' });
  }
  return responseObject(id, answer.model, answer.created, output, answer.finish, answer.usage, echo);
}

/** A Responses object from its parts; `finish` null means still in progress. */
export function responseObject(
  id: string, model: string, created: number, output: ResponsesOutputItem[], finish: FinishReason | null,
  usage: NormalizedUsage | null, echo: ResponsesEcho,
): ResponsesResponse {
  const reason = finish === null ? null : incompleteReason(finish);
  return {
    id,
    object: 'response',
    created_at: created,
    status: finish === null ? 'in_progress' : reason === null ? 'completed' : 'incomplete',
    error: null,
    incomplete_details: reason === null ? null : { reason },
    instructions: echo.instructions ?? null,
    max_output_tokens: echo.max_output_tokens ?? null,
    model,
    output,
    parallel_tool_calls: echo.parallel_tool_calls !== false,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: false,
    temperature: echo.temperature ?? null,
    text: echo.text ?? { format: { type: 'text' } },
    tool_choice: echo.tool_choice ?? 'auto',
    tools: Array.isArray(echo.tools) ? echo.tools : [],
    top_p: echo.top_p ?? null,
    truncation: 'disabled',
    usage: usage === null ? null : usageToResponses(usage),
    metadata: echo.metadata ?? {},
  };
}

/** The Responses item id of a function call, derived from its call id. */
export function functionItemId(callId: string): string {
  return withPrefix('fc_', callId);
}

/** Tool arguments as an object for Anthropic's `input`; unparseable text is wrapped, not dropped. */
export function parseArguments(text: string): unknown {
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    return { _raw: text };
  }
}
