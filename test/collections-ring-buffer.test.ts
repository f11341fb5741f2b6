import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import { setImmediate } from 'node:timers/promises';
import { runInNewContext } from 'node:vm';
import { RingBuffer } from '../src/collections/ring-buffer.ts';

test('push and shift are first in, first out, across wrap-around and growth', () => {
  const q = new RingBuffer<number>(4);
  assert.equal(q.length, 0);
  assert.equal(q.shift(), undefined);
  assert.equal(q.peek(), undefined);
  for (let i = 0; i < 3; i++) q.push(i);
  assert.equal(q.shift(), 0);
  assert.equal(q.shift(), 1);
  // head is now at slot 2: these wrap around the end of a 4-slot ring, then force a growth
  for (let i = 3; i < 10; i++) assert.equal(q.push(i), i - 1);
  assert.equal(q.peek(), 2);
  const out: number[] = [];
  for (let x = q.shift(); x !== undefined; x = q.shift()) out.push(x);
  assert.deepEqual(out, [2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(q.length, 0);
});

test('take returns at most n oldest items and removes them', () => {
  const q = new RingBuffer<string>(2);
  for (const s of ['a', 'b', 'c', 'd', 'e']) q.push(s);
  assert.deepEqual(q.take(2), ['a', 'b']);
  assert.deepEqual(q.take(0), []);
  assert.deepEqual(q.take(-1), []);
  assert.deepEqual(q.take(10), ['c', 'd', 'e']);
  assert.equal(q.length, 0);
  assert.deepEqual(q.take(1), []);
});

test('prepend puts items back at the front in their order, growing when needed', () => {
  const q = new RingBuffer<number>(4);
  q.push(10);
  q.push(11);
  q.prepend([7, 8, 9]); // 5 items in a 4-slot ring: grows
  assert.equal(q.length, 5);
  assert.deepEqual(q.take(5), [7, 8, 9, 10, 11]);
  q.prepend([]);
  assert.equal(q.length, 0);
  q.prepend([1, 2]);
  q.push(3);
  assert.deepEqual(q.take(3), [1, 2, 3]);
});

test('vacated slots hold no references: taken items can be garbage-collected', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const q = new RingBuffer<object>(8);
  q.push({ keep: true });
  const refs = ((): WeakRef<object>[] => {
    const objs = [{ a: 1 }, { b: 2 }, { c: 3 }];
    for (const o of objs) q.push(o);
    q.prepend([{ d: 4 }]);
    return [objs[0], objs[1], objs[2]].map((o) => new WeakRef(o));
  })();
  q.shift(); // { d: 4 }
  q.shift(); // { keep: true }
  q.take(3); // a, b, c
  await setImmediate(); // WeakRef targets stay alive until the end of the job that created them
  gc();
  assert.deepEqual(refs.map((r) => r.deref()), [undefined, undefined, undefined]);
});

test('matches an array used as a queue over a long random sequence', () => {
  const q = new RingBuffer<number>(1);
  const model: number[] = [];
  let seed = 42;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  let next = 0;
  for (let step = 0; step < 20_000; step++) {
    const op = rand(10);
    if (op < 5) {
      assert.equal(q.push(next), model.push(next));
      next++;
    } else if (op < 7) {
      assert.equal(q.shift(), model.shift());
    } else if (op < 9) {
      const n = rand(40);
      assert.deepEqual(q.take(n), model.splice(0, n));
    } else {
      const items = Array.from({ length: rand(20) }, () => next++);
      q.prepend(items);
      model.unshift(...items);
    }
    assert.equal(q.length, model.length);
    assert.equal(q.peek(), model[0]);
  }
  assert.deepEqual(q.take(q.length), model);
});
