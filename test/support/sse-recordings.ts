/**
 * Upstream SSE streams as providers send them, for the scanner and usage-tap
 * tests: an OpenAI chat stream with `stream_options.include_usage` (its
 * usage-only event kept apart, so a test can expect the stream without it)
 * and an Anthropic Messages stream. The text has escapes and multi-byte
 * characters, so a split may fall inside either.
 */

const chunk = (delta: object, finish: string | null = null) =>
  `data: {"id":"chatcmpl-9xQ","object":"chat.completion.chunk","created":1718000000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0aa8d3e20b","choices":[{"index":0,"delta":${JSON.stringify(delta)},"logprobs":null,"finish_reason":${JSON.stringify(finish)}}],"usage":null}\n\n`;

/** The event include_usage adds: no choices, the usage object. */
export const OPENAI_USAGE_EVENT =
  'data: {"id":"chatcmpl-9xQ","object":"chat.completion.chunk","created":1718000000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0aa8d3e20b","choices":[],"usage":{"prompt_tokens":19,"completion_tokens":11,"total_tokens":30,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}\n\n';

/** The content deltas of OPENAI_CHAT_STREAM, in order. */
export const OPENAI_DELTAS = ['Hello', ' — «café»', ' says "hi"\n', ' 👋', '.'];

export const OPENAI_CHAT_STREAM =
  chunk({ role: 'assistant', content: '', refusal: null }) +
  OPENAI_DELTAS.map((text) => chunk({ content: text })).join('') +
  chunk({}, 'stop') +
  OPENAI_USAGE_EVENT +
  'data: [DONE]\n\n';

export const OPENAI_USAGE = { promptTokens: 19, completionTokens: 11, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, invalid: false, promptReported: true, completionReported: true };

/** The text deltas of ANTHROPIC_MESSAGES_STREAM, in order. */
export const ANTHROPIC_DELTAS = ['Bonjour', ', «monde»', ' — "quoted"', ' ✓'];

const textDelta = (text: string) =>
  `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":${JSON.stringify(text)}}}\n\n`;

export const ANTHROPIC_MESSAGES_STREAM =
  'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-20250514","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}\n\n' +
  'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n' +
  'event: ping\ndata: {"type": "ping"}\n\n' +
  ANTHROPIC_DELTAS.map(textDelta).join('') +
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n' +
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}\n\n' +
  'event: message_stop\ndata: {"type":"message_stop"}\n\n';

export const ANTHROPIC_USAGE = { promptTokens: 25, completionTokens: 15, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, invalid: false, promptReported: true, completionReported: true };
