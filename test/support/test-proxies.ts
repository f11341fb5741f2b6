/**
 * Real outbound proxies on 127.0.0.1 for tests: an HTTP CONNECT proxy and a
 * SOCKS5 proxy (RFC 1928, with RFC 1929 username/password when configured).
 * Each counts the tunnels it opened, the bytes it carried and the credential
 * failures it answered, and can be killed (listener closed, every socket
 * destroyed) to play a dead proxy.
 */
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface ProxyStats {
  tunnels: number;
  bytesUp: number;
  bytesDown: number;
  authFailures: number;
  /** Targets asked for, as host:port. */
  targets: string[];
}

export interface TestProxy {
  url: string;
  port: number;
  stats: ProxyStats;
  /** Stops listening and destroys every open socket: the proxy is dead from now on. */
  kill(): Promise<void>;
}

export interface ProxyAuth { username: string; password: string }

const newStats = (): ProxyStats => ({ tunnels: 0, bytesUp: 0, bytesDown: 0, authFailures: 0, targets: [] });

/** Pipes both ways and counts the bytes. */
function splice(client: Socket, target: Socket, stats: ProxyStats): void {
  client.on('data', (b: Buffer) => { stats.bytesUp += b.length; });
  target.on('data', (b: Buffer) => { stats.bytesDown += b.length; });
  client.pipe(target).pipe(client);
  const end = () => { client.destroy(); target.destroy(); };
  client.on('error', end).on('close', end);
  target.on('error', end).on('close', end);
}

async function listen(server: Server, scheme: string, sockets: Set<Socket>, stats: ProxyStats): Promise<TestProxy> {
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    stats,
    async kill() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

/** An HTTP proxy that serves CONNECT only; with `auth`, a request without those Basic credentials gets 407. */
export async function startConnectProxy(auth: ProxyAuth | null = null): Promise<TestProxy> {
  const stats = newStats();
  const sockets = new Set<Socket>();
  const expected = auth === null ? null : `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
  const server = createHttpServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    if (expected !== null && req.headers['proxy-authorization'] !== expected) {
      stats.authFailures++;
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const [host, port] = [req.url!.slice(0, req.url!.lastIndexOf(':')), Number(req.url!.slice(req.url!.lastIndexOf(':') + 1))];
    stats.targets.push(`${host}:${port}`);
    const target = connect(port, host);
    target.once('error', () => client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n'));
    target.once('connect', () => {
      stats.tunnels++;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) target.write(head);
      splice(client, target, stats);
    });
  });
  return listen(server, 'http', sockets, stats);
}

/** A SOCKS5 proxy (CONNECT command only); with `auth`, username/password is required. */
export async function startSocks5Proxy(auth: ProxyAuth | null = null): Promise<TestProxy> {
  const stats = newStats();
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    let buf = Buffer.alloc(0);
    let stage: 'greeting' | 'auth' | 'request' = 'greeting';
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (stage === 'greeting') {
        if (buf.length < 2 || buf.length < 2 + buf[1]) return;
        const methods = [...buf.subarray(2, 2 + buf[1])];
        buf = buf.subarray(2 + buf[1]);
        const method = auth === null ? 0x00 : 0x02;
        if (!methods.includes(method)) return void client.end(Buffer.from([5, 0xff]));
        client.write(Buffer.from([5, method]));
        stage = auth === null ? 'request' : 'auth';
      }
      if (stage === 'auth') {
        if (buf.length < 2 || buf.length < 3 + buf[1] || buf.length < 3 + buf[1] + buf[2 + buf[1]]) return;
        const ulen = buf[1];
        const user = buf.subarray(2, 2 + ulen).toString();
        const plen = buf[2 + ulen];
        const pass = buf.subarray(3 + ulen, 3 + ulen + plen).toString();
        buf = buf.subarray(3 + ulen + plen);
        if (user !== auth!.username || pass !== auth!.password) {
          stats.authFailures++;
          return void client.end(Buffer.from([1, 1]));
        }
        client.write(Buffer.from([1, 0]));
        stage = 'request';
      }
      if (stage === 'request') {
        if (buf.length < 5) return;
        const atyp = buf[3];
        const addrLen = atyp === 1 ? 4 : atyp === 4 ? 16 : 1 + buf[4];
        if (buf.length < 4 + addrLen + 2) return;
        const host = atyp === 1 ? [...buf.subarray(4, 8)].join('.') : atyp === 3 ? buf.subarray(5, 5 + buf[4]).toString() : '::1';
        const port = buf.readUInt16BE(4 + addrLen);
        const rest = buf.subarray(4 + addrLen + 2);
        client.removeListener('data', onData);
        stats.targets.push(`${host}:${port}`);
        const target = connect(port, host);
        target.once('error', () => client.end(Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0])));
        target.once('connect', () => {
          stats.tunnels++;
          client.write(Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]));
          if (rest.length > 0) target.write(rest);
          splice(client, target, stats);
        });
      }
    };
    client.on('data', onData);
    client.on('error', () => client.destroy());
  });
  return listen(server, 'socks5', sockets, stats);
}
