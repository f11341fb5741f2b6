/**
 * Every client protocol reaches every channel type: the official `openai` SDK
 * (chat and the Responses API) and `@anthropic-ai/sdk` (Messages), each against
 * an OpenAI-type channel and an Anthropic channel, natively where the channel
 * speaks the protocol and translated where it does not. Also the model routes,
 * count_tokens, errors in the client's shape and broken upstream streams.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { zodTextFormat } from 'openai/helpers/zod';
import Anthropic from '@anthropic-ai/sdk';
import { z } from 'zod';
import { startMockUpstream, type MockUpstream } from '../src/mock/mock-upstream.ts';
import type { Fixture } from './support/gateway-fixture.ts';
import { startTwoChannels, type TwoChannels } from './support/two-channels.ts';

let gateway: TwoChannels;
let fx: Fixture;
let oaiUpstream: MockUpstream;
let antUpstream: MockUpstream;
let openai: OpenAI;
let anthropic: Anthropic;

const weather = {
  type: 'object' as const,
  properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'] } },
  required: ['city', 'unit'],
  additionalProperties: false,
};

before(async () => {
  gateway = await startTwoChannels({ upstreamModels: { oai: 'gpt-upstream', ant: 'claude-upstream' }, price: { inputMicrosPerMTok: 1_000_000, outputMicrosPerMTok: 2_000_000 }, credit: 1_000_000_000 });
  ({ fx, oai: oaiUpstream, ant: antUpstream } = gateway);
  openai = new OpenAI({ apiKey: fx.key, baseURL: `${fx.url}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: fx.key, baseURL: fx.url, maxRetries: 0 });
});
after(() => gateway.close());

const last = (m: MockUpstream) => m.stats.lastRequest!;

// ---- OpenAI chat ----------------------------------------------------------------

test('chat → Anthropic channel: translated to /v1/messages, streamed text equals the non-streamed answer', async () => {
  const params = { model: 'claude-x', messages: [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: 'Hello' }], max_tokens: 10 };
  const whole = await openai.chat.completions.create(params);
  assert.equal(whole.object, 'chat.completion');
  assert.equal(last(antUpstream).path, '/v1/messages');
  assert.equal(last(antUpstream).headers['x-api-key'], 'sk-ant-upstream');
  assert.equal(last(antUpstream).body.model, 'claude-upstream');
  assert.equal(last(antUpstream).body.system, 'Be brief.', 'the system message became Anthropic\'s system prompt');
  assert.equal(last(antUpstream).body.max_tokens, 10);
  assert.equal(whole.usage?.completion_tokens, 10);
  let streamed = '';
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const chunk of await openai.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } })) {
    streamed += chunk.choices[0]?.delta?.content ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(streamed, whole.choices[0].message.content);
  assert.equal(usage?.completion_tokens, 10);
});

test('chat tools → Anthropic channel: the tool call comes back with arguments valid for its schema', async () => {
  const tools = [{ type: 'function' as const, function: { name: 'get_weather', description: 'Weather now', parameters: weather } }];
  const r = await openai.chat.completions.create({ model: 'claude-x', messages: [{ role: 'user', content: 'Weather in Oslo?' }], tools, tool_choice: 'auto' });
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  const call = r.choices[0].message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
  assert.equal(call.function.name, 'get_weather');
  const args = JSON.parse(call.function.arguments);
  assert.equal(typeof args.city, 'string');
  assert.ok(['c', 'f'].includes(args.unit));
  assert.equal(last(antUpstream).body.tools[0].input_schema.type, 'object');

  // The same, streamed: tool-call deltas reassemble into the same call.
  const stream = openai.chat.completions.stream({ model: 'claude-x', messages: [{ role: 'user', content: 'Weather in Oslo?' }], tools });
  const final = await stream.finalChatCompletion();
  const streamedCall = final.choices[0].message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
  assert.equal(streamedCall.function.name, 'get_weather');
  assert.deepEqual(Object.keys(JSON.parse(streamedCall.function.arguments)).sort(), ['city', 'unit']);

  // The tool's result goes back as Anthropic's tool_result.
  await openai.chat.completions.create({
    model: 'claude-x', tools,
    messages: [{ role: 'user', content: 'Weather in Oslo?' }, r.choices[0].message, { role: 'tool', tool_call_id: call.id, content: '{"temp":3}' }],
  });
  const sent = last(antUpstream).body.messages;
  assert.equal(sent.at(-1).content[0].type, 'tool_result');
  assert.equal(sent.at(-1).content[0].tool_use_id, call.id);
});

// ---- OpenAI Responses ------------------------------------------------------------

for (const [model, upstream, path] of [['gpt-x', () => oaiUpstream, '/v1/responses'], ['claude-x', () => antUpstream, '/v1/messages']] as const) {
  test(`responses.create on ${model}: relayed to ${path}, streamed text equals the non-streamed answer, usage in response.completed`, async () => {
    const whole = await openai.responses.create({ model, input: 'Say something', instructions: 'Be nice.', max_output_tokens: 8 });
    assert.equal(last(upstream()).path, path);
    assert.equal(whole.object, 'response');
    assert.equal(whole.status, 'completed');
    assert.ok(whole.output_text.length > 0);
    assert.equal(whole.usage?.output_tokens, 8);
    const events: string[] = [];
    let text = '';
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of await openai.responses.create({ model, input: 'Say something', instructions: 'Be nice.', max_output_tokens: 8, stream: true })) {
      events.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') completed = event.response;
    }
    assert.equal(events[0], 'response.created');
    assert.equal(events.at(-1), 'response.completed');
    assert.ok(events.includes('response.output_text.delta'));
    assert.equal(text, whole.output_text);
    assert.equal(completed?.usage?.output_tokens, 8);
  });

  test(`responses with a function tool on ${model}: a function_call item, then its output accepted`, async () => {
    const tools = [{ type: 'function' as const, name: 'get_weather', description: 'Weather now', parameters: weather, strict: true }];
    const r = await openai.responses.create({ model, input: 'Weather in Oslo?', tools });
    const call = r.output.find((item) => item.type === 'function_call');
    assert.ok(call !== undefined && call.type === 'function_call');
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(Object.keys(JSON.parse(call.arguments)).sort(), ['city', 'unit']);
    // Streamed: the arguments arrive as deltas.
    let args = '';
    for await (const event of await openai.responses.create({ model, input: 'Weather in Oslo?', tools, stream: true })) {
      if (event.type === 'response.function_call_arguments.delta') args += event.delta;
    }
    assert.deepEqual(Object.keys(JSON.parse(args)).sort(), ['city', 'unit']);
    const next = await openai.responses.create({
      model, tools,
      input: [{ role: 'user', content: 'Weather in Oslo?' }, call, { type: 'function_call_output', call_id: call.call_id, output: '{"temp":3}' }],
    });
    assert.equal(next.status, 'completed');
  });

  test(`responses.parse with a zod schema on ${model}: output_parsed matches the schema`, async () => {
    const Person = z.object({ name: z.string(), age: z.number() });
    const r = await openai.responses.parse({ model, input: 'Invent a person.', text: { format: zodTextFormat(Person, 'person') } });
    const parsed = Person.parse(r.output_parsed);
    assert.equal(typeof parsed.name, 'string');
  });
}

test('responses on a translated channel: previous_response_id is a clear 400; GET /v1/responses/{id} is not offered', async () => {
  await assert.rejects(
    openai.responses.create({ model: 'claude-x', input: 'again', previous_response_id: 'resp_123' }),
    (err: { status?: number; error?: { param?: string } }) => err.status === 400 && err.error?.param === 'previous_response_id',
  );
  const r = await fetch(`${fx.url}/v1/responses/resp_123`, { headers: { authorization: `Bearer ${fx.key}` } });
  assert.equal(r.status, 404);
});

// ---- Anthropic Messages ----------------------------------------------------------

test('messages → OpenAI-type channel: translated to /v1/chat/completions, streamed and not, stop sequences honoured', async () => {
  const params = { model: 'gpt-x', max_tokens: 9, system: 'Be brief.', messages: [{ role: 'user' as const, content: 'Hello' }] };
  const msg = await anthropic.messages.create(params);
  assert.equal(msg.type, 'message');
  assert.equal(msg.usage.output_tokens, 9);
  assert.equal(last(oaiUpstream).path, '/v1/chat/completions');
  assert.equal(last(oaiUpstream).headers.authorization, 'Bearer sk-oai-upstream');
  assert.equal(last(oaiUpstream).body.messages[0].role, 'system');
  const stream = anthropic.messages.stream(params);
  let text = '';
  stream.on('text', (t) => (text += t));
  const final = await stream.finalMessage();
  assert.equal(text, msg.content.map((b) => (b.type === 'text' ? b.text : '')).join(''));
  assert.equal(final.usage.output_tokens, 9);
  assert.equal(last(oaiUpstream).body.stream_options.include_usage, true, 'the translated stream asks for usage');

  // Stop sequences travel as chat's `stop`; chat does not say which one matched, so the
  // translated answer ends with end_turn rather than stop_sequence.
  const full = await anthropic.messages.create({ ...params, max_tokens: 50 });
  const fullText = full.content[0].type === 'text' ? full.content[0].text : '';
  const word = fullText.split(' ')[3];
  const stopped = await anthropic.messages.create({ ...params, max_tokens: 50, stop_sequences: [word] });
  assert.deepEqual(last(oaiUpstream).body.stop, [word]);
  const stoppedText = stopped.content[0].type === 'text' ? stopped.content[0].text : '';
  assert.equal(stoppedText, fullText.slice(0, fullText.indexOf(word)));
  assert.equal(stopped.stop_reason, 'end_turn');
});

for (const model of ['gpt-x', 'claude-x']) {
  test(`messages with tools on ${model}: tool_use block with schema-valid input, streamed and not`, async () => {
    const tools = [{ name: 'get_weather', description: 'Weather now', input_schema: weather }];
    const msg = await anthropic.messages.create({ model, max_tokens: 100, tools, messages: [{ role: 'user', content: 'Weather in Oslo?' }] });
    assert.equal(msg.stop_reason, 'tool_use');
    const use = msg.content.find((b) => b.type === 'tool_use');
    assert.ok(use !== undefined && use.type === 'tool_use');
    assert.deepEqual(Object.keys(use.input as object).sort(), ['city', 'unit']);
    const final = await anthropic.messages.stream({ model, max_tokens: 100, tools, messages: [{ role: 'user', content: 'Weather in Oslo?' }] }).finalMessage();
    const streamedUse = final.content.find((b) => b.type === 'tool_use');
    assert.ok(streamedUse !== undefined && streamedUse.type === 'tool_use');
    assert.deepEqual(Object.keys(streamedUse.input as object).sort(), ['city', 'unit']);
  });
}

test('messages.countTokens answers for a model of either protocol; unknown model is 404 in Anthropic\'s shape', async () => {
  for (const model of ['gpt-x', 'claude-x']) {
    const r = await anthropic.messages.countTokens({ model, system: 'Be brief.', messages: [{ role: 'user', content: 'Hello there, how are you today?' }] });
    assert.ok(r.input_tokens > 5 && r.input_tokens < 40, `a plausible count: ${r.input_tokens}`);
  }
  const r = await fetch(`${fx.url}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': fx.key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'no-such', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }),
  });
  assert.equal(r.status, 404);
  assert.deepEqual(await r.json(), { type: 'error', error: { type: 'not_found_error', message: "The model 'no-such' does not exist or you do not have access to it." } });
  await assert.rejects(anthropic.messages.create({ model: 'gpt-x', max_tokens: 5, messages: [] }), (err: { status?: number; error?: { type?: string } }) => err.status === 400 && err.error?.type === 'error');
});

// ---- Models ----------------------------------------------------------------------

test('models: one list of every model in OpenAI\'s shape, or Anthropic\'s with anthropic-version; GET /v1/models/{id}', async () => {
  const ids = [];
  for await (const m of openai.models.list()) ids.push(m.id);
  assert.ok(ids.includes('gpt-x') && ids.includes('claude-x'), ids.join(','));
  const page = await anthropic.models.list();
  assert.ok(page.data.some((m) => m.id === 'gpt-x' && m.type === 'model'));
  assert.equal((await openai.models.retrieve('claude-x')).object, 'model');
  assert.equal((await anthropic.models.retrieve('gpt-x')).type, 'model');
  await assert.rejects(openai.models.retrieve('no-such'), (err: { status?: number }) => err.status === 404);
});

// ---- Broken upstream streams -----------------------------------------------------

for (const [client, model, upstream] of [['anthropic', 'gpt-x', () => oaiUpstream], ['chat', 'claude-x', () => antUpstream], ['responses', 'claude-x', () => antUpstream]] as const) {
  test(`a stream cut mid-answer on a translated ${client} request ends in the client's error event and an upstream_error record`, async () => {
    upstream().setFault({ kind: 'reset-mid-stream', afterChunks: 2, count: 1 });
    const body = client === 'anthropic'
      ? { model, max_tokens: 20, stream: true, messages: [{ role: 'user', content: 'x' }] }
      : client === 'chat' ? { model, stream: true, messages: [{ role: 'user', content: 'x' }] } : { model, stream: true, input: 'x' };
    const path = client === 'anthropic' ? '/v1/messages' : client === 'chat' ? '/v1/chat/completions' : '/v1/responses';
    const r = await fetch(`${fx.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json', 'x-request-id': `cut-${client}` }, body: JSON.stringify(body) });
    assert.equal(r.status, 200);
    const text = await r.text();
    const tail = text.trim().split('\n\n').at(-1)!;
    if (client === 'anthropic') assert.match(tail, /^event: error\ndata: \{"type":"error","error":\{"type":"api_error"/);
    else if (client === 'responses') assert.match(tail, /"type":"(error|response\.failed)"/);
    else assert.match(tail, /"error":\{/);
    await fx.tg.accounting!.writer.flush();
    const page = await fx.tg.store.usage.page({ userId: fx.userId, limit: 50 });
    const record = page.records.find((rec) => rec.requestId.startsWith(`cut-${client}~`));
    assert.equal(record?.outcome, 'upstream_error');
  });
}

// ---- A chat-only OpenAI-compatible server ----------------------------------------

test('an openai-compatible channel (no Responses API) gets Responses requests translated to chat, streamed and not', async () => {
  const chatOnly = await startMockUpstream({ chunks: 3 });
  try {
    const c = await fx.tg.store.channels.add({ name: 'vllm', type: 'openai-compatible', baseUrl: `${chatOnly.url}/v1`, models: [{ model: 'local-x', upstreamModel: 'local-x' }] });
    await fx.tg.store.channels.addKey(c.id, 'sk-local');
    await fx.tg.store.prices.set({ model: 'local-x', channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 0, free: true });
    await fx.tg.sync.pollNow();
    const whole = await openai.responses.create({ model: 'local-x', input: 'Hi', max_output_tokens: 5 });
    assert.equal(last(chatOnly).path, '/v1/chat/completions');
    assert.equal(whole.usage?.output_tokens, 5);
    let text = '';
    for await (const e of await openai.responses.create({ model: 'local-x', input: 'Hi', max_output_tokens: 5, stream: true })) if (e.type === 'response.output_text.delta') text += e.delta;
    assert.equal(text, whole.output_text);
    await openai.chat.completions.create({ model: 'local-x', messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(last(chatOnly).path, '/v1/chat/completions', 'chat stays native');
  } finally {
    await chatOnly.close();
  }
});
