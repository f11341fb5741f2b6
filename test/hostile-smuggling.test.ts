/**
 * Request smuggling corpus: each payload hides a second request
 * (`GET /healthz`) behind a framing trick that a lenient parser or a proxy
 * in front of Tollgate could read differently. Over one raw TCP connection,
 * Tollgate must refuse the message with one 400 and never answer the hidden
 * request. The control case shows the harness does see a second answer.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startFixture, type Fixture } from './support/gateway-fixture.ts';

let fx: Fixture;
let port = 0;
before(async () => {
  fx = await startFixture();
  port = Number(new URL(fx.url).port);
});
after(() => fx.close());

const HIDDEN = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
const BODY = '{"model":"mock-gpt","messages":[{"role":"user","content":"hi"}]}';

/** Sends raw bytes, returns everything the server wrote until it closed or went quiet. */
function exchange(payload: string, quietMs = 400): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    let timer: NodeJS.Timeout | null = null;
    const done = () => {
      if (timer !== null) clearTimeout(timer);
      socket.destroy();
      resolve(received);
    };
    const arm = () => {
      if (timer !== null) clearTimeout(timer);
      timer = setTimeout(done, quietMs);
    };
    socket.on('connect', () => {
      socket.write(payload);
      arm();
    });
    socket.on('data', (d) => {
      received += d.toString('latin1');
      arm();
    });
    socket.on('close', done);
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? done() : reject(err)));
  });
}

const statusLines = (raw: string) => [...raw.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));

function head(lines: string[], body: string): string {
  return `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${fx.key}\r\nContent-Type: application/json\r\n${lines.map((l) => l + '\r\n').join('')}\r\n${body}`;
}

const chunked = (body: string) => `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;

/** name → payload; every one smuggles HIDDEN somewhere a different reading would find it. */
const corpus: Array<[string, () => string]> = [
  ['CL.TE: both headers, body chunked', () => head([`Content-Length: ${chunked(BODY).length + HIDDEN.length}`, 'Transfer-Encoding: chunked'], chunked(BODY) + HIDDEN)],
  ['TE.CL: both headers, TE first', () => head(['Transfer-Encoding: chunked', 'Content-Length: 4'], chunked(BODY) + HIDDEN)],
  ['TE with a space before the colon', () => head(['Transfer-Encoding : chunked', `Content-Length: ${BODY.length}`], BODY + HIDDEN)],
  ['TE: xchunked', () => head(['Transfer-Encoding: xchunked', `Content-Length: ${BODY.length}`], chunked(BODY) + HIDDEN)],
  ['TE: chunked, identity', () => head(['Transfer-Encoding: chunked, identity'], chunked(BODY) + HIDDEN)],
  ['TE twice, second bogus', () => head(['Transfer-Encoding: chunked', 'Transfer-Encoding: x'], chunked(BODY) + HIDDEN)],
  ['TE with a tab', () => head(['Transfer-Encoding:\tchunked', `Content-Length: ${BODY.length}`], chunked(BODY) + HIDDEN)],
  ['TE folded onto the next line (obs-fold)', () => head(['Transfer-Encoding:', ' chunked'], chunked(BODY) + HIDDEN)],
  ['two different Content-Length values', () => head([`Content-Length: ${BODY.length}`, `Content-Length: ${BODY.length + HIDDEN.length}`], BODY + HIDDEN)],
  ['Content-Length with a plus sign', () => head([`Content-Length: +${BODY.length}`], BODY + HIDDEN)],
  ['Content-Length in hex', () => head([`Content-Length: 0x${BODY.length.toString(16)}`], BODY + HIDDEN)],
  ['Content-Length list "n, m"', () => head([`Content-Length: ${BODY.length}, ${BODY.length + HIDDEN.length}`], BODY + HIDDEN)],
  ['chunk size overflowing 64 bits', () => head(['Transfer-Encoding: chunked'], `ffffffffffffffffff1\r\n${BODY}\r\n0\r\n\r\n${HIDDEN}`)],
  ['negative chunk size', () => head(['Transfer-Encoding: chunked'], `-1\r\n${BODY}\r\n0\r\n\r\n${HIDDEN}`)],
  ['chunk size with a bare LF', () => head(['Transfer-Encoding: chunked'], `${BODY.length.toString(16)}\n${BODY}\r\n0\r\n\r\n${HIDDEN}`)],
  ['header line ended by a bare LF', () => `POST /v1/chat/completions HTTP/1.1\r\nHost: x\nTransfer-Encoding: chunked\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}${HIDDEN}`],
  ['NUL inside a header value', () => head(['X-Note: a\0b', 'Transfer-Encoding: chunked'], chunked(BODY) + HIDDEN)],
  ['space inside a header name', () => head(['Content Length: 4', 'Transfer-Encoding: chunked'], chunked(BODY) + HIDDEN)],
  ['chunk extension with a bare CR', () => head(['Transfer-Encoding: chunked'], `${BODY.length.toString(16)};a=\rb\r\n${BODY}\r\n0\r\n\r\n${HIDDEN}`)],
];

for (const [name, payload] of corpus) {
  test(`smuggling: ${name} → refused or one answer, never the hidden request`, async () => {
    const raw = await exchange(payload());
    const statuses = statusLines(raw);
    assert.deepEqual(statuses, [400], `${name}: answered ${statuses.join(', ') || 'nothing'}`);
    assert.ok(!raw.includes('"status":"ok"'), `${name}: the hidden request was answered`);
  });
}

test('control: a well-formed keep-alive pipeline is answered twice (the harness can see a second response)', async () => {
  const raw = await exchange(head([`Content-Length: ${BODY.length}`], BODY) + HIDDEN);
  assert.deepEqual(statusLines(raw), [200, 200]);
  assert.ok(raw.includes('"status":"ok"'));
});
