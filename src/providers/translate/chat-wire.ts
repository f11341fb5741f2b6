/**
 * The parts of OpenAI's chat completions wire format the translators read and write
 * (https://platform.openai.com/docs/api-reference/chat). Client input is untrusted, so
 * readers still check shapes at run time; these types document what is expected.
 */
import type { ChatUsage } from '../usage-normalized.ts';

export interface ChatTextPart { type: 'text'; text: string }
export interface ChatImagePart { type: 'image_url'; image_url: { url: string; detail?: string } }
export type ChatContentPart = ChatTextPart | ChatImagePart | { type: string; [key: string]: unknown };

export interface ChatToolCall { id: string; type: 'function'; function: { name: string; arguments: string } }

export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool' | string;
  content?: string | ChatContentPart[] | null;
  name?: string;
  tool_calls?: ChatToolCall[];
  tool_call_id?: string;
  reasoning_content?: string;
}

export interface ChatTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean | null };
}

export type ChatToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };

export interface ChatResponseFormat {
  type: 'text' | 'json_object' | 'json_schema';
  json_schema?: { name: string; description?: string; schema?: Record<string, unknown>; strict?: boolean | null };
}

/** A chat completions request body. */
export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  max_tokens?: number;
  max_completion_tokens?: number;
  temperature?: number;
  top_p?: number;
  stop?: string | string[];
  n?: number;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  tools?: ChatTool[];
  tool_choice?: ChatToolChoice;
  parallel_tool_calls?: boolean;
  response_format?: ChatResponseFormat;
  reasoning_effort?: 'minimal' | 'low' | 'medium' | 'high' | string;
  user?: string;
  [key: string]: unknown;
}

export type ChatFinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call';

/** A non-streamed chat completion. */
export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: { role: 'assistant'; content: string | null; refusal: null; tool_calls?: ChatToolCall[]; reasoning_content?: string };
    logprobs: null;
    finish_reason: ChatFinishReason;
  }>;
  usage?: ChatUsage;
}

/** One tool-call fragment of a streamed chunk. */
export interface ChatToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

/** A streamed chat completion chunk. */
export interface ChatChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    delta: { role?: 'assistant'; content?: string | null; reasoning_content?: string; tool_calls?: ChatToolCallDelta[] };
    logprobs?: null;
    finish_reason: ChatFinishReason | null;
  }>;
  usage?: ChatUsage | null;
}
