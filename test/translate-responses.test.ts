/** Non-streamed answer translation and the normalised usage of every protocol. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  anthropicToChatCompletion, anthropicToResponse, chatCompletionToAnthropic, chatCompletionToResponse,
} from '../src/providers/translate/index.ts';
import {
  mergeAnthropicUsage, usageFromAnthropic, usageFromChat, usageFromResponses, usageToAnthropic, usageToChat, usageToResponses,
  type NormalizedUsage,
} from '../src/providers/usage-normalized.ts';
import { ANTHROPIC_MESSAGE, CHAT_COMPLETION } from './support/translate-fixtures.ts';

const SAME: NormalizedUsage = { inputTokens: 120, cachedInputTokens: 100, cacheWriteTokens: 0, outputTokens: 30, reasoningTokens: 0 };

describe('non-streamed answers', () => {
  test('chat completion → Anthropic message', () => {
    assert.deepEqual(chatCompletionToAnthropic(CHAT_COMPLETION), {
      id: 'msg_B9MBs8CjcvOU2jLn4n570S5qMJKcT',
      type: 'message',
      role: 'assistant',
      model: 'gpt-4.1-2025-04-14',
      content: [
        { type: 'text', text: 'Hello world' },
        { type: 'tool_use', id: 'call_DdmO9pD3xa9XTPNJ32zg2hcA', name: 'get_weather', input: { city: 'Paris' } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 100, output_tokens: 30 },
    });
  });

  test('Anthropic message → chat completion', () => {
    const out = anthropicToChatCompletion(ANTHROPIC_MESSAGE);
    assert.equal(out.object, 'chat.completion');
    assert.equal(out.id, 'chatcmpl-013Zva2CMHLNnXjNJJKqJ2EF');
    assert.deepEqual(out.choices[0].message, {
      role: 'assistant', content: 'Hello world', refusal: null,
      tool_calls: [{ id: 'toolu_01A09q90qw90lq917835lq9', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
    });
    assert.equal(out.choices[0].finish_reason, 'tool_calls');
    assert.deepEqual(out.usage, {
      prompt_tokens: 120, completion_tokens: 30, total_tokens: 150,
      prompt_tokens_details: { cached_tokens: 100 }, completion_tokens_details: { reasoning_tokens: 0 },
    });
  });

  test('chat and Anthropic → Responses object: message then function_call items, usage', () => {
    for (const response of [chatCompletionToResponse(CHAT_COMPLETION), anthropicToResponse(ANTHROPIC_MESSAGE)]) {
      assert.equal(response.object, 'response');
      assert.match(response.id, /^resp_/);
      assert.equal(response.status, 'completed');
      assert.deepEqual(response.output.map((i) => i.type), ['message', 'function_call']);
      assert.deepEqual((response.output[0] as any).content, [{ type: 'output_text', text: 'Hello world', annotations: [] }]);
      const call = response.output[1] as any;
      assert.deepEqual([call.name, call.arguments, call.status], ['get_weather', '{"city":"Paris"}', 'completed']);
      assert.match(call.id, /^fc_/);
      assert.deepEqual(usageFromResponses(response.usage), SAME);
    }
  });

  test('stop reasons map both ways', () => {
    const chat = (finish: string) => ({ ...CHAT_COMPLETION, choices: [{ ...CHAT_COMPLETION.choices[0], message: { role: 'assistant', content: 'x' }, finish_reason: finish }] });
    assert.equal(chatCompletionToAnthropic(chat('length')).stop_reason, 'max_tokens');
    assert.equal(chatCompletionToAnthropic(chat('stop')).stop_reason, 'end_turn');
    assert.equal(chatCompletionToAnthropic(chat('content_filter')).stop_reason, 'refusal');
    const message = (reason: string, sequence: string | null = null) => ({ ...ANTHROPIC_MESSAGE, content: [{ type: 'text', text: 'x' }], stop_reason: reason, stop_sequence: sequence });
    assert.equal(anthropicToChatCompletion(message('max_tokens')).choices[0].finish_reason, 'length');
    assert.equal(anthropicToChatCompletion(message('stop_sequence', 'END')).choices[0].finish_reason, 'stop');
    assert.equal(anthropicToChatCompletion(message('end_turn')).choices[0].finish_reason, 'stop');
    const incomplete = anthropicToResponse(message('max_tokens'));
    assert.equal(incomplete.status, 'incomplete');
    assert.deepEqual(incomplete.incomplete_details, { reason: 'max_output_tokens' });
  });

  test('a body that is not the promised shape throws TypeError', () => {
    assert.throws(() => anthropicToChatCompletion({ error: 'x' }), TypeError);
    assert.throws(() => chatCompletionToAnthropic({ choices: [] }), TypeError);
  });
});

describe('normalised usage', () => {
  test('the same answer has the same usage in every protocol', () => {
    assert.deepEqual(usageFromChat(CHAT_COMPLETION.usage), SAME);
    assert.deepEqual(usageFromAnthropic(ANTHROPIC_MESSAGE.usage), SAME);
    assert.deepEqual(usageFromResponses({
      input_tokens: 120, input_tokens_details: { cached_tokens: 100 }, output_tokens: 30, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 150,
    }), SAME);
  });

  test('cache writes and reasoning survive the trips their shapes can carry', () => {
    const usage: NormalizedUsage = { inputTokens: 1000, cachedInputTokens: 600, cacheWriteTokens: 300, outputTokens: 250, reasoningTokens: 200 };
    assert.deepEqual(usageFromChat(usageToChat(usage)), usage);
    assert.deepEqual(usageFromResponses(usageToResponses(usage)), usage);
    assert.deepEqual(usageToAnthropic(usage), { input_tokens: 100, cache_read_input_tokens: 600, cache_creation_input_tokens: 300, output_tokens: 250 });
    assert.deepEqual(usageFromAnthropic(usageToAnthropic(usage)), { ...usage, reasoningTokens: 0 });
    assert.equal(usageFromChat({ prompt_tokens: 10, completion_tokens: 2, cache_creation_input_tokens: 4 })!.cacheWriteTokens, 4);
  });

  test('Anthropic stream usage: message_delta counts are cumulative and may restate input', () => {
    const start = usageFromAnthropic({ input_tokens: 20, cache_read_input_tokens: 100, cache_creation_input_tokens: 5, output_tokens: 1 })!;
    mergeAnthropicUsage(start, { output_tokens: 30 });
    assert.deepEqual(start, { inputTokens: 125, cachedInputTokens: 100, cacheWriteTokens: 5, outputTokens: 30, reasoningTokens: 0 });
    mergeAnthropicUsage(start, { input_tokens: 22, cache_read_input_tokens: 100, output_tokens: 31 });
    assert.deepEqual(start, { inputTokens: 127, cachedInputTokens: 100, cacheWriteTokens: 5, outputTokens: 31, reasoningTokens: 0 });
    // Placeholder zeros (some Anthropic-compatible servers) never erase a known count, as in the billed usage.
    mergeAnthropicUsage(start, { input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 });
    assert.deepEqual(start, { inputTokens: 127, cachedInputTokens: 100, cacheWriteTokens: 5, outputTokens: 31, reasoningTokens: 0 });
  });

  test('non-usage values give null; negative or fractional counts are cleaned', () => {
    assert.equal(usageFromChat(null), null);
    assert.equal(usageFromAnthropic({}), null);
    assert.equal(usageFromResponses('x'), null);
    assert.deepEqual(usageFromChat({ prompt_tokens: -3, completion_tokens: 2.7 }), { inputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: 2, reasoningTokens: 0 });
  });
});
