/** The secure hop: egress node → ingress node → service, and attacks on the ingress. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { stringify } from 'yaml';
import { startFixture, type Fixture } from './support/gateway-fixture.ts';
import { startTestService, type TestService } from './support/service-upstream.ts';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createSecretKey, randomBytes } from 'node:crypto';
import { generateLinkKey } from '../src/services/hop/link-key.ts';
import { parseReply } from '../src/services/hop/hop-header.ts';
import { FIRST_FRAME_MAX, FrameDecoder, FrameEncoder, FrameError, MessageSeal, REPLY, REQUEST } from '../src/services/hop/frame-codec.ts';
import { emptyFrameTag, emptyFrameTagValid, openMessage, sealMessage } from '../src/services/hop/sealed-message.ts';
import { chooseEncoding, compressor, decompressor } from '../src/services/hop/body-compression.ts';
import { decompressOnce } from '../src/services/hop/one-shot-codec.ts';
import { handBuiltHop } from './support/hop-request.ts';

let svc: TestService;
let ingress: Fixture;
let egress: Fixture;
const k1 = generateLinkKey();
const k2 = generateLinkKey();

function configFile(services: Record<string, unknown>): string {
  const file = join(mkdtempSync(join(tmpdir(), 'tollgate-hop-')), 'tollgate.yaml');
  writeFileSync(file, stringify({ services }));
  return file;
}

before(async () => {
  svc = await startTestService();
  ingress = await startFixture({ TOLLGATE_CONFIG: configFile({ ingress: { linkKeys: [k1, k2] } }) });
  await ingress.tg.store.services.put({ name: 'echo', targets: [{ url: svc.url, weight: 1 }], timeoutMs: 5_000, remote: false });
  await ingress.tg.store.services.allow({ service: 'echo', userId: ingress.userId, path: '/', methods: ['*'], rpm: null, concurrency: null, timeoutMs: null });
  await ingress.tg.sync.pollNow();
  egress = await startFixture({ TOLLGATE_CONFIG: configFile({ egress: { ingressUrl: ingress.url, linkKeyId: k1.id, linkKey: k1.key } }) });
  await egress.tg.store.services.put({ name: 'echo', targets: [], timeoutMs: 5_000, remote: true });
  await egress.tg.sync.pollNow();
  assert.equal(egress.userId, ingress.userId, 'both nodes number their first user alike');
});

after(async () => {
  await egress.close();
  await ingress.close();
  await svc.close();
});

test('a call through both hops: body, caller, deadline and headers arrive; the reply comes back decrypted', async () => {
  const deadline = String(Date.now() + 30_000);
  const body = JSON.stringify({ text: 'x'.repeat(5000) }); // above compressMinBytes: one LZ4 block (the default)
  const res = await request(`${egress.url}/svc/echo/items/1?q=2`, { method: 'POST', headers: { authorization: `Bearer ${egress.key}`, 'content-type': 'application/json', 'x-tollgate-deadline': deadline }, body });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['x-service'], 'echo');
  const echoed = await res.body.json() as Record<string, string>;
  assert.equal(echoed.path, '/items/1?q=2');
  assert.equal(echoed.body, body);
  assert.equal(echoed.caller, String(egress.userId));
  assert.equal(echoed.deadline, deadline);
  const get = await request(`${egress.url}/svc/echo/items/2`, { headers: { authorization: `Bearer ${egress.key}` } });
  assert.equal(get.statusCode, 200);
  assert.equal((await get.body.json() as Record<string, string>).method, 'GET');
});

test('the ingress applies its own privileges: a caller without a rule there gets 403', async () => {
  const bob = await egress.newUser('bob');
  await ingress.newUser('bob');
  const res = await request(`${egress.url}/svc/echo/items/1`, { headers: { authorization: `Bearer ${bob.key}` } });
  assert.equal(res.statusCode, 403);
  await res.body.dump();
  assert.equal((await request(`${egress.url}/svc/echo/items/1`)).statusCode, 401, 'no key at the egress');
});

/** A hand-built hop request to the ingress, as an egress would send it. */
function hopRequest(key: { id: string; key: string }, opts: { ts?: number; body?: Buffer; tamper?: 'frame' | 'header' | 'path'; path?: string } = {}) {
  const path = opts.path ?? '/svc/echo/items/9';
  const plain = opts.body ?? Buffer.from('secret payload');
  const h = handBuiltHop(key, { path, body: plain, caller: ingress.userId, ts: opts.ts });
  const wire = h.whole();
  let header = h.header;
  if (opts.tamper === 'frame') wire[8] ^= 1; // one byte of the first frame's ciphertext
  if (opts.tamper === 'header') header = header.replace(/\.(\d+)\.(\d+)$/, (_m, caller: string, len: string) => `.${Number(caller) + 1}.${len}`);
  const sentPath = opts.tamper === 'path' ? path.replace('/9', '/8') : path;
  return { hop: h.hop, send: () => request(ingress.url + sentPath, { method: 'POST', headers: { 'x-tollgate-hop': header, 'content-type': 'text/plain' }, body: wire }) };
}

