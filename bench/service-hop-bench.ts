/**
 * Service hop bench: load → egress → ingress → bare Node upstream, against
 * load → bare passthrough → bare passthrough → the same upstream, in one run.
 * Everything runs in this one process on 127.0.0.1, so "CPU per request" is
 * the whole process (load generator included, equally in both rows); compare
 * the rows, not the absolute numbers.
 *
 *   npm run build && node dist/bench/service-hop-bench.js [--seconds 5] [--connections 32] [--body 1024]
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { loadConfig } from '../src/config.ts';
import { startTollgate, type Tollgate } from '../src/main.ts';
import { generateClientKey, hashClientKey, displayPrefix } from '../src/keys/client-key.ts';
import { generateLinkKey } from '../src/services/hop/link-key.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const SECONDS = arg('seconds', 5);
const CONNECTIONS = arg('connections', 32);
const BODY = Buffer.alloc(arg('body', 1024), 'a');

const listen = async (server: Server) => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};

function upstream(): Server {
  return createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('{"ok":true}'));
  });
}

/** A bare node:http passthrough: the baseline a gateway is compared with. */
function passthrough(target: string): Server {
  const t = new URL(target);
  return createServer((req, res) => {
    const up = httpRequest({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers, agent: keepAlive }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
}
import { Agent as HttpAgent } from 'node:http';
const keepAlive = new HttpAgent({ keepAlive: true, maxSockets: 256 });

async function node(services: Record<string, unknown>): Promise<{ tg: Tollgate; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-hop-bench-'));
  const file = join(dir, 'tollgate.yaml');
  writeFileSync(file, stringify({ services }));
  const config = loadConfig({ file, env: { TOLLGATE_PORT: '0', TOLLGATE_DATA_DIR: dir, TOLLGATE_REQUEST_LOG: 'false', TOLLGATE_MOCK_CHANNEL: 'false' } });
  return { tg: await startTollgate(config, { logger: pino({ level: 'silent' }) }), dir };
}

async function load(url: string, headers: Record<string, string>): Promise<{ rps: number; cpuUsPerReq: number; errors: number }> {
  const agent = new Agent({ connections: CONNECTIONS, pipelining: 1 });
  let done = 0;
  let errors = 0;
  const until = performance.now() + SECONDS * 1000;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    while (performance.now() < until) {
      const res = await request(url, { method: 'POST', headers, body: BODY, dispatcher: agent });
      await res.body.dump();
      if (res.statusCode === 200) done++;
      else errors++;
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await agent.close();
  return { rps: done / seconds, cpuUsPerReq: (cpu.user + cpu.system) / Math.max(1, done), errors };
}

async function main(): Promise<void> {
  const up = upstream();
  const upUrl = await listen(up);
  const link = generateLinkKey();
  const ingress = await node({ ingress: { linkKeys: [link] } });
  const egress = await node({ egress: { ingressUrl: ingress.tg.url, linkKeyId: link.id, linkKey: link.key } });
  const key = generateClientKey();
  for (const n of [ingress, egress]) {
    const user = await n.tg.store.users.create({ name: 'bench' });
    if (n === egress) await n.tg.store.keys.insert({ userId: user.id, name: 'bench', keyHash: hashClientKey(key), prefix: displayPrefix(key) });
  }
  await ingress.tg.store.services.put({ name: 'api', targets: [{ url: upUrl, weight: 1 }], timeoutMs: 10_000, remote: false });
  await ingress.tg.store.services.allow({ service: 'api', userId: 1, path: '/', methods: ['*'], rpm: null, concurrency: null, timeoutMs: null });
  await egress.tg.store.services.put({ name: 'api', targets: [], timeoutMs: 10_000, remote: true });
  await ingress.tg.sync.pollNow();
  await egress.tg.sync.pollNow();
  const second = passthrough(upUrl);
  const first = passthrough(await listen(second));
  const firstUrl = await listen(first);

  const headers = { 'content-type': 'application/json' };
  // Warm-up, then the measured runs, alternating so drift hits both rows.
  await load(`${firstUrl}/x`, headers);
  const rows: Array<[string, Awaited<ReturnType<typeof load>>]> = [];
  rows.push(['two bare Node passthroughs', await load(`${firstUrl}/x`, headers)]);
  rows.push(['egress → ingress (secure hop)', await load(`${egress.tg.url}/svc/api/x`, { ...headers, authorization: `Bearer ${key}` })]);
  console.log(`service hop bench: ${SECONDS}s per row, ${CONNECTIONS} connections, ${BODY.length}-byte POST bodies, Node ${process.version}, one process`);
  for (const [name, r] of rows) console.log(`${name.padEnd(32)} ${r.rps.toFixed(0).padStart(7)} req/s  ${r.cpuUsPerReq.toFixed(0).padStart(5)} µs CPU/req  errors ${r.errors}`);
  console.log(`CPU ratio (hop / passthroughs): ${(rows[1][1].cpuUsPerReq / rows[0][1].cpuUsPerReq).toFixed(2)}x`);

  await egress.tg.close();
  await ingress.tg.close();
  for (const s of [up, first, second]) { s.closeAllConnections(); s.close(); }
  keepAlive.destroy();
  for (const n of [ingress, egress]) rmSync(n.dir, { recursive: true, force: true });
}

await main();
