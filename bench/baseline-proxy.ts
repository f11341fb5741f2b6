/**
 * The baseline: a bare Node passthrough, node:http in front of an undici pool,
 * piping bytes both ways without parsing a body. It is the floor for any Node
 * gateway on this machine; Tollgate's CPU per request is reported as a ratio
 * to it, measured in the same run.
 *
 *   node dist/bench/baseline-proxy.js --upstream URL [--stream-upstream URL] [--port 0]
 *
 * Requests carrying `x-bench-upstream: stream` go to the stream upstream (the
 * mock provider), the others to the fast one (nginx, when installed).
 * Prints `BENCH_BASELINE {"port":…}` when listening.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { Pool, type Dispatcher } from 'undici';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    upstream: { type: 'string' },
    'stream-upstream': { type: 'string' },
  },
});
if (values.upstream === undefined) throw new Error('--upstream URL is required');

const poolOptions = { connections: 256, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 600_000 };
const fastPool = new Pool(values.upstream, poolOptions);
const streamPool = values['stream-upstream'] === undefined ? fastPool : new Pool(values['stream-upstream'], poolOptions);

/** Hop-by-hop headers (RFC 9110 §7.6.1) that a proxy must not forward; undici also refuses some of them. */
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host', 'x-bench-upstream']);

function requestHeaders(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!hopByHop.has(raw[i].toLowerCase())) out.push(raw[i], raw[i + 1]);
  }
  return out;
}

function responseHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined && !hopByHop.has(name)) out[name] = value;
  }
  return out;
}

/** undici calls this with the upstream's status line; the client response becomes the sink. */
function startResponse(data: Dispatcher.StreamFactoryData<ServerResponse>): ServerResponse {
  const response = data.opaque;
  response.writeHead(data.statusCode, responseHeaders(data.headers as Record<string, string | string[] | undefined>));
  return response;
}

function relay(request: IncomingMessage, response: ServerResponse): void {
  const pool = request.headers['x-bench-upstream'] === 'stream' ? streamPool : fastPool;
  const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
  pool.stream<ServerResponse>(
    {
      path: request.url ?? '/',
      method: request.method as Dispatcher.HttpMethod,
      headers: requestHeaders(request.rawHeaders),
      body: hasBody ? request : null,
      opaque: response,
    },
    startResponse,
    (error) => {
      if (error === null) return;
      if (response.headersSent) response.destroy(error);
      else {
        response.statusCode = 502;
        response.end('{"error":{"message":"upstream failed","type":"bad_gateway"}}');
      }
    },
  );
}

const server = createServer({ keepAliveTimeout: 120_000 }, relay);
server.listen(Number(values.port), values.host, () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  process.stdout.write(`BENCH_BASELINE ${JSON.stringify({ port })}\n`);
});

function shutdown(): void {
  server.close();
  server.closeAllConnections();
  void Promise.all([fastPool.close(), streamPool.close()]).finally(() => process.exit(0));
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
