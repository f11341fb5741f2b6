/**
 * OpenAI Responses request → chat completions request, and → Anthropic Messages
 * (through the chat form, so both directions share one mapping).
 *
 *   instructions                      → leading system message
 *   input string                      → one user message
 *   message items (input_text, input_image, output_text) → messages with text / image_url parts
 *   function_call items               → assistant tool_calls (consecutive calls share one message)
 *   function_call_output items        → tool messages
 *   reasoning items                   → dropped (opaque to other upstreams)
 *   max_output_tokens → max_completion_tokens; temperature, top_p, parallel_tool_calls, user
 *   tools (function) / tool_choice    → chat tools / tool_choice
 *   text.format json_schema | json_object → response_format
 *   reasoning.effort                  → reasoning_effort
 *   stream                            → stream with include_usage
 * State: a translated channel keeps no conversation, so `previous_response_id` and
 * `conversation` are refused (400) and `store` is ignored (nothing is stored).
 * Also refused: built-in tools (web_search, file_search, …), file inputs, item references.
 */
import { chatToAnthropicRequest } from './request-chat-to-anthropic.ts';
import type { AnthropicRequest } from './anthropic-wire.ts';
import type { ChatContentPart, ChatMessage, ChatRequest } from './chat-wire.ts';
import { TranslationError } from './translation-error.ts';

/** Translates a Responses request body to chat; throws {@link TranslationError} for what has no equivalent. */
export function responsesToChatRequest(body: Record<string, any>): ChatRequest {
  if (typeof body.previous_response_id === 'string') {
    throw new TranslationError('previous_response_id is not supported for this model: send the whole conversation in input.', 'previous_response_id');
  }
  if (body.conversation !== undefined && body.conversation !== null) {
    throw new TranslationError('conversation is not supported for this model: send the whole conversation in input.', 'conversation');
  }
  if (body.background === true) throw new TranslationError('background responses are not supported for this model.', 'background');
  const messages: ChatMessage[] = [];
  if (typeof body.instructions === 'string' && body.instructions !== '') messages.push({ role: 'system', content: body.instructions });
  if (typeof body.input === 'string') messages.push({ role: 'user', content: body.input });
  else if (Array.isArray(body.input)) body.input.forEach((item: any, i: number) => inputItem(item, `input[${i}]`, messages));
  else throw new TranslationError('input must be a string or an array of items.', 'input');

  const out: ChatRequest = { model: body.model, messages };
  if (typeof body.max_output_tokens === 'number') out.max_completion_tokens = body.max_output_tokens;
  if (typeof body.temperature === 'number') out.temperature = body.temperature;
  if (typeof body.top_p === 'number') out.top_p = body.top_p;
  if (typeof body.parallel_tool_calls === 'boolean') out.parallel_tool_calls = body.parallel_tool_calls;
  if (typeof body.user === 'string') out.user = body.user;
  if (body.stream === true) {
    out.stream = true;
    out.stream_options = { include_usage: true };
  }
  tools(body, out);
  const format = body.text?.format;
  if (format?.type === 'json_schema') {
    if (typeof format.schema !== 'object' || format.schema === null) throw new TranslationError('text.format.schema is required.', 'text.format.schema');
    const schema: NonNullable<ChatRequest['response_format']>['json_schema'] = { name: String(format.name ?? 'output'), schema: format.schema };
    if (typeof format.strict === 'boolean') schema.strict = format.strict;
    if (typeof format.description === 'string') schema.description = format.description;
    out.response_format = { type: 'json_schema', json_schema: schema };
  } else if (format?.type === 'json_object') {
    out.response_format = { type: 'json_object' };
  }
  if (typeof body.reasoning?.effort === 'string') out.reasoning_effort = body.reasoning.effort;
  return out;
}

/** Translates a Responses request body to Anthropic Messages. */
export function responsesToAnthropicRequest(body: Record<string, any>): AnthropicRequest {
  const chat = responsesToChatRequest(body);
  try {
    return chatToAnthropicRequest(chat);
  } catch (error) {
    // The chat form's field names mean nothing to a Responses client.
    if (error instanceof TranslationError) throw new TranslationError(error.message, error.param.startsWith('messages') ? 'input' : error.param);
    throw error;
  }
}

