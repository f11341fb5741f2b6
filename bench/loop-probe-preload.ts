/**
 * Loaded into a target process with `node --import` (never by Tollgate
 * itself): event-loop delay (perf_hooks monitorEventLoopDelay), garbage
 * collection pauses and V8 heap use, so that the report can say how long the
 * loop stalls under load and whether GC is what stalls it. On SIGUSR2 it
 * writes what it saw since the previous SIGUSR2 to $BENCH_LOOP_PROBE_FILE
 * (written aside, then renamed) and starts over: the harness signals before
 * and after a run, and the second answer covers the run.
 *
 * The delay timer fires every 2 ms when the loop is idle (a few µs each) and
 * less often under load, when the loop is busy anyway.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

const file = process.env.BENCH_LOOP_PROBE_FILE;

if (file !== undefined && file !== '') {
  const delay = monitorEventLoopDelay({ resolution: 2 });
  delay.enable();
  let seq = 0;
  let gcCount = 0;
  let gcMs = 0;
  let gcMaxMs = 0;
  let majorGcCount = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries() as PerformanceEntry[]) {
      gcCount++;
      gcMs += entry.duration;
      if (entry.duration > gcMaxMs) gcMaxMs = entry.duration;
      // NODE_PERFORMANCE_GC_MAJOR = 4 (mark-compact)
      if ((entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === 4) majorGcCount++;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  // The process stays free to exit: the probe holds no handle of its own.
  process.on('SIGUSR2', () => {
    seq++;
    const ms = (ns: number) => ns / 1e6;
    const report = {
      seq,
      delayP50Ms: ms(delay.percentile(50)),
      delayP99Ms: ms(delay.percentile(99)),
      delayMaxMs: ms(delay.max),
      gcCount,
      majorGcCount,
      gcMs,
      gcMaxMs,
      heapUsedMiB: process.memoryUsage().heapUsed / 1048576,
    };
    delay.reset();
    gcCount = 0;
    majorGcCount = 0;
    gcMs = 0;
    gcMaxMs = 0;
    writeFileSync(`${file}.tmp`, JSON.stringify(report));
    renameSync(`${file}.tmp`, file);
  });
}
