/**
 * Hostile clients over raw sockets: dribbled headers (slowloris), a body that
 * stalls, and chunked uploads past the body limit. Each must be answered
 * (408 / 413) and closed within about a second of the configured bound, never
 * read to its end.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket, type AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { startFixture, ADMIN_TOKEN, type Fixture } from './support/gateway-fixture.ts';

const HEADERS_TIMEOUT_MS = 600;
const BODY_IDLE_MS = 500;
const BODY_LIMIT = 64 * 1024;

let fx: Fixture;
let port = 0;
before(async () => {
  fx = await startFixture({
    TOLLGATE_SERVER_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
    TOLLGATE_SERVER_BODY_IDLE_TIMEOUT_MS: String(BODY_IDLE_MS),
    TOLLGATE_BODY_LIMIT_BYTES: String(BODY_LIMIT),
  });
  port = Number(new URL(fx.url).port);
  // An upstream slower than the body-idle timeout: 1.2 s to answer, or a stream over 1.2 s.
  slowUpstream = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (body.includes('"stream":true')) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        let sent = 0;
        const tick = setInterval(() => {
          if (sent++ < 4) return void res.write(`data: {"id":"x","choices":[{"index":0,"delta":{"content":"part${sent} "}}]}\n\n`);
          clearInterval(tick);
          res.end('data: {"id":"x","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":4,"total_tokens":5}}\n\ndata: [DONE]\n\n');
        }, 300);
        return;
      }
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'late' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }));
      }, 1_200);
    });
  });
  await new Promise<void>((r) => slowUpstream.listen(0, '127.0.0.1', r));
  const c = await fx.tg.store.channels.add({ name: 'slow', type: 'openai', baseUrl: `http://127.0.0.1:${(slowUpstream.address() as AddressInfo).port}/v1`, models: [{ model: 'slow', upstreamModel: 'slow' }] });
  await fx.tg.store.channels.addKey(c.id, 'sk-slow-upstream');
  await fx.tg.store.prices.set({ model: 'slow', channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 0, free: true });
  await fx.tg.sync.pollNow();
});
after(async () => {
  await fx.close();
  await new Promise((r) => slowUpstream.close(r));
});
let slowUpstream: Server;

test('the body-idle timer stops with the body: an upstream slower than it still answers 200', async () => {
  const r = await fetch(`${fx.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'slow', messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(r.status, 200);
  assert.equal((await r.json()).choices[0].message.content, 'late');
});

test('the body-idle timer stops with the body: a stream to the client longer than it is delivered whole', async () => {
  const r = await fetch(`${fx.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'slow', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(r.status, 200);
  const text = await r.text(); // ~1.5 s of stream, three times the body-idle timeout
  assert.match(text, /part4[\s\S]*data: \[DONE\]/);
});

interface Watched { socket: Socket; received(): string; closed: Promise<number> }

/** A raw connection that records what comes back and when it closes (ms after opening). */
function open(): Promise<Watched> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('error', () => {});
    const closed = new Promise<number>((r) => socket.on('close', () => r(performance.now() - started)));
    socket.on('connect', () => resolve({ socket, received: () => text, closed }));
  });
}

const status = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);

