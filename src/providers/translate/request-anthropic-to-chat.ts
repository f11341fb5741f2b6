/**
 * Anthropic Messages request → OpenAI chat completions request.
 *
 *   system (string or text blocks)   → a leading system message
 *   text / image blocks              → text / image_url parts (base64 as a data: URL)
 *   assistant text + tool_use blocks → content + tool_calls (input serialised as arguments)
 *   tool_result blocks               → tool messages, placed before the rest of that user turn
 *   thinking blocks                  → dropped (the chat upstream cannot take them back)
 *   max_tokens → max_completion_tokens (or max_tokens, see options); stop_sequences → stop
 *   temperature, top_p; top_k dropped
 *   tools / tool_choice (auto, any, tool, none, disable_parallel_tool_use)
 *   thinking.budget_tokens → reasoning_effort (≤ 2048 low, ≤ 8192 medium, else high)
 *   output_config.format / output_format json_schema → response_format json_schema
 *   metadata.user_id → user; stream → stream with include_usage (usage comes last in chat)
 * Refused with a {@link TranslationError}: server tools (web search, code execution…),
 * documents, blocks other than those above.
 */
import type { ChatContentPart, ChatMessage, ChatRequest, ChatToolCall } from './chat-wire.ts';
import { TranslationError } from './translation-error.ts';

/** Options of {@link anthropicToChatRequest}. */
export interface AnthropicToChatOptions {
  /** Which chat field carries the token limit: OpenAI's current one, or the legacy one older servers know. */
  maxTokensField?: 'max_completion_tokens' | 'max_tokens';
}

/** Translates a Messages request body; throws {@link TranslationError} for what has no equivalent. */
export function anthropicToChatRequest(body: Record<string, any>, options: AnthropicToChatOptions = {}): ChatRequest {
  if (!Array.isArray(body.messages)) throw new TranslationError('messages: Field required', 'messages');
  const messages: ChatMessage[] = [];
  if (body.system !== undefined && body.system !== null) messages.push({ role: 'system', content: systemText(body.system) });
  body.messages.forEach((message: any, i: number) => {
    const at = `messages.${i}`;
    if (message?.role === 'user') userTurn(message.content, at, messages);
    else if (message?.role === 'assistant') messages.push(assistantTurn(message.content, at));
    else throw new TranslationError(`Unexpected role '${String(message?.role)}'.`, at + '.role');
  });

  const out: ChatRequest = { model: body.model, messages };
  if (typeof body.max_tokens === 'number') out[options.maxTokensField ?? 'max_completion_tokens'] = body.max_tokens;
  if (typeof body.temperature === 'number') out.temperature = body.temperature;
  if (typeof body.top_p === 'number') out.top_p = body.top_p;
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0) out.stop = body.stop_sequences.map(String);
  if (body.stream === true) {
    out.stream = true;
    out.stream_options = { include_usage: true };
  }
  if (typeof body.metadata?.user_id === 'string') out.user = body.metadata.user_id;
  tools(body, out);
  const format = body.output_config?.format ?? body.output_format;
  if (format?.type === 'json_schema' && typeof format.schema === 'object') {
    out.response_format = { type: 'json_schema', json_schema: { name: 'output', schema: format.schema, strict: true } };
  }
  if (body.thinking?.type === 'enabled' && typeof body.thinking.budget_tokens === 'number') {
    const budget = body.thinking.budget_tokens;
    out.reasoning_effort = budget <= 2048 ? 'low' : budget <= 8192 ? 'medium' : 'high';
  }
  return out;
}

function systemText(system: unknown): string {
  if (typeof system === 'string') return system;
  if (!Array.isArray(system)) throw new TranslationError('system must be a string or an array of text blocks.', 'system');
  return system.map((block, i) => {
    if (block?.type !== 'text' || typeof block.text !== 'string') throw new TranslationError('system blocks must be text.', `system.${i}`);
    return block.text;
  }).join('\n\n');
}

