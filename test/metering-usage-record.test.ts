/**
 * Spool lines checked and repaired from the column table (store/usage-columns.ts):
 * every column is exercised with values its kind must refuse, so a column added
 * to the table is covered here without a new test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeRecord, parseRecordLine } from '../src/metering/usage-record.ts';
import { OUTCOMES } from '../src/observability/request-outcome.ts';
import { USAGE_COLUMNS, type UsageColumnKind, type UsageRecordInsert } from '../src/store/usage-columns.ts';

function record(over: Partial<UsageRecordInsert> = {}): UsageRecordInsert {
  return {
    requestId: 'req-1', ts: 1_700_000_000_000, userId: 4, keyId: 5, model: 'gpt-test', channelId: 6, channelKeyId: 7,
    status: 200, outcome: 'shutdown_cut', attempts: 2, latencyMs: 30, ttftMs: 12, promptTokens: 10, completionTokens: 20,
    costMicros: 99, errorClass: 'ECONNRESET', cachedTokens: 3, cacheWriteTokens: 2, reasoningTokens: 1, responseId: null, ...over,
  };
}

/** Values a spool line must not hold in a column of each kind (JSON values: NaN cannot be written). */
const BAD: Record<UsageColumnKind, unknown[]> = {
  key: ['', 5, null],
  int: [1.5, '4', null, true],
  'int-or-null': [1.5, '6', false],
  uint: ['10', null, true, {}],
  'uint-or-null': ['12', false],
  string: [null, 1, ['x']],
  'string-or-null': [1, {}],
  outcome: ['rate_limited', '', null, 1],
};

test('the test record sets every column of the table', () => {
  assert.deepEqual(Object.keys(record()), USAGE_COLUMNS.map((c) => c.field));
});

test('a well-formed line parses to the same record; unknown keys are dropped', () => {
  const r = record();
  assert.deepEqual(parseRecordLine(JSON.stringify(r)), r);
  assert.deepEqual(parseRecordLine(JSON.stringify({ ...r, extra: 'x' })), r);
  const nulls = record({ channelId: null, channelKeyId: null, ttftMs: null, errorClass: null });
  assert.deepEqual(parseRecordLine(JSON.stringify(nulls)), nulls);
  for (const outcome of OUTCOMES) assert.equal(parseRecordLine(JSON.stringify(record({ outcome })))?.outcome, outcome);
});

test('every column refuses the values its kind does not allow, and its absence', () => {
  for (const c of USAGE_COLUMNS) {
    for (const bad of BAD[c.kind]) {
      const line = JSON.stringify({ ...record(), [c.field]: bad });
      assert.equal(parseRecordLine(line), null, `${c.field} (${c.kind}) = ${JSON.stringify(bad)} accepted`);
    }
    const { [c.field]: _, ...missing } = record() as unknown as Record<string, unknown>;
    const absent = (c as { absent?: number }).absent;
    if (absent === undefined) assert.equal(parseRecordLine(JSON.stringify(missing)), null, `${c.field} missing accepted`);
    else assert.deepEqual(parseRecordLine(JSON.stringify(missing)), { ...record(), [c.field]: absent }, `${c.field}: a line spooled before it existed takes ${absent}`);
  }
});

test('torn or non-object lines are refused', () => {
  assert.equal(parseRecordLine('{"requestId":"torn-by-cra'), null);
  assert.equal(parseRecordLine('null'), null);
  assert.equal(parseRecordLine('[1,2]'), null);
  assert.equal(parseRecordLine('42'), null);
});

test('uint columns are repaired (fractions up, negatives to 0), on parse and in place; others are left alone', () => {
  const uint = USAGE_COLUMNS.filter((c) => c.kind === 'uint' || c.kind === 'uint-or-null').map((c) => c.field);
  assert.ok(uint.includes('costMicros') && uint.includes('ttftMs'));
  for (const f of uint) {
    const up = parseRecordLine(JSON.stringify({ ...record(), [f]: 2.25 })) as unknown as Record<string, unknown>;
    assert.equal(up[f], 3, `${f} rounded up`);
    const neg = normalizeRecord({ ...record(), [f]: -4 }) as unknown as Record<string, unknown>;
    assert.equal(neg[f], 0, `${f} negative`);
    const nan = normalizeRecord({ ...record(), [f]: Number.NaN }) as unknown as Record<string, unknown>;
    assert.equal(nan[f], 0, `${f} NaN`);
  }
  assert.equal(normalizeRecord(record({ ttftMs: null })).ttftMs, null);
  // ids are never repaired: a rounded id would bill someone else
  const ids = normalizeRecord(record({ userId: -1, channelId: -2 }));
  assert.deepEqual([ids.userId, ids.channelId], [-1, -2]);
  assert.deepEqual(normalizeRecord(record()), record());
});
