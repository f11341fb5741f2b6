/**
 * Redaction sweep: upstreams that echo the key they were sent, in every
 * error status, must not leak it. At log level debug, neither the client's
 * key nor any upstream key may appear in a response body or a log line.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { startFixture, type Fixture } from './support/gateway-fixture.ts';

const UPSTREAM_KEYS = ['sk-proj-EchoedSecretKey000001', 'upstream-plain-secret-000002'];
const ANTHROPIC_KEY = 'sk-ant-api03-EchoedAnthropicKey000003';
const STATUSES = [400, 401, 403, 404, 422, 429, 500, 503];

let fx: Fixture;
let upstream: Server;
const logLines: string[] = [];

before(async () => {
  // An upstream that answers the status named by the model with a body repeating the Authorization header.
  upstream = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const status = Number(/"model":"(?:echo|escaped)-(\d+)"/.exec(body)?.[1] ?? 500);
      const auth = String(req.headers.authorization ?? req.headers['x-api-key'] ?? '');
      if (body.includes('"model":"escaped-')) {
        // The key with every character JSON-escaped: invisible in the raw bytes, plain once the client parses them.
        const escaped = [...auth.replace('Bearer ', '')].map((ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(`{"error":{"message":"Incorrect API key provided: ${escaped}","type":"invalid_request_error","code":"invalid_api_key"}}`);
        return;
      }
      if (body.includes('"stream":true')) {
        // A 200 stream whose error event echoes the key, one event per chunk.
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: {"id":"x","choices":[{"index":0,"delta":{"content":"partial"}}]}\n\n');
        res.end(`data: ${JSON.stringify({ error: { message: `key ${auth.replace('Bearer ', '')} was rate limited`, type: 'server_error' } })}\n\n`);
        return;
      }
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${auth.replace('Bearer ', '')} (header was ${auth})`, type: 'invalid_request_error', code: 'invalid_api_key' } }));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
  const sink = new Writable({ write(chunk, _enc, cb) { logLines.push(String(chunk)); cb(); } });
  fx = await startFixture({ TOLLGATE_LOG_LEVEL: 'debug', TOLLGATE_UPSTREAM_MAX_ATTEMPTS: '1' }, 'alice', pino({ level: 'debug' }, sink));
  const models = STATUSES.flatMap((s) => [{ model: `echo-${s}`, upstreamModel: `echo-${s}` }, { model: `escaped-${s}`, upstreamModel: `escaped-${s}` }]);
  for (const [i, secret] of UPSTREAM_KEYS.entries()) {
    const channel = await fx.tg.store.channels.add({ name: `echo-${i}`, type: 'openai', baseUrl: url, models });
    await fx.tg.store.channels.addKey(channel.id, secret);
  }
  const anthropic = await fx.tg.store.channels.add({ name: 'echo-anthropic', type: 'anthropic', baseUrl: url, models: STATUSES.map((s) => ({ model: `claude-echo-${s}`, upstreamModel: `echo-${s}` })) });
  await fx.tg.store.channels.addKey(anthropic.id, ANTHROPIC_KEY);
  for (const s of STATUSES) {
    for (const model of [`echo-${s}`, `escaped-${s}`, `claude-echo-${s}`]) await fx.tg.store.prices.set({ model, channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 0, free: true });
  }
  await fx.tg.sync.pollNow();
});
after(async () => {
  await fx.close();
  await new Promise((r) => upstream.close(r));
});

test('upstream error bodies that echo the key: no key reaches the client or the log, in any status', async () => {
  const bodies: string[] = [];
  for (const status of STATUSES) {
    for (let i = 0; i < UPSTREAM_KEYS.length; i++) {
      const r = await fetch(`${fx.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: `echo-${status}`, messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.ok(r.status >= 400, `echo-${status} answered ${r.status}`);
      bodies.push(await r.text());
    }
  }
  // The same echoes through an Anthropic channel (key in x-api-key) and JSON-escaped in the body.
  for (const status of STATUSES) {
    const viaMessages = await fetch(`${fx.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': fx.key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: `claude-echo-${status}`, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.ok(viaMessages.status >= 400, `claude-echo-${status} answered ${viaMessages.status}`);
    bodies.push(await viaMessages.text());
    const escaped = await fetch(`${fx.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: `escaped-${status}`, messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.ok(escaped.status >= 400, `escaped-${status} answered ${escaped.status}`);
    // Compared as the client reads it: parsed.
    bodies.push(JSON.stringify(await escaped.json()));
  }
  // Streamed: an error event after the 200 that echoes the key, with and without usage asked for.
  for (const streamOptions of [undefined, { include_usage: true }]) {
    for (let i = 0; i < UPSTREAM_KEYS.length; i++) {
      const r = await fetch(`${fx.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'echo-400', stream: true, stream_options: streamOptions, messages: [{ role: 'user', content: 'hi' }] }),
      });
      const text = await r.text();
      assert.match(text, /was rate limited/, 'the error event still reaches the client');
      bodies.push(text);
    }
  }
  // Each status reached the client as an error with the upstream's words, minus the secrets.
  assert.ok(bodies.some((b) => b.includes('Incorrect API key provided')));
  await new Promise((r) => setTimeout(r, 50));
  const secrets = [fx.key, ...UPSTREAM_KEYS, ANTHROPIC_KEY];
  for (const secret of secrets) {
    for (const b of bodies) assert.ok(!b.includes(secret), `a response body holds ${secret.slice(0, 8)}…: ${b}`);
    for (const line of logLines) assert.ok(!line.includes(secret), `a log line holds ${secret.slice(0, 8)}…: ${line.slice(0, 300)}`);
  }
  assert.ok(logLines.length > 0, 'the sweep saw the log');
});