const errorCode = async (res: { body: { json(): Promise<unknown> } }): Promise<string> => (await res.body.json() as { error: { code: string } }).error.code;

test('a valid hand-built hop request is served and its reply authenticates and decrypts', async () => {
  const h = hopRequest(k1);
  const res = await h.send();
  assert.equal(res.statusCode, 200);
  const reply = parseReply(res.headers['x-tollgate-hop-reply']);
  assert.ok(reply !== null && reply.tag === null);
  const seal = h.hop.reply(200, reply.enc);
  const wire = Buffer.from(await res.body.arrayBuffer());
  const opened = openMessage(seal, wire, 1 << 24);
  const plain = reply.enc === 'n' ? opened : decompressOnce(reply.enc, opened, -1);
  assert.equal(JSON.parse(plain.toString()).body, 'secret payload');
  assert.throws(() => openMessage(h.hop.reply(201, reply.enc), wire, 1 << 24), FrameError, 'the status is bound to the reply');
});

test('tampered first frame, header field or path → 401 and nothing forwarded', async () => {
  const hits = svc.hits;
  for (const tamper of ['frame', 'header', 'path'] as const) {
    const res = await hopRequest(k1, { tamper }).send();
    assert.equal(res.statusCode, 401, tamper);
    assert.equal(await errorCode(res), 'hop_bad_signature', tamper);
  }
  assert.equal(svc.hits, hits);
});

test('a replayed request → 409 and forwarded once only', async () => {
  const h = hopRequest(k1);
  const hits = svc.hits;
  const first = await h.send();
  assert.equal(first.statusCode, 200);
  await first.body.dump();
  const again = await h.send();
  assert.equal(again.statusCode, 409);
  assert.equal(await errorCode(again), 'hop_replayed');
  assert.equal(svc.hits, hits + 1);
});

test('expired timestamp, unknown key id, wrong key → 401 and nothing forwarded', async () => {
  const hits = svc.hits;
  const expired = await hopRequest(k1, { ts: Date.now() - 60_000 }).send();
  assert.equal(expired.statusCode, 401);
  assert.equal(await errorCode(expired), 'hop_expired');
  const unknown = await hopRequest(generateLinkKey()).send();
  assert.equal(unknown.statusCode, 401);
  assert.equal(await errorCode(unknown), 'hop_unknown_key');
  const forged = await hopRequest({ id: k1.id, key: generateLinkKey().key }).send();
  assert.equal(forged.statusCode, 401);
  assert.equal(await errorCode(forged), 'hop_bad_signature');
  assert.equal(svc.hits, hits);
});

