/**
 * Usage writer throughput, bounded to ~20 s:
 *
 *   npx tsc -p . && node dist/bench/metering-bench.js [--seconds 3]
 *
 * Opens the store on SQLite (a temporary folder) and on PostgreSQL
 * (BENCH_DATABASE_URL / DATABASE_URL, default the local test database, in a
 * schema of its own dropped at the end), and pushes usage records through
 * UsageWriter for `--seconds` per case: with the default batch settings (512
 * records or 50 ms) and, for contrast, with batchSize 1 (one transaction per
 * record). The producer keeps the writer's queue topped up, so the figure is
 * what the writer commits when it is the bottleneck; it includes the final
 * flush and the producer's own work (same thread). One user, as in the load
 * bench: one balance debit and one running-totals upsert per transaction.
 *
 * The last output line is `BENCH_WRITER {json}` for `npm run bench`, which
 * runs this once and puts the figures in bench/RESULTS.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { generateClientKey, hashClientKey } from '../src/keys/client-key.ts';
import { UsageWriter } from '../src/metering/usage-writer.ts';
import { openStore, type Store, type UsageRecordInsert } from '../src/store/store.ts';
import { preparePostgres } from './backends/postgres-backend.ts';

/** One case: a store and a batch setting. */
export interface WriterBenchCase {
  store: 'sqlite' | 'postgres';
  batchSize: number;
  flushIntervalMs: number;
  /** Records committed. */
  records: number;
  /** From the first enqueue to the end of the final flush. */
  seconds: number;
  recordsPerS: number;
  /** Successful applyBatch calls, one store transaction each. */
  transactions: number;
  recordsPerTransaction: number;
}

/** What `BENCH_WRITER` carries. */
export interface WriterBenchResult {
  secondsPerCase: number;
  cases: WriterBenchCase[];
  /** Stores that could not be measured, and why. */
  skipped: string[];
}

/** UsageWriter's default batch settings (src/metering/usage-writer.ts). */
export const writerDefaults = { batchSize: 512, flushIntervalMs: 50 } as const;

interface Subject {
  store: Store;
  dataDir: string;
  userId: number;
  keyId: number;
}

async function prepareSubject(store: Store, dataDir: string): Promise<Subject> {
  const user = await store.users.create({ name: `writer-bench-${process.pid}` });
  const key = generateClientKey();
  const stored = await store.keys.insert({ userId: user.id, name: 'writer-bench', keyHash: hashClientKey(key), prefix: key.slice(0, 8) });
  return { store, dataDir, userId: user.id, keyId: stored.id };
}

function record(subject: Subject, id: string): UsageRecordInsert {
  return {
    requestId: id,
    ts: Date.now(),
    userId: subject.userId,
    keyId: subject.keyId,
    model: 'bench-fast',
    channelId: null,
    channelKeyId: null,
    status: 200,
    outcome: 'ok',
    attempts: 1,
    latencyMs: 3,
    ttftMs: null,
    promptTokens: 12,
    completionTokens: 20, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, responseId: null,
    costMicros: 52,
    errorClass: null,
  };
}

async function runCase(subject: Subject, label: string, batchSize: number, flushIntervalMs: number, seconds: number): Promise<WriterBenchCase> {
  const writer = new UsageWriter(subject.store.usage, { dataDir: join(subject.dataDir, label), batchSize, flushIntervalMs });
  // Enough queued that the writer never waits for the producer, little enough to stay far below maxQueue.
  const target = Math.max(2 * batchSize, 64);
  let n = 0;
  const started = performance.now();
  const stopAt = started + seconds * 1000;
  while (performance.now() < stopAt) {
    const room = target - writer.stats().queued;
    for (let i = 0; i < room; i++) writer.enqueue(record(subject, `wb-${process.pid}-${label}-${n++}`));
    await nextTurn();
  }
  await writer.flush(60_000);
  const elapsed = (performance.now() - started) / 1000;
  const stats = writer.stats();
  await writer.close(1_000);
  if (stats.flushedRecords !== n) throw new Error(`${label}: ${n} records enqueued but ${stats.flushedRecords} committed`);
  return {
    store: subject.store.dialect,
    batchSize,
    flushIntervalMs,
    records: stats.flushedRecords,
    seconds: elapsed,
    recordsPerS: stats.flushedRecords / elapsed,
    transactions: stats.flushes,
    recordsPerTransaction: stats.flushes === 0 ? 0 : stats.flushedRecords / stats.flushes,
  };
}

async function benchStore(subject: Subject, seconds: number, log: (line: string) => void): Promise<WriterBenchCase[]> {
  const out: WriterBenchCase[] = [];
  for (const [label, batchSize, interval] of [
    ['default', writerDefaults.batchSize, writerDefaults.flushIntervalMs],
    ['batch1', 1, writerDefaults.flushIntervalMs],
  ] as const) {
    const c = await runCase(subject, `${subject.store.dialect}-${label}`, batchSize, interval, seconds);
    out.push(c);
    log(describeCase(c));
  }
  return out;
}

/** One human line per case. */
export function describeCase(c: WriterBenchCase): string {
  return `${c.store.padEnd(8)} batchSize ${String(c.batchSize).padStart(3)}, flush ${c.flushIntervalMs} ms: ` +
    `${Math.round(c.recordsPerS).toLocaleString('en-US')} records/s (${c.records.toLocaleString('en-US')} in ${c.seconds.toFixed(2)} s), ` +
    `${c.transactions.toLocaleString('en-US')} transactions, ${c.recordsPerTransaction.toFixed(1)} records/transaction`;
}

/** Runs every case; PostgreSQL is skipped (with the reason) when it does not answer. */
export async function runWriterBench(seconds: number, log: (line: string) => void): Promise<WriterBenchResult> {
  const result: WriterBenchResult = { secondsPerCase: seconds, cases: [], skipped: [] };
  const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-writer-bench-'));
  try {
    const sqlite = await openStore({ dataDir: join(dataDir, 'sqlite') });
    try {
      result.cases.push(...(await benchStore(await prepareSubject(sqlite, dataDir), seconds, log)));
    } finally {
      await sqlite.close();
    }
    const postgres = await preparePostgres();
    if (typeof postgres === 'string') {
      result.skipped.push(`postgres: ${postgres}`);
      log(`postgres skipped: ${postgres}`);
    } else {
      try {
        const store = await openStore({ databaseUrl: postgres.url, dataDir: join(dataDir, 'pg'), postgres: { schema: postgres.schema } });
        try {
          result.cases.push(...(await benchStore(await prepareSubject(store, dataDir), seconds, log)));
        } finally {
          await store.close();
        }
      } finally {
        await postgres.close();
      }
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  return result;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' } } });
  const seconds = Number(values.seconds);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`--seconds must be a positive number (got "${values.seconds}")`);
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  log(`usage writer throughput, ${seconds} s per case, Node ${process.version}`);
  const result = await runWriterBench(seconds, log);
  log(`BENCH_WRITER ${JSON.stringify(result)}`);
}
