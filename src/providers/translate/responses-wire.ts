/**
 * The parts of OpenAI's Responses wire format the translators read and write
 * (https://platform.openai.com/docs/api-reference/responses and .../responses-streaming).
 */
import type { ResponsesUsage } from '../usage-normalized.ts';

export interface ResponsesInputText { type: 'input_text'; text: string }
export interface ResponsesInputImage { type: 'input_image'; image_url?: string; file_id?: string; detail?: string }
export interface ResponsesOutputText { type: 'output_text'; text: string; annotations: unknown[] }

/** An input message item (the `type` may be omitted by clients). */
export interface ResponsesMessageItem {
  type?: 'message';
  role: 'user' | 'assistant' | 'system' | 'developer';
  content: string | Array<ResponsesInputText | ResponsesInputImage | ResponsesOutputText | { type: string; [key: string]: unknown }>;
  id?: string;
  status?: string;
}
export interface ResponsesFunctionCallItem { type: 'function_call'; id?: string; call_id: string; name: string; arguments: string; status?: string }
export interface ResponsesFunctionCallOutputItem { type: 'function_call_output'; call_id: string; output: string | unknown[] }
export type ResponsesInputItem =
  | ResponsesMessageItem | ResponsesFunctionCallItem | ResponsesFunctionCallOutputItem | { type: string; [key: string]: unknown };

export interface ResponsesFunctionTool {
  type: 'function';
  name: string;
  description?: string | null;
  parameters?: Record<string, unknown> | null;
  strict?: boolean | null;
}

export type ResponsesToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; name: string } | { type: string };

export interface ResponsesTextFormat {
  type: 'text' | 'json_object' | 'json_schema';
  name?: string;
  description?: string;
  schema?: Record<string, unknown>;
  strict?: boolean | null;
}

/** A Responses request body. */
export interface ResponsesRequest {
  model: string;
  input: string | ResponsesInputItem[];
  instructions?: string | null;
  max_output_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  stream?: boolean;
  tools?: Array<ResponsesFunctionTool | { type: string }>;
  tool_choice?: ResponsesToolChoice;
  parallel_tool_calls?: boolean | null;
  text?: { format?: ResponsesTextFormat };
  reasoning?: { effort?: string | null; summary?: string | null } | null;
  previous_response_id?: string | null;
  store?: boolean | null;
  user?: string;
  [key: string]: unknown;
}

export interface ResponsesOutputMessage {
  type: 'message';
  id: string;
  status: 'in_progress' | 'completed' | 'incomplete';
  role: 'assistant';
  content: ResponsesOutputText[];
}
export interface ResponsesOutputFunctionCall {
  type: 'function_call';
  id: string;
  call_id: string;
  name: string;
  arguments: string;
  status: 'in_progress' | 'completed' | 'incomplete';
}
export interface ResponsesOutputReasoning { type: 'reasoning'; id: string; summary: Array<{ type: 'summary_text'; text: string }> }
export type ResponsesOutputItem = ResponsesOutputMessage | ResponsesOutputFunctionCall | ResponsesOutputReasoning;

/** A Responses `response` object (non-streamed body, and inside lifecycle events). */
export interface ResponsesResponse {
  id: string;
  object: 'response';
  created_at: number;
  status: 'in_progress' | 'completed' | 'incomplete' | 'failed';
  error: { code: string; message: string } | null;
  incomplete_details: { reason: 'max_output_tokens' | 'content_filter' } | null;
  model: string;
  output: ResponsesOutputItem[];
  parallel_tool_calls: boolean;
  tool_choice: unknown;
  tools: unknown[];
  usage: ResponsesUsage | null;
  [key: string]: unknown;
}
