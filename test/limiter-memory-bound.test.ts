import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MemoryLimiter } from '../src/limiter/memory-limiter.ts';
import type { LimitPolicy } from '../src/limiter/limiter.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

// The stated bound: at most 400 bytes of heap per tracked entry (measured:
// about 135 plus a ~32-byte subject string, see memory-limiter.ts), plus
// 8 MB for everything else.
const BYTES_PER_ENTRY_BOUND = 400;
const SLACK_BYTES = 8 * 1024 * 1024;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

test('1,000,000 distinct keys: entries stay capped and heap growth stays under the stated bound', (ctx) => {
  const maxEntries = 50_000;
  let t = 0;
  const limiter = new MemoryLimiter({ maxEntries, windowMs: 1000, now: () => t });
  const global: LimitPolicy = { scope: 'global', subject: '', rpm: null, tpm: 1e12, concurrency: null };
  const user: LimitPolicy = { scope: 'user', subject: '', rpm: 100, tpm: 100_000, concurrency: 10 };
  const request = { policies: [global, user], tokens: 10 };

  const bound = maxEntries * BYTES_PER_ENTRY_BOUND + SLACK_BYTES;
  const before = heapAfterGc();
  const flood = (from: number, to: number, keysPerMs: number): void => {
    for (let i = from; i < to; i++) {
      if (i % keysPerMs === 0) t++;
      user.subject = `flood-${i}`;
      const a = limiter.admitSync(request);
      if (a.allowed) limiter.settle(a.lease, 5);
    }
  };

  // 100,000 new keys per (1 s) window, twice the cap: the cap forces evictions.
  flood(0, 500_000, 100);
  const atCap = heapAfterGc() - before;
  const s1 = limiter.stats(); // the limiter stays reachable until measured
  ctx.diagnostic(`at the cap: heap +${(atCap / 1e6).toFixed(1)} MB for ${s1.entries} entries (${s1.forcedEvictions} forced evictions)`);
  assert.ok(s1.entries <= maxEntries, `entries ${s1.entries} > cap ${maxEntries}`);
  assert.ok(s1.forcedEvictions > 0, 'the cap evicted');
  assert.ok(atCap < bound, `heap grew ${(atCap / 1e6).toFixed(1)} MB`);

  // 10,000 new keys per window: keys go idle and the sweep removes them first.
  flood(500_000, 1_000_000, 10);
  const atEnd = heapAfterGc() - before;
  const s2 = limiter.stats();
  ctx.diagnostic(`after 1,000,000 keys: heap +${(atEnd / 1e6).toFixed(1)} MB for ${s2.entries} entries (${s2.idleEvictions} idle evictions)`);
  assert.ok(s2.entries <= maxEntries);
  assert.ok(s2.idleEvictions > 0, 'the sweep evicted');
  assert.ok(s2.idleEvictions + s2.forcedEvictions >= 1_000_000 - maxEntries);
  assert.ok(atEnd < bound, `heap grew ${(atEnd / 1e6).toFixed(1)} MB`);
});