test('slowloris: headers dribbled a byte at a time are cut within about a second of headersTimeout', async () => {
  const c = await open();
  const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${fx.key}\r\nX-Pad: `;
  c.socket.write(head);
  const drip = setInterval(() => c.socket.writable && c.socket.write('a'), 100);
  const closedAfter = await c.closed;
  clearInterval(drip);
  assert.ok(closedAfter < HEADERS_TIMEOUT_MS + 1_200, `closed after ${closedAfter.toFixed(0)} ms`);
  assert.equal(status(c.received()), 408);
});

for (const [route, path, headers] of [
  ['hot path', '/v1/chat/completions', () => `Authorization: Bearer ${fx.key}\r\nContent-Type: application/json`],
  ['account API alias', '/api/v1/proxy/llm', () => `Authorization: Bearer ${fx.key}\r\nContent-Type: application/json`],
  ['admin API (Fastify)', '/admin/users', () => `Authorization: Bearer ${ADMIN_TOKEN}\r\nContent-Type: application/json`],
] as const) {
  test(`slow body on the ${route}: 408 and closed about bodyIdleTimeout after the last byte`, async () => {
    const c = await open();
    c.socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\n${headers()}\r\nContent-Length: 1000\r\n\r\n{"model":`);
    const closedAfter = await c.closed;
    assert.equal(status(c.received()), 408, c.received().slice(0, 200));
    assert.ok(closedAfter < BODY_IDLE_MS + 1_200, `closed after ${closedAfter.toFixed(0)} ms`);
  });

  test(`chunked upload past the limit on the ${route}: 413 before twice the limit was sent, then closed`, async () => {
    const c = await open();
    c.socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\n${headers()}\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = Buffer.alloc(4096, 0x20);
    const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
    let sent = 0;
    // Send up to 64 MiB, paced by the socket, until an answer arrives or the socket closes.
    while (sent < 64 * 1024 * 1024 && c.received() === '' && !c.socket.destroyed) {
      if (!c.socket.write(frame)) await new Promise((r) => { c.socket.once('drain', r); c.socket.once('close', r); });
      sent += chunk.length;
      if (sent % (256 * 1024) === 0) await new Promise((r) => setImmediate(r));
    }
    const closedAfter = await Promise.race([c.closed, new Promise<number>((r) => setTimeout(() => r(-1), 5_000))]);
    assert.equal(status(c.received()), 413, c.received().slice(0, 200));
    assert.ok(sent < 2 * BODY_LIMIT + 1024 * 1024, `${sent} bytes sent before the answer (limit ${BODY_LIMIT}); the socket buffers explain the slack`);
    assert.ok(closedAfter >= 0, 'the connection was closed');
  });
}

test('a declared Content-Length over the limit gets 413 at once and the connection closes', async () => {
  const c = await open();
  c.socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${fx.key}\r\nContent-Type: application/json\r\nContent-Length: ${200 * 1024 * 1024}\r\n\r\n{"model":`);
  const closedAfter = await Promise.race([c.closed, new Promise<number>((r) => setTimeout(() => r(-1), 5_000))]);
  assert.equal(status(c.received()), 413);
  assert.ok(closedAfter >= 0, 'the connection was closed');
});

// A body nobody reads (a GET's, a 404's) is not drained to its end either: the
// answer closes the connection, so a client cannot keep one streaming forever.
for (const [route, method, path] of [
  ['hot path, unknown /v1 route', 'POST', '/v1/nope'],
  ['hot path, GET /v1/models', 'GET', '/v1/models'],
  ['account API (Fastify)', 'GET', '/api/v1/balance'],
  ['Fastify 404', 'POST', '/nope'],
] as const) {
  test(`endless chunked body on ${route}: answered and closed, not drained`, async () => {
    const c = await open();
    c.socket.write(`${method} ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${fx.key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = Buffer.alloc(16 * 1024, 0x20);
    const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
    // Paced at ~3 MB/s for at most 6 s: bounded, and longer than the lingering close.
    const stopAt = performance.now() + 6_000;
    while (!c.socket.destroyed && c.socket.writable && performance.now() < stopAt) {
      c.socket.write(frame);
      await new Promise((r) => setTimeout(r, 5));
    }
    const closedAfter = await Promise.race([c.closed, new Promise<number>((r) => setTimeout(() => r(-1), 500))]);
    assert.ok(status(c.received()) > 0, `an answer arrived: ${c.received().slice(0, 100)}`);
    assert.ok(closedAfter >= 0 && closedAfter < 5_000, `closed after ${closedAfter.toFixed(0)} ms`);
    c.socket.destroy();
  });
}
