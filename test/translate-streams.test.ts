/**
 * Stream translation fed one upstream event at a time: the client's events come in
 * its protocol's order, their text and arguments equal the non-streamed translation
 * of the same answer, and broken upstream streams end in a clean error event.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  anthropicToChatCompletion, anthropicToChatStream, anthropicToResponse, anthropicToResponsesStream, chatCompletionToAnthropic,
  chatCompletionToResponse, chatToAnthropicStream, chatToResponsesStream, type StreamTranslator,
} from '../src/providers/translate/index.ts';
import { usageFromAnthropic, usageFromChat, usageFromResponses } from '../src/providers/usage-normalized.ts';
import {
  ANTHROPIC_MESSAGE, ANTHROPIC_STREAM, anthropicStreamBytes, CHAT_COMPLETION, CHAT_STREAM, chatStreamBytes, checkAnthropicOrder,
  checkChatOrder, checkResponsesOrder, parseSse,
} from './support/translate-fixtures.ts';

/** Feeds events one by one; checks each push returns only complete events. */
function feedChat(translator: StreamTranslator, stream = CHAT_STREAM): string {
  let out = '';
  for (const data of stream) {
    const piece = translator.push(data);
    assert.ok(piece === '' || piece.endsWith('\n\n'), 'whole events only');
    out += piece;
  }
  return out + translator.end();
}

function feedAnthropic(translator: StreamTranslator, stream = ANTHROPIC_STREAM): string {
  let out = '';
  for (const [event, data] of stream) out += translator.push(data, event);
  return out + translator.end();
}

/** Feeds raw bytes in slices of `size`, cutting events (and UTF-8) anywhere. */
function feedBytes(translator: StreamTranslator, text: string, size: number): string {
  const bytes = Buffer.from(text);
  let out = '';
  for (let i = 0; i < bytes.length; i += size) out += translator.write(bytes.subarray(i, i + size));
  return out + translator.end();
}

describe('chat upstream → Anthropic client', () => {
  test('event order, text, tool arguments and usage match the non-streamed translation', () => {
    const t = chatToAnthropicStream();
    const { text, tools, delta } = checkAnthropicOrder(parseSse(feedChat(t)));
    const whole = chatCompletionToAnthropic(CHAT_COMPLETION);
    assert.equal(text, (whole.content[0] as { text: string }).text);
    assert.deepEqual(tools.map((x) => ({ ...x, arguments: JSON.parse(x.arguments) })),
      whole.content.slice(1).map((b: any) => ({ id: b.id, name: b.name, arguments: b.input })));
    assert.equal(delta.delta.stop_reason, 'tool_use');
    assert.equal(delta.delta.stop_reason, whole.stop_reason);
    assert.deepEqual(usageFromAnthropic(delta.usage), usageFromChat(CHAT_COMPLETION.usage));
    assert.deepEqual(delta.usage, whole.usage);
    assert.equal(t.failed, false);
  });

  test('raw bytes in 7-byte slices give the same events', () => {
    assert.equal(feedBytes(chatToAnthropicStream(), chatStreamBytes(), 7), feedChat(chatToAnthropicStream()));
  });

  test('a stream without [DONE] but with a finish reason still completes', () => {
    const events = parseSse(feedChat(chatToAnthropicStream(), CHAT_STREAM.slice(0, -1)));
    checkAnthropicOrder(events);
  });
});

describe('Anthropic upstream → chat client', () => {
  test('role chunk, deltas, tool call deltas, finish and usage chunk; equal to non-streamed', () => {
    const t = anthropicToChatStream(true);
    const { text, tools, finish, usage } = checkChatOrder(parseSse(feedAnthropic(t)), true);
    const whole = anthropicToChatCompletion(ANTHROPIC_MESSAGE);
    assert.equal(text, whole.choices[0].message.content);
    assert.deepEqual(tools.map((x) => ({ id: x.id, type: 'function', function: { name: x.name, arguments: x.arguments } })),
      whole.choices[0].message.tool_calls);
    assert.equal(finish, whole.choices[0].finish_reason);
    assert.deepEqual(usage, whole.usage);
    assert.deepEqual(usageFromChat(usage), usageFromAnthropic(ANTHROPIC_MESSAGE.usage));
  });

  test('without include_usage there is no usage chunk; ping is dropped', () => {
    const out = feedAnthropic(anthropicToChatStream(false));
    checkChatOrder(parseSse(out), false);
    assert.ok(!out.includes('ping'));
  });

  test('raw bytes in 5-byte slices give the same chunks', () => {
    assert.equal(feedBytes(anthropicToChatStream(true), anthropicStreamBytes(), 5), feedAnthropic(anthropicToChatStream(true)));
  });
});

