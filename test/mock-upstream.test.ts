/**
 * The mock upstream, exercised over real HTTP with the official openai and
 * @anthropic-ai/sdk clients (and raw fetch for exact event sequences and error paths).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { countTokens } from 'gpt-tokenizer';
import OpenAI, { APIConnectionError, APIError, APIUserAbortError } from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startMockUpstream, type MockUpstream } from '../src/mock/mock-upstream.ts';
import { runMockFromArgv } from '../src/mock/main.ts';

let mock: MockUpstream;
let client: OpenAI;

before(async () => {
  mock = await startMockUpstream({ chunks: 4 });
  client = new OpenAI({ apiKey: 'x', baseURL: mock.url + '/v1', maxRetries: 0 });
});

after(() => mock.close());

/** Waits (bounded) for a condition the server reaches asynchronously. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`never reached: ${what}`);
}

const MESSAGES = [
  { role: 'system' as const, content: 'You are terse.' },
  { role: 'user' as const, content: 'Say something deterministic, please.' },
];
// Three tokens of framing per message plus three for the reply, as documented in mock-content.ts.
const PROMPT_TOKENS = countTokens('You are terse.') + countTokens('Say something deterministic, please.') + 2 * 3 + 3;

async function collectChat(stream: AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>) {
  const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  const contentChunks = chunks.filter((c) => typeof c.choices[0]?.delta.content === 'string' && c.choices[0].delta.content !== '');
  const text = contentChunks.map((c) => c.choices[0].delta.content).join('');
  return { chunks, contentChunks, text };
}

function parseSse(text: string): Array<{ event: string; data: any }> {
  return text
    .split('\n\n')
    .filter((block) => block.length > 0)
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? '';
      const data = lines.find((l) => l.startsWith('data: '))!.slice(6);
      return { event, data: JSON.parse(data) };
    });
}

describe('chat completions', () => {
  test('non-stream: N single-token words and exact usage', async () => {
    const res = await client.chat.completions.create({ model: 'mock-gpt', messages: MESSAGES, max_tokens: 12 });
    assert.equal(res.object, 'chat.completion');
    assert.match(res.id, /^chatcmpl-/);
    assert.equal(res.model, 'mock-gpt');
    assert.equal(res.choices.length, 1);
    assert.equal(res.choices[0].finish_reason, 'stop');
    const content = res.choices[0].message.content!;
    assert.equal(content.split(' ').length, 12);
    assert.equal(countTokens(content), 12);
    assert.deepEqual(res.usage, { prompt_tokens: PROMPT_TOKENS, completion_tokens: 12, total_tokens: PROMPT_TOKENS + 12 });
  });

  test('defaults to 16 words, honours max_completion_tokens and caps at 4096', async () => {
    const plain = await client.chat.completions.create({ model: 'x', messages: MESSAGES });
    assert.equal(plain.usage!.completion_tokens, 16);
    const mct = await client.chat.completions.create({ model: 'x', messages: MESSAGES, max_completion_tokens: 3 });
    assert.equal(mct.choices[0].message.content, 'the of and');
    const big = await client.chat.completions.create({ model: 'x', messages: MESSAGES, max_tokens: 100_000 });
    assert.equal(big.usage!.completion_tokens, 4096);
    assert.equal(countTokens(big.choices[0].message.content!), 4096);
  });

  test('stream: role chunk, `chunks` content chunks, stop chunk; text equals the non-stream text', async () => {
    const whole = await client.chat.completions.create({ model: 'mock-gpt', messages: MESSAGES, max_tokens: 10 });
    const { chunks, contentChunks, text } = await collectChat(
      await client.chat.completions.create({ model: 'mock-gpt', messages: MESSAGES, max_tokens: 10, stream: true }),
    );
    assert.equal(text, whole.choices[0].message.content);
    assert.equal(contentChunks.length, 4);
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    assert.equal(chunks[0].object, 'chat.completion.chunk');
    const last = chunks.at(-1)!;
    assert.equal(last.choices[0].finish_reason, 'stop');
    assert.ok(chunks.every((c) => c.usage === undefined || c.usage === null), 'no usage without include_usage');
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1);
  });

  test('stream with include_usage ends with a choices-less usage chunk', async () => {
    const { chunks, text } = await collectChat(
      await client.chat.completions.create({
        model: 'mock-gpt', messages: MESSAGES, max_tokens: 7, stream: true, stream_options: { include_usage: true },
      }),
    );
    const last = chunks.at(-1)!;
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, { prompt_tokens: PROMPT_TOKENS, completion_tokens: 7, total_tokens: PROMPT_TOKENS + 7 });
    assert.equal(chunks.at(-2)!.choices[0].finish_reason, 'stop');
    assert.equal(countTokens(text), 7);
  });

  test('x-mock-chunks and x-mock-chunk-delay-ms override the stream shape per request', async () => {
    const stream = await client.chat.completions.create(
      { model: 'mock-gpt', messages: MESSAGES, max_tokens: 20, stream: true },
      { headers: { 'x-mock-chunks': '7', 'x-mock-chunk-delay-ms': '1' } },
    );
    const { contentChunks, text } = await collectChat(stream);
    assert.equal(contentChunks.length, 7);
    assert.equal(countTokens(text), 20);
  });

  test('fewer words than chunks gives one word per chunk', async () => {
    const { contentChunks } = await collectChat(
      await client.chat.completions.create({ model: 'mock-gpt', messages: MESSAGES, max_tokens: 2, stream: true }),
    );
    assert.deepEqual(contentChunks.map((c) => c.choices[0].delta.content), ['the', ' of']);
  });

  test('n > 1 answers that many identical choices', async () => {
    const res = await client.chat.completions.create({ model: 'mock-gpt', messages: MESSAGES, max_tokens: 5, n: 3 });
    assert.deepEqual(res.choices.map((c) => c.index), [0, 1, 2]);
    assert.equal(new Set(res.choices.map((c) => c.message.content)).size, 1);
    assert.equal(res.usage!.completion_tokens, 15);
  });

  test('bad max_tokens, missing messages and bad mock headers are 400s', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'm', messages: MESSAGES, max_tokens: 0 }), (e: unknown) => e instanceof APIError && e.status === 400);
    await assert.rejects(client.chat.completions.create({ model: 'm', messages: [] }), (e: unknown) => e instanceof APIError && e.status === 400);
    await assert.rejects(
      client.chat.completions.create({ model: 'm', messages: MESSAGES, stream: true }, { headers: { 'x-mock-chunks': 'lots' } }),
      (e: unknown) => e instanceof APIError && e.status === 400,
    );
  });
});

describe('completions, embeddings, models', () => {
  test('completions: text_completion object, stream equals non-stream, one choice per prompt', async () => {
    const res = await client.completions.create({ model: 'mock-gpt', prompt: 'Once upon a time', max_tokens: 9 });
    assert.equal(res.object, 'text_completion');
    assert.equal(countTokens(res.choices[0].text), 9);
    assert.deepEqual(res.usage, { prompt_tokens: countTokens('Once upon a time'), completion_tokens: 9, total_tokens: countTokens('Once upon a time') + 9 });

    const stream = await client.completions.create({ model: 'mock-gpt', prompt: 'Once upon a time', max_tokens: 9, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage: unknown = null;
    for await (const chunk of stream) {
      if (chunk.choices.length > 0) text += chunk.choices[0].text;
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, res.choices[0].text);
    assert.deepEqual(usage, res.usage);

    const multi = await client.completions.create({ model: 'mock-gpt', prompt: ['a b', 'c'], max_tokens: 4 });
    assert.deepEqual(multi.choices.map((c) => c.index), [0, 1]);
    assert.equal(multi.usage!.completion_tokens, 8);
  });

  test('embeddings: the default base64 path decodes to 8 dimensions, deterministic per input', async () => {
    const res = await client.embeddings.create({ model: 'mock-embed', input: ['alpha', 'beta', 'alpha'] });
    assert.equal(mock.stats.lastRequest!.body.encoding_format, 'base64');
    assert.equal(res.data.length, 3);
    const [a, b, a2] = res.data.map((d) => d.embedding);
    assert.equal(a.length, 8);
    assert.ok(a.every((v) => typeof v === 'number' && Number.isFinite(v)));
    assert.deepEqual(a, a2);
    assert.notDeepEqual(a, b);
    const norm = Math.sqrt(a.reduce((sum, v) => sum + v * v, 0));
    assert.ok(Math.abs(norm - 1) < 1e-5, `unit vector, got norm ${norm}`);
    assert.deepEqual(res.usage, { prompt_tokens: 3, total_tokens: 3 });

    const floats = await client.embeddings.create({ model: 'mock-embed', input: 'alpha', encoding_format: 'float' });
    assert.deepEqual(floats.data[0].embedding, a);
    const wide = await client.embeddings.create({ model: 'mock-embed', input: 'alpha', dimensions: 16 });
    assert.equal(wide.data[0].embedding.length, 16);
  });

  test('models.list returns the fixed model list', async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    assert.deepEqual(ids, ['mock-gpt', 'mock-gpt-large', 'mock-embed']);
  });

  test('unknown paths are 404 and bad JSON is 400, both in OpenAI error shape', async () => {
    const missing = await fetch(mock.url + '/v1/nothing', { method: 'POST', body: '{}' });
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error.type, 'invalid_request_error');
    const bad = await fetch(mock.url + '/v1/chat/completions', { method: 'POST', body: '{"model":', headers: { 'content-type': 'application/json' } });
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).error.message, /parse the JSON/);
  });

  test('stats count requests per path and keep the last request', async () => {
    mock.resetStats();
    await client.chat.completions.create({ model: 'mock-gpt', messages: MESSAGES, max_tokens: 1 });
    await client.models.list();
    assert.equal(mock.stats.requests, 2);
    assert.deepEqual(mock.stats.byPath, { '/v1/chat/completions': 1, '/v1/models': 1 });
    assert.equal(mock.stats.lastRequest!.path, '/v1/models');
    assert.equal(mock.stats.lastRequest!.headers.authorization, 'Bearer x');
    await client.chat.completions.create({ model: 'mock-gpt', messages: MESSAGES, max_tokens: 1 });
    assert.deepEqual(mock.stats.lastRequest!.body.messages, MESSAGES);
  });
});

describe('anthropic messages', () => {
  const body = { model: 'claude-mock', max_tokens: 6, system: 'Be brief.', messages: [{ role: 'user', content: 'Hello there' }] };

  test('non-stream message object with input/output usage', async () => {
    const res = await fetch(mock.url + '/v1/messages', { method: 'POST', body: JSON.stringify(body), headers: { 'x-api-key': 'k' } });
    assert.equal(res.status, 200);
    const msg = await res.json();
    assert.equal(msg.type, 'message');
    assert.equal(msg.role, 'assistant');
    assert.match(msg.id, /^msg_/);
    assert.equal(msg.stop_reason, 'end_turn');
    assert.equal(msg.content[0].type, 'text');
    assert.equal(countTokens(msg.content[0].text), 6);
    assert.deepEqual(msg.usage, { input_tokens: countTokens('Be brief.') + countTokens('Hello there') + 2 * 3 + 3, output_tokens: 6 });
  });

  test('stream follows the Anthropic event sequence', async () => {
    const whole = await (await fetch(mock.url + '/v1/messages', { method: 'POST', body: JSON.stringify(body) })).json();
    const res = await fetch(mock.url + '/v1/messages', { method: 'POST', body: JSON.stringify({ ...body, stream: true }) });
    assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
    const events = parseSse(await res.text());
    for (const e of events) assert.equal(e.event, e.data.type);
    const types = events.map((e) => e.event).filter((t) => t !== 'ping');
    assert.deepEqual(types, [
      'message_start', 'content_block_start',
      'content_block_delta', 'content_block_delta', 'content_block_delta', 'content_block_delta',
      'content_block_stop', 'message_delta', 'message_stop',
    ]);
    assert.equal(events[0].data.message.usage.input_tokens, whole.usage.input_tokens);
    const text = events.filter((e) => e.event === 'content_block_delta').map((e) => e.data.delta.text).join('');
    assert.equal(text, whole.content[0].text);
    assert.equal(events.find((e) => e.event === 'message_delta')!.data.usage.output_tokens, 6);
  });

  test('faults on /v1/messages answer in the Anthropic error shape', async () => {
    const res = await fetch(mock.url + '/v1/messages', { method: 'POST', body: JSON.stringify(body), headers: { 'x-api-key': 'sk-fault-401' } });
    assert.equal(res.status, 401);
    const error = await res.json();
    assert.equal(error.type, 'error');
    assert.equal(error.error.type, 'authentication_error');
  });
});

describe('faults', () => {
  const chat = { model: 'mock-gpt', messages: MESSAGES, max_tokens: 8 };
  const isStatus = (status: number) => (e: unknown) => e instanceof APIError && e.status === status;

  test('status fault without count lasts until cleared', async () => {
    mock.setFault({ kind: 'status', status: 500 });
    try {
      await assert.rejects(client.chat.completions.create(chat), isStatus(500));
      await assert.rejects(client.embeddings.create({ model: 'e', input: 'x' }), isStatus(500));
    } finally {
      mock.setFault(null);
    }
    await client.chat.completions.create(chat);
  });

  test('counted faults clear themselves', async () => {
    mock.setFault({ kind: 'status', status: 429, count: 2 });
    await assert.rejects(client.chat.completions.create(chat), (e: unknown) => isStatus(429)(e) && (e as APIError).code === 'rate_limit_exceeded');
    await assert.rejects(client.chat.completions.create(chat), isStatus(429));
    const ok = await client.chat.completions.create(chat);
    assert.equal(ok.usage!.completion_tokens, 8);
  });

  test('reset destroys the connection before any response, and is not counted as an abort', async () => {
    mock.resetStats();
    mock.setFault({ kind: 'reset', count: 1 });
    await assert.rejects(client.chat.completions.create(chat), (e: unknown) => e instanceof APIConnectionError);
    assert.equal(mock.stats.requests, 1);
    assert.equal(mock.stats.aborted, 0);
    await client.chat.completions.create(chat);
  });

  test('reset-mid-stream delivers the first chunks, then the stream errors', async () => {
    mock.setFault({ kind: 'reset-mid-stream', afterChunks: 2, count: 1 });
    const stream = await client.chat.completions.create({ ...chat, stream: true });
    const received: string[] = [];
    await assert.rejects(async () => {
      for await (const chunk of stream) {
        const content = chunk.choices[0]?.delta.content;
        if (content) received.push(content);
      }
    });
    assert.equal(received.length, 2);
    assert.equal(received.join(''), 'the of and to');
    const { contentChunks } = await collectChat(await client.chat.completions.create({ ...chat, stream: true }));
    assert.equal(contentChunks.length, 4);
  });

  test('reset-mid-stream on a non-stream request cuts the body', async () => {
    mock.setFault({ kind: 'reset-mid-stream', afterChunks: 1, count: 1 });
    await assert.rejects(client.chat.completions.create(chat), (e: unknown) => e instanceof Error);
  });

  test('hang never answers; the client abort is counted', async () => {
    mock.resetStats();
    mock.setFault({ kind: 'hang', count: 1 });
    const controller = new AbortController();
    const pending = client.chat.completions.create(chat, { signal: controller.signal });
    await until(() => mock.stats.lastRequest !== null, 'the hung request to arrive');
    controller.abort();
    await assert.rejects(pending, (e: unknown) => e instanceof APIUserAbortError);
    await until(() => mock.stats.aborted === 1, 'the abort to be counted');
    await client.chat.completions.create(chat);
    assert.equal(mock.stats.aborted, 1);
  });

  test('latency fault delays but answers normally', async () => {
    mock.setFault({ kind: 'latency', ms: 20, count: 1 });
    const res = await client.chat.completions.create(chat);
    assert.equal(res.usage!.completion_tokens, 8);
  });

  test('x-mock-fault header applies to one request only', async () => {
    await assert.rejects(client.chat.completions.create(chat, { headers: { 'x-mock-fault': '401' } }), isStatus(401));
    await assert.rejects(client.chat.completions.create(chat, { headers: { 'x-mock-fault': 'reset' } }), (e: unknown) => e instanceof APIConnectionError);
    const slow = await client.chat.completions.create(chat, { headers: { 'x-mock-fault': 'latency:15' } });
    assert.equal(slow.usage!.completion_tokens, 8);
    const stream = await client.chat.completions.create({ ...chat, stream: true }, { headers: { 'x-mock-fault': 'reset-mid-stream:1' } });
    let seen = 0;
    await assert.rejects(async () => {
      for await (const chunk of stream) if (chunk.choices[0]?.delta.content) seen++;
    });
    assert.equal(seen, 1);
    await assert.rejects(client.chat.completions.create(chat, { headers: { 'x-mock-fault': 'sometimes' } }), isStatus(400));
    await client.chat.completions.create(chat);
  });

  test('header fault hang is aborted by the client timeout', async () => {
    mock.resetStats();
    await assert.rejects(
      client.chat.completions.create(chat, { headers: { 'x-mock-fault': 'hang' }, timeout: 100 }),
      (e: unknown) => e instanceof APIConnectionError,
    );
    await until(() => mock.stats.aborted === 1, 'the timed-out request to be counted as aborted');
  });

  test('per-key faults hit only the client holding that key', async () => {
    const failing = new OpenAI({ apiKey: 'sk-upstream-fault-429', baseURL: mock.url + '/v1', maxRetries: 0 });
    const resetting = new OpenAI({ apiKey: 'sk-fault-reset', baseURL: mock.url + '/v1', maxRetries: 0 });
    const broken = new OpenAI({ apiKey: 'sk-fault-500', baseURL: mock.url + '/v1', maxRetries: 0 });
    await assert.rejects(failing.chat.completions.create(chat), isStatus(429));
    await assert.rejects(broken.embeddings.create({ model: 'e', input: 'x' }), isStatus(500));
    await assert.rejects(resetting.models.list(), (e: unknown) => e instanceof APIConnectionError);
    const ok = await client.chat.completions.create(chat);
    assert.equal(ok.usage!.completion_tokens, 8);
  });

  test('setFault rejects malformed faults', () => {
    assert.throws(() => mock.setFault({ kind: 'status', status: 200 }), RangeError);
    assert.throws(() => mock.setFault({ kind: 'reset', count: 0 }), RangeError);
  });
});

describe('configured stream shape', () => {
  test('chunkDelayMs and latencyMs still produce the same text', async () => {
    const slow = await startMockUpstream({ chunks: 5, chunkDelayMs: 2, latencyMs: 5 });
    try {
      const slowClient = new OpenAI({ apiKey: 'x', baseURL: slow.url + '/v1', maxRetries: 0 });
      const whole = await client.chat.completions.create({ model: 'm', messages: MESSAGES, max_tokens: 11 });
      const { contentChunks, text } = await collectChat(
        await slowClient.chat.completions.create({ model: 'm', messages: MESSAGES, max_tokens: 11, stream: true }),
      );
      assert.equal(contentChunks.length, 5);
      assert.equal(text, whole.choices[0].message.content);
    } finally {
      await slow.close();
    }
  });
});

describe('main entry', () => {
  const mainJs = fileURLToPath(new URL('../src/mock/main.js', import.meta.url));

  test('importing main does not start a server', async () => {
    assert.equal(typeof runMockFromArgv, 'function');
    const listening = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;
    const before = listening();
    // A fresh evaluation of the module (new URL), as another importer such as the CLI would get.
    await import(new URL('../src/mock/main.js?fresh', import.meta.url).href);
    assert.equal(listening(), before);
  });

  test('runs as a process, prints its URL, exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [mainJs, '--port', '0', '--chunks', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (out += d));
    const exited = once(child, 'exit');
    try {
      await until(() => out.includes('\n'), 'the listening line');
      const match = /^mock upstream listening on (http:\/\/127\.0\.0\.1:\d+)\n$/.exec(out);
      assert.ok(match, `unexpected output: ${out}`);
      const childClient = new OpenAI({ apiKey: 'x', baseURL: match[1] + '/v1', maxRetries: 0 });
      const { contentChunks } = await collectChat(await childClient.chat.completions.create({ model: 'm', messages: MESSAGES, stream: true }));
      assert.equal(contentChunks.length, 2);
    } finally {
      child.kill('SIGTERM');
    }
    const [code, signal] = await exited;
    assert.equal(signal, null);
    assert.equal(code, 0);
  });

  test('a bad flag exits 2 naming the flag', async () => {
    const child = spawn(process.execPath, [mainJs, '--port', '0', '--chunks', 'many'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (err += d));
    const [code] = await once(child, 'exit');
    assert.equal(code, 2);
    assert.match(err, /--chunks/);
  });
});

const WEATHER_TOOL_SCHEMA = {
  type: 'object',
  properties: {
    city: { type: 'string', minLength: 6 },
    unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
    days: { type: 'integer', minimum: 1 },
    note: { type: 'string' },
  },
  required: ['city', 'unit', 'days'],
  additionalProperties: false,
};
const EXPECTED_ARGS = { city: 'mockxx', unit: 'celsius', days: 1 };

describe('responses', () => {
  test('non-stream: a completed response with one output_text and usage', async () => {
    const res = await client.responses.create({ model: 'mock-gpt', input: 'Say something', instructions: 'Be terse.', max_output_tokens: 5 });
    assert.equal(res.object, 'response');
    assert.match(res.id, /^resp_/);
    assert.equal(res.status, 'completed');
    assert.equal(res.output_text, 'the of and to in');
    assert.equal(res.usage!.output_tokens, 5);
    assert.equal(res.usage!.input_tokens, countTokens('Say something') + countTokens('Be terse.') + 2 * 3 + 3);
    assert.equal(res.usage!.total_tokens, res.usage!.input_tokens + 5);
  });

  test('stream: the documented event sequence, text equal to the non-stream answer', async () => {
    const stream = await client.responses.create({ model: 'mock-gpt', input: [{ role: 'user', content: 'hi' }], max_output_tokens: 6, stream: true });
    const events: any[] = [];
    for await (const event of stream) events.push(event);
    assert.deepEqual(events.map((e) => e.type), [
      'response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
      'response.output_text.delta', 'response.output_text.delta', 'response.output_text.delta', 'response.output_text.delta',
      'response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed',
    ]);
    assert.deepEqual(events.map((e) => e.sequence_number), events.map((_e, i) => i));
    const text = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
    assert.equal(text, 'the of and to in is');
    const completed = events.at(-1).response;
    assert.equal(completed.output[0].content[0].text, text);
    assert.equal(completed.usage.output_tokens, 6);
  });

  test('tools: calls the first function with schema-valid arguments, then answers the tool result in text', async () => {
    const tools = [
      { type: 'function' as const, name: 'get_weather', description: 'Weather', parameters: WEATHER_TOOL_SCHEMA, strict: true },
      { type: 'function' as const, name: 'other', parameters: { type: 'object', properties: {} }, strict: false },
    ];
    const first = await client.responses.create({ model: 'mock-gpt', input: 'Weather?', tools });
    const call = first.output.find((item) => item.type === 'function_call')!;
    assert.equal(call.type, 'function_call');
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.arguments), EXPECTED_ARGS);
    const second = await client.responses.create({
      model: 'mock-gpt', tools, max_output_tokens: 3,
      input: [{ role: 'user', content: 'Weather?' }, call, { type: 'function_call_output', call_id: call.call_id, output: 'sunny' }],
    });
    assert.equal(second.output_text, 'the of and');

    const streamed = await client.responses.create({ model: 'mock-gpt', input: 'Weather?', tools, tool_choice: { type: 'function', name: 'other' }, stream: true });
    const events: any[] = [];
    for await (const event of streamed) events.push(event);
    const done = events.find((e) => e.type === 'response.function_call_arguments.done');
    assert.equal(done.arguments, events.filter((e) => e.type === 'response.function_call_arguments.delta').map((e) => e.delta).join(''));
    assert.equal(events.at(-1).response.output[0].name, 'other');
  });

  test('text.format json_schema gives JSON valid for the schema; bad input is a 400', async () => {
    const res = await client.responses.create({
      model: 'mock-gpt', input: 'Weather as JSON',
      text: { format: { type: 'json_schema', name: 'weather', schema: WEATHER_TOOL_SCHEMA, strict: true } },
    });
    assert.deepEqual(JSON.parse(res.output_text), EXPECTED_ARGS);
    await assert.rejects(client.responses.create({ model: 'mock-gpt', input: [] }), (e: unknown) => e instanceof APIError && e.status === 400 && e.param === 'input');
  });

  test('cached and reasoning usage headers', async () => {
    const res = await client.responses.create(
      { model: 'mock-gpt', input: 'Say something', max_output_tokens: 4 },
      { headers: { 'x-mock-cached-tokens': '5', 'x-mock-reasoning-tokens': '7' } },
    );
    assert.equal(res.usage!.input_tokens_details.cached_tokens, 5);
    assert.equal(res.usage!.output_tokens_details.reasoning_tokens, 7);
    assert.equal(res.usage!.output_tokens, 11);
  });
});

describe('chat and messages features', () => {
  const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: WEATHER_TOOL_SCHEMA } }];

  test('chat tools: a tool_calls answer, streamed as tool-call deltas; text after a tool result', async () => {
    const res = await client.chat.completions.create({ model: 'mock-gpt', messages: MESSAGES, tools });
    assert.equal(res.choices[0].finish_reason, 'tool_calls');
    const call = res.choices[0].message.tool_calls![0] as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall;
    assert.deepEqual(JSON.parse(call.function.arguments), EXPECTED_ARGS);
    assert.equal(res.usage!.completion_tokens, countTokens(call.function.arguments));

    const { chunks } = await collectChat(await client.chat.completions.create({ model: 'mock-gpt', messages: MESSAGES, tools, stream: true }));
    const args = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []).map((t) => t.function?.arguments ?? '').join('');
    assert.equal(args, call.function.arguments);
    assert.equal(chunks.at(-1)!.choices[0].finish_reason, 'tool_calls');

    const after = await client.chat.completions.create({
      model: 'mock-gpt', tools, max_tokens: 2,
      messages: [...MESSAGES, res.choices[0].message, { role: 'tool', tool_call_id: call.id, content: 'sunny' }],
    });
    assert.equal(after.choices[0].message.content, 'the of');
    const none = await client.chat.completions.create({ model: 'mock-gpt', messages: MESSAGES, tools, tool_choice: 'none', max_tokens: 1 });
    assert.equal(none.choices[0].message.content, 'the');
  });

  test('chat response_format json_schema and stop sequences', async () => {
    const json = await client.chat.completions.create({
      model: 'mock-gpt', messages: MESSAGES, response_format: { type: 'json_schema', json_schema: { name: 'w', schema: WEATHER_TOOL_SCHEMA } },
    });
    assert.deepEqual(JSON.parse(json.choices[0].message.content!), EXPECTED_ARGS);
    const stopped = await client.chat.completions.create({ model: 'mock-gpt', messages: MESSAGES, max_tokens: 10, stop: [' in', ' to'] });
    assert.equal(stopped.choices[0].message.content, 'the of and');
    assert.equal(stopped.choices[0].finish_reason, 'stop');
    assert.equal(stopped.usage!.completion_tokens, 3);
    const { text } = await collectChat(await client.chat.completions.create({ model: 'mock-gpt', messages: MESSAGES, max_tokens: 10, stop: ' to', stream: true }));
    assert.equal(text, 'the of and');
  });

  test('chat usage headers: cached inside prompt_tokens, reasoning inside completion_tokens', async () => {
    const res = await client.chat.completions.create(
      { model: 'mock-gpt', messages: MESSAGES, max_tokens: 4 },
      { headers: { 'x-mock-cached-tokens': '8', 'x-mock-reasoning-tokens': '3' } },
    );
    assert.equal(res.usage!.prompt_tokens, PROMPT_TOKENS);
    assert.equal(res.usage!.prompt_tokens_details!.cached_tokens, 8);
    assert.equal(res.usage!.completion_tokens, 7);
    assert.equal(res.usage!.completion_tokens_details!.reasoning_tokens, 3);
  });

  test('messages through @anthropic-ai/sdk: tool_use (streamed and not), stop_sequence, cache usage outside input_tokens', async () => {
    const anthropic = new Anthropic({ apiKey: 'k', baseURL: mock.url, maxRetries: 0 });
    const base = { model: 'claude-mock', max_tokens: 10, messages: [{ role: 'user' as const, content: 'Weather?' }] };
    const anthropicTools = [{ name: 'get_weather', input_schema: WEATHER_TOOL_SCHEMA as Anthropic.Tool.InputSchema }];
    const msg = await anthropic.messages.create({ ...base, tools: anthropicTools });
    assert.equal(msg.stop_reason, 'tool_use');
    const use = msg.content.find((b) => b.type === 'tool_use')!;
    assert.equal(use.type, 'tool_use');
    assert.deepEqual(use.input, EXPECTED_ARGS);

    const final = await anthropic.messages.stream({ ...base, tools: anthropicTools }).finalMessage();
    assert.equal(final.stop_reason, 'tool_use');
    assert.deepEqual(final.content.find((b) => b.type === 'tool_use')!.type === 'tool_use' ? (final.content.find((b) => b.type === 'tool_use') as Anthropic.ToolUseBlock).input : null, EXPECTED_ARGS);

    const stopped = await anthropic.messages.create({ ...base, stop_sequences: [' to'] });
    assert.equal(stopped.stop_reason, 'stop_sequence');
    assert.equal(stopped.stop_sequence, ' to');
    assert.deepEqual(stopped.content, [{ type: 'text', text: 'the of and' }]);

    const inputTokens = countTokens('Weather?') + 3 + 3;
    const cached = await anthropic.messages.create(base, { headers: { 'x-mock-cached-tokens': '2', 'x-mock-cache-write-tokens': '1' } });
    assert.equal(cached.usage.input_tokens, inputTokens - 3);
    assert.equal(cached.usage.cache_read_input_tokens, 2);
    assert.equal(cached.usage.cache_creation_input_tokens, 1);
    const streamedUsage = (await anthropic.messages.stream(base, { headers: { 'x-mock-cached-tokens': '2' } }).finalMessage()).usage;
    assert.equal(streamedUsage.input_tokens, inputTokens - 2);
    assert.equal(streamedUsage.cache_read_input_tokens, 2);
    assert.equal(streamedUsage.output_tokens, 10);
  });

  test('messages output_config json_schema, and a streamed tool_use event order', async () => {
    const res = await fetch(mock.url + '/v1/messages', {
      method: 'POST',
      body: JSON.stringify({
        model: 'claude-mock', max_tokens: 50, messages: [{ role: 'user', content: 'JSON please' }],
        output_config: { format: { type: 'json_schema', schema: WEATHER_TOOL_SCHEMA } },
      }),
    });
    assert.deepEqual(JSON.parse((await res.json()).content[0].text), EXPECTED_ARGS);
    const streamed = await fetch(mock.url + '/v1/messages', {
      method: 'POST',
      body: JSON.stringify({ model: 'claude-mock', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'w' }], tools: [{ name: 't', input_schema: WEATHER_TOOL_SCHEMA }] }),
    });
    const events = parseSse(await streamed.text());
    assert.deepEqual(events.map((e) => e.event), [
      'message_start', 'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop',
    ]);
    assert.equal(events[1].data.content_block.type, 'tool_use');
    assert.deepEqual(JSON.parse(events[2].data.delta.partial_json + events[3].data.delta.partial_json), EXPECTED_ARGS);
  });

  test('feature answers honour reset-mid-stream and chunk delays', async () => {
    const stream = await client.responses.create({ model: 'mock-gpt', input: 'x', max_output_tokens: 8, stream: true }, { headers: { 'x-mock-fault': 'reset-mid-stream:2' } });
    let deltas = 0;
    await assert.rejects(async () => {
      for await (const event of stream) if (event.type === 'response.output_text.delta') deltas++;
    });
    assert.equal(deltas, 2);
    const slow = await client.responses.create({ model: 'mock-gpt', input: 'x', max_output_tokens: 4, stream: true }, { headers: { 'x-mock-chunk-delay-ms': '1', 'x-mock-chunks': '2' } });
    let text = '';
    for await (const event of slow) if (event.type === 'response.output_text.delta') text += event.delta;
    assert.equal(text, 'the of and to');
  });
});
