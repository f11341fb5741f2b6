/**
 * One answer ("Hello world", then a get_weather call for Paris; 120 prompt tokens of
 * which 100 cached, 30 output tokens) in each protocol's documented shape, streamed and
 * not, written by hand from the OpenAI and Anthropic API references, plus helpers that
 * parse SSE text and check each protocol's event order.
 */
import assert from 'node:assert/strict';

export const CHAT_COMPLETION = {
  id: 'chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT',
  object: 'chat.completion',
  created: 1741569952,
  model: 'gpt-4.1-2025-04-14',
  choices: [{
    index: 0,
    message: {
      role: 'assistant', content: 'Hello world', refusal: null, annotations: [],
      tool_calls: [{ id: 'call_DdmO9pD3xa9XTPNJ32zg2hcA', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
    },
    logprobs: null,
    finish_reason: 'tool_calls',
  }],
  usage: {
    prompt_tokens: 120, completion_tokens: 30, total_tokens: 150,
    prompt_tokens_details: { cached_tokens: 100, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  },
  service_tier: 'default',
  system_fingerprint: 'fp_3b4c3d4e5f',
};

export const ANTHROPIC_MESSAGE = {
  id: 'msg_013Zva2CMHLNnXjNJJKqJ2EF',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-5-20250929',
  content: [
    { type: 'text', text: 'Hello world' },
    { type: 'tool_use', id: 'toolu_01A09q90qw90lq917835lq9', name: 'get_weather', input: { city: 'Paris' } },
  ],
  stop_reason: 'tool_use',
  stop_sequence: null,
  usage: { input_tokens: 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 100, output_tokens: 30, service_tier: 'standard' },
};

const head = '{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4.1-2025-04-14","system_fingerprint":"fp_3b4c3d4e5f",';
const choice = (delta: string, finish = 'null') => head + '"choices":[{"index":0,"delta":' + delta + ',"logprobs":null,"finish_reason":' + finish + '}],"usage":null}';

/** Data lines of the chat stream (with `stream_options.include_usage`). */
export const CHAT_STREAM: string[] = [
  choice('{"role":"assistant","content":"","refusal":null}'),
  choice('{"content":"Hello"}'),
  choice('{"content":" world"}'),
  choice('{"tool_calls":[{"index":0,"id":"call_DdmO9pD3xa9XTPNJ32zg2hcA","type":"function","function":{"name":"get_weather","arguments":""}}]}'),
  choice('{"tool_calls":[{"index":0,"function":{"arguments":"{\\"ci"}}]}'),
  choice('{"tool_calls":[{"index":0,"function":{"arguments":"ty\\":\\"Paris\\"}"}}]}'),
  choice('{}', '"tool_calls"'),
  head + '"choices":[],"usage":{"prompt_tokens":120,"completion_tokens":30,"total_tokens":150,"prompt_tokens_details":{"cached_tokens":100,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0}}}',
  '[DONE]',
];

/** [event, data] pairs of the Anthropic stream. */
export const ANTHROPIC_STREAM: Array<[string, string]> = [
  ['message_start', '{"type":"message_start","message":{"id":"msg_013Zva2CMHLNnXjNJJKqJ2EF","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5-20250929","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":20,"cache_creation_input_tokens":0,"cache_read_input_tokens":100,"output_tokens":1}}}'],
  ['content_block_start', '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'],
  ['ping', '{"type":"ping"}'],
  ['content_block_delta', '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}'],
  ['content_block_delta', '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" world"}}'],
  ['content_block_stop', '{"type":"content_block_stop","index":0}'],
  ['content_block_start', '{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","input":{}}}'],
  ['content_block_delta', '{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}'],
  ['content_block_delta', '{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"ci"}}'],
  ['content_block_delta', '{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ty\\":\\"Paris\\"}"}}'],
  ['content_block_stop', '{"type":"content_block_stop","index":1}'],
  ['message_delta', '{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":30}}'],
  ['message_stop', '{"type":"message_stop"}'],
];

/** The chat stream as upstream bytes. */
export function chatStreamBytes(): string {
  return CHAT_STREAM.map((data) => 'data: ' + data + '\n\n').join('');
}

/** The Anthropic stream as upstream bytes. */
export function anthropicStreamBytes(): string {
  return ANTHROPIC_STREAM.map(([event, data]) => 'event: ' + event + '\ndata: ' + data + '\n\n').join('');
}

export interface SseEvent { event: string; data: any }

/** Parses SSE text; `[DONE]` comes back as the string '[DONE]'. */
export function parseSse(text: string): SseEvent[] {
  return text.split('\n\n').filter((block) => block.length > 0).map((block) => {
    let event = '';
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data = line.slice(6);
    }
    return { event, data: data === '[DONE]' ? data : JSON.parse(data) };
  });
}

/** Checks the Anthropic event order; returns the text and each tool's id, name and arguments. */
export function checkAnthropicOrder(events: SseEvent[]) {
  for (const e of events) assert.equal(e.event, e.data.type, 'event name equals data.type');
  assert.equal(events[0].event, 'message_start');
  assert.equal(events.at(-1)!.event, 'message_stop');
  assert.equal(events.at(-2)!.event, 'message_delta');
  let open = -1;
  let next = 0;
  let text = '';
  const tools: Array<{ id: string; name: string; arguments: string }> = [];
  const toolOfBlock = new Map<number, number>();
  for (const e of events.slice(1, -2)) {
    if (e.event === 'content_block_start') {
      assert.equal(open, -1, 'a block starts only after the previous one stopped');
      assert.equal(e.data.index, next++, 'block indexes count up from 0');
      open = e.data.index;
      if (e.data.content_block.type === 'tool_use') {
        toolOfBlock.set(open, tools.length);
        tools.push({ id: e.data.content_block.id, name: e.data.content_block.name, arguments: '' });
      }
    } else if (e.event === 'content_block_delta') {
      assert.equal(e.data.index, open, 'deltas belong to the open block');
      if (e.data.delta.type === 'text_delta') text += e.data.delta.text;
      else tools[toolOfBlock.get(open)!].arguments += e.data.delta.partial_json;
    } else if (e.event === 'content_block_stop') {
      assert.equal(e.data.index, open);
      open = -1;
    } else {
      assert.fail(`unexpected ${e.event} inside the message`);
    }
  }
  assert.equal(open, -1, 'every block is stopped before message_delta');
  return { text, tools, delta: events.at(-2)!.data };
}

/** Checks the chat chunk order; returns the text, tool calls, finish reason and usage. */
export function checkChatOrder(events: SseEvent[], includeUsage: boolean) {
  assert.equal(events.at(-1)!.data, '[DONE]');
  const chunks = events.slice(0, -1).map((e) => e.data);
  assert.equal(chunks[0].choices[0].delta.role, 'assistant', 'the first chunk carries the role');
  assert.equal(new Set(chunks.map((c) => c.id)).size, 1, 'one id');
  let finish: string | null = null;
  let usage: any = null;
  let text = '';
  const tools: Array<{ id: string; name: string; arguments: string }> = [];
  for (const chunk of chunks) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.choices.length === 0) {
      assert.notEqual(finish, null, 'usage comes after the finish chunk');
      usage = chunk.usage;
      continue;
    }
    assert.equal(usage, null, 'nothing after the usage chunk');
    const c = chunk.choices[0];
    if (c.finish_reason !== null) {
      assert.equal(finish, null, 'one finish chunk');
      finish = c.finish_reason;
    } else assert.equal(finish, null, 'no content after the finish chunk');
    if (typeof c.delta.content === 'string') text += c.delta.content;
    for (const call of c.delta.tool_calls ?? []) {
      if (call.id !== undefined) {
        assert.equal(call.index, tools.length, 'tool indexes count up from 0');
        tools.push({ id: call.id, name: call.function.name, arguments: call.function.arguments ?? '' });
      } else tools[call.index].arguments += call.function.arguments;
    }
  }
  assert.notEqual(finish, null);
  assert.equal(usage !== null, includeUsage, 'usage chunk exactly when asked for');
  return { text, tools, finish, usage };
}

