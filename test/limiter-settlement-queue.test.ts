import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RedisLease } from '../src/limiter/redis-lease.ts';
import { appendSettlements, SettlementQueue } from '../src/limiter/settlement-queue.ts';
import { policy } from './support/limiter-helpers.ts';

function lease(id: string): RedisLease {
  return new RedisLease(id, 0, [], []);
}

function ids(leases: RedisLease[] | null): string[] | null {
  return leases === null ? null : leases.map((l) => l.id);
}

test('settlement queue: first in, first out; take returns at most max and null when empty', () => {
  const q = new SettlementQueue(8);
  assert.equal(q.take(4), null);
  for (const id of ['a', 'b', 'c', 'd', 'e']) assert.equal(q.push(lease(id)), false);
  assert.equal(q.length, 5);
  assert.deepEqual(ids(q.take(2)), ['a', 'b']);
  assert.equal(q.length, 3);
  assert.deepEqual(ids(q.take(100)), ['c', 'd', 'e']);
  assert.equal(q.length, 0);
  assert.equal(q.take(1), null);
  assert.equal(q.take(0), null, 'a batch of zero takes nothing');
});

test('settlement queue: order survives wrapping past the end of the ring, many times over', () => {
  const q = new SettlementQueue(3);
  let pushed = 0;
  let taken = 0;
  for (let round = 0; round < 11; round++) {
    q.push(lease(String(pushed++)));
    q.push(lease(String(pushed++)));
    const batch = q.take(round % 2 === 0 ? 1 : 3);
    for (const l of batch ?? []) assert.equal(l.id, String(taken++), 'oldest first');
  }
  assert.equal(q.length, 1, 'an odd number of rounds leaves one behind');
  assert.deepEqual(ids(q.take(3)), Array.from({ length: pushed - taken }, (_, i) => String(taken + i)));
});

test('settlement queue: a full queue drops the oldest and says so', () => {
  const q = new SettlementQueue(3);
  assert.equal(q.push(lease('a')), false);
  assert.equal(q.push(lease('b')), false);
  assert.equal(q.push(lease('c')), false);
  assert.equal(q.push(lease('d')), true, 'a was dropped');
  assert.equal(q.push(lease('e')), true, 'b was dropped');
  assert.equal(q.length, 3);
  assert.deepEqual(ids(q.take(10)), ['c', 'd', 'e']);
  assert.equal(q.push(lease('f')), false, 'room again after a take');
  assert.deepEqual(ids(q.take(10)), ['f']);
});

test('settlement queue: capacity must be a positive integer', () => {
  assert.throws(() => new SettlementQueue(0), RangeError);
  assert.throws(() => new SettlementQueue(1.5), RangeError);
  const one = new SettlementQueue(1);
  assert.equal(one.push(lease('a')), false);
  assert.equal(one.push(lease('b')), true);
  assert.deepEqual(ids(one.take(5)), ['b']);
});

test('appendSettlements: keys and slots only for policies that release a slot or correct a TPM reservation', () => {
  const policies = [
    policy('global', '', { rpm: 100 }), // nothing to settle
    policy('user', 'u1', { tpm: 1000 }), // TPM correction
    policy('key', 'k1', { concurrency: 2 }), // release only
    policy('model', 'm', { tpm: 500, concurrency: 1 }), // both
  ];
  const keys = ['gs', 'gc', 'us', 'uc', 'ks', 'kc', 'ms', 'mc'];
  const l = new RedisLease('L1', 10, policies, keys);
  l.delta = -4;
  const args: (string | number)[] = [0, 'req-s', 'req-c'];
  const slots = appendSettlements(args, [l]);
  assert.deepEqual(args, [0, 'req-s', 'req-c', 'us', 'uc', 'ks', 'kc', 'ms', 'mc']);
  assert.deepEqual(slots, ['L1', 1000, -4, 0, 'L1', -1, -4, 1, 'L1', 500, -4, 1]);
  assert.equal(l.delta, 0, 'a correction is written once');

  // Written again (e.g. re-queued after a failed call), only the releases remain.
  const again: (string | number)[] = [];
  assert.deepEqual(appendSettlements(again, [l]), ['L1', -1, 0, 1, 'L1', -1, 0, 1]);
  assert.deepEqual(again, ['ks', 'kc', 'ms', 'mc']);
});

test('appendSettlements: a lease with nothing to settle adds nothing', () => {
  const l = new RedisLease('L2', 0, [policy('user', 'u', { rpm: 1, tpm: 10 })], ['s', 'c']);
  const args: (string | number)[] = [];
  assert.deepEqual(appendSettlements(args, [l]), []);
  assert.deepEqual(args, []);
});
