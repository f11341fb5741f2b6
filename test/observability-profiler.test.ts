import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProfilingServer } from '../src/observability/profiler.ts';

const TOKEN = 'profiling-admin-token';
const auth = { authorization: `Bearer ${TOKEN}` };

test('profiling server: auth, CPU profile, heap snapshot, stats', async (t) => {
  const server = await startProfilingServer({ host: '127.0.0.1', port: 0, adminToken: TOKEN });
  t.after(() => server.close());
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);

  await t.test('401 without or with a wrong token', async () => {
    const variants: Record<string, string>[] = [{}, { authorization: 'Bearer nope' }, { authorization: TOKEN.slice(1) }];
    for (const headers of variants) {
      for (const path of ['/debug/pprof/stats', '/debug/pprof/profile?seconds=1', '/debug/pprof/heap', '/nope']) {
        const res = await fetch(server.url + path, { headers });
        assert.equal(res.status, 401, `${path} ${JSON.stringify(headers)}`);
        assert.equal(res.headers.get('www-authenticate'), 'Bearer');
        await res.arrayBuffer();
      }
    }
  });

  await t.test('stats endpoint returns memory, heap and GC JSON', async () => {
    globalThis.gc?.();
    const res = await fetch(server.url + '/debug/pprof/stats', { headers: auth });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const body = (await res.json()) as Record<string, any>;
    assert.ok(body.memory.rss > 0);
    assert.ok(body.memory.heapUsed > 0);
    assert.ok(body.heap.total_heap_size > 0);
    assert.ok(Array.isArray(body.heapSpaces) && body.heapSpaces.length > 0);
    assert.equal(typeof body.gc.byKind, 'object');
    assert.equal(body.pid, process.pid);
  });

  await t.test('CPU profile for seconds=1 is a loadable .cpuprofile', async () => {
    const res = await fetch(server.url + '/debug/pprof/profile?seconds=1', { headers: auth });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-disposition') ?? '', /\.cpuprofile"/);
    const profile = (await res.json()) as { nodes: { id: number; callFrame: unknown }[]; startTime: number; endTime: number; samples?: number[] };
    assert.ok(Array.isArray(profile.nodes) && profile.nodes.length > 0);
    assert.equal(typeof profile.nodes[0].callFrame, 'object');
    assert.equal(typeof profile.startTime, 'number');
    assert.ok(profile.endTime > profile.startTime);
  });

  await t.test('seconds is bounded to 1..60; unknown paths 404', async () => {
    for (const s of ['0', '61', '-1', '1.5', 'abc', '']) {
      const res = await fetch(`${server.url}/debug/pprof/profile?seconds=${s}`, { headers: auth });
      assert.equal(res.status, 400, `seconds=${s}`);
      await res.arrayBuffer();
    }
    const res = await fetch(server.url + '/debug/pprof/nope', { headers: auth });
    assert.equal(res.status, 404);
    await res.arrayBuffer();
  });

  await t.test('heap snapshot streams a .heapsnapshot JSON', async () => {
    const res = await fetch(server.url + '/debug/pprof/heap', { headers: auth });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-disposition') ?? '', /\.heapsnapshot"/);
    const text = await res.text();
    assert.ok(text.startsWith('{"snapshot":'), text.slice(0, 40));
    const snap = JSON.parse(text) as { snapshot: { node_count: number }; nodes: number[] };
    assert.ok(snap.snapshot.node_count > 0);
  });
});

test('profiling server refuses to start without an admin token', async () => {
  await assert.rejects(startProfilingServer({ port: 0, adminToken: '' }), /admin token/);
});
