/**
 * Each upstream dispatch handler alone, with a fake controller, a recording
 * next handler and a fake client response; then the whole chain driven by a
 * fake dispatcher. The real-socket paths are covered by the gateway-* tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Dispatcher } from 'undici';
import { RequestContext } from '../src/gateway/context.ts';
import { ENDPOINTS } from '../src/edge/endpoints.ts';
import { dialectFor } from '../src/providers/index.ts';
import { ErrorCapture } from '../src/upstream/error-capture.ts';
import { Attempt } from '../src/upstream/attempt.ts';
import { UsageTap } from '../src/upstream/usage-tap.ts';
import { ClientSink } from '../src/upstream/client-sink.ts';
import { startAttempt } from '../src/upstream/start-attempt.ts';
import { FirstTokenTimer } from '../src/upstream/first-token-timer.ts';
import { CLIENT_ABORT, FailureError, failureError, type Failure } from '../src/upstream/failure.ts';
import type { UpstreamHandler } from '../src/upstream/forwarding-handler.ts';
import { OPENAI_CHAT_STREAM, OPENAI_USAGE, OPENAI_USAGE_EVENT } from './support/sse-recordings.ts';

const openai = dialectFor('openai');
const countChars = (text: string) => text.length;

class FakeController implements Dispatcher.DispatchController {
  aborted = false;
  paused = false;
  reason: Error | null = null;
  resumes = 0;
  abort(reason: Error): void {
    this.aborted = true;
    this.reason = reason;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
    this.resumes++;
  }
}

/** A client response: records the head and the bytes; `accept` is what write() answers. */
class FakeResponse extends EventEmitter {
  accept = true;
  headersSent = false;
  status = 0;
  head: string[] = [];
  chunks: Buffer[] = [];
  ended = false;
  writeHead(status: number, headers: string[]): void {
    this.status = status;
    this.head = headers;
    this.headersSent = true;
  }
  write(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    return this.accept;
  }
  end(): void {
    this.ended = true;
  }
  header(name: string): string | undefined {
    const i = this.head.indexOf(name);
    return i < 0 ? undefined : this.head[i + 1];
  }
  get body(): string {
    return Buffer.concat(this.chunks).toString();
  }
}

function context(opts: { stream?: boolean; clientWantsStreamUsage?: boolean } = {}): { ctx: RequestContext; res: FakeResponse } {
  const res = new FakeResponse();
  const req = { headers: {} };
  const ctx = new RequestContext(req as any, res as any, ENDPOINTS.get('POST /v1/chat/completions')!, performance.now());
  ctx.stream = opts.stream ?? false;
  ctx.clientWantsStreamUsage = opts.clientWantsStreamUsage ?? false;
  return { ctx, res };
}

type Call = [string, ...unknown[]];

/** A next handler that records what reaches it. */
class Recorder implements UpstreamHandler {
  readonly calls: Call[] = [];
  onRequestStart(_c: unknown, context: unknown): void {
    this.calls.push(['start', context]);
  }
  onResponseStart(_c: unknown, status: number, headers: unknown): void {
    this.calls.push(['head', status, headers]);
  }
  onResponseData(_c: unknown, chunk: Buffer): void {
    this.calls.push(['data', chunk]);
  }
  onResponseEnd(): void {
    this.calls.push(['end']);
  }
  onResponseError(_c: unknown, err: Error): void {
    this.calls.push(['error', err]);
  }
  get names(): string[] {
    return this.calls.map((c) => c[0]);
  }
  get bytes(): string {
    return Buffer.concat(this.calls.filter((c) => c[0] === 'data').map((c) => c[1] as Buffer)).toString();
  }
}

function captureOf(status: number, body: string | Buffer[]): { next: Recorder; failure: Failure } {
  const next = new Recorder();
  const c = new FakeController();
  const h = new ErrorCapture('c1', openai, 'sk-test-secret', next);
  h.onRequestStart(c, {});
  h.onResponseStart(c, status, { 'content-type': 'application/json' });
  for (const chunk of typeof body === 'string' ? [Buffer.from(body)] : body) h.onResponseData(c, chunk);
  h.onResponseEnd(c, {});
  assert.deepEqual(next.names, ['start', 'error'], 'neither the head nor the body of an error status goes further');
  const err = next.calls[1][1];
  assert.ok(err instanceof FailureError);
  return { next, failure: err.failure };
}

