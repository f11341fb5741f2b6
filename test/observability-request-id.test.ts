import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requestIdFrom, isWellFormedRequestId, generateRequestId } from '../src/observability/request-id.ts';
import { adminTokenMatches } from '../src/admin/admin-token.ts';

test('client request ids are accepted only when well-formed', () => {
  const table: [string | undefined, boolean][] = [
    ['abc', true],
    ['a', true],
    ['0f8fad5b-d9cb-469f-a165-70867728950e', true],
    ['trace:span.1_2-3', true],
    ['x'.repeat(128), true],
    ['x'.repeat(129), false],
    ['', false],
    [undefined, false],
    ['has space', false],
    ['a,b', false], // duplicate headers joined by Node
    ['new\nline', false],
    ['quote"', false],
    ['<script>', false],
    ['ünïcode', false],
    ['slash/id', false],
  ];
  for (const [input, accepted] of table) {
    const id = requestIdFrom(input);
    if (accepted) assert.equal(id, input, `should accept ${JSON.stringify(input)}`);
    else {
      assert.notEqual(id, input, `should reject ${JSON.stringify(input)}`);
      assert.ok(isWellFormedRequestId(id), `generated id ${id} is well-formed`);
    }
  }
});

test('generated ids are unique and compact', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 10_000; i++) seen.add(generateRequestId());
  assert.equal(seen.size, 10_000);
  const id = generateRequestId();
  assert.match(id, /^[0-9a-z]{10}-[0-9a-z]+$/);
  assert.ok(id.length <= 24);
});

test('admin token comparison', () => {
  const token = 's3cret-admin-token';
  const table: [string | undefined, string, boolean][] = [
    [`Bearer ${token}`, token, true],
    [`bearer ${token}`, token, true],
    [`BEARER   ${token}  `, token, true],
    [token, token, true],
    [`Bearer ${token}x`, token, false],
    [`Bearer ${token.slice(0, -1)}`, token, false],
    ['Bearer ', token, false],
    ['', token, false],
    [undefined, token, false],
    [`Basic ${token}`, token, false],
    ['Bearer ', '', false], // empty configured token never matches
    ['', '', false],
  ];
  for (const [header, t, ok] of table) assert.equal(adminTokenMatches(header, t), ok, `${JSON.stringify(header)} vs ${JSON.stringify(t)}`);
});