describe('→ Responses client', () => {
  for (const [name, make, feed, whole] of [
    ['chat upstream', chatToResponsesStream, feedChat, chatCompletionToResponse(CHAT_COMPLETION)],
    ['Anthropic upstream', anthropicToResponsesStream, feedAnthropic, anthropicToResponse(ANTHROPIC_MESSAGE)],
  ] as const) {
    test(`${name}: event sequence, text and arguments equal the non-streamed response`, () => {
      const events = parseSse((feed as (t: StreamTranslator) => string)(make({ tools: [{ type: 'function', name: 'get_weather' }] })));
      const { response, text, args } = checkResponsesOrder(events);
      assert.deepEqual(events.map((e) => e.event), [
        'response.created', 'response.in_progress',
        'response.output_item.added', 'response.content_part.added', 'response.output_text.delta', 'response.output_text.delta',
        'response.output_text.done', 'response.content_part.done', 'response.output_item.done',
        'response.output_item.added', 'response.function_call_arguments.delta', 'response.function_call_arguments.delta',
        'response.function_call_arguments.done', 'response.output_item.done',
        'response.completed',
      ]);
      assert.equal(text, 'Hello world');
      assert.equal(args, '{"city":"Paris"}');
      assert.equal(response.status, 'completed');
      assert.deepEqual(response.usage, whole.usage);
      assert.deepEqual(usageFromResponses(response.usage), { inputTokens: 120, cachedInputTokens: 100, cacheWriteTokens: 0, outputTokens: 30, reasoningTokens: 0 });
      const strip = (items: any[]) => items.map(({ id: _id, ...rest }) => rest);
      assert.deepEqual(strip(response.output), strip(whole.output));
      assert.deepEqual(response.tools, [{ type: 'function', name: 'get_weather' }]);
    });
  }

  test('a length-limited answer ends with response.incomplete', () => {
    const stream = [CHAT_STREAM[0], CHAT_STREAM[1], CHAT_STREAM[6].replace('"tool_calls"}', '"length"}'), '[DONE]'];
    const events = parseSse(feedChat(chatToResponsesStream(), stream));
    const { response } = checkResponsesOrder(events);
    assert.equal(events.at(-1)!.event, 'response.incomplete');
    assert.deepEqual(response.incomplete_details, { reason: 'max_output_tokens' });
  });

  test('Anthropic thinking becomes a reasoning item before the message', () => {
    const stream: Array<[string, string]> = [
      ANTHROPIC_STREAM[0],
      ['content_block_start', '{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}'],
      ['content_block_delta', '{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me think."}}'],
      ['content_block_delta', '{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}}'],
      ['content_block_stop', '{"type":"content_block_stop","index":0}'],
      ['content_block_start', '{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}'],
      ['content_block_delta', '{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hi"}}'],
      ['content_block_stop', '{"type":"content_block_stop","index":1}'],
      ['message_delta', '{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":9}}'],
      ['message_stop', '{"type":"message_stop"}'],
    ];
    const { response, text } = checkResponsesOrder(parseSse(feedAnthropic(anthropicToResponsesStream(), stream)));
    assert.equal(text, 'Hi');
    assert.deepEqual(response.output.map((i: any) => i.type), ['reasoning', 'message']);
    assert.equal(response.output[0].summary[0].text, 'Let me think.');
  });
});

describe('bad upstream streams end in the client protocol\'s error event', () => {
  test('malformed JSON', () => {
    const anthropic = chatToAnthropicStream();
    const out = anthropic.push(CHAT_STREAM[0]) + anthropic.push('{"id":') + anthropic.push(CHAT_STREAM[1]) + anthropic.end();
    const events = parseSse(out);
    assert.deepEqual(events.map((e) => e.event), ['message_start', 'error']);
    assert.equal(events[1].data.type, 'error');
    assert.equal(events[1].data.error.type, 'api_error');
    assert.equal(anthropic.failed, true);

    const chat = anthropicToChatStream(true);
    const chunks = parseSse(chat.push(ANTHROPIC_STREAM[0][1], 'message_start') + chat.push('not json', 'content_block_delta') + chat.end());
    assert.equal(chunks.at(-1)!.data.error.type, 'server_error');
    assert.ok(chunks.every((e) => e.data !== '[DONE]'), 'no [DONE] after an error');
  });

  test('cut mid-event', () => {
    const bytes = anthropicStreamBytes();
    const cut = bytes.slice(0, bytes.indexOf('" world"') + 4);
    const t = anthropicToResponsesStream();
    const events = parseSse(t.write(cut) + t.end());
    assert.equal(events.at(-1)!.event, 'response.failed');
    assert.equal(events.at(-1)!.data.response.status, 'failed');
    assert.match(events.at(-1)!.data.response.error.message, /cut/);
    assert.equal(t.failed, true);
  });

  test('ended before the answer finished (no message_stop / no finish_reason)', () => {
    const t = anthropicToChatStream(false);
    const events = parseSse(feedAnthropic(t, ANTHROPIC_STREAM.slice(0, 5)));
    assert.ok(events.at(-1)!.data.error, 'error chunk');
    const c = chatToResponsesStream();
    const responses = parseSse(feedChat(c, CHAT_STREAM.slice(0, 3)));
    assert.equal(responses.at(-1)!.event, 'response.failed');
  });

  test('an upstream error event is passed on with its type', () => {
    const t = anthropicToChatStream(false);
    const out = t.push(ANTHROPIC_STREAM[0][1], 'message_start') +
      t.push('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', 'error') + t.end();
    const last = parseSse(out).at(-1)!.data;
    assert.deepEqual(last.error.message, 'Overloaded');
    assert.equal(last.error.type, 'overloaded_error');
  });

  test('unknown but valid event types are dropped, the answer goes on', () => {
    const stream = [...ANTHROPIC_STREAM];
    stream.splice(3, 0, ['future_event', '{"type":"future_event","x":1}']);
    assert.equal(feedAnthropic(anthropicToChatStream(true), stream), feedAnthropic(anthropicToChatStream(true)));
    const chat = [...CHAT_STREAM];
    chat.splice(2, 0, '{"object":"something.else"}');
    assert.equal(feedChat(chatToAnthropicStream(), chat), feedChat(chatToAnthropicStream()));
  });

  test('abort after a connection failure; nothing more is written afterwards', () => {
    const t = chatToAnthropicStream();
    const first = t.push(CHAT_STREAM[0]);
    const error = parseSse(t.abort('upstream reset'));
    assert.equal(error[0].event, 'error');
    assert.equal(t.push(CHAT_STREAM[1]) + t.end(), '');
    assert.ok(first.length > 0);
  });
});
