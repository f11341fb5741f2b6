/**
 * `serve --workers 2` when a worker thread dies after start-up: the main
 * thread gives back what the dead worker held (once), replaces it after a
 * backoff while the other worker keeps serving, and stops the server when
 * workers keep crashing. The crash is TOLLGATE_TEST_WORKER_CRASH=<index> plus
 * SIGUSR2: the main thread terminates that worker's thread mid-request, with
 * no chance to settle or flush (serve-workers.ts, crashHookTarget).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { startServe, type ServeProcess } from './support/serve-process.ts';
import { useWorkersFixture, prepare, chat, admin, perWorker, warmUp, stop, usage } from './support/workers-fixture.ts';

useWorkersFixture();

/** Waits until the server's output holds `times` matches of `pattern`. */
async function logged(serve: ServeProcess, pattern: RegExp, times = 1): Promise<void> {
  const deadline = Date.now() + 20_000;
  const count = () => [...serve.output().matchAll(new RegExp(pattern, 'g'))].length;
  while (count() < times) {
    if (Date.now() > deadline) throw new Error(`not logged ${times}×: ${pattern}\n${serve.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Streams opened at once; returns each one's status and, for the admitted, its whole body (or null when cut off). */
async function streams(n: number, open: () => ReturnType<typeof chat>): Promise<{ status: number; body: string | null }[]> {
  const responses = await Promise.all(Array.from({ length: n }, open));
  return Promise.all(responses.map(async (r) => ({ status: r.statusCode, body: await r.body.text().catch(() => null) })));
}

/** Kills worker 1 while `held` streams are open; returns how many of them were cut off. */
async function crashWorkerOne(serve: ServeProcess, held: Awaited<ReturnType<typeof chat>>[]): Promise<number> {
  for (const s of held) assert.equal(s.statusCode, 200);
  serve.child.kill('SIGUSR2');
  await logged(serve, /worker exited unexpectedly/);
  const ends = await Promise.all(held.map((s) => s.body.text().catch(() => null)));
  const lost = ends.filter((b) => b === null || !b.includes('data: [DONE]')).length;
  assert.ok(lost > 0 && lost < held.length, `streams were open on both workers: ${lost} of ${held.length} cut off`);
  return lost;
}

test('a worker thread that dies is replaced: requests keep succeeding, its credit holds come back once, both workers serve again', async () => {
  const p = await prepare(0);
  const serve = await startServe({ ...p.env, TOLLGATE_TEST_WORKER_CRASH: '1' });
  const fresh = new Agent({ connections: 256, pipelining: 1 });
  const N = 20;
  const GAP = 4;
  let needed = 0;
  let credit = 0;
  let lost = 0;
  let admitted = 0;
  try {
    const refused = await chat(serve.base, p.key, 'slow', true);
    needed = Number(/needs up to (\d+) micro-credits/.exec(await refused.body.text())?.[1]);
    assert.equal(refused.statusCode, 402);
    credit = 30 * needed;
    await admin(serve.base, 'POST', `/admin/users/${p.userId}/credit`, { amount_micros: credit });
    await warmUp(serve.base);
    const held = await Promise.all(Array.from({ length: N }, () => chat(serve.base, p.key, 'slow', true)));
    const cut = crashWorkerOne(serve, held);
    await logged(serve, /worker exited unexpectedly/);
    // Worker 0 alone (or with the replacement once it listens): still ready, still serving.
    const ready = await request(`${serve.base}/readyz`, { dispatcher: fresh });
    await ready.body.dump();
    assert.equal(ready.statusCode, 200);
    const gap = await streams(GAP, () => chat(serve.base, p.key, 'slow', true, fresh));
    assert.deepEqual(gap.map((g) => g.status), Array(GAP).fill(200));
    assert.ok(gap.every((g) => g.body?.includes('data: [DONE]')), 'requests during the replacement ran to their end');
    lost = await cut;
    await logged(serve, /worker replaced and listening/);
    const before = await perWorker(serve.base, fresh);
    // All at once, on new connections over both listeners: exactly what the balance still covers is admitted.
    const burst = await streams(60, () => chat(serve.base, p.key, 'slow', true, fresh));
    admitted = burst.filter((b) => b.status === 200).length;
    assert.equal(admitted + burst.filter((b) => b.status === 402).length, 60, JSON.stringify(burst.map((b) => b.status)));
    assert.ok(burst.every((b) => b.status !== 200 || b.body?.includes('data: [DONE]')));
    const after = await perWorker(serve.base, fresh);
    assert.ok(after[0] > before[0] && after[1] > before[1], `both workers served after the replacement: ${before} → ${after}`);
    const text = await (await request(`${serve.base}/metrics`, { dispatcher: fresh })).body.text();
    assert.match(text, /^tollgate_worker_restarts_total\{worker="1"\} 1$/m);
    assert.match(text, /^tollgate_worker_restarts_total\{worker="0"\} 0$/m);
  } finally {
    await stop(serve);
    await fresh.close();
  }
  // Every finished request costs the same; the cut-off ones left no record and hold nothing.
  const { rows } = await usage(p.dataDir);
  const charged = rows.filter((r) => r.status === 200);
  const costs = [...new Set(charged.map((r) => r.costMicros))];
  assert.equal(costs.length, 1, `one price per request: ${costs}`);
  const finishedBefore = N - lost + GAP;
  assert.equal(charged.length, finishedBefore + admitted);
  // A hold of the dead worker kept would admit fewer; one released twice would admit more.
  assert.equal(admitted, Math.floor((credit - finishedBefore * costs[0]) / needed), `needed ${needed}, cost ${costs[0]}, lost ${lost}`);
});

test('limits stay exact across a worker crash: its concurrency leases come back once, its requests still count toward RPM', async () => {
  const p = await prepare(1_000_000_000);
  const serve = await startServe({ ...p.env, TOLLGATE_TEST_WORKER_CRASH: '1' });
  const fresh = new Agent({ connections: 256, pipelining: 1 });
  try {
    await admin(serve.base, 'PUT', '/admin/limits', { scope: 'user', subject: String(p.userId), rpm: 25, concurrency: 10 });
    await warmUp(serve.base);
    const started = performance.now();
    const held = await Promise.all(Array.from({ length: 10 }, () => chat(serve.base, p.key, 'slow', true)));
    await crashWorkerOne(serve, held);
    await logged(serve, /worker replaced and listening/);
    // Nothing in flight now: all 10 concurrency slots are free again (15 of the 25 RPM left).
    const first = await streams(30, () => chat(serve.base, p.key, 'slow', true, fresh));
    assert.equal(first.filter((b) => b.status === 200).length, 10, JSON.stringify(first.map((b) => b.status)));
    assert.equal(first.filter((b) => b.status === 429).length, 20);
    // 5 of the RPM left, plus what refilled since the first admission (one per 2.4 s at RPM 25):
    // the cut-off requests were not given back.
    const second = await streams(30, () => chat(serve.base, p.key, 'slow', true, fresh));
    const allowed = 5 + Math.floor((performance.now() - started) / 2_400);
    const admitted = second.filter((b) => b.status === 200).length;
    assert.ok(admitted >= 5 && admitted <= Math.min(10, allowed), `admitted ${admitted}, allowed ${allowed}: ${JSON.stringify(second.map((b) => b.status))}`);
  } finally {
    await stop(serve);
    await fresh.close();
  }
});

test('a worker that keeps crashing stops the server with a clear log line and a non-zero exit', async () => {
  const p = await prepare(0);
  const serve = await startServe({ ...p.env, TOLLGATE_TEST_WORKER_CRASH: '0' });
  // Five crashes within a minute (the replacement killed each time it listens) end the server.
  for (let crash = 1; crash <= 5; crash++) {
    serve.child.kill('SIGUSR2');
    if (crash < 5) await logged(serve, /worker replaced and listening/, crash);
  }
  assert.equal(await serve.exited, 1, serve.output());
  assert.match(serve.output(), /worker keeps crashing; stopping the server/);
  assert.equal([...serve.output().matchAll(/worker exited unexpectedly/g)].length, 4, 'replaced four times, not a fifth');
});

test('SIGTERM while a worker is being replaced: the server stops cleanly, not waiting for the dead worker', async () => {
  const p = await prepare(0);
  const serve = await startServe({ ...p.env, TOLLGATE_TEST_WORKER_CRASH: '1' });
  serve.child.kill('SIGUSR2');
  await logged(serve, /worker exited unexpectedly/);
  // Within the backoff or the replacement's start: the restart is cancelled or the replacement stopped.
  await stop(serve);
  assert.doesNotMatch(serve.output(), /worker keeps crashing/);
});