test('an LZ4 body must declare a length of at most 64 KiB → 400 before anything is read', async () => {
  const h = handBuiltHop(k1, { path: '/svc/echo/items/9', body: Buffer.alloc(10), caller: ingress.userId, enc: 'l', len: 70_000 });
  const res = await request(`${ingress.url}/svc/echo/items/9`, { method: 'POST', headers: { 'x-tollgate-hop': h.header }, body: h.whole() });
  assert.equal(res.statusCode, 400);
  assert.equal(await errorCode(res), 'hop_malformed');
});

test('a forged request does not burn its message id: the genuine one sent after it is served', async () => {
  const h = handBuiltHop(k1, { path: '/svc/echo/items/9', body: Buffer.from('genuine'), caller: ingress.userId });
  const wire = h.whole();
  const forgedWire = Buffer.from(wire);
  forgedWire[9] ^= 1;
  const send = (body: Buffer) => request(`${ingress.url}/svc/echo/items/9`, { method: 'POST', headers: { 'x-tollgate-hop': h.header }, body });
  const forged = await send(forgedWire);
  assert.equal(forged.statusCode, 401);
  await forged.body.dump();
  const genuine = await send(wire);
  assert.equal(genuine.statusCode, 200, 'the replay memory only keeps authenticated messages');
  await genuine.body.dump();
});

test('replies are authenticated: a status changed in transit → 502 at the egress, for replies with and without a body', async () => {
  // A man in the middle between the egress and the ingress that turns every 200 into a 201.
  const mitm: Server = createServer((req, res) => {
    void request(ingress.url + req.url, { method: req.method as 'GET', headers: req.headers, body: req }).then(async (up) => {
      res.writeHead(up.statusCode === 200 ? 201 : up.statusCode, up.headers as Record<string, string>);
      res.end(Buffer.from(await up.body.arrayBuffer()));
    });
  });
  await new Promise<void>((resolve) => mitm.listen(0, '127.0.0.1', resolve));
  // One HTTP request per call (hop.transport: http), so a plain HTTP proxy can sit on the link.
  const viaMitm = await startFixture({ TOLLGATE_CONFIG: configFile({ hop: { transport: 'http' }, egress: { ingressUrl: `http://127.0.0.1:${(mitm.address() as AddressInfo).port}`, linkKeyId: k1.id, linkKey: k1.key } }) });
  try {
    await viaMitm.tg.store.services.put({ name: 'echo', targets: [], timeoutMs: 5_000, remote: true });
    await viaMitm.tg.sync.pollNow();
    for (const method of ['POST', 'HEAD'] as const) {
      const honest = await request(`${egress.url}/svc/echo/items/3`, { method, headers: { authorization: `Bearer ${egress.key}` }, body: method === 'POST' ? 'x' : null });
      assert.equal(honest.statusCode, 200, `${method} through the honest link`);
      await honest.body.dump();
      const res = await request(`${viaMitm.url}/svc/echo/items/3`, { method, headers: { authorization: `Bearer ${viaMitm.key}` }, body: method === 'POST' ? 'x' : null });
      assert.equal(res.statusCode, 502, method);
      if (method === 'POST') assert.equal(await errorCode(res), 'hop_bad_reply');
      else await res.body.dump();
    }
  } finally {
    await viaMitm.close();
    mitm.closeAllConnections();
    mitm.close();
  }
});

