/**
 * The mock upstream as a process of its own for the bench (so it can be pinned
 * to the load core), plus a side server that tells how many requests reached
 * it: the harness checks that upstream hits equal requests served.
 *
 *   node dist/bench/upstream-process.js --chunks 20 --chunk-delay-ms 5
 *
 * Prints one line `BENCH_UPSTREAM {"url":…,"statsUrl":…}` once both listen.
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { startMockUpstream } from '../src/mock/mock-upstream.ts';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    chunks: { type: 'string', default: '20' },
    'chunk-delay-ms': { type: 'string', default: '5' },
    'latency-ms': { type: 'string', default: '0' },
  },
});

const mock = await startMockUpstream({
  host: values.host,
  port: Number(values.port),
  chunks: Number(values.chunks),
  chunkDelayMs: Number(values['chunk-delay-ms']),
  latencyMs: Number(values['latency-ms']),
});

// A second port keeps the stats probes out of the mock's own request counts.
const statsServer = createServer((request, response) => {
  if (request.url === '/__stats') {
    response.setHeader('content-type', 'application/json');
    const { requests, byPath, aborted } = mock.stats;
    response.end(JSON.stringify({ requests, byPath, aborted }));
    return;
  }
  if (request.url === '/__reset' && request.method === 'POST') {
    mock.resetStats();
    response.end('{}');
    return;
  }
  response.statusCode = 404;
  response.end();
});
statsServer.listen(0, values.host, () => {
  const address = statsServer.address();
  const statsPort = typeof address === 'object' && address !== null ? address.port : 0;
  const info = { url: mock.url, statsUrl: `http://${values.host}:${statsPort}/__stats` };
  process.stdout.write(`BENCH_UPSTREAM ${JSON.stringify(info)}\n`);
});

function shutdown(): void {
  statsServer.close();
  void mock.close().finally(() => process.exit(0));
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