test('error capture: a 5xx body becomes a Failure blaming the channel, never passed on', () => {
  const body = JSON.stringify({ error: { message: 'The server is overloaded', type: 'server_error' } });
  const { failure } = captureOf(503, [Buffer.from(body.slice(0, 10)), Buffer.from(body.slice(10))]);
  assert.equal(failure.status, 502);
  assert.equal(failure.errorClass, 'upstream_5xx');
  assert.equal(failure.blame, 'channel');
  assert.equal(failure.message, "Upstream channel 'c1' answered 503: The server is overloaded");
});

test('error capture: 429 is a rate limit on the key, 401/403 an auth failure of the key', () => {
  const limited = captureOf(429, '{"error":{"message":"slow down"}}').failure;
  assert.deepEqual([limited.status, limited.errorClass, limited.blame, limited.error.status], [429, 'upstream_429', 'key', 429]);
  for (const status of [401, 403]) {
    const auth = captureOf(status, 'denied').failure;
    assert.deepEqual([auth.status, auth.errorClass, auth.blame], [502, 'upstream_auth', 'key']);
    assert.match(auth.message, new RegExp(`answered ${status}: denied$`), 'a non-JSON body is quoted as text');
  }
  assert.match(captureOf(500, '').failure.message, /\(no body\)$/);
});

test('error capture keeps at most 4 KB of a long error body', () => {
  const words = (w: string) => Buffer.from(`${w} `.repeat(1000).slice(0, 3000));
  const { failure } = captureOf(502, [words('aa'), words('bb'), words('cc')]);
  const quoted = failure.message.slice(failure.message.indexOf(': ') + 2);
  assert.equal(quoted.length, 4096);
  assert.ok(!quoted.includes('c'));
});

test('error capture: a client-error answer goes on whole, scrubbed of the key and of key-shaped text', () => {
  const next = new Recorder();
  const c = new FakeController();
  const h = new ErrorCapture('c1', openai, 'up-secret-0123456789', next);
  h.onRequestStart(c, {});
  h.onResponseStart(c, 400, { 'content-type': 'application/json', 'content-length': '120' });
  h.onResponseData(c, Buffer.from('{"error":{"message":"bad key up-secret-0123456789 or '));
  h.onResponseData(c, Buffer.from('sk-proj-abcdefghijklmnop, token Bearer xyzxyzxyzxyz"}}'));
  h.onResponseEnd(c, {});
  assert.deepEqual(next.names, ['start', 'head', 'data', 'end']);
  assert.equal((next.calls[1][2] as Record<string, string>)['content-length'], undefined, 'the scrubbed body has its own length');
  const text = String(next.calls[2][1]);
  assert.ok(!text.includes('up-secret') && !text.includes('sk-proj-abc') && !text.includes('xyzxyz'), text);
  assert.match(text, /bad key \[redacted\]/);
});

test('error capture passes any other status through untouched', () => {
  const next = new Recorder();
  const c = new FakeController();
  const h = new ErrorCapture('c1', openai, 'sk-test-secret', next);
  const headers = { 'content-type': 'application/json' };
  const chunk = Buffer.from('{"object":"chat.completion"}');
  h.onRequestStart(c, {});
  h.onResponseStart(c, 200, headers);
  h.onResponseData(c, chunk);
  h.onResponseEnd(c, {});
  assert.deepEqual(next.names, ['start', 'head', 'data', 'end']);
  assert.equal(next.calls[1][2], headers);
  assert.equal(next.calls[2][1], chunk, 'the same buffer, not a copy');
});