test('the multiplexed hop: 300 concurrent calls on one connection, each answered with its own body', async () => {
  const upgrades = countUpgrades(ingress);
  ingress.tg.services!.router.closeUpgraded(); // start from no connection: the next call opens one
  await new Promise((resolve) => setTimeout(resolve, 100)); // the egress sees the connection close
  const calls = Array.from({ length: 300 }, (_, i) => request(`${egress.url}/svc/echo/items/${i}`, {
    method: 'POST', headers: { authorization: `Bearer ${egress.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ i, pad: 'p'.repeat(i * 7) }),
  }).then(async (res) => ({ status: res.statusCode, echoed: await res.body.json() as { path: string; body: string } })));
  const results = await Promise.all(calls);
  results.forEach((r, i) => {
    assert.equal(r.status, 200);
    assert.equal(r.echoed.path, `/items/${i}`);
    assert.equal(JSON.parse(r.echoed.body).i, i);
  });
  assert.equal(upgrades(), 1, 'one hop connection carried all of them');
});

test('the multiplexed hop: a client leaving cancels the call at the ingress; a closed connection is reopened', async () => {
  const before = (await ingress.tg.store.services.calls('echo', 1000)).length;
  const controller = new AbortController();
  const pending = request(`${egress.url}/svc/echo/slow?ms=3000`, { headers: { authorization: `Bearer ${egress.key}` }, signal: controller.signal }).catch((err: Error) => err);
  await new Promise((resolve) => setTimeout(resolve, 200));
  controller.abort();
  await pending;
  // The ingress records the call as cut by its client (499) well before the service would have answered.
  let cancelled: { status: number } | undefined;
  for (let i = 0; i < 100 && cancelled === undefined; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    await ingress.tg.services!.router.writer.flush();
    const calls = await ingress.tg.store.services.calls('echo', 1000);
    if (calls.length > before) cancelled = calls.find((c) => c.path === '/slow');
  }
  assert.equal(cancelled?.status, 499);
  ingress.tg.services!.router.closeUpgraded();
  await new Promise((resolve) => setTimeout(resolve, 100)); // the egress sees the connection close
  const again = await request(`${egress.url}/svc/echo/items/1`, { headers: { authorization: `Bearer ${egress.key}` } });
  assert.equal(again.statusCode, 200, 'the egress opens a new connection');
  await again.body.dump();
});

test('the multiplexed hop refuses what it cannot parse: a bad request frame is reset, an oversized frame closes the connection, a wrong upgrade is a 404', async () => {
  const open = (protocol: string) => new Promise<{ socket: Socket; status: number }>((resolve, reject) => {
    const req = httpRequest(`${ingress.url}/svc/_hop`, { headers: { connection: 'upgrade', upgrade: protocol } });
    req.once('upgrade', (_res, socket: Socket) => resolve({ socket, status: 101 }));
    req.once('response', (res) => { res.resume(); resolve({ socket: res.socket, status: res.statusCode ?? 0 }); });
    req.once('error', reject);
    req.end();
  });
  assert.equal((await open('websocket')).status, 404);
  const { socket, status } = await open('tollgate-hop-v2');
  assert.equal(status, 101);
  const frame = (type: number, stream: number, payload: Buffer) => {
    const head = Buffer.alloc(9);
    head[0] = type;
    head.writeUInt32BE(stream, 1);
    head.writeUInt32BE(payload.length, 5);
    return Buffer.concat([head, payload]);
  };
  const reply = new Promise<Buffer>((resolve) => socket.once('data', resolve));
  socket.write(frame(1, 7, Buffer.from([0, 0, 0, 3, 0x7b, 0x7b, 0x7b])));
  const got = await reply;
  assert.equal(got[0], 5, 'a reset');
  assert.equal(got.readUInt32BE(1), 7);
  // A well-formed request frame without a hop header: refused, not served as a keyed call.
  const refusal = new Promise<Buffer>((resolve) => socket.once('data', resolve));
  const head = Buffer.from(JSON.stringify({ m: 'GET', p: '/svc/echo/items/1', h: { authorization: `Bearer ${egress.key}` } }));
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(head.length, 0);
  socket.write(frame(1, 8, Buffer.concat([prefix, head])));
  const refused = await refusal;
  assert.equal(refused[0], 2, 'a reply head');
  assert.equal(refused.readUInt16BE(9), 400);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(frame(1, 9, Buffer.alloc(0)).subarray(0, 5));
  socket.write(Buffer.from([0x00, 0x20, 0x00, 0x00])); // a length of 2 MiB
  await closed;
  const still = await request(`${egress.url}/svc/echo/items/1`, { headers: { authorization: `Bearer ${egress.key}` } });
  assert.equal(still.statusCode, 200, 'the ingress keeps serving');
  await still.body.dump();
});

test('through both hops: the ingress limit is exact under 1,000 concurrent calls, and deadlines hold end to end', async () => {
  const carol = await ingress.newUser('carol');
  const carolAtEgress = await egress.newUser('carol');
  assert.equal(carolAtEgress.userId, carol.userId, 'both nodes number the user alike');
  await ingress.tg.store.services.allow({ service: 'echo', userId: carol.userId, path: '/limited', methods: ['POST'], rpm: 100, concurrency: null, timeoutMs: null });
  await ingress.tg.store.services.allow({ service: 'echo', userId: carol.userId, path: '/slow', methods: ['GET'], rpm: null, concurrency: null, timeoutMs: 300 });
  await ingress.tg.sync.pollNow();
  const before = svc.hits;
  const started = Date.now();
  const statuses = await Promise.all(Array.from({ length: 1000 }, () => request(`${egress.url}/svc/echo/limited`, {
    method: 'POST', headers: { authorization: `Bearer ${carolAtEgress.key}` }, body: 'x',
  }).then(async (res) => { await res.body.dump(); return res.statusCode; })));
  const elapsed = Date.now() - started;
  const admitted = statuses.filter((st) => st === 200).length;
  // As for a local call (GCRA): the burst of 100, plus one slot per 600 ms of the run.
  assert.ok(admitted >= 100 && admitted <= 100 + Math.floor(elapsed / 600), `admitted ${admitted} in ${elapsed} ms`);
  assert.equal(statuses.filter((st) => st === 429).length, 1000 - admitted);
  assert.equal(svc.hits - before, admitted, 'the service saw exactly the admitted calls');
  const auth = { authorization: `Bearer ${carolAtEgress.key}` };
  const hits = svc.hits;
  const passed = await request(`${egress.url}/svc/echo/slow`, { headers: { ...auth, 'x-tollgate-deadline': String(Date.now() - 1) } });
  assert.equal(passed.statusCode, 504);
  assert.equal(await errorCode(passed), 'deadline_exceeded');
  assert.equal(svc.hits, hits, 'a passed deadline calls nothing');
  const near = await request(`${egress.url}/svc/echo/slow?ms=2000`, { headers: { ...auth, 'x-tollgate-deadline': String(Date.now() + 100) } });
  assert.equal(near.statusCode, 504);
  await near.body.dump();
  const ruleTimeout = await request(`${egress.url}/svc/echo/slow?ms=2000`, { headers: auth });
  assert.equal(ruleTimeout.statusCode, 504, 'the ingress rule timeout (300 ms) answers before the service');
  assert.equal(await errorCode(ruleTimeout), 'service_timeout');
});

/** Counts HTTP upgrades the ingress accepts from now on. */
function countUpgrades(node: Fixture): () => number {
  let n = 0;
  node.tg.server.node.on('upgrade', () => { n++; });
  return () => n;
}

test('rotation: both active keys are accepted', async () => {
  for (const k of [k1, k2]) {
    const res = await hopRequest(k).send();
    assert.equal(res.statusCode, 200);
    await res.body.dump();
  }
});

test('upstream reset mid-body through both hops: the client never sees a clean end', async () => {
  const res = await request(`${egress.url}/svc/echo/reset`, { headers: { authorization: `Bearer ${egress.key}` } });
  // The ingress compresses the reply, so the reset may come before any reply byte left it:
  // then the egress answers 502; otherwise the client's 200 body is cut.
  if (res.statusCode === 502) assert.equal((await res.body.json() as { error: { code: string } }).error.code, 'service_unreachable');
  else {
    assert.equal(res.statusCode, 200);
    await assert.rejects(res.body.arrayBuffer());
  }
});

test('100 MB up and 100 MB down through both hops with flat memory', async () => {
  const MB = 1024 * 1024;
  const total = 100 * MB;
  const base = process.memoryUsage().rss;
  let peak = base;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
  try {
    // Half-random chunks: the compressor has work to do but cannot make it vanish.
    const pool = Buffer.alloc(MB);
    for (let i = 0; i < MB; i += 2) pool[i] = (i * 2654435761) >>> 24;
    async function* source() {
      for (let sent = 0; sent < total; sent += 256 * 1024) yield pool.subarray((sent / 1024) % 512 * 1024, (sent / 1024) % 512 * 1024 + 256 * 1024);
    }
    const up = await request(`${egress.url}/svc/echo/count`, { method: 'POST', headers: { authorization: `Bearer ${egress.key}`, 'content-type': 'application/octet-stream' }, body: Readable.from(source()) });
    assert.equal(up.statusCode, 200);
    assert.deepEqual(await up.body.json(), { bytes: total });
    const down = await request(`${egress.url}/svc/echo/big?bytes=${total}`, { headers: { authorization: `Bearer ${egress.key}` } });
    assert.equal(down.statusCode, 200);
    let received = 0;
    for await (const chunk of down.body) received += (chunk as Buffer).length;
    assert.equal(received, total);
  } finally {
    clearInterval(sampler);
  }
  const growthMb = (peak - base) / MB;
  console.log(`# 100 MB each way through egress+ingress (one process): rss base ${(base / MB).toFixed(0)} MB, peak ${(peak / MB).toFixed(0)} MB, growth ${growthMb.toFixed(0)} MB`);
  assert.ok(growthMb < 100, `peak RSS grew by ${growthMb.toFixed(0)} MB`);
});

/** A message seal under a random key, for the codec tests. */
const testSeal = (counter = 7, direction = REQUEST, binding = 'header\nPOST\n/svc/x') => new MessageSeal(testKey, counter, direction, binding);
const testKey = createSecretKey(randomBytes(32));

test('frames: with the length known, the completing frame is the last one; bytes past it fail; the decoder reads both forms', async () => {
  const seal = testSeal();
  const encode = (expected: number, parts: Buffer[]): Promise<Buffer[]> => new Promise((resolve, reject) => {
    const encoder = new FrameEncoder(seal, 1024, expected);
    const frames: Buffer[] = [];
    encoder.on('data', (c: Buffer) => frames.push(c));
    encoder.on('end', () => resolve(frames));
    encoder.on('error', reject);
    for (const p of parts) encoder.write(p);
    encoder.end();
  });
  const body = Buffer.alloc(1500, 3);
  const known = await encode(body.length, [body.subarray(0, 700), body.subarray(700)]);
  assert.deepEqual(known.map((f) => [f[0], f.length - 21]), [[0, 700], [1, 800]], 'one frame per chunk, the completing one marked last');
  const unknown = await encode(-1, [body]);
  assert.deepEqual(unknown.map((f) => [f[0], f.length - 21]), [[0, 1024], [0, 476], [1, 0]], 'unknown length: frames of at most 1024 bytes, then an empty closing frame');
  for (const frames of [known, unknown]) {
    const decoder = new FrameDecoder(seal, 1 << 20);
    const out: Buffer[] = [];
    decoder.on('data', (c: Buffer) => out.push(c));
    await new Promise<void>((resolve, reject) => { decoder.on('end', resolve); decoder.on('error', reject); decoder.end(Buffer.concat(frames)); });
    assert.deepEqual(Buffer.concat(out), body);
  }
  await assert.rejects(encode(10, [Buffer.alloc(10), Buffer.alloc(1)]), /longer than its declared length/);
});

test('frames are bound to their message: another counter, direction or binding does not open them; frame 0 is bounded', async () => {
  const body = Buffer.alloc(3000, 9);
  const wire = sealMessage(testSeal(), body, 1024);
  assert.deepEqual(openMessage(testSeal(), wire, 1 << 20), body);
  for (const other of [testSeal(8), testSeal(7, REPLY), testSeal(7, REQUEST, 'header\nPOST\n/svc/y')]) {
    assert.throws(() => openMessage(other, wire, 1 << 20), (err: FrameError) => err instanceof FrameError && err.first, 'fails at frame 0: the header is not trusted');
  }
  // A later frame moved from another message of the same epoch: frame 0 passes, that frame fails.
  const mixed = Buffer.concat([wire.subarray(0, 1024 + 21), sealMessage(testSeal(8), body, 1024).subarray(1024 + 21)]);
  assert.throws(() => openMessage(testSeal(), mixed, 1 << 20), (err: FrameError) => err instanceof FrameError && !err.first);
  // The streamed form caps its first frame at FIRST_FRAME_MAX whatever frameBytes is; the decoder refuses a larger one.
  const big = Buffer.alloc(FIRST_FRAME_MAX + 10, 1);
  const streamed = await new Promise<Buffer[]>((resolve) => {
    const encoder = new FrameEncoder(testSeal(), 1 << 20);
    const frames: Buffer[] = [];
    encoder.on('data', (c: Buffer) => frames.push(c));
    encoder.on('end', () => resolve(frames));
    encoder.end(big);
  });
  assert.equal(streamed[0].length - 21, FIRST_FRAME_MAX);
  const oversized = sealMessage(testSeal(), big, 1 << 20);
  const decoder = new FrameDecoder(testSeal(), 1 << 20);
  const failed = new Promise<FrameError>((resolve) => decoder.once('error', resolve));
  decoder.end(oversized);
  const err = await failed;
  assert.ok(err.first && /malformed frame header/.test(err.message));
  // A reply without a body: the tag of an empty frame, bound to status and direction.
  const tag = emptyFrameTag(testSeal(7, REPLY, 'v2 reply\n204\nn'));
  assert.ok(emptyFrameTagValid(testSeal(7, REPLY, 'v2 reply\n204\nn'), tag));
  assert.ok(!emptyFrameTagValid(testSeal(7, REPLY, 'v2 reply\n200\nn'), tag));
  assert.ok(!emptyFrameTagValid(testSeal(7, REQUEST, 'v2 reply\n204\nn'), tag));
});

test('one-shot bodies: a compressed body must decompress to exactly its declared length, and no further', async () => {
  const plain = Buffer.from('abc'.repeat(2000));
  const run = (t: NodeJS.ReadWriteStream, input: Buffer): Promise<Buffer> => new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    t.on('data', (c: Buffer) => out.push(c));
    t.on('end', () => resolve(Buffer.concat(out)));
    t.on('error', reject);
    t.end(input);
  });
  const zipped = await run(compressor('z', plain.length)!, plain);
  assert.ok(zipped.length < plain.length / 10);
  assert.deepEqual(await run(decompressor('z', plain.length)!, zipped), plain);
  await assert.rejects(run(decompressor('z', plain.length - 1)!, zipped), /does not decompress|declared/, 'more than declared: capped, refused');
  await assert.rejects(run(decompressor('z', plain.length + 1)!, zipped), /not the declared/);
  await assert.rejects(run(compressor('g', 10)!, Buffer.alloc(11)), /longer than its declared length/);
  const bomb = await run(compressor('z', -1)!, Buffer.alloc(8 << 20));
  await assert.rejects(run(decompressor('z', 1024)!, bomb), /does not decompress|declared/, 'a bomb stops at the declared length');
  // LZ4 blocks: the length prefix must be the declared length (or at most 64 KiB when none is declared).
  const block = await run(compressor('l', plain.length)!, plain);
  assert.ok(block.length < plain.length / 10);
  assert.deepEqual(await run(decompressor('l', plain.length)!, block), plain);
  assert.deepEqual(decompressOnce('l', block, -1), plain);
  await assert.rejects(run(decompressor('l', plain.length - 1)!, block), /declares 6000 bytes/);
  const lying = Buffer.from(block);
  lying.writeUInt32LE(1 << 30, 0);
  assert.throws(() => decompressOnce('l', lying, -1), /declares 1073741824 bytes/, 'no allocation from an unchecked prefix');
  const truncated = block.subarray(0, block.length - 3);
  assert.throws(() => decompressOnce('l', truncated, plain.length), /does not decompress/);
});

test('encoding choice: lz4 for bodies held whole, zstd streams for longer or unsized ones; skipped when small or compressed already', () => {
  const h = (len: number | null, type = 'application/json') => ({ 'content-type': type, ...(len === null ? {} : { 'content-length': String(len) }) });
  assert.equal(chooseEncoding(h(2000), 'lz4', 1024), 'l');
  assert.equal(chooseEncoding(h(64 * 1024), 'lz4', 1024), 'l');
  assert.equal(chooseEncoding(h(64 * 1024 + 1), 'lz4', 1024), 'z');
  assert.equal(chooseEncoding(h(null), 'lz4', 1024), 'z');
  assert.equal(chooseEncoding(h(2000), 'zstd', 1024), 'z');
  assert.equal(chooseEncoding(h(2000), 'gzip', 1024), 'g');
  assert.equal(chooseEncoding(h(2000), 'none', 1024), 'n');
  assert.equal(chooseEncoding(h(500), 'lz4', 1024), 'n', 'under compressMinBytes');
  assert.equal(chooseEncoding(h(2000, 'image/png'), 'lz4', 1024), 'n', 'compressed already');
  assert.equal(chooseEncoding({ ...h(2000), 'content-encoding': 'gzip' }, 'lz4', 1024), 'n');
});

test('whole bodies: sealed as the encoder frames them; a bad frame anywhere, a cut or trailing bytes are refused', async () => {
  const seal = testSeal();
  const body = Buffer.alloc(2500, 5);
  const sealed = sealMessage(seal, body, 1024);
  const streamed = await new Promise<Buffer>((resolve, reject) => {
    const encoder = new FrameEncoder(seal, 1024, body.length);
    const frames: Buffer[] = [];
    encoder.on('data', (c: Buffer) => frames.push(c));
    encoder.on('end', () => resolve(Buffer.concat(frames)));
    encoder.on('error', reject);
    encoder.end(body);
  });
  assert.deepEqual(sealed, streamed, 'the same frames on the wire');
  assert.deepEqual(openMessage(seal, sealed, 1 << 20), body);
  assert.deepEqual(openMessage(seal, sealMessage(seal, Buffer.alloc(0), 1024), 1 << 20), Buffer.alloc(0));
  const lastFrameByte = Buffer.from(sealed);
  lastFrameByte[sealed.length - 30] ^= 1;
  assert.throws(() => openMessage(seal, lastFrameByte, 1 << 20), FrameError);
  assert.throws(() => openMessage(seal, sealed.subarray(0, 2 * (1024 + 21)), 1 << 20), /before its last frame/);
  assert.throws(() => openMessage(seal, Buffer.concat([sealed, Buffer.alloc(1)]), 1 << 20), /after the last frame/);
});

test('a small hop body with its last frame tampered → 400 and nothing forwarded; the same body streamed (chunked) is served', async () => {
  const path = '/svc/echo/items/7';
  const plain = Buffer.alloc(3000, 'a');
  const build = () => {
    const h = handBuiltHop(k1, { path, body: plain, caller: ingress.userId });
    return { header: h.header, wire: h.whole(1024) };
  };
  const hits = svc.hits;
  const bad = build();
  bad.wire[bad.wire.length - 30] ^= 1;
  const refused = await request(ingress.url + path, { method: 'POST', headers: { 'x-tollgate-hop': bad.header }, body: bad.wire });
  assert.equal(refused.statusCode, 400);
  assert.equal((await refused.body.json() as { error: { code: string } }).error.code, 'hop_bad_frame');
  assert.equal(svc.hits, hits);
  const good = build();
  const chunked = await request(ingress.url + path, { method: 'POST', headers: { 'x-tollgate-hop': good.header }, body: Readable.from([good.wire.subarray(0, 1000), good.wire.subarray(1000)]) });
  assert.equal(chunked.statusCode, 200);
  await chunked.body.dump();
  assert.equal(svc.hits, hits + 1);
});