function userTurn(content: unknown, at: string, messages: ChatMessage[]): void {
  if (typeof content === 'string') {
    messages.push({ role: 'user', content });
    return;
  }
  if (!Array.isArray(content)) throw new TranslationError('content must be a string or an array of blocks.', at + '.content');
  const parts: ChatContentPart[] = [];
  content.forEach((block: any, j: number) => {
    const where = `${at}.content.${j}`;
    if (block?.type === 'tool_result') {
      // Chat wants each tool result as its own message right after the assistant's call.
      messages.push({ role: 'tool', tool_call_id: String(block.tool_use_id ?? ''), content: toolResultText(block, where) });
    } else {
      parts.push(userPart(block, where));
    }
  });
  if (parts.length > 0) messages.push({ role: 'user', content: parts });
}

function userPart(block: any, at: string): ChatContentPart {
  if (block?.type === 'text' && typeof block.text === 'string') return { type: 'text', text: block.text };
  if (block?.type === 'image') {
    const source = block.source;
    if (source?.type === 'base64' && typeof source.data === 'string') {
      return { type: 'image_url', image_url: { url: `data:${String(source.media_type)};base64,${source.data}` } };
    }
    if (source?.type === 'url' && typeof source.url === 'string') return { type: 'image_url', image_url: { url: source.url } };
    throw new TranslationError('Image source must be base64 or url.', at + '.source');
  }
  throw new TranslationError(`Content block type '${String(block?.type)}' is not supported by this model.`, at + '.type');
}

function toolResultText(block: any, at: string): string {
  const content = block.content;
  let text: string;
  if (content === undefined || content === null) text = '';
  else if (typeof content === 'string') text = content;
  else if (Array.isArray(content)) {
    text = content.map((part: any, k: number) => {
      if (part?.type !== 'text' || typeof part.text !== 'string') {
        throw new TranslationError('Only text tool results are supported by this model.', `${at}.content.${k}.type`);
      }
      return part.text;
    }).join('\n');
  } else throw new TranslationError('tool_result content must be a string or text blocks.', at + '.content');
  return block.is_error === true ? `Error: ${text}` : text;
}

function assistantTurn(content: unknown, at: string): ChatMessage {
  if (typeof content === 'string') return { role: 'assistant', content };
  if (!Array.isArray(content)) throw new TranslationError('content must be a string or an array of blocks.', at + '.content');
  let text = '';
  const calls: ChatToolCall[] = [];
  content.forEach((block: any, j: number) => {
    if (block?.type === 'text' && typeof block.text === 'string') text += block.text;
    else if (block?.type === 'tool_use') {
      calls.push({ id: String(block.id ?? ''), type: 'function', function: { name: String(block.name ?? ''), arguments: JSON.stringify(block.input ?? {}) } });
    } else if (block?.type !== 'thinking' && block?.type !== 'redacted_thinking') {
      throw new TranslationError(`Content block type '${String(block?.type)}' is not supported by this model.`, `${at}.content.${j}.type`);
    }
  });
  const message: ChatMessage = { role: 'assistant', content: calls.length > 0 && text === '' ? null : text };
  if (calls.length > 0) message.tool_calls = calls;
  return message;
}

function tools(body: Record<string, any>, out: ChatRequest): void {
  if (Array.isArray(body.tools) && body.tools.length > 0) {
    out.tools = body.tools.map((tool: any, i: number) => {
      if ((tool?.type !== undefined && tool.type !== 'custom') || typeof tool?.name !== 'string') {
        throw new TranslationError(`Tool type '${String(tool?.type)}' is not supported by this model.`, `tools.${i}.type`);
      }
      const fn: { name: string; description?: string; parameters?: Record<string, unknown> } = { name: tool.name, parameters: tool.input_schema };
      if (typeof tool.description === 'string') fn.description = tool.description;
      return { type: 'function' as const, function: fn };
    });
  }
  const choice = body.tool_choice;
  if (choice === undefined || choice === null) return;
  switch (choice.type) {
    case 'auto':
      out.tool_choice = 'auto';
      break;
    case 'any':
      out.tool_choice = 'required';
      break;
    case 'none':
      out.tool_choice = 'none';
      break;
    case 'tool':
      out.tool_choice = { type: 'function', function: { name: String(choice.name) } };
      break;
    default:
      throw new TranslationError('tool_choice.type must be auto, any, tool or none.', 'tool_choice.type');
  }
  if (choice.disable_parallel_tool_use === true && out.tools !== undefined) out.parallel_tool_calls = false;
  if (out.tools === undefined && out.tool_choice !== 'none') delete out.tool_choice;
}
