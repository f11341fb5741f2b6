/**
 * CPU pinning with taskset: the process under test gets core 0 to itself, the
 * load generator, the upstreams and this harness share the others. CPU per
 * request then measures the gateway alone, and its throughput is per core.
 */
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

/** Which cores go to whom, or null when pinning is off or impossible. */
export interface CpuPlan {
  /** taskset core list for the process under test. */
  targetCores: string;
  /** taskset core list for load, upstreams and the harness. */
  loadCores: string;
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The pinning plan for this machine: needs taskset and at least 2 cores. */
export function planCpus(wanted: boolean): CpuPlan | null {
  const cores = availableParallelism();
  if (!wanted || cores < 2 || !hasTaskset()) return null;
  return { targetCores: '0', loadCores: cores === 2 ? '1' : `1-${cores - 1}` };
}

/** Command prefix that starts a program on the given cores (empty without a plan). */
export function pinnedCommand(cores: string | null, command: string, args: string[]): [string, string[]] {
  if (cores === null) return [command, args];
  return ['taskset', ['-c', cores, command, ...args]];
}

/**
 * Pins every thread of this process to the load cores and returns a function
 * that restores the previous mask (the harness may run inside a test process).
 */
export function pinSelf(plan: CpuPlan | null): () => void {
  if (plan === null) return () => {};
  const pid = String(process.pid);
  const before = execFileSync('taskset', ['-p', pid], { encoding: 'utf8' });
  const mask = /:\s*([0-9a-f,]+)\s*$/i.exec(before.trim())?.[1];
  execFileSync('taskset', ['-a', '-c', '-p', plan.loadCores, pid], { stdio: 'ignore' });
  return () => {
    if (mask !== undefined) execFileSync('taskset', ['-a', '-p', mask, pid], { stdio: 'ignore' });
  };
}
