/**
 * Response filters through the gateway: a rule changes the text every client
 * protocol receives — chat, Responses and Messages, streamed and not, natively
 * and translated — while SSE and JSON stay valid (the official SDKs parse them),
 * billing stays on what the upstream produced, scopes apply only where they
 * should, "strip thinking" removes thinking from a streamed answer, and rules
 * added by the CLI or the admin API reach a running server.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startMockUpstream, type MockUpstream } from '../src/mock/mock-upstream.ts';
import { startFixture, type Fixture } from './support/gateway-fixture.ts';
import { admin, assertError } from './admin-api-support.ts';
import { runCli } from './support/serve-process.ts';

let fx: Fixture;
let mock: MockUpstream;
let thinker: Server;
let openai: OpenAI;
let anthropic: Anthropic;

/** A chat upstream whose answer thinks aloud: `<think>` spans split across chunks, and reasoning_content deltas. */
function thinkingUpstream(): Server {
  const deltas = ['Sure', '. <thi', 'nk>the user wants', ' a number</th', 'ink> The answer', ' is 42.'];
  return createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (delta: object, finish: string | null = null) => `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'think-x', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      res.write(chunk({ role: 'assistant', reasoning_content: 'private reasoning' }));
      for (const d of deltas) res.write(chunk({ content: d }));
      res.write(chunk({}, 'stop'));
      res.write(`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'think-x', choices: [], usage: { prompt_tokens: 5, completion_tokens: 20, total_tokens: 25 } })}\n\n`);
      res.end('data: [DONE]\n\n');
    });
  });
}

before(async () => {
  fx = await startFixture();
  mock = await startMockUpstream({ chunks: 6 });
  thinker = thinkingUpstream();
  await new Promise<void>((r) => thinker.listen(0, '127.0.0.1', r));
  const oai = await fx.tg.store.channels.add({ name: 'oai', type: 'openai', baseUrl: `${mock.url}/v1`, models: [{ model: 'gpt-x', upstreamModel: 'gpt-x' }] });
  await fx.tg.store.channels.addKey(oai.id, 'sk-oai');
  const ant = await fx.tg.store.channels.add({ name: 'ant', type: 'anthropic', baseUrl: mock.url, models: [{ model: 'claude-x', upstreamModel: 'claude-x' }] });
  await fx.tg.store.channels.addKey(ant.id, 'sk-ant');
  const think = await fx.tg.store.channels.add({ name: 'think', type: 'openai', baseUrl: `http://127.0.0.1:${(thinker.address() as AddressInfo).port}/v1`, models: [{ model: 'think-x', upstreamModel: 'think-x' }] });
  await fx.tg.store.channels.addKey(think.id, 'sk-think');
  for (const model of ['gpt-x', 'claude-x', 'think-x']) await fx.tg.store.prices.set({ model, channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 0, free: true });
  await fx.tg.sync.pollNow();
  openai = new OpenAI({ apiKey: fx.key, baseURL: `${fx.url}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: fx.key, baseURL: fx.url, maxRetries: 0 });
});
after(async () => {
  await fx.close();
  await mock.close();
  await new Promise((r) => thinker.close(r));
});

const PROMPT = 'Tell me a story about filters.';

/** The answer text of one model through each client protocol, streamed and not. */
async function answers(model: string): Promise<Record<string, string>> {
  const chat = (await openai.chat.completions.create({ model, max_tokens: 30, messages: [{ role: 'user', content: PROMPT }] })).choices[0].message.content ?? '';
  let chatStream = '';
  for await (const c of await openai.chat.completions.create({ model, max_tokens: 30, stream: true, messages: [{ role: 'user', content: PROMPT }] })) chatStream += c.choices[0]?.delta?.content ?? '';
  const responses = (await openai.responses.create({ model, max_output_tokens: 30, input: PROMPT })).output_text;
  let responsesStream = '';
  let completedText = '';
  for await (const e of await openai.responses.create({ model, max_output_tokens: 30, input: PROMPT, stream: true })) {
    if (e.type === 'response.output_text.delta') responsesStream += e.delta;
    if (e.type === 'response.completed') {
      completedText = e.response.output.flatMap((item) => (item.type === 'message' ? item.content : [])).map((part) => (part.type === 'output_text' ? part.text : '')).join('');
    }
  }
  const msg = await anthropic.messages.create({ model, max_tokens: 30, messages: [{ role: 'user', content: PROMPT }] });
  const messages = msg.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
  const final = await anthropic.messages.stream({ model, max_tokens: 30, messages: [{ role: 'user', content: PROMPT }] }).finalMessage();
  const messagesStream = final.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
  return { chat, chatStream, responses, responsesStream, completedText, messages, messagesStream };
}

test('a global literal rule changes the text of every protocol, streamed and not, native and translated; billing is unchanged', async () => {
  const before = await answers('gpt-x');
  const word = before.chat.split(' ')[2];
  assert.ok(word.length > 2, before.chat);
  for (const text of Object.values(before)) assert.equal(text, before.chat, 'one answer whichever way it travels');

  const added = await admin(fx, 'POST', '/admin/filters', { scope: 'global', kind: 'literal', pattern: word, replacement: '[filtered]' });
  assert.equal(added.status, 201, JSON.stringify(added.body));
  try {
    const expected = before.chat.split(word).join('[filtered]');
    assert.notEqual(expected, before.chat);
    for (const model of ['gpt-x', 'claude-x']) {
      const after = await answers(model);
      for (const [way, text] of Object.entries(after)) assert.equal(text, expected, `${model} ${way}`);
    }
    await fx.tg.accounting!.writer.flush();
    const [latest] = (await fx.tg.store.usage.page({ userId: fx.userId, model: 'claude-x', limit: 1 })).records;
    assert.equal(latest.completionTokens, 30, 'billed on what the upstream produced');
  } finally {
    await admin(fx, 'DELETE', `/admin/filters/${added.body.id}`);
  }
  assert.equal((await answers('gpt-x')).chat, before.chat, 'removing the rule restores the text');
});

test('scopes: a model rule and a key rule apply only to that model and that key', async () => {
  const plain = (await openai.chat.completions.create({ model: 'claude-x', max_tokens: 12, messages: [{ role: 'user', content: PROMPT }] })).choices[0].message.content!;
  const word = plain.split(' ')[1];
  const byModel = await admin(fx, 'POST', '/admin/filters', { scope: 'model', subject: 'claude-x', kind: 'regex', pattern: word.replace(/[.*+?${}()|[\]\\]/g, '\\$&'), max_length: word.length, replacement: null });
  assert.equal(byModel.status, 201, JSON.stringify(byModel.body));
  const other = await fx.newUser('bob');
  const bob = new OpenAI({ apiKey: other.key, baseURL: `${fx.url}/v1`, maxRetries: 0 });
  const byKey = await admin(fx, 'POST', '/admin/filters', { scope: 'key', subject: String(other.keyId), kind: 'literal', pattern: plain.split(' ')[3], replacement: '#' });
  try {
    const ask = async (client: OpenAI, model: string) => (await client.chat.completions.create({ model, max_tokens: 12, messages: [{ role: 'user', content: PROMPT }] })).choices[0].message.content!;
    assert.equal(await ask(openai, 'claude-x'), plain.split(word).join(''));
    assert.equal(await ask(openai, 'gpt-x'), plain, 'another model is untouched');
    assert.equal(await ask(bob, 'gpt-x'), plain.split(plain.split(' ')[3]).join('#'), "bob's key rule");
    assert.equal(await ask(bob, 'claude-x'), plain.split(word).join('').split(plain.split(' ')[3]).join('#'), 'both scopes together');
  } finally {
    await admin(fx, 'DELETE', `/admin/filters/${byModel.body.id}`);
    await admin(fx, 'DELETE', `/admin/filters/${byKey.body.id}`);
  }
});

test('strip thinking: <think> spans split across chunks and reasoning_content are gone from the stream; usage is the upstream\'s', async () => {
  const rule = await admin(fx, 'POST', '/admin/filters', { scope: 'model', subject: 'think-x', kind: 'strip_thinking' });
  assert.equal(rule.status, 201);
  try {
    let text = '';
    let reasoning = false;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const c of await openai.chat.completions.create({ model: 'think-x', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'x' }] })) {
      text += c.choices[0]?.delta?.content ?? '';
      if ((c.choices[0]?.delta as { reasoning_content?: string } | undefined)?.reasoning_content !== undefined) reasoning = true;
      if (c.usage) usage = c.usage;
    }
    assert.equal(text, 'Sure.  The answer is 42.');
    assert.equal(reasoning, false);
    assert.equal(usage?.completion_tokens, 20);
  } finally {
    await admin(fx, 'DELETE', `/admin/filters/${rule.body.id}`);
  }
});

test('bad rules are refused with the reason (admin API 400, CLI exit 2); a CLI rule reaches the running server', async () => {
  assertError(await admin(fx, 'POST', '/admin/filters', { scope: 'global', kind: 'regex', pattern: '^secret' }), 400, 'pattern');
  assertError(await admin(fx, 'POST', '/admin/filters', { scope: 'global', kind: 'regex', pattern: 'a*' }), 400, 'pattern');
  assertError(await admin(fx, 'POST', '/admin/filters', { scope: 'model', kind: 'literal', pattern: 'x' }), 400);
  assert.equal((await admin(fx, 'DELETE', '/admin/filters/999999')).status, 404);

  const env: NodeJS.ProcessEnv = { ...process.env, TOLLGATE_DATA_DIR: fx.dataDir, TOLLGATE_LOG_LEVEL: 'warn' };
  delete env.DATABASE_URL;
  const bad = runCli(env, 'filter', 'add', '--regex', '(unclosed');
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /does not compile/);
  assert.equal(runCli(env, 'filter', 'add', '--literal', 'a', '--regex', 'b').code, 2);

  const plain = (await openai.chat.completions.create({ model: 'gpt-x', max_tokens: 8, messages: [{ role: 'user', content: PROMPT }] })).choices[0].message.content!;
  const word = plain.split(' ')[0];
  const added = runCli(env, 'filter', 'add', '--literal', word, '--replace', 'ZZ', '--model', 'gpt-x', '--json');
  assert.equal(added.code, 0, added.stderr);
  const id = JSON.parse(added.stdout).id as number;
  const deadline = Date.now() + 5_000;
  let now = plain;
  while (now === plain && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    now = (await openai.chat.completions.create({ model: 'gpt-x', max_tokens: 8, messages: [{ role: 'user', content: PROMPT }] })).choices[0].message.content!;
  }
  assert.equal(now, plain.split(word).join('ZZ'));
  assert.match(runCli(env, 'filter', 'list').stdout, /ZZ/);
  assert.equal(runCli(env, 'filter', 'remove', String(id)).code, 0);
});
