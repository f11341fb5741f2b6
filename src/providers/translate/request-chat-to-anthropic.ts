/**
 * OpenAI chat completions request → Anthropic Messages request.
 *
 *   system / developer messages  → `system` (joined, wherever they stood)
 *   user text / image_url parts  → text / image blocks (data: URLs as base64, others as url)
 *   assistant content+tool_calls → text + tool_use blocks (arguments parsed to `input`)
 *   tool messages                → tool_result blocks in one user turn
 *   max_completion_tokens | max_tokens → max_tokens (required there; default below)
 *   stop → stop_sequences; temperature (clamped to Anthropic's 0..1), top_p
 *   tools / tool_choice / parallel_tool_calls → tools / tool_choice (+ disable_parallel_tool_use)
 *   response_format json_schema  → output_config.format (json_object has no equivalent: dropped)
 *   reasoning_effort low|medium|high → thinking budget (when it fits under max_tokens)
 *   user → metadata.user_id
 * Consecutive turns of the same role are merged (Anthropic wants alternation).
 * Refused with a {@link TranslationError}: n > 1, logprobs, audio, non-function tools,
 * content parts other than text and image, malformed tool-call arguments.
 * Silently dropped (no equivalent, no effect on the answer's shape): frequency/presence
 * penalties, seed, logit_bias, stream_options, store, metadata, service_tier.
 */
import type { AnthropicBlock, AnthropicMessage, AnthropicRequest, AnthropicToolChoice } from './anthropic-wire.ts';
import { TranslationError } from './translation-error.ts';

/** Anthropic requires max_tokens; this is used when the chat request names none. */
export const DEFAULT_ANTHROPIC_MAX_TOKENS = 4096;

const THINKING_BUDGET: Record<string, number> = { low: 1024, medium: 4096, high: 16384 };

/** Translates a chat request body; throws {@link TranslationError} for what has no equivalent. */
export function chatToAnthropicRequest(body: Record<string, any>): AnthropicRequest {
  if (!Array.isArray(body.messages)) throw new TranslationError('messages must be an array.', 'messages');
  if (typeof body.n === 'number' && body.n > 1) throw new TranslationError('n > 1 is not supported by this model.', 'n');
  if (body.logprobs === true) throw new TranslationError('logprobs are not supported by this model.', 'logprobs');
  if (body.audio !== undefined && body.audio !== null) throw new TranslationError('Audio output is not supported by this model.', 'audio');

  const system: string[] = [];
  const messages: AnthropicMessage[] = [];
  body.messages.forEach((message: any, i: number) => {
    const at = `messages[${i}]`;
    if (message === null || typeof message !== 'object') throw new TranslationError('Each message must be an object.', at);
    switch (message.role) {
      case 'system':
      case 'developer':
        system.push(textOf(message.content, at + '.content'));
        return;
      case 'user':
        return push(messages, 'user', userBlocks(message.content, at + '.content'));
      case 'assistant':
        return push(messages, 'assistant', assistantBlocks(message, at));
      case 'tool':
        return push(messages, 'user', [{
          type: 'tool_result', tool_use_id: String(message.tool_call_id ?? ''), content: toolResultContent(message.content, at + '.content'),
        }]);
      default:
        throw new TranslationError(`Message role '${String(message.role)}' is not supported by this model.`, at + '.role');
    }
  });

  const out: AnthropicRequest = { model: body.model, messages, max_tokens: maxTokens(body) };
  if (system.length > 0) out.system = system.join('\n\n');
  if (typeof body.temperature === 'number') out.temperature = Math.min(Math.max(body.temperature, 0), 1);
  if (typeof body.top_p === 'number') out.top_p = body.top_p;
  if (typeof body.stop === 'string') out.stop_sequences = [body.stop];
  else if (Array.isArray(body.stop) && body.stop.length > 0) out.stop_sequences = body.stop.map(String);
  if (body.stream === true) out.stream = true;
  if (typeof body.user === 'string') out.metadata = { user_id: body.user };
  tools(body, out);
  responseFormat(body.response_format, out);
  thinking(body.reasoning_effort, out);
  return out;
}

function maxTokens(body: Record<string, any>): number {
  const value = body.max_completion_tokens ?? body.max_tokens;
  if (value === undefined || value === null) return DEFAULT_ANTHROPIC_MAX_TOKENS;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new TranslationError('max_tokens must be a positive integer.', body.max_completion_tokens !== undefined ? 'max_completion_tokens' : 'max_tokens');
  }
  return value;
}

function push(messages: AnthropicMessage[], role: 'user' | 'assistant', blocks: AnthropicBlock[]): void {
  const last = messages.at(-1);
  if (last !== undefined && last.role === role) (last.content as AnthropicBlock[]).push(...blocks);
  else messages.push({ role, content: blocks });
}

/** Text of a system/tool content: a string, or text parts joined. */
function textOf(content: unknown, at: string): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw new TranslationError('content must be a string or an array of text parts.', at);
  return content.map((part, j) => {
    if (part?.type !== 'text' || typeof part.text !== 'string') throw new TranslationError('Only text parts are supported here.', `${at}[${j}]`);
    return part.text;
  }).join('\n');
}

function userBlocks(content: unknown, at: string): AnthropicBlock[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (!Array.isArray(content)) throw new TranslationError('content must be a string or an array of parts.', at);
  return content.map((part, j) => contentPart(part, `${at}[${j}]`));
}

