/**
 * Child process of metering-sigkill.test.ts (not a test itself): enqueues
 * usage records at a steady rate into a UsageWriter over SQLite and reports,
 * after every enqueue tick and every committed batch, one line
 * `e <enqueued> f <committed>` on stdout (a pipe: synchronous on Linux, and
 * written with writeSync, so a line on the pipe was really written before a
 * kill). On SIGTERM it stops, closes the writer and reports `closed`.
 *
 * argv: dataDir flushIntervalMs recordsPerTick
 */
import { writeSync } from 'node:fs';
import { UsageWriter, type UsageSink } from '../src/metering/usage-writer.ts';
import { openStore, type UsageRecordInsert } from '../src/store/store.ts';

const [dataDir, intervalArg, perTickArg] = process.argv.slice(2);
const flushIntervalMs = Number(intervalArg);
const perTick = Number(perTickArg);

const store = await openStore({ dataDir });
const user = await store.users.create({ name: `kill-${process.pid}` });
await store.users.credit(user.id, 1_000_000_000_000);

let enqueued = 0;
let committed = 0;
const report = () => writeSync(1, `e ${enqueued} f ${committed}\n`);

const sink: UsageSink = {
  async applyBatch(records) {
    const res = await store.usage.applyBatch(records);
    committed += records.length;
    report();
    return res;
  },
};
// Batches form by time only: batchSize is far above one interval's records.
const writer = new UsageWriter(sink, { dataDir, flushIntervalMs, batchSize: 100_000 });

function record(i: number): UsageRecordInsert {
  return {
    requestId: `kill-${i}`,
    ts: Date.now(),
    userId: user.id,
    keyId: 1,
    model: 'gpt-test',
    channelId: null,
    channelKeyId: null,
    status: 200,
    outcome: 'ok',
    attempts: 1,
    latencyMs: 3,
    ttftMs: 1,
    promptTokens: 10,
    completionTokens: 20, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, responseId: null,
    costMicros: 7,
    errorClass: null,
  };
}

const ticker = setInterval(() => {
  for (let i = 0; i < perTick; i++) writer.enqueue(record(enqueued++));
  report();
}, 1);

process.on('SIGTERM', () => {
  clearInterval(ticker);
  void writer
    .close(10_000)
    .then(() => store.close())
    .then(() => {
      report();
      writeSync(1, 'closed\n');
      process.exit(0);
    });
});

writeSync(1, 'ready\n');