/** Checks the Responses event order; returns the final response and the streamed text and arguments. */
export function checkResponsesOrder(events: SseEvent[]) {
  events.forEach((e, i) => {
    assert.equal(e.event, e.data.type);
    assert.equal(e.data.sequence_number, i, 'sequence numbers count up from 0');
  });
  assert.deepEqual(events.slice(0, 2).map((e) => e.event), ['response.created', 'response.in_progress']);
  const last = events.at(-1)!;
  assert.match(last.event, /^response\.(completed|incomplete)$/);
  let open = -1;
  let text = '';
  let args = '';
  const body = events.slice(2, -1);
  for (const e of body) {
    const d = e.data;
    if (e.event === 'response.output_item.added') {
      assert.equal(open, -1, 'one item at a time');
      open = d.output_index;
    } else if (e.event === 'response.output_item.done') {
      assert.equal(d.output_index, open);
      open = -1;
    } else {
      assert.equal(d.output_index, open, `${e.event} belongs to the open item`);
      if (e.event === 'response.output_text.delta') text += d.delta;
      if (e.event === 'response.function_call_arguments.delta') args += d.delta;
      if (e.event === 'response.output_text.done') assert.equal(d.text, text);
      if (e.event === 'response.function_call_arguments.done') assert.equal(d.arguments, args);
    }
  }
  assert.equal(open, -1);
  const kinds = body.map((e) => e.event);
  const message = kinds.indexOf('response.output_text.delta');
  if (message >= 0) {
    assert.deepEqual(kinds.slice(message - 2, message), ['response.output_item.added', 'response.content_part.added']);
  }
  return { response: last.data.response, text, args };
}
