import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createLogger, flushLogger, logRequest, REQUEST_LINE_FIELDS, requestFields } from '../src/observability/logger.ts';
import { emptyRequestOutcome, type RequestOutcome } from '../src/observability/request-outcome.ts';

const SECRETS = ['sk-secret-auth-1', 'sk-secret-xkey-2', 'sk-secret-apikey-3', 'sk-secret-upstream-4', 'sk-secret-key-5', 'sk-secret-admin-6', 'sk-secret-hdr-7'];

function outcome(over: Partial<RequestOutcome> = {}): RequestOutcome {
  return Object.assign(
    emptyRequestOutcome(),
    { requestId: 'req-1', route: 'chat', model: 'gpt-4o', channel: 'openai-1', status: 200, stream: true, latencyMs: 123.4567, upstreamMs: 120.5, ttftMs: 40.25, promptTokens: 11, completionTokens: 22, costMicros: 3300, attempts: 1, userId: 7, keyId: 9 },
    over,
  );
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-log-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function lines(text: string): Record<string, unknown>[] {
  return text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('one JSON line per request, secrets redacted, asynchronous file destination', () =>
  withTempDir(async (dir) => {
    const file = join(dir, 'sub', 'tollgate.log');
    const logger = createLogger({ level: 'info', destination: file });
    logRequest(logger, outcome());
    logRequest(logger, outcome({ requestId: 'req-2', stream: false, ttftMs: -1, status: 502, outcome: 'upstream_error', errorClass: 'ECONN"RESET\n', model: 'mödel "q"' }));
    // A caller passing a richer object still only gets the listed fields out.
    logRequest(logger, Object.assign(outcome({ requestId: 'req-3' }), { apiKey: SECRETS[4] }));
    logger.child({ component: 'http' }).info({
      headers: { authorization: `Bearer ${SECRETS[0]}`, 'x-api-key': SECRETS[1] },
      req: { headers: { authorization: `Bearer ${SECRETS[6]}` } },
      apiKey: SECRETS[2],
      upstream: { key: SECRETS[3] },
      adminToken: SECRETS[5],
    }, 'upstream call');
    logger.debug('not written at info');
    await flushLogger(logger);

    const text = await readFile(file, 'utf8');
    for (const s of SECRETS) assert.ok(!text.includes(s), `secret ${s} leaked`);
    const recs = lines(text);
    assert.equal(recs.length, 4);
    const [a, b, c, d] = recs;
    assert.equal(a.msg, 'request');
    assert.equal(a.level, 30);
    assert.equal(typeof a.time, 'number');
    assert.equal(a.pid, process.pid);
    assert.equal(a.reqId, 'req-1');
    assert.equal(a.latencyMs, 123.457);
    assert.equal(a.ttftMs, 40.25);
    assert.equal(a.costMicros, 3300);
    assert.equal(a.userId, 7);
    assert.equal(b.errorClass, 'ECONN"RESET\n');
    assert.equal(b.model, 'mödel "q"');
    assert.equal(b.ttftMs, -1);
    assert.equal(c.reqId, 'req-3');
    assert.equal('apiKey' in c, false);
    assert.equal(d.component, 'http');
    assert.deepEqual(d.headers, { authorization: '[redacted]', 'x-api-key': '[redacted]' });
    assert.equal(d.apiKey, '[redacted]');
    assert.deepEqual(d.upstream, { key: '[redacted]' });
  }));

test('the fast request line equals what pino writes for the same fields', () =>
  withTempDir(async (dir) => {
    const file = join(dir, 'x.log');
    const logger = createLogger({ level: 'info', destination: file, sync: true }).child({ node: 'n1' });
    const o = outcome({ errorClass: 'timeout' });
    // Values outside their kind are bounded the same way on both paths.
    const odd = Object.assign(outcome({ requestId: 'req-odd', status: 200.7, promptTokens: 3.5, costMicros: 1.5, latencyMs: Number.NaN, userId: -0.5 }), { stream: 'yes' as unknown as boolean });
    for (const x of [o, odd]) {
      logRequest(logger, x);
      logger.info(requestFields(x), 'request');
    }
    const [fast, slow, oddFast, oddSlow] = lines(await readFile(file, 'utf8'));
    for (const r of [fast, slow, oddFast, oddSlow]) delete r.time;
    assert.deepEqual(fast, slow);
    assert.deepEqual(oddFast, oddSlow);
    assert.deepEqual(Object.keys(fast), ['level', 'pid', 'hostname', 'node', ...REQUEST_LINE_FIELDS.map((f) => f.key), 'msg']);
    assert.deepEqual(Object.keys(fast), Object.keys(slow));
    assert.deepEqual([oddFast.status, oddFast.promptTokens, oddFast.costMicros, oddFast.latencyMs, oddFast.userId, oddFast.stream], [200, 3, 0, -1, 0, false]);
  }));

test('level filters request lines; loggers with mixins take the pino path', () =>
  withTempDir(async (dir) => {
    const file = join(dir, 'y.log');
    const quiet = createLogger({ level: 'warn', destination: file, sync: true });
    logRequest(quiet, outcome());
    await flushLogger(quiet);
    assert.equal(await readFile(file, 'utf8'), '');

    const file2 = join(dir, 'z.log');
    const mixed = pino({ mixin: () => ({ mixed: true }) }, pino.destination({ dest: file2, sync: true }));
    logRequest(mixed, outcome());
    const [rec] = lines(await readFile(file2, 'utf8'));
    assert.equal(rec.mixed, true);
    assert.equal(rec.reqId, 'req-1');
  }));
