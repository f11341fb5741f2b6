/** Request translation between chat, Responses and Anthropic Messages, with round trips and refusals. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  anthropicToChatRequest, chatToAnthropicRequest, responsesToAnthropicRequest, responsesToChatRequest, TranslationError,
} from '../src/providers/translate/index.ts';

const WEATHER_SCHEMA = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };

const CHAT_REQUEST = {
  model: 'gpt-4.1',
  messages: [
    { role: 'system', content: 'You are terse.' },
    {
      role: 'user', content: [
        { type: 'text', text: 'What is in these images, and the weather in Paris?' },
        { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
      ],
    },
    { role: 'assistant', content: 'Checking.', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: '18C and sunny' },
  ],
  tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: WEATHER_SCHEMA } }],
  tool_choice: { type: 'function', function: { name: 'get_weather' } },
  parallel_tool_calls: false,
  max_completion_tokens: 500,
  temperature: 1.5,
  top_p: 0.9,
  stop: ['END'],
  stream: true,
  stream_options: { include_usage: true },
  user: 'user-42',
};

describe('chat → Anthropic', () => {
  test('system, images, tool calls and results, tools, limits, sampling, stop', () => {
    const out = chatToAnthropicRequest(CHAT_REQUEST);
    assert.deepEqual(out, {
      model: 'gpt-4.1',
      system: 'You are terse.',
      messages: [
        {
          role: 'user', content: [
            { type: 'text', text: 'What is in these images, and the weather in Paris?' },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
          ],
        },
        {
          role: 'assistant', content: [
            { type: 'text', text: 'Checking.' },
            { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
          ],
        },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: '18C and sunny' }] },
      ],
      max_tokens: 500,
      temperature: 1,
      top_p: 0.9,
      stop_sequences: ['END'],
      stream: true,
      metadata: { user_id: 'user-42' },
      tools: [{ name: 'get_weather', description: 'Weather for a city', input_schema: WEATHER_SCHEMA }],
      tool_choice: { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true },
    });
  });

  test('defaults max_tokens, maps required/none, json_schema and reasoning effort', () => {
    const base = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
    assert.equal(chatToAnthropicRequest(base).max_tokens, 4096);
    const tools = [{ type: 'function', function: { name: 'f' } }];
    assert.deepEqual(chatToAnthropicRequest({ ...base, tools, tool_choice: 'required' }).tool_choice, { type: 'any' });
    assert.deepEqual(chatToAnthropicRequest({ ...base, tools, tool_choice: 'none' }).tool_choice, { type: 'none' });
    assert.deepEqual(chatToAnthropicRequest({ ...base, tools }).tools, [{ name: 'f', input_schema: { type: 'object', properties: {} } }]);
    const json = chatToAnthropicRequest({ ...base, response_format: { type: 'json_schema', json_schema: { name: 'w', schema: WEATHER_SCHEMA, strict: true } } });
    assert.deepEqual(json.output_config, { format: { type: 'json_schema', schema: WEATHER_SCHEMA } });
    const thinking = chatToAnthropicRequest({ ...base, reasoning_effort: 'medium', temperature: 0.2, max_tokens: 8000 });
    assert.deepEqual(thinking.thinking, { type: 'enabled', budget_tokens: 4096 });
    assert.equal(thinking.temperature, undefined);
    assert.equal(chatToAnthropicRequest({ ...base, reasoning_effort: 'high', max_tokens: 2000 }).thinking, undefined);
  });

  test('untranslatable requests are TranslationErrors naming the param', () => {
    const base = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
    const refuses = (body: object, param: string) =>
      assert.throws(() => chatToAnthropicRequest(body), (e: unknown) => e instanceof TranslationError && e.status === 400 && e.param === param);
    refuses({ ...base, n: 2 }, 'n');
    refuses({ ...base, logprobs: true }, 'logprobs');
    refuses({ ...base, messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] }, 'messages[0].content[0].type');
    refuses({ ...base, tools: [{ type: 'custom', custom: { name: 'x' } }] }, 'tools[0].type');
    refuses({ ...base, messages: [{ role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{bad' } }] }] },
      'messages[0].tool_calls[0].function.arguments');
    refuses({ ...base, max_tokens: 0 }, 'max_tokens');
  });
});

describe('Anthropic → chat', () => {
  test('system blocks, images, tool_use and tool_result, tools, choice, thinking, output format', () => {
    const out = anthropicToChatRequest({
      model: 'claude',
      max_tokens: 1024,
      system: [{ type: 'text', text: 'Be brief.' }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Look' }, { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: 'AAAA' } }] },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'hmm', signature: 's' }, { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'sunny' }] }, { type: 'text', text: 'Thanks' }] },
      ],
      tools: [{ name: 'get_weather', description: 'Weather', input_schema: WEATHER_SCHEMA }],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      stop_sequences: ['###'],
      temperature: 0.5,
      top_k: 5,
      stream: true,
      thinking: { type: 'enabled', budget_tokens: 2000 },
      output_config: { format: { type: 'json_schema', schema: WEATHER_SCHEMA } },
      metadata: { user_id: 'u1' },
    });
    assert.deepEqual(out, {
      model: 'claude',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'Look' }, { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,AAAA' } }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'toolu_1', content: 'sunny' },
        { role: 'user', content: [{ type: 'text', text: 'Thanks' }] },
      ],
      max_completion_tokens: 1024,
      temperature: 0.5,
      stop: ['###'],
      stream: true,
      stream_options: { include_usage: true },
      user: 'u1',
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: WEATHER_SCHEMA } }],
      tool_choice: 'required',
      parallel_tool_calls: false,
      response_format: { type: 'json_schema', json_schema: { name: 'output', schema: WEATHER_SCHEMA, strict: true } },
      reasoning_effort: 'low',
    });
    assert.equal(anthropicToChatRequest({ model: 'c', max_tokens: 9, messages: [] }, { maxTokensField: 'max_tokens' }).max_tokens, 9);
  });

  test('server tools and documents are refused', () => {
    assert.throws(() => anthropicToChatRequest({ model: 'c', max_tokens: 1, messages: [], tools: [{ type: 'web_search_20250305', name: 'web_search' }] }),
      (e: unknown) => e instanceof TranslationError && e.param === 'tools.0.type');
    assert.throws(() => anthropicToChatRequest({ model: 'c', max_tokens: 1, messages: [{ role: 'user', content: [{ type: 'document', source: {} }] }] }),
      (e: unknown) => e instanceof TranslationError && e.param === 'messages.0.content.0.type');
  });

  test('round trip chat → Anthropic → chat keeps the conversation', () => {
    const back = anthropicToChatRequest(chatToAnthropicRequest(CHAT_REQUEST));
    assert.deepEqual(back.messages.map((m) => m.role), ['system', 'user', 'assistant', 'tool']);
    assert.deepEqual(back.messages[2].tool_calls, CHAT_REQUEST.messages[2].tool_calls);
    assert.equal(back.messages[2].content, 'Checking.');
    assert.deepEqual((back.messages[1].content as any[])[2], { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } });
    assert.deepEqual(back.tools, CHAT_REQUEST.tools);
    assert.deepEqual(back.tool_choice, CHAT_REQUEST.tool_choice);
    assert.equal(back.max_completion_tokens, 500);
    assert.deepEqual(back.stop, ['END']);
  });
});

describe('Responses → chat / Anthropic', () => {
  const RESPONSES_REQUEST = {
    model: 'gpt-4.1',
    instructions: 'You are terse.',
    input: [
      { role: 'user', content: [{ type: 'input_text', text: 'Weather in Paris?' }, { type: 'input_image', image_url: 'https://example.com/p.png', detail: 'auto' }] },
      { type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}', status: 'completed' },
      { type: 'function_call_output', call_id: 'call_1', output: '18C' },
      { type: 'reasoning', id: 'rs_1', summary: [] },
    ],
    tools: [{ type: 'function', name: 'get_weather', description: 'Weather', parameters: WEATHER_SCHEMA, strict: true }],
    tool_choice: 'auto',
    max_output_tokens: 300,
    temperature: 0.3,
    text: { format: { type: 'json_schema', name: 'weather', schema: WEATHER_SCHEMA, strict: true } },
    reasoning: { effort: 'low' },
    store: true,
    stream: true,
  };

  test('to chat', () => {
    assert.deepEqual(responsesToChatRequest(RESPONSES_REQUEST), {
      model: 'gpt-4.1',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }, { type: 'image_url', image_url: { url: 'https://example.com/p.png' } }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: '18C' },
      ],
      max_completion_tokens: 300,
      temperature: 0.3,
      stream: true,
      stream_options: { include_usage: true },
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: WEATHER_SCHEMA, strict: true } }],
      tool_choice: 'auto',
      response_format: { type: 'json_schema', json_schema: { name: 'weather', schema: WEATHER_SCHEMA, strict: true } },
      reasoning_effort: 'low',
    });
    assert.deepEqual(responsesToChatRequest({ model: 'm', input: 'hi' }).messages, [{ role: 'user', content: 'hi' }]);
  });

  test('to Anthropic', () => {
    const out = responsesToAnthropicRequest(RESPONSES_REQUEST);
    assert.equal(out.system, 'You are terse.');
    assert.equal(out.max_tokens, 300);
    assert.deepEqual(out.messages[1], { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } }] });
    assert.deepEqual(out.messages[2], { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: '18C' }] });
    assert.deepEqual(out.output_config, { format: { type: 'json_schema', schema: WEATHER_SCHEMA } });
    assert.equal(out.thinking, undefined, 'a 1024 budget does not fit under 300 max tokens');
    assert.deepEqual(out.tool_choice, { type: 'auto' });
  });

  test('previous_response_id, built-in tools and file inputs are refused', () => {
    const refuses = (body: object, param: string) =>
      assert.throws(() => responsesToChatRequest({ model: 'm', input: 'hi', ...body }), (e: unknown) => e instanceof TranslationError && e.param === param);
    refuses({ previous_response_id: 'resp_1' }, 'previous_response_id');
    refuses({ tools: [{ type: 'web_search' }] }, 'tools[0].type');
    refuses({ input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'f' }] }] }, 'input[0].content[0].type');
    assert.throws(() => responsesToAnthropicRequest({ model: 'm', input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'data:image/png,xx' }] }] }),
      (e: unknown) => e instanceof TranslationError && e.param === 'input');
  });
});