function inputItem(item: any, at: string, messages: ChatMessage[]): void {
  if (item === null || typeof item !== 'object') throw new TranslationError('Each input item must be an object.', at);
  const type = item.type ?? 'message';
  switch (type) {
    case 'message':
      messages.push(messageItem(item, at));
      return;
    case 'function_call': {
      const call = { id: String(item.call_id ?? ''), type: 'function' as const, function: { name: String(item.name ?? ''), arguments: String(item.arguments ?? '') } };
      const last = messages.at(-1);
      if (last?.role === 'assistant' && (last.tool_calls !== undefined || typeof last.content === 'string')) (last.tool_calls ??= []).push(call);
      else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
      return;
    }
    case 'function_call_output':
      messages.push({ role: 'tool', tool_call_id: String(item.call_id ?? ''), content: outputText(item.output, at + '.output') });
      return;
    case 'reasoning':
      return;
    default:
      throw new TranslationError(`Input item type '${String(type)}' is not supported for this model.`, at + '.type');
  }
}

function messageItem(item: any, at: string): ChatMessage {
  const role = item.role;
  if (role !== 'user' && role !== 'assistant' && role !== 'system' && role !== 'developer') {
    throw new TranslationError(`Unknown role '${String(role)}'.`, at + '.role');
  }
  const content = item.content;
  if (typeof content === 'string') return { role: role === 'developer' ? 'system' : role, content };
  if (!Array.isArray(content)) throw new TranslationError('content must be a string or an array of parts.', at + '.content');
  if (role === 'user') return { role, content: content.map((part: any, j: number) => inputPart(part, `${at}.content[${j}]`)) };
  let text = '';
  content.forEach((part: any, j: number) => {
    if ((part?.type === 'input_text' || part?.type === 'output_text') && typeof part.text === 'string') text += part.text;
    else if (part?.type !== 'refusal') throw new TranslationError('Only text parts are supported here.', `${at}.content[${j}].type`);
  });
  return { role: role === 'developer' ? 'system' : role, content: text };
}

function inputPart(part: any, at: string): ChatContentPart {
  if ((part?.type === 'input_text' || part?.type === 'output_text') && typeof part.text === 'string') return { type: 'text', text: part.text };
  if (part?.type === 'input_image') {
    if (typeof part.image_url !== 'string') throw new TranslationError('input_image needs an image_url for this model (file_id is not supported).', at + '.image_url');
    const image: { url: string; detail?: string } = { url: part.image_url };
    if (typeof part.detail === 'string' && part.detail !== 'auto') image.detail = part.detail;
    return { type: 'image_url', image_url: image };
  }
  throw new TranslationError(`Content part type '${String(part?.type)}' is not supported for this model.`, at + '.type');
}

function outputText(output: unknown, at: string): string {
  if (typeof output === 'string') return output;
  if (!Array.isArray(output)) throw new TranslationError('output must be a string or an array of text parts.', at);
  return output.map((part: any, j: number) => {
    if (part?.type !== 'input_text' || typeof part.text !== 'string') throw new TranslationError('Only text outputs are supported for this model.', `${at}[${j}]`);
    return part.text;
  }).join('\n');
}

function tools(body: Record<string, any>, out: ChatRequest): void {
  if (Array.isArray(body.tools) && body.tools.length > 0) {
    out.tools = body.tools.map((tool: any, i: number) => {
      if (tool?.type !== 'function' || typeof tool.name !== 'string') {
        throw new TranslationError(`Tool type '${String(tool?.type)}' is not supported for this model.`, `tools[${i}].type`);
      }
      const fn: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean } = { name: tool.name };
      if (typeof tool.description === 'string') fn.description = tool.description;
      fn.parameters = tool.parameters ?? { type: 'object', properties: {} };
      if (typeof tool.strict === 'boolean') fn.strict = tool.strict;
      return { type: 'function' as const, function: fn };
    });
  }
  const choice = body.tool_choice;
  if (choice === undefined || choice === null) return;
  if (choice === 'auto' || choice === 'none' || choice === 'required') out.tool_choice = choice;
  else if (choice.type === 'function' && typeof choice.name === 'string') out.tool_choice = { type: 'function', function: { name: choice.name } };
  else throw new TranslationError('tool_choice must be auto, none, required or a function.', 'tool_choice');
}
