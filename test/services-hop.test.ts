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
import { generateLinkKey, LinkKey } from '../src/services/hop/link-key.ts';
import { newNonce, signRequest, verifyReply } from '../src/services/hop/hop-header.ts';
import { FrameDecoder, FrameEncoder, FrameError, messageKey } from '../src/services/hop/frame-codec.ts';
import { openMessage, sealMessage } from '../src/services/hop/sealed-message.ts';
import { compressor, decompressor } from '../src/services/hop/body-compression.ts';

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
  const body = JSON.stringify({ text: 'x'.repeat(5000) }); // above compressMinBytes: compressed with zstd
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
function hopRequest(key: { id: string; key: string }, opts: { ts?: number; body?: Buffer; tamper?: boolean; path?: string } = {}) {
  const link = new LinkKey(key.id, key.key);
  const nonce = newNonce();
  const path = opts.path ?? '/svc/echo/items/9';
  const plain = opts.body ?? Buffer.from('secret payload');
  const header = signRequest(link, nonce, opts.ts ?? Date.now(), 0, 'n', ingress.userId, plain.length, 'POST', path);
  const encoder = new FrameEncoder(messageKey(link.encKey, Buffer.from(nonce, 'base64url'), 'req'), Buffer.from(nonce, 'base64url'), 65_536);
  const frames: Buffer[] = [];
  encoder.on('data', (c: Buffer) => frames.push(c));
  encoder.end(plain);
  const wire = Buffer.concat(frames);
  if (opts.tamper) wire[8] ^= 1; // one byte of the first frame's ciphertext
  return { link, nonce, send: () => request(ingress.url + path, { method: 'POST', headers: { 'x-tollgate-hop': header, 'content-type': 'text/plain' }, body: wire }) };
}

test('a valid hand-built hop request is served and its reply verifies and decrypts', async () => {
  const h = hopRequest(k1);
  const res = await h.send();
  assert.equal(res.statusCode, 200);
  const enc = verifyReply(h.link, h.nonce, 200, res.headers['x-tollgate-hop-reply']);
  assert.ok(enc !== null);
  const nonceBytes = Buffer.from(h.nonce, 'base64url');
  const decoder = new FrameDecoder(messageKey(h.link.encKey, nonceBytes, 'res'), nonceBytes, 1 << 24);
  const unzip = decompressor(enc!, -1);
  const plainStream = unzip === null ? res.body.pipe(decoder) : res.body.pipe(decoder).pipe(unzip);
  const plain = await new Response(Readable.toWeb(plainStream) as ReadableStream).text();
  assert.equal(JSON.parse(plain).body, 'secret payload');
});

test('tampered ciphertext → 400 and nothing forwarded', async () => {
  const hits = svc.hits;
  const res = await hopRequest(k1, { tamper: true }).send();
  assert.equal(res.statusCode, 400);
  assert.equal((await res.body.json() as { error: { code: string } }).error.code, 'hop_bad_frame');
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
  assert.equal((await again.body.json() as { error: { code: string } }).error.code, 'hop_replayed');
  assert.equal(svc.hits, hits + 1);
});

test('expired timestamp, unknown key id, bad signature → 401 and nothing forwarded', async () => {
  const hits = svc.hits;
  const expired = await hopRequest(k1, { ts: Date.now() - 60_000 }).send();
  assert.equal(expired.statusCode, 401);
  assert.equal((await expired.body.json() as { error: { code: string } }).error.code, 'hop_expired');
  const unknown = await hopRequest(generateLinkKey()).send();
  assert.equal(unknown.statusCode, 401);
  assert.equal((await unknown.body.json() as { error: { code: string } }).error.code, 'hop_unknown_key');
  const forged = hopRequest({ id: k1.id, key: generateLinkKey().key });
  const bad = await forged.send();
  assert.equal(bad.statusCode, 401);
  assert.equal((await bad.body.json() as { error: { code: string } }).error.code, 'hop_bad_signature');
  assert.equal(svc.hits, hits);
});

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

test('frames: with the length known, the completing frame is the last one; bytes past it fail; the decoder reads both forms', async () => {
  const nonce = Buffer.from(newNonce(), 'base64url');
  const key = messageKey(new LinkKey(k1.id, k1.key).encKey, nonce, 'req');
  const encode = (expected: number, parts: Buffer[]): Promise<Buffer[]> => new Promise((resolve, reject) => {
    const encoder = new FrameEncoder(key, nonce, 1024, expected);
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
    const decoder = new FrameDecoder(key, nonce, 1 << 20);
    const out: Buffer[] = [];
    decoder.on('data', (c: Buffer) => out.push(c));
    await new Promise<void>((resolve, reject) => { decoder.on('end', resolve); decoder.on('error', reject); decoder.end(Buffer.concat(frames)); });
    assert.deepEqual(Buffer.concat(out), body);
  }
  await assert.rejects(encode(10, [Buffer.alloc(10), Buffer.alloc(1)]), /longer than its declared length/);
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
});

test('whole bodies: sealed as the encoder frames them; a bad frame anywhere, a cut or trailing bytes are refused', async () => {
  const nonce = Buffer.from(newNonce(), 'base64url');
  const key = messageKey(new LinkKey(k1.id, k1.key).encKey, nonce, 'req');
  const body = Buffer.alloc(2500, 5);
  const sealed = sealMessage(key, nonce, body, 1024);
  const streamed = await new Promise<Buffer>((resolve, reject) => {
    const encoder = new FrameEncoder(key, nonce, 1024, body.length);
    const frames: Buffer[] = [];
    encoder.on('data', (c: Buffer) => frames.push(c));
    encoder.on('end', () => resolve(Buffer.concat(frames)));
    encoder.on('error', reject);
    encoder.end(body);
  });
  assert.deepEqual(sealed, streamed, 'the same frames on the wire');
  assert.deepEqual(openMessage(key, nonce, sealed, 1 << 20), body);
  assert.deepEqual(openMessage(key, nonce, sealMessage(key, nonce, Buffer.alloc(0), 1024), 1 << 20), Buffer.alloc(0));
  const lastFrameByte = Buffer.from(sealed);
  lastFrameByte[sealed.length - 30] ^= 1;
  assert.throws(() => openMessage(key, nonce, lastFrameByte, 1 << 20), FrameError);
  assert.throws(() => openMessage(key, nonce, sealed.subarray(0, 2 * (1024 + 21)), 1 << 20), /before its last frame/);
  assert.throws(() => openMessage(key, nonce, Buffer.concat([sealed, Buffer.alloc(1)]), 1 << 20), /after the last frame/);
});

test('a small hop body with its last frame tampered → 400 and nothing forwarded; the same body streamed (chunked) is served', async () => {
  const link = new LinkKey(k1.id, k1.key);
  const path = '/svc/echo/items/7';
  const plain = Buffer.alloc(3000, 'a');
  const build = () => {
    const nonce = newNonce();
    const nonceBytes = Buffer.from(nonce, 'base64url');
    const header = signRequest(link, nonce, Date.now(), 0, 'n', ingress.userId, plain.length, 'POST', path);
    return { header, wire: sealMessage(messageKey(link.encKey, nonceBytes, 'req'), nonceBytes, plain, 1024) };
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
