/**
 * Gives back the memory start-up used and no longer needs.
 *
 * Start-up (compiling a few hundred modules, migrations, loading the key,
 * price and limit books) grows V8's young generation to its maximum, and V8
 * keeps it at that size while the process idles: ~45 MB of RSS that a
 * gateway waiting for traffic holds for nothing. One memory-reducing full GC
 * once the server listens returns it (measured: idle RSS ~160 → ~116 MB on
 * Node 24). Under load the young generation grows back as V8 sees fit, so
 * throughput is as before; the cost is one pause of a few tens of ms, once.
 *
 * Node exposes no GC call without --expose-gc; the flag set at run time makes
 * `gc` available in a new context only (the gateway's own globals are
 * unchanged), and the "last-resort" flavour is the one that shrinks the heap.
 */
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

type GcFunction = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/** One memory-reducing full GC, `delayMs` from now, on an unref'd timer. */
export function releaseStartupMemory(delayMs: number): void {
  setTimeout(() => {
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as GcFunction;
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  }, delayMs).unref();
}
