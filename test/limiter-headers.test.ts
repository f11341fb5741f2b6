import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { MemoryLimiter } from '../src/limiter/memory-limiter.ts';
import type { Refused, RateLimitState } from '../src/limiter/limiter.ts';
import {
  formatResetDuration,
  rateLimitHeaders,
  retryAfterSeconds,
  writeRateLimitHeaders,
  writeRetryAfter,
} from '../src/limiter/rate-limit-headers.ts';
import { refusalMessage } from '../src/limiter/refusal.ts';

test('reset durations are formatted like OpenAI (Go durations)', () => {
  assert.equal(formatResetDuration(0), '0s');
  assert.equal(formatResetDuration(-5), '0s');
  assert.equal(formatResetDuration(20), '20ms');
  assert.equal(formatResetDuration(999), '999ms');
  assert.equal(formatResetDuration(1000), '1s');
  assert.equal(formatResetDuration(1500), '1.5s');
  assert.equal(formatResetDuration(7_660), '7.66s');
  assert.equal(formatResetDuration(60_000), '1m0s');
  assert.equal(formatResetDuration(360_000), '6m0s');
  assert.equal(formatResetDuration(90_500), '1m30.5s');
  assert.equal(formatResetDuration(3_723_500), '1h2m3.5s');
  assert.equal(formatResetDuration(3_600_000), '1h0m0s');
});

test('Retry-After is whole seconds, at least 1', () => {
  assert.equal(retryAfterSeconds(0), 1);
  assert.equal(retryAfterSeconds(1), 1);
  assert.equal(retryAfterSeconds(1000), 1);
  assert.equal(retryAfterSeconds(1001), 2);
  assert.equal(retryAfterSeconds(60_000), 60);
});

test('headers are written on a real node:http response; trios without a limit are left out', async () => {
  const limiter = new MemoryLimiter({ now: () => 5_000_000 });
  const policies = [
    { scope: 'user' as const, subject: '1', rpm: 60, tpm: 150_000, concurrency: null },
    { scope: 'model' as const, subject: 'm', rpm: null, tpm: null, concurrency: 4 },
  ];
  limiter.admitSync({ policies, tokens: 1000 });
  const a = limiter.admitSync({ policies, tokens: 1000 });
  assert.equal(a.allowed, true);
  const state = a.state;
  const onlyRequests: RateLimitState = { ...state, limitTokens: -1, remainingTokens: -1, resetTokensMs: -1 };

  const server = createServer((req, res) => {
    if (req.url === '/full') writeRateLimitHeaders(res, state);
    else writeRateLimitHeaders(res, onlyRequests);
    writeRetryAfter(res, 600);
    res.end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    const full = await fetch(`${base}/full`);
    await full.text();
    assert.equal(full.headers.get('x-ratelimit-limit-requests'), '60');
    assert.equal(full.headers.get('x-ratelimit-remaining-requests'), '58');
    assert.equal(full.headers.get('x-ratelimit-reset-requests'), '2s');
    assert.equal(full.headers.get('x-ratelimit-limit-tokens'), '150000');
    assert.equal(full.headers.get('x-ratelimit-remaining-tokens'), '148000');
    assert.equal(full.headers.get('x-ratelimit-reset-tokens'), '800ms');
    assert.equal(full.headers.get('retry-after'), '1');

    const partial = await fetch(`${base}/partial`);
    await partial.text();
    assert.equal(partial.headers.get('x-ratelimit-limit-requests'), '60');
    assert.equal(partial.headers.get('x-ratelimit-limit-tokens'), null);
  } finally {
    server.close();
    await once(server, 'close');
  }
  assert.deepEqual(rateLimitHeaders(onlyRequests), {
    'x-ratelimit-limit-requests': '60',
    'x-ratelimit-remaining-requests': '58',
    'x-ratelimit-reset-requests': '2s',
  });
});

test('a refusal names the limit that refused', () => {
  const limiter = new MemoryLimiter({ now: () => 0 });
  const policies = [{ scope: 'key' as const, subject: '12', rpm: 1, tpm: null, concurrency: null }];
  limiter.admitSync({ policies, tokens: 0 });
  const r = limiter.admitSync({ policies, tokens: 0 }) as Refused;
  assert.equal(r.allowed, false);
  assert.equal(refusalMessage(r), 'Rate limit reached for key 12 on requests per min (RPM): Limit 1. Please try again in 1m0s.');
  const caller = { userName: 'alice', keyName: 'ci' };
  assert.equal(refusalMessage(r, caller), "Rate limit reached for key 'ci' of user 'alice' on requests per min (RPM): Limit 1. Please try again in 1m0s.");
  assert.match(refusalMessage({ ...r, scope: 'user', subject: '3' }, caller), /for user 'alice' on/);
  assert.match(refusalMessage({ ...r, scope: 'user_model', subject: '3:gpt-4o' }, caller), /for user 'alice' on model gpt-4o on/);
  assert.match(refusalMessage({ ...r, scope: 'model', subject: 'gpt-4o' }, caller), /for model gpt-4o on/);
  const down: Refused = { ...r, scope: 'global', subject: '', kind: 'unavailable', limit: -1, retryAfterMs: 1000 };
  assert.match(refusalMessage(down), /unavailable/);
});