function contentPart(part: any, at: string): AnthropicBlock {
  if (part?.type === 'text' && typeof part.text === 'string') return { type: 'text', text: part.text };
  if (part?.type === 'image_url') {
    const url = typeof part.image_url === 'string' ? part.image_url : part.image_url?.url;
    if (typeof url !== 'string') throw new TranslationError('image_url.url must be a string.', at + '.image_url.url');
    return imageBlock(url, at + '.image_url.url');
  }
  throw new TranslationError(`Content part type '${String(part?.type)}' is not supported by this model.`, at + '.type');
}

/** An image block from an http(s) URL or a `data:<media type>;base64,<data>` URL. */
export function imageBlock(url: string, at: string): AnthropicBlock {
  if (url.startsWith('data:')) {
    const match = /^data:([^;,]+);base64,(.*)$/s.exec(url);
    if (match === null) throw new TranslationError('A data URL image must be base64 encoded.', at);
    return { type: 'image', source: { type: 'base64', media_type: match[1], data: match[2] } };
  }
  return { type: 'image', source: { type: 'url', url } };
}

function assistantBlocks(message: any, at: string): AnthropicBlock[] {
  const blocks: AnthropicBlock[] = [];
  const content = message.content;
  if (typeof content === 'string') {
    if (content !== '') blocks.push({ type: 'text', text: content });
  } else if (Array.isArray(content)) {
    content.forEach((part: any, j: number) => {
      if ((part?.type === 'text' || part?.type === 'output_text') && typeof part.text === 'string') blocks.push({ type: 'text', text: part.text });
      else if (part?.type !== 'refusal') throw new TranslationError('Assistant content parts must be text.', `${at}.content[${j}]`);
    });
  }
  if (Array.isArray(message.tool_calls)) {
    message.tool_calls.forEach((call: any, j: number) => {
      const where = `${at}.tool_calls[${j}]`;
      if (call?.type !== undefined && call.type !== 'function') throw new TranslationError('Only function tool calls are supported.', where + '.type');
      const args = call?.function?.arguments;
      let input: unknown = {};
      if (typeof args === 'string' && args.trim() !== '') {
        try {
          input = JSON.parse(args);
        } catch {
          throw new TranslationError('Tool call arguments must be valid JSON.', where + '.function.arguments');
        }
      }
      blocks.push({ type: 'tool_use', id: String(call?.id ?? ''), name: String(call?.function?.name ?? ''), input });
    });
  }
  // Anthropic rejects an empty assistant turn.
  if (blocks.length === 0) blocks.push({ type: 'text', text: '' });
  return blocks;
}

function toolResultContent(content: unknown, at: string): string | Array<{ type: 'text'; text: string }> {
  if (typeof content === 'string') return content;
  return [{ type: 'text', text: textOf(content, at) }];
}

function tools(body: Record<string, any>, out: AnthropicRequest): void {
  if (Array.isArray(body.tools) && body.tools.length > 0) {
    out.tools = body.tools.map((tool: any, i: number) => {
      if (tool?.type !== 'function' || typeof tool.function?.name !== 'string') {
        throw new TranslationError(`Tool type '${String(tool?.type)}' is not supported by this model.`, `tools[${i}].type`);
      }
      const fn = tool.function;
      const schema = fn.parameters ?? { type: 'object', properties: {} };
      return fn.description === undefined ? { name: fn.name, input_schema: schema } : { name: fn.name, description: fn.description, input_schema: schema };
    });
  }
  const choice = body.tool_choice;
  let mapped: AnthropicToolChoice | undefined;
  if (choice === 'auto') mapped = { type: 'auto' };
  else if (choice === 'none') mapped = { type: 'none' };
  else if (choice === 'required') mapped = { type: 'any' };
  else if (choice !== undefined && choice !== null) {
    if (choice.type !== 'function' || typeof choice.function?.name !== 'string') {
      throw new TranslationError('tool_choice must be auto, none, required or a function.', 'tool_choice');
    }
    mapped = { type: 'tool', name: choice.function.name };
  }
  if (body.parallel_tool_calls === false && out.tools !== undefined) {
    mapped ??= { type: 'auto' };
    if (mapped.type !== 'none') mapped.disable_parallel_tool_use = true;
  }
  if (mapped !== undefined && (out.tools !== undefined || mapped.type === 'none')) out.tool_choice = mapped;
}

function responseFormat(format: any, out: AnthropicRequest): void {
  if (format === undefined || format === null || format.type === 'text' || format.type === 'json_object') return;
  if (format.type !== 'json_schema' || typeof format.json_schema?.schema !== 'object') {
    throw new TranslationError('response_format must be text, json_object or json_schema with a schema.', 'response_format');
  }
  out.output_config = { format: { type: 'json_schema', schema: format.json_schema.schema } };
}

function thinking(effort: unknown, out: AnthropicRequest): void {
  if (typeof effort !== 'string') return;
  const budget = THINKING_BUDGET[effort];
  // Anthropic needs budget_tokens >= 1024 and below max_tokens; otherwise the answer runs without thinking.
  if (budget === undefined || budget >= out.max_tokens) return;
  out.thinking = { type: 'enabled', budget_tokens: budget };
  // Extended thinking accepts no temperature other than 1 and top_p only >= 0.95.
  delete out.temperature;
  delete out.top_p;
}
