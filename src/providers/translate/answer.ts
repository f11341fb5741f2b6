/**
 * The protocol-neutral form of one finished answer, which the non-streamed response
 * translators go through (upstream body → Answer → client body), and the mapping of
 * finish / stop reasons between protocols.
 *
 *   chat finish_reason   Anthropic stop_reason          Responses status (incomplete_details.reason)
 *   stop                 end_turn | stop_sequence |     completed
 *                        pause_turn
 *   length               max_tokens                     incomplete (max_output_tokens)
 *   tool_calls           tool_use                       completed
 *   content_filter       refusal                        incomplete (content_filter)
 */
import type { NormalizedUsage } from '../usage-normalized.ts';
import type { AnthropicStopReason } from './anthropic-wire.ts';
import type { ChatFinishReason } from './chat-wire.ts';

/** Why generation ended, in chat's vocabulary. */
export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

/** One function/tool call of an answer; `arguments` is JSON text. */
export interface AnswerToolCall { id: string; name: string; arguments: string }

/** A finished answer, whatever protocol it came in. */
export interface Answer {
  /** Upstream id without its protocol prefix is not assumed; writers add their own prefix. */
  id: string;
  model: string;
  /** Unix seconds. */
  created: number;
  text: string;
  /** Visible reasoning text (chat `reasoning_content`, Anthropic thinking), '' when none. */
  reasoning: string;
  toolCalls: AnswerToolCall[];
  finish: FinishReason;
  /** The stop sequence that ended the answer, when the upstream says which. */
  stopSequence: string | null;
  usage: NormalizedUsage;
}

/** Chat finish_reason → neutral (the legacy `function_call` counts as tool calls). */
export function finishFromChat(reason: unknown): FinishReason {
  switch (reason) {
    case 'length':
      return 'length';
    case 'tool_calls':
    case 'function_call':
      return 'tool_calls';
    case 'content_filter':
      return 'content_filter';
    default:
      return 'stop';
  }
}

/** Anthropic stop_reason → neutral. */
export function finishFromAnthropic(reason: unknown): FinishReason {
  switch (reason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return 'stop';
  }
}

/** Neutral → chat finish_reason. */
export function finishToChat(finish: FinishReason): ChatFinishReason {
  return finish;
}

/** Neutral → Anthropic stop_reason. */
export function finishToAnthropic(finish: FinishReason, stopSequence: string | null): AnthropicStopReason {
  switch (finish) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return stopSequence !== null ? 'stop_sequence' : 'end_turn';
  }
}

/** Neutral → Responses `incomplete_details.reason`, or null for a completed response. */
export function incompleteReason(finish: FinishReason): 'max_output_tokens' | 'content_filter' | null {
  if (finish === 'length') return 'max_output_tokens';
  if (finish === 'content_filter') return 'content_filter';
  return null;
}

/** An id with the client protocol's prefix (`resp_`, `msg_`, `fc_`), keeping the upstream's suffix. */
export function withPrefix(prefix: string, id: string): string {
  if (id.startsWith(prefix)) return id;
  const dash = id.indexOf('-');
  const underscore = id.indexOf('_');
  // chatcmpl-abc / msg_abc → abc: the upstream's own prefix says nothing to the client.
  const cut = dash >= 0 && (underscore < 0 || dash < underscore) ? dash : underscore;
  return prefix + (cut >= 0 ? id.slice(cut + 1) : id);
}
