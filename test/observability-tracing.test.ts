/**
 * OpenTelemetry: with OTEL_EXPORTER_OTLP_ENDPOINT set, every API request is
 * exported over OTLP/HTTP as one SERVER span with the GenAI attributes and the
 * request's stages as events, as a child of the client's traceparent; without
 * it, nothing is loaded and no span is made. The receiver is an in-process HTTP
 * server speaking OTLP/JSON.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startMockUpstream, type MockUpstream } from '../src/mock/mock-upstream.ts';
import { startFixture, type Fixture } from './support/gateway-fixture.ts';

interface OtlpSpan {
  traceId: string; parentSpanId?: string; name: string; kind: number; startTimeUnixNano: string; endTimeUnixNano: string;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
  events?: Array<{ name: string; timeUnixNano: string }>;
  status?: { code?: number };
}

/** An OTLP/HTTP receiver that keeps every span it is sent. */
async function otlpReceiver(): Promise<{ url: string; spans: OtlpSpan[]; resources: unknown[]; server: Server }> {
  const spans: OtlpSpan[] = [];
  const resources: unknown[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      assert.equal(req.url, '/v1/traces');
      assert.match(String(req.headers['content-type']), /json/);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      for (const rs of body.resourceSpans ?? []) {
        resources.push(rs.resource);
        for (const ss of rs.scopeSpans ?? []) spans.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, resources, server };
}

const attr = (span: OtlpSpan, key: string): unknown => {
  const value = span.attributes.find((a) => a.key === key)?.value;
  return value === undefined ? undefined : (value.stringValue ?? value.intValue ?? value.boolValue ?? value.doubleValue);
};

let fx: Fixture | null = null;
let upstream: MockUpstream | null = null;
after(async () => {
  await fx?.close();
  await upstream?.close();
});

test('a streamed chat request becomes one span: GenAI attributes, stage events in order, the client\'s trace as parent', async () => {
  const receiver = await otlpReceiver();
  fx = await startFixture({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'tollgate-test' });
  upstream = await startMockUpstream({ chunks: 3 });
  const c = await fx.tg.store.channels.add({ name: 'oai', type: 'openai', baseUrl: `${upstream.url}/v1`, models: [{ model: 'gpt-x', upstreamModel: 'gpt-x' }] });
  await fx.tg.store.channels.addKey(c.id, 'sk-oai');
  await fx.tg.store.prices.set({ model: 'gpt-x', channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 0, free: true });
  await fx.tg.sync.pollNow();

  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const r = await fetch(`${fx.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json', traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    body: JSON.stringify({ model: 'gpt-x', stream: true, max_tokens: 6, messages: [{ role: 'user', content: 'hi' }] }),
  });
  await r.text();
  const refused = await fetch(`${fx.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer tg-wrong', 'content-type': 'application/json' }, body: '{}' });
  assert.equal(refused.status, 401);
  await fx.tg.gateway.tracer!.flush();

  assert.equal(receiver.spans.length, 2);
  const span = receiver.spans.find((s) => s.name === 'chat gpt-x')!;
  assert.ok(span !== undefined, receiver.spans.map((s) => s.name).join());
  assert.equal(span.kind, 2, 'SERVER');
  assert.equal(span.traceId, traceId);
  assert.equal(span.parentSpanId, '00f067aa0ba902b7');
  assert.equal(attr(span, 'gen_ai.operation.name'), 'chat');
  assert.equal(attr(span, 'gen_ai.request.model'), 'gpt-x');
  assert.equal(attr(span, 'gen_ai.provider.name'), 'openai');
  assert.equal(Number(attr(span, 'gen_ai.usage.output_tokens')), 6);
  assert.ok(Number(attr(span, 'gen_ai.usage.input_tokens')) > 0);
  assert.equal(Number(attr(span, 'http.response.status_code')), 200);
  assert.equal(attr(span, 'tollgate.channel'), 'oai');
  assert.equal(attr(span, 'tollgate.stream'), true);
  assert.ok(Number(attr(span, 'tollgate.ttft_ms')) > 0);
  const events = span.events!.map((e) => e.name);
  assert.deepEqual(events, ['authenticated', 'admitted', 'upstream.request_sent', 'upstream.headers', 'first_byte', 'finished']);
  const times = span.events!.map((e) => BigInt(e.timeUnixNano));
  for (let i = 1; i < times.length; i++) assert.ok(times[i] >= times[i - 1], `${events[i]} after ${events[i - 1]}`);
  assert.ok(BigInt(span.startTimeUnixNano) <= times[0] && times.at(-1)! <= BigInt(span.endTimeUnixNano));
  assert.match(JSON.stringify(receiver.resources[0]), /tollgate-test/);

  const unauthorized = receiver.spans.find((s) => s !== span)!;
  assert.equal(Number(attr(unauthorized, 'http.response.status_code')), 401);
  assert.equal(unauthorized.status?.code, 2, 'an error status');
  await fx.close();
  fx = null;
  await new Promise((r) => receiver.server.close(r));
});

test('without an endpoint there is no tracer (the SDK is never loaded)', async () => {
  const plain = await startFixture();
  try {
    assert.equal(plain.tg.gateway.tracer, null);
  } finally {
    await plain.close();
  }
});