test('attempt: done resolves after the handlers below ended, with null', async () => {
  const { ctx } = context();
  const next = new Recorder();
  const c = new FakeController();
  const a = new Attempt(ctx, 'c1', next);
  let settled = false;
  a.done.then(() => (settled = true));
  a.onRequestStart(c, {});
  a.onResponseStart(c, 200, {});
  assert.ok(ctx.upstreamHeadersAt > 0);
  a.onResponseData(c, Buffer.from('x'));
  await Promise.resolve();
  assert.equal(settled, false);
  a.onResponseEnd(c, {});
  assert.equal(await a.done, null);
  assert.deepEqual(next.names, ['start', 'head', 'data', 'end']);
});

test('attempt: errors become Failures — a FailureError keeps its own, others blame the channel, before or after the first byte, unless we cancelled', async () => {
  const reported: Failure = { ...CLIENT_ABORT, errorClass: 'upstream_5xx', blame: 'channel' };
  const cases: Array<[string, (ctx: RequestContext) => void, Error, (f: Failure) => void]> = [
    ['failure error', () => {}, failureError(reported), (f) => assert.equal(f, reported)],
    ['connect error', () => {}, Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), (f) => {
      assert.deepEqual([f.status, f.errorClass, f.blame], [502, 'ECONNREFUSED', 'channel']);
    }],
    ['timeout', () => {}, Object.assign(new Error('t'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), (f) => assert.deepEqual([f.status, f.errorClass], [504, 'timeout'])],
    ['reset after the first byte', (ctx) => (ctx.committed = true), new Error('other side closed'), (f) => assert.equal(f.blame, 'channel')],
    ['our own shutdown', (ctx) => (ctx.cancelled = 'shutdown'), new Error('shutdown'), (f) => assert.equal(f.blame, null)],
    ['client gone', (ctx) => (ctx.clientGone = true), new Error('aborted'), (f) => assert.equal(f, CLIENT_ABORT)],
  ];
  for (const [name, setup, err, check] of cases) {
    const { ctx } = context();
    const next = new Recorder();
    const a = new Attempt(ctx, 'c1', next);
    const c = new FakeController();
    a.onRequestStart(c, {});
    setup(ctx);
    a.onResponseError(c, err);
    check((await a.done)!);
    assert.deepEqual(next.names, ['start', 'error'], `${name}: the error went on down the chain first`);
  }
});

test('attempt: cancel aborts the controller, resumeReading unpauses it, a request cancelled before it started is aborted at once', () => {
  const { ctx } = context();
  const a = new Attempt(ctx, 'c1', new Recorder());
  a.cancel(new Error('before start')); // no controller yet: nothing to do
  const c = new FakeController();
  a.onRequestStart(c, {});
  a.resumeReading();
  assert.equal(c.resumes, 0, 'not paused: nothing to resume');
  c.pause();
  a.resumeReading();
  assert.equal(c.resumes, 1);
  a.cancel(new Error('client closed the request'));
  assert.equal(c.reason?.message, 'client closed the request');

  const late = context().ctx;
  late.cancelled = 'shutdown';
  const c2 = new FakeController();
  new Attempt(late, 'c1', new Recorder()).onRequestStart(c2, {});
  assert.ok(c2.aborted);
});

function tapOf(ctx: RequestContext): { tap: UsageTap; next: Recorder; c: FakeController } {
  const next = new Recorder();
  return { tap: new UsageTap(ctx, openai, countChars, 'sk-test-secret', !ctx.clientWantsStreamUsage, false, next), next, c: new FakeController() };
}

test('usage tap: a stream loses the usage event the gateway asked for, and its usage lands on the context', () => {
  const { ctx } = context({ stream: true, clientWantsStreamUsage: false });
  const { tap, next, c } = tapOf(ctx);
  const input = Buffer.from(OPENAI_CHAT_STREAM);
  tap.onResponseStart(c, 200, {});
  for (let i = 0; i < input.length; i += 97) tap.onResponseData(c, input.subarray(i, i + 97));
  tap.onResponseEnd(c, {});
  assert.equal(next.bytes, OPENAI_CHAT_STREAM.replace(OPENAI_USAGE_EVENT, ''));
  assert.equal(next.names.filter((n) => n === 'data').length, Math.ceil(input.length / 97), 'every chunk passed on, even one the scanner emptied');
  assert.equal(next.names.at(-1), 'end');
  assert.deepEqual([ctx.usageReported, ctx.promptTokens, ctx.completionTokens], [true, OPENAI_USAGE.promptTokens, OPENAI_USAGE.completionTokens]);
});

