/**
 * Loaded into the processes of the service hop pairs with `node --import`
 * (never by Tollgate itself): counts the bytes allocated on the V8 heap.
 * V8 keeps no running total, so it is rebuilt from v8.GCProfiler: what each
 * collection found used minus what the previous one left, plus what is used
 * now over what the last one left. Buffer contents live outside the V8 heap
 * and are not counted (Buffer objects themselves are).
 *
 * On SIGUSR2 it writes `{"seq","allocatedBytes"}` to $BENCH_ALLOC_PROBE_FILE
 * (written aside, then renamed). Its cost: one heap statistics snapshot per
 * collection, a few a second under load.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { GCProfiler, getHeapStatistics } from 'node:v8';

const file = process.env.BENCH_ALLOC_PROBE_FILE;

if (file !== undefined && file !== '') {
  let seq = 0;
  let allocated = 0;
  let profiler = new GCProfiler();
  let usedAtStart = getHeapStatistics().used_heap_size;
  profiler.start();
  process.on('SIGUSR2', () => {
    const result = profiler.stop();
    const usedNow = getHeapStatistics().used_heap_size;
    let left = usedAtStart;
    for (const gc of result?.statistics ?? []) {
      allocated += Math.max(0, gc.beforeGC.heapStatistics.usedHeapSize - left);
      left = gc.afterGC.heapStatistics.usedHeapSize;
    }
    allocated += Math.max(0, usedNow - left);
    profiler = new GCProfiler();
    usedAtStart = usedNow;
    profiler.start();
    seq++;
    writeFileSync(`${file}.tmp`, JSON.stringify({ seq, allocatedBytes: allocated }));
    renameSync(`${file}.tmp`, file);
  });
}
