/**
 * Loaded into a Tollgate target with `node --import` (never by Tollgate
 * itself): counts the usage writer's store transactions, i.e. the successful
 * `UsageRepo.applyBatch` calls (one transaction each, see
 * src/metering/usage-writer.ts) and the records they carried. On SIGUSR2 it
 * writes `{"seq","transactions","records"}` to $BENCH_STORE_PROBE_FILE
 * (written aside, then renamed, so a reader never sees half a file).
 *
 * It counts at the store boundary, so it works whatever the target's metrics
 * setting, and costs one promise callback per batch (about 20 a second at the
 * default 50 ms flush interval): nothing next to the requests measured.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { UsageRepo } from '../src/store/usage-repo.ts';

const file = process.env.BENCH_STORE_PROBE_FILE;

if (file !== undefined && file !== '') {
  let seq = 0;
  let transactions = 0;
  let records = 0;
  const applyBatch = UsageRepo.prototype.applyBatch;
  UsageRepo.prototype.applyBatch = async function countedApplyBatch(this: UsageRepo, batch) {
    const result = await applyBatch.call(this, batch);
    transactions++;
    records += batch.length;
    return result;
  };
  process.on('SIGUSR2', () => {
    seq++;
    writeFileSync(`${file}.tmp`, JSON.stringify({ seq, transactions, records }));
    renameSync(`${file}.tmp`, file);
  });
}
