/**
 * Upstream non-streamed bodies → {@link Answer}: an OpenAI chat completion or an
 * Anthropic message. Only the first choice is read (translated requests always ask
 * for one; `n > 1` is refused by the request translator).
 */
import { emptyUsage, usageFromAnthropic, usageFromChat } from '../usage-normalized.ts';
import { finishFromAnthropic, finishFromChat, type Answer, type AnswerToolCall } from './answer.ts';

/** Reads a chat completion body; throws TypeError when it is not one. */
export function answerFromChatCompletion(body: unknown): Answer {
  if (!isRecord(body) || !Array.isArray(body.choices) || !isRecord(body.choices[0])) {
    throw new TypeError('upstream chat completion has no choices');
  }
  const choice = body.choices[0];
  const message = isRecord(choice.message) ? choice.message : {};
  const toolCalls: AnswerToolCall[] = [];
  if (Array.isArray(message.tool_calls)) {
    for (const call of message.tool_calls) {
      if (!isRecord(call) || !isRecord(call.function)) continue;
      toolCalls.push({ id: String(call.id ?? ''), name: String(call.function.name ?? ''), arguments: String(call.function.arguments ?? '') });
    }
  }
  return {
    id: String(body.id ?? ''),
    model: String(body.model ?? ''),
    created: typeof body.created === 'number' ? body.created : nowSeconds(),
    text: chatText(message.content),
    reasoning: typeof message.reasoning_content === 'string' ? message.reasoning_content : '',
    toolCalls,
    finish: finishFromChat(choice.finish_reason),
    stopSequence: null,
    usage: usageFromChat(body.usage) ?? emptyUsage(),
  };
}

/** Reads an Anthropic message body; throws TypeError when it is not one. */
export function answerFromAnthropicMessage(body: unknown): Answer {
  if (!isRecord(body) || !Array.isArray(body.content)) throw new TypeError('upstream message has no content');
  let text = '';
  let reasoning = '';
  const toolCalls: AnswerToolCall[] = [];
  for (const block of body.content) {
    if (!isRecord(block)) continue;
    if (block.type === 'text' && typeof block.text === 'string') text += block.text;
    else if (block.type === 'thinking' && typeof block.thinking === 'string') reasoning += block.thinking;
    else if (block.type === 'tool_use') {
      toolCalls.push({ id: String(block.id ?? ''), name: String(block.name ?? ''), arguments: JSON.stringify(block.input ?? {}) });
    }
  }
  return {
    id: String(body.id ?? ''),
    model: String(body.model ?? ''),
    created: nowSeconds(),
    text,
    reasoning,
    toolCalls,
    finish: finishFromAnthropic(body.stop_reason),
    stopSequence: typeof body.stop_sequence === 'string' ? body.stop_sequence : null,
    usage: usageFromAnthropic(body.usage) ?? emptyUsage(),
  };
}

/** Chat message content as text: a string, or the text parts of an array joined. */
function chatText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let text = '';
  for (const part of content) if (isRecord(part) && typeof part.text === 'string') text += part.text;
  return text;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function isRecord(value: unknown): value is Record<string, any> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