test('usage tap: a cut stream is metered by its counted deltas', () => {
  const { ctx } = context({ stream: true, clientWantsStreamUsage: true });
  const { tap, next, c } = tapOf(ctx);
  tap.onResponseStart(c, 200, {});
  tap.onResponseData(c, Buffer.from('data: {"choices":[{"index":0,"delta":{"content":"abcd"}}]}\n\ndata: {"choi'));
  tap.onResponseError(c, new Error('other side closed'));
  assert.deepEqual([ctx.usageReported, ctx.completionTokens], [false, 4]);
  assert.equal(next.names.at(-1), 'error');
});

test('usage tap: a plain body passes through as is, its usage read from the last two chunks', () => {
  const { ctx } = context();
  const { tap, next, c } = tapOf(ctx);
  const body = Buffer.from(JSON.stringify({ id: 'x', choices: [{ message: { content: 'y'.repeat(500) } }], usage: { prompt_tokens: 7, completion_tokens: 3 } }));
  const at = body.indexOf('"prompt_tokens"');
  const chunks = [body.subarray(0, 200), body.subarray(200, at), body.subarray(at)];
  tap.onResponseStart(c, 200, {});
  for (const chunk of chunks) tap.onResponseData(c, chunk);
  tap.onResponseEnd(c, {});
  assert.deepEqual(next.calls.filter((x) => x[0] === 'data').map((x) => x[1]), chunks, 'the very same buffers');
  assert.deepEqual([ctx.usageReported, ctx.promptTokens, ctx.completionTokens], [true, 7, 3]);
});

test('client sink: the head goes out with the first byte, and backpressure pauses the upstream until drain', () => {
  const { ctx, res } = context({ stream: true });
  const sink = new ClientSink(ctx);
  const c = new FakeController();
  sink.onResponseStart(c, 200, { 'content-type': 'text/event-stream; charset=utf-8', 'content-length': '999' });
  assert.equal(ctx.status, 200);
  assert.equal(res.headersSent, false, 'no head before a body byte: a failure now can still be retried');
  assert.equal(ctx.committed, false);
  res.accept = false;
  sink.onResponseData(c, Buffer.from('data: a\n\n'));
  assert.equal(res.status, 200);
  assert.equal(res.header('content-type'), 'text/event-stream; charset=utf-8');
  assert.equal(res.header('content-length'), undefined, 'a stream is not sent with the upstream length');
  assert.ok(ctx.committed && ctx.ttftMs >= 0);
  assert.equal(c.paused, true);
  res.accept = true;
  res.emit('drain');
  assert.equal(c.paused, false);
  assert.equal(c.resumes, 1);
  sink.onResponseData(c, Buffer.alloc(0));
  sink.onResponseData(c, Buffer.from('data: b\n\n'));
  sink.onResponseEnd(c);
  assert.equal(res.body, 'data: a\n\ndata: b\n\n');
  assert.equal(res.chunks.length, 2, 'empty chunks are not written');
  assert.ok(res.ended);
});

test('client sink: a plain body keeps its length; a 4xx is the client answer, marked upstream_error', () => {
  const { ctx, res } = context();
  const sink = new ClientSink(ctx);
  const c = new FakeController();
  sink.onResponseStart(c, 404, { 'content-length': '2' });
  sink.onResponseEnd(c);
  assert.deepEqual([res.status, res.header('content-type'), res.header('content-length'), ctx.outcome], [404, 'application/json', '2', 'upstream_error']);
  assert.ok(res.ended);
});

test('client sink: an error ends a committed response and leaves an uncommitted one to the relay', () => {
  const before = context();
  const sink = new ClientSink(before.ctx);
  sink.onResponseStart(new FakeController(), 200, {});
  sink.onResponseError();
  assert.deepEqual([before.res.headersSent, before.res.ended], [false, false]);

  const after = context();
  const committed = new ClientSink(after.ctx);
  const c = new FakeController();
  committed.onResponseStart(c, 200, {});
  committed.onResponseData(c, Buffer.from('{'));
  committed.onResponseError();
  assert.ok(after.res.ended);
});

