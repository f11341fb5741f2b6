/**
 * Crash behaviour of the usage writer on SQLite, measured with a real child
 * process (test/metering-sigkill-child.ts) that enqueues records steadily:
 * - SIGKILL: every batch the child reported committed is in the database
 *   (committed WAL transactions survive a process crash), and the loss is
 *   what was enqueued but not yet flushed; the measured loss is reported.
 * - SIGTERM: the child's close() commits everything; nothing is lost.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '../src/store/store.ts';

const CHILD = fileURLToPath(new URL('./metering-sigkill-child.js', import.meta.url));
const PER_TICK = 5;

interface ChildRun {
  enqueued: number;
  committed: number;
  rows: number;
  closed: boolean;
}

/**
 * Runs the child until it reported `stopAfter` enqueued records, then sends
 * `signal`. Keyed on enqueues, not commits, so that the kill lands at any
 * phase of the flush interval rather than just after a commit.
 */
async function runChild(flushIntervalMs: number, signal: 'SIGKILL' | 'SIGTERM', stopAfter: number): Promise<ChildRun> {
  const dir = mkdtempSync(join(tmpdir(), 'tg-sigkill-'));
  try {
    const child = spawn(process.execPath, [CHILD, dir, String(flushIntervalMs), String(PER_TICK)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    let last = { enqueued: 0, committed: 0 };
    let closed = false;
    let signalled = false;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^e (\d+) f (\d+)$/.exec(line);
        if (m) last = { enqueued: Number(m[1]), committed: Number(m[2]) };
        else if (line === 'closed') closed = true;
        if (!signalled && last.enqueued >= stopAfter && last.committed > 0) {
          signalled = true;
          child.kill(signal);
        }
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    if (signal === 'SIGTERM') assert.equal(code, 0);
    // Reading the pipe to its end: every line written before the kill counts.
    await new Promise<void>((resolve) => (child.stdout.readableEnded ? resolve() : child.stdout.on('end', () => resolve())));
    const store = await openStore({ dataDir: dir });
    try {
      const rows = await store.usage.count();
      return { ...last, rows, closed };
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function checkKill(t: TestContext, intervalMs: number, r: ChildRun): number {
  assert.ok(r.rows >= r.committed, `rows ${r.rows} < reported committed ${r.committed}: a committed batch was lost`);
  // Rows cannot exceed what was enqueued (+ one unreported tick).
  assert.ok(r.rows <= r.enqueued + PER_TICK, `rows ${r.rows} > enqueued ${r.enqueued}`);
  const lost = Math.max(0, r.enqueued - r.rows);
  t.diagnostic(`flushIntervalMs=${intervalMs}: enqueued ${r.enqueued}, reported committed ${r.committed}, rows ${r.rows}, lost ${lost} (+ at most ${PER_TICK} unreported)`);
  return lost;
}

describe('usage writer on SQLite under SIGKILL / SIGTERM (child process)', () => {
  for (const intervalMs of [50, 10]) {
    test(`SIGKILL with flushIntervalMs=${intervalMs}: committed batches survive; loss ≤ what was not yet flushed`, async (t) => {
      const r = await runChild(intervalMs, 'SIGKILL', 1_500);
      const lost = checkKill(t, intervalMs, r);
      assert.ok(lost <= r.enqueued - r.committed, 'only unflushed records can be lost');
    });
  }

  test('SIGKILL with per-tick flushing (flushIntervalMs=0): at most the records of the tick being run are lost', async (t) => {
    const r = await runChild(0, 'SIGKILL', 1_500);
    const lost = checkKill(t, 0, r);
    // Structural, not timing: a tick's records commit in the same event-loop
    // turn (better-sqlite3 is synchronous), so only the turn in progress is exposed.
    assert.ok(lost <= PER_TICK, `lost ${lost} > one tick (${PER_TICK})`);
  });

  test('SIGTERM: close() commits everything that was enqueued', async () => {
    const r = await runChild(50, 'SIGTERM', 500);
    assert.equal(r.closed, true);
    assert.equal(r.rows, r.enqueued);
    assert.equal(r.committed, r.enqueued);
  });
});
