/** Reading a Responses API object's id from a native answer: the body's top-level id, a stream's first event. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bodyResponseId, StreamResponseId } from '../src/upstream/response-id.ts';

test('a body: the top-level id, not an id nested in output items or inside a string', () => {
  assert.equal(bodyResponseId(Buffer.from('{"id":"resp_1","object":"response","output":[{"id":"msg_1"}]}')), 'resp_1');
  assert.equal(bodyResponseId(Buffer.from('{"output":[{"id":"msg_1","text":"\\"id\\": \\"x\\""}], "id" : "resp_2"}')), 'resp_2');
  assert.equal(bodyResponseId(Buffer.from('{"object":"id","tags":["id"],"id":"resp_3"}')), 'resp_3', 'a value "id" is not the key');
  assert.equal(bodyResponseId(Buffer.from('{"object":"response","output":[{"id":"msg_1"}]}')), null);
  assert.equal(bodyResponseId(Buffer.from('{"id":42}')), null);
  assert.equal(bodyResponseId(Buffer.from('not json')), null);
});

test('a stream: the response.created id, even when its line is split across chunks; later chunks are not read', () => {
  const first = 'event: response.created\ndata: {"type":"response.created","response":{"id":"resp_s","status":"in_progress"}}\n\n';
  const capture = new StreamResponseId();
  capture.push(Buffer.from(first.slice(0, 40)));
  assert.equal(capture.wanted, true);
  capture.push(Buffer.from(first.slice(40, 70)));
  capture.push(Buffer.from(first.slice(70)));
  assert.equal(capture.wanted, false);
  assert.equal(capture.id, 'resp_s');
});

test('a stream whose first data line has no response id, or is not JSON, gives none and stops', () => {
  for (const line of ['data: {"type":"error","error":{}}\n', 'data: [DONE]\n']) {
    const capture = new StreamResponseId();
    capture.push(Buffer.from(line));
    assert.equal(capture.wanted, false);
    assert.equal(capture.id, null);
  }
});

test('a first line longer than the look-ahead limit is given up on', () => {
  const capture = new StreamResponseId();
  capture.push(Buffer.from(`data: {"pad":"${'x'.repeat(70 * 1024)}`));
  assert.equal(capture.wanted, false);
  assert.equal(capture.id, null);
});
