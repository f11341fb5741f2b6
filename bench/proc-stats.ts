/**
 * CPU time and peak memory of a process tree, read from /proc (Linux).
 *
 * CPU per request is the harness's headline figure, so it is measured the way
 * the kernel accounts it: utime + stime of every thread of the process and of
 * its live descendants (nginx workers, for instance), read before and after a
 * run. Clock ticks are converted with CLK_TCK (usually 100 Hz, i.e. 10 ms per
 * tick: runs of a few seconds keep the rounding error under 1 %).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

const clockTicksPerSecond = readClockTicks();

function readClockTicks(): number {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(value) && value > 0 ? value : 100;
  } catch {
    return 100;
  }
}

/** Whether /proc is there to read (Linux); without it CPU and RSS figures are null. */
export function procAvailable(): boolean {
  try {
    readFileSync('/proc/self/stat', 'utf8');
    return true;
  } catch {
    return false;
  }
}

/** utime + stime of one process (all its threads), in microseconds; 0 if it is gone. */
function processCpuMicros(pid: number): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After the name, field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1_000_000) / clockTicksPerSecond;
}

/** The process and its descendants, found through /proc/<pid>/task/<tid>/children. */
export function processTree(rootPid: number): number[] {
  const found: number[] = [];
  const pending = [rootPid];
  while (pending.length > 0) {
    const pid = pending.pop() as number;
    found.push(pid);
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      let children = '';
      try {
        children = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const child of children.split(' ')) {
        if (child.trim() !== '') pending.push(Number(child));
      }
    }
  }
  return found;
}

/** CPU time (user + system) of a process tree so far, in microseconds. */
export function treeCpuMicros(rootPid: number): number {
  let total = 0;
  for (const pid of processTree(rootPid)) total += processCpuMicros(pid);
  return total;
}

/** Peak resident set (VmHWM) of a process tree, in KiB: the sum of each process's peak. */
export function treePeakRssKib(rootPid: number): number {
  let total = 0;
  for (const pid of processTree(rootPid)) {
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      continue;
    }
    const match = /^VmHWM:\s+(\d+) kB/m.exec(status);
    if (match !== null) total += Number(match[1]);
  }
  return total;
}

/** CPU used by one or more process trees (summed) between two points in time. */
export class CpuMeter {
  readonly pids: readonly number[];
  startMicros: number;

  constructor(pids: number | readonly number[]) {
    this.pids = typeof pids === 'number' ? [pids] : pids;
    this.startMicros = this.#now();
  }

  #now(): number {
    let total = 0;
    for (const pid of this.pids) total += treeCpuMicros(pid);
    return total;
  }

  /** Microseconds of CPU since construction. */
  elapsedMicros(): number {
    return this.#now() - this.startMicros;
  }
}
