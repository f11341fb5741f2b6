/**
 * OpenTelemetry traces: one SERVER span per API request, following the GenAI
 * semantic conventions (gen_ai.operation.name, gen_ai.provider.name,
 * gen_ai.request.model, gen_ai.usage.*), with the request's stages as events
 * (authenticated, admitted, upstream request sent, upstream headers, first byte
 * to the client, finished). A `traceparent` from the client makes it a child of
 * the caller's trace.
 *
 * The span is built once, when the request is finished, from timestamps the
 * request already carries: nothing on the hot path waits on, or allocates for,
 * tracing. With no endpoint configured the SDK is not even loaded (dynamic
 * imports) and `startTracing` returns null: the cost is one null check per request.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Attributes } from '@opentelemetry/api';

/** What a span is built from: the request context, read once at its end. */
export interface TracedRequest {
  readonly ts: number;
  readonly startedAt: number;
  readonly route: string;
  readonly model: string;
  readonly channel: string;
  readonly status: number;
  readonly outcome: string;
  readonly stream: boolean;
  readonly latencyMs: number;
  readonly ttftMs: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly costMicros: number;
  readonly attempts: number;
  readonly errorClass: string | null;
  readonly userId: number;
  readonly requestId: string;
  readonly authenticatedAt: number;
  readonly admittedAt: number;
  readonly upstreamStartedAt: number;
  readonly upstreamHeadersAt: number;
  readonly upstreamChannel: { readonly type: string } | null;
  readonly endpoint: { readonly kind: string };
  readonly req: { readonly method?: string; readonly headers: IncomingHttpHeaders };
}

export interface RequestTracer {
  /** Exports the span of a finished request (batched, off the request path). */
  record(request: TracedRequest): void;
  /** Sends what is batched now (tests, shutdown). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** GenAI operation names by endpoint kind. */
const OPERATIONS: Record<string, string> = { chat: 'chat', messages: 'chat', responses: 'chat', completions: 'text_completion', embeddings: 'embeddings' };

/** Starts the exporter, or returns null when no endpoint is configured. */
export async function startTracing(endpoint: string | null, serviceName: string): Promise<RequestTracer | null> {
  if (endpoint === null || endpoint === '') return null;
  const [api, sdk, otlp, resources, core] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/core'),
  ]);
  const exporter = new otlp.OTLPTraceExporter({ url: `${endpoint.replace(/\/+$/, '')}/v1/traces` });
  const provider = new sdk.TracerProvider({
    resource: resources.resourceFromAttributes({ 'service.name': serviceName }),
    spanProcessors: [new sdk.BatchSpanProcessor({ exporter })],
  });
  const tracer = provider.getTracer('tollgate');
  const propagator = new core.W3CTraceContextPropagator();
  const getter = { get: (carrier: IncomingHttpHeaders, key: string) => carrier[key], keys: (carrier: IncomingHttpHeaders) => Object.keys(carrier) };

  return {
    record(r) {
      // Stage times are performance.now() values; the span wants epoch milliseconds.
      const epoch = (t: number) => r.ts + (t - r.startedAt);
      const operation = OPERATIONS[r.endpoint.kind];
      const parent = typeof r.req.headers.traceparent === 'string' ? propagator.extract(api.ROOT_CONTEXT, r.req.headers, getter) : api.ROOT_CONTEXT;
      const attributes: Attributes = {
        'http.request.method': r.req.method ?? '',
        'http.route': r.route,
        'http.response.status_code': r.status,
        'tollgate.request_id': r.requestId,
        'tollgate.outcome': r.outcome,
        'tollgate.attempts': r.attempts,
        'tollgate.user_id': r.userId,
      };
      if (operation !== undefined && r.model !== '') {
        attributes['gen_ai.operation.name'] = operation;
        attributes['gen_ai.request.model'] = r.model;
        attributes['gen_ai.usage.input_tokens'] = r.promptTokens;
        attributes['gen_ai.usage.output_tokens'] = r.completionTokens;
        attributes['tollgate.stream'] = r.stream;
        attributes['tollgate.cost_micros'] = r.costMicros;
      }
      if (r.upstreamChannel !== null) {
        attributes['gen_ai.provider.name'] = r.upstreamChannel.type;
        attributes['tollgate.channel'] = r.channel;
      }
      if (r.ttftMs >= 0) attributes['tollgate.ttft_ms'] = r.ttftMs;
      if (r.errorClass !== null) attributes['error.type'] = r.errorClass;
      const name = operation !== undefined && r.model !== '' ? `${operation} ${r.model}` : `${r.req.method ?? ''} ${r.route}`;
      const span = tracer.startSpan(name, { kind: api.SpanKind.SERVER, startTime: r.ts, attributes }, parent);
      if (r.authenticatedAt > 0) span.addEvent('authenticated', epoch(r.authenticatedAt));
      if (r.admittedAt > 0) span.addEvent('admitted', epoch(r.admittedAt));
      if (r.upstreamStartedAt > 0) span.addEvent('upstream.request_sent', epoch(r.upstreamStartedAt));
      if (r.upstreamHeadersAt > 0) span.addEvent('upstream.headers', epoch(r.upstreamHeadersAt));
      if (r.ttftMs >= 0) span.addEvent('first_byte', epoch(r.startedAt + r.ttftMs));
      const end = epoch(r.startedAt + r.latencyMs);
      span.addEvent('finished', end);
      if (r.outcome !== 'ok') span.setStatus({ code: api.SpanStatusCode.ERROR, message: r.errorClass ?? r.outcome });
      span.end(end);
    },
    flush: () => provider.forceFlush(),
    close: () => provider.shutdown(),
  };
}
