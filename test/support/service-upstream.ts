/** A bare node:http service for service-route tests: echoes, waits, streams, resets. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TestService { url: string; hits: number; lastHeaders: Record<string, unknown>; close(): Promise<void> }

export async function startTestService(): Promise<TestService> {
  const state = { hits: 0, lastHeaders: {} as Record<string, unknown> };
  const server: Server = createServer((req, res) => {
    state.hits++;
    state.lastHeaders = req.headers;
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.endsWith('/slow')) {
      setTimeout(() => res.end('late'), Number(url.searchParams.get('ms') ?? 2000)).unref();
      return;
    }
    if (url.pathname.endsWith('/reset')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(Buffer.alloc(64 * 1024, 1));
      setTimeout(() => res.destroy(), 20);
      return;
    }
    if (url.pathname.endsWith('/count')) {
      // Counts the body without holding it; answers with the byte count.
      let n = 0;
      req.on('data', (c: Buffer) => { n += c.length; });
      req.on('end', () => res.end(JSON.stringify({ bytes: n })));
      return;
    }
    if (url.pathname.endsWith('/big')) {
      const total = Number(url.searchParams.get('bytes') ?? 0);
      const chunk = Buffer.alloc(64 * 1024, 7);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) });
      let sent = 0;
      const pump = () => {
        while (sent < total) {
          const part = Math.min(chunk.length, total - sent);
          sent += part;
          if (!res.write(part === chunk.length ? chunk : chunk.subarray(0, part))) return void res.once('drain', pump);
        }
        res.end();
      };
      return pump();
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      res.writeHead(200, { 'content-type': 'application/json', 'x-service': 'echo' });
      res.end(JSON.stringify({ method: req.method, path: req.url, body, deadline: req.headers['x-tollgate-deadline'] ?? null, caller: req.headers['x-tollgate-caller'] ?? null, auth: req.headers.authorization ?? null }));
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get hits() { return state.hits; },
    get lastHeaders() { return state.lastHeaders; },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