test('client sink: after the client left (drain mode) nothing is written, but the request is still marked started', () => {
  const { ctx, res } = context({ stream: true });
  const sink = new ClientSink(ctx);
  const c = new FakeController();
  sink.onResponseStart(c, 200, {});
  sink.onResponseData(c, Buffer.from('data: a\n\n'));
  ctx.clientGone = true;
  sink.onResponseData(c, Buffer.from('data: b\n\n'));
  sink.onResponseEnd(c);
  assert.equal(res.body, 'data: a\n\n');
  assert.equal(res.ended, false);
});

/** A dispatcher that plays one response into the handler it is given. */
function replay(status: number, chunks: readonly Buffer[]): Dispatcher {
  return {
    dispatch(_opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
      const c = new FakeController();
      handler.onRequestStart!(c, {});
      handler.onResponseStart!(c, status, { 'content-type': status === 200 ? 'text/event-stream' : 'application/json' }, '');
      for (const chunk of chunks) handler.onResponseData!(c, chunk);
      handler.onResponseEnd!(c, {});
      return true;
    },
  } as Dispatcher;
}

const options: Dispatcher.DispatchOptions = { origin: 'http://upstream.invalid', path: '/v1/chat/completions', method: 'POST' };

test('the chain: an upstream 503 reaches the relay as a Failure and the client sees nothing', async () => {
  const { ctx, res } = context({ stream: true });
  const attempt = startAttempt(replay(503, [Buffer.from('{"error":{"message":"busy"}}')]), options, ctx, 'c1', { dialect: openai, translation: null }, countChars, 'sk-test-secret');
  assert.equal(ctx.attempt, attempt);
  const failure = await attempt.done;
  assert.equal(failure?.message, "Upstream channel 'c1' answered 503: busy");
  assert.deepEqual([res.headersSent, res.chunks.length, ctx.committed, ctx.status], [false, 0, false, 0]);
});

test('the chain: a stream reaches the client without the injected usage event, metered', async () => {
  const { ctx, res } = context({ stream: true, clientWantsStreamUsage: false });
  const input = Buffer.from(OPENAI_CHAT_STREAM);
  const chunks = [input.subarray(0, 500), input.subarray(500, 1700), input.subarray(1700)];
  const failure = await startAttempt(replay(200, chunks), options, ctx, 'c1', { dialect: openai, translation: null }, countChars, 'sk-test-secret').done;
  assert.equal(failure, null);
  assert.equal(res.body, OPENAI_CHAT_STREAM.replace(OPENAI_USAGE_EVENT, ''));
  assert.ok(res.ended);
  assert.deepEqual([ctx.status, ctx.promptTokens, ctx.completionTokens, ctx.usageReported], [200, 19, 11, true]);
});

test('first-token timer: cuts with a FailureError blaming the channel, even when it ran out before the connection; a first byte stops it', async () => {
  const early = new Recorder();
  const timer = new FirstTokenTimer('c1', 1, early);
  await new Promise((r) => setTimeout(r, 20));
  const c = new FakeController();
  timer.onRequestStart(c, {}); // the connection came after the deadline: cut at once
  assert.ok(c.reason instanceof FailureError);
  assert.deepEqual([(c.reason as FailureError).failure.blame, (c.reason as FailureError).failure.errorClass, (c.reason as FailureError).failure.status], ['channel', 'first_token_timeout', 504]);

  const late = new Recorder();
  const running = new FirstTokenTimer('c1', 30, late);
  const c2 = new FakeController();
  running.onRequestStart(c2, {});
  running.onResponseStart(c2, 200, {});
  running.onResponseData(c2, Buffer.alloc(0)); // an empty chunk is no first byte
  running.onResponseData(c2, Buffer.from('data: {}\n\n'));
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(c2.aborted, false, 'the first byte stopped the clock');
  assert.deepEqual(late.names, ['start', 'head', 'data', 'data']);
});
