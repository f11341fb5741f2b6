/**
 * Child processes of one bench run: spawned in their own process group, their
 * output kept (last lines only) for error messages, and all of them killed when
 * the run ends, fails, or the harness gets SIGINT/SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { pinnedCommand } from './cpu-pinning.ts';

const keptLines = 40;

/** Options for {@link ProcessGroup.spawn}. */
export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** taskset core list, or null to leave the process unpinned. */
  cores: string | null;
  /**
   * Send stdout and stderr to this file instead of a pipe: for chatty servers
   * (request logs), whose output the harness should not spend CPU reading.
   */
  logFile?: string;
}

/** One child process with the tail of its output. */
export class ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly tail: string[];
  readonly logFile: string | null;
  exitCode: number | null;
  exited: boolean;
  private readonly lineWaiters: Array<(line: string) => void>;

  constructor(name: string, child: ChildProcess, logFile: string | null) {
    this.name = name;
    this.child = child;
    this.pid = child.pid ?? -1;
    this.tail = [];
    this.logFile = logFile;
    this.exitCode = null;
    this.exited = false;
    this.lineWaiters = [];
    let partial = '';
    const onData = (chunk: Buffer): void => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) this.onLine(line);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => {
      this.exited = true;
      this.exitCode = code;
    });
  }

  private onLine(line: string): void {
    this.tail.push(line);
    if (this.tail.length > keptLines) this.tail.shift();
    for (const waiter of this.lineWaiters) waiter(line);
  }

  /** Resolves with the first output line matching `pattern`; rejects on exit or timeout. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string> {
    const existing = this.tail.find((line) => pattern.test(line));
    if (existing !== undefined) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        this.child.off('exit', onExit);
        const index = this.lineWaiters.indexOf(onLine);
        if (index >= 0) this.lineWaiters.splice(index, 1);
      };
      const onLine = (line: string): void => {
        if (!pattern.test(line)) return;
        cleanup();
        resolve(line);
      };
      const onExit = (): void => {
        cleanup();
        reject(new Error(`${this.name} exited (code ${this.exitCode}) before printing ${pattern}\n${this.describeTail()}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.name} did not print ${pattern} within ${timeoutMs} ms\n${this.describeTail()}`));
      }, timeoutMs);
      this.lineWaiters.push(onLine);
      this.child.once('exit', onExit);
    });
  }

  /** The last output lines, indented, for error messages. */
  describeTail(): string {
    let lines = this.tail;
    if (this.logFile !== null) {
      try {
        lines = readFileSync(this.logFile, 'utf8').split('\n');
      } catch {
        lines = [`(no log at ${this.logFile})`];
      }
    }
    return lines.slice(-15).map((line) => `  | ${line.slice(0, 400)}`).join('\n');
  }

  /** SIGTERM to the process group, SIGKILL after `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.exited || this.pid < 0) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    signalGroup(this.pid, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(this.pid, 'SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Every process a bench run started, so that none outlives it, and the
 * clean-ups (temporary folders, a PostgreSQL schema) that go with them: run by
 * {@link stopAll}, or on SIGINT/SIGTERM before the harness exits.
 */
export class ProcessGroup {
  private readonly processes: ManagedProcess[];
  private readonly cleanups: Array<() => Promise<void> | void>;
  private readonly onExit: () => void;
  private readonly onSignal: (signal: NodeJS.Signals) => void;

  constructor() {
    this.processes = [];
    this.cleanups = [];
    // 'exit' handlers must be synchronous: SIGKILL is all that can be done there.
    this.onExit = () => {
      for (const managed of this.processes) if (!managed.exited) signalGroup(managed.pid, 'SIGKILL');
    };
    this.onSignal = (signal) => {
      const code = signal === 'SIGINT' ? 130 : 143;
      // Clean up as on a normal end, but never wait more than a few seconds.
      const forced = setTimeout(() => process.exit(code), 8000);
      void this.stopAll().finally(() => {
        clearTimeout(forced);
        process.exit(code);
      });
    };
    process.on('exit', this.onExit);
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  /** Starts a program (pinned to `options.cores` when given) in its own process group. */
  spawn(name: string, command: string, args: string[], options: SpawnOptions): ManagedProcess {
    const [file, argv] = pinnedCommand(options.cores, command, args);
    const logFd = options.logFile === undefined ? null : openSync(options.logFile, 'a');
    const child = spawn(file, argv, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      detached: true,
      stdio: logFd === null ? ['ignore', 'pipe', 'pipe'] : ['ignore', logFd, logFd],
    });
    if (logFd !== null) closeSync(logFd);
    const managed = new ManagedProcess(name, child, options.logFile ?? null);
    // A spawn failure (ENOENT) arrives as an event; keep it from crashing the harness.
    child.on('error', (error) => {
      managed.tail.push(`spawn error: ${error.message}`);
      managed.exited = true;
      child.emit('exit', -1);
    });
    this.processes.push(managed);
    return managed;
  }

  /** Registers a clean-up to run once, after the processes have stopped. */
  addCleanup(cleanup: () => Promise<void> | void): void {
    this.cleanups.push(cleanup);
  }

  /** Stops every process still running, runs the clean-ups, removes the signal handlers. */
  async stopAll(): Promise<void> {
    await Promise.all(this.processes.map((managed) => managed.stop()));
    for (const cleanup of this.cleanups.splice(0)) {
      try {
        await cleanup();
      } catch {
        // a clean-up that fails must not keep the others from running
      }
    }
    process.off('exit', this.onExit);
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }
}

/** Polls `url` until it answers with `status`, or throws after `timeoutMs`. */
export async function waitForHttp(url: string, timeoutMs: number, process?: ManagedProcess, status = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (process?.exited) throw new Error(`${process.name} exited (code ${process.exitCode})\n${process.describeTail()}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      if (response.status === status) return;
      last = `status ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const tail = process === undefined ? '' : `\n${process.describeTail()}`;
  throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (${last})${tail}`);
}
