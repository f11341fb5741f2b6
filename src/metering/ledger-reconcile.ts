/**
 * Checks the Redis ledger against the record: for every balance held in
 * Redis, the store's balance must equal Redis's once both contain the same
 * debits (same debit_seq). Redis's `bal` is the stored balance by
 * construction (costs in flight are holds, not debits), so any difference is
 * drift: a commit notice lost for good (a node killed between its commit and
 * the notice, or the notice queue overflowing while Redis was down), or an
 * admin credit not yet polled from the change feed. Users whose Redis state
 * lags the store's debit_seq are skipped this round (their notices are on the
 * way) and counted apart.
 *
 * The sum is exported as tollgate_ledger_drift_micros (Redis minus store:
 * positive = Redis lets users spend more than the record has) and each
 * drifting user is logged. The cure is to delete that user's Redis keys: the
 * next request rebuilds them from the store.
 */
import type { RedisCredits, RedisCreditStore } from './redis-credits.ts';

/** The outcome of one pass. */
export interface DriftReport {
  /** Users compared (Redis and store at the same debit_seq). */
  compared: number;
  /** Users skipped because commit notices were still on their way. */
  lagging: number;
  /** Users whose balances differ. */
  drifting: number;
  /** Σ (Redis balance − store balance) over the compared users. */
  driftMicros: number;
}

export interface DriftLog {
  warn(obj: object, msg: string): void;
}

/** One reconciliation pass over every balance in Redis. */
export async function reconcileLedger(credits: RedisCredits, store: Pick<RedisCreditStore, 'users'>, log: DriftLog | null): Promise<DriftReport> {
  const report: DriftReport = { compared: 0, lagging: 0, drifting: 0, driftMicros: 0 };
  for (const userId of await credits.loadedUsers()) {
    const live = await credits.inspect(userId);
    const stored = await store.users.ledgerState(userId);
    if (live === null || stored === null) continue;
    if (live.debitSeq !== stored.debitSeq) {
      report.lagging++;
      continue;
    }
    report.compared++;
    const drift = live.balanceMicros - stored.balanceMicros;
    if (drift === 0) continue;
    report.drifting++;
    report.driftMicros += drift;
    log?.warn({ userId, redisMicros: live.balanceMicros, storeMicros: stored.balanceMicros, driftMicros: drift, debitSeq: stored.debitSeq }, 'credit ledger drift: Redis and the store disagree');
  }
  return report;
}
