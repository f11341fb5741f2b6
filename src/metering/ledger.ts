/**
 * Live credit balances, in memory (embedded mode). The hot path reserves an
 * estimate before relaying and settles the real cost after; both are
 * synchronous, so check-and-reserve is one indivisible step on the JS thread
 * and concurrent requests of one user can never both pass a check that only
 * one of them fits.
 *
 * Invariants (all amounts integer micro-credits):
 *
 *   available(u)  = balance(u) − reserved(u) + overdraft
 *   reserve(u, m) succeeds  ⇔  m ≤ available(u)   ⇒  reserved(u) ≤ balance(u) + overdraft
 *   balance(u)    = stored balance(u)
 *                   − Σ cost of u's settled records not yet committed (writer queue or spool)
 *                   − Σ external deltas committed but not yet polled from the change feed
 *
 * External deltas (admin credits) arrive as 'user.balance' change events
 * with their feed id; a load records which feed id its read reflects, so an
 * event is counted either by the read or by `applyExternalDelta`, never both.
 *
 * The ledger never writes the database: the persistent debit is the usage
 * record's `costMicros`, applied by `store.usage.applyBatch` in the same
 * transaction that stores the record. So a restart that reloads balances from
 * the store is consistent once the writer has flushed (drain the spool
 * before serving; see docs/metering.md).
 *
 * The balance can still go below −overdraft by exactly the amount a settled
 * cost exceeds its reservation (an upstream that ignores max_tokens, or a
 * tokenizer that counts more than ours); the request already happened, so it
 * is charged in full. `settle` reports that overrun.
 */
import type { EventRepo } from '../store/change-feed.ts';
import type { UserRepo } from '../store/user-repo.ts';

/** What the ledger reads from the store. */
export interface LedgerStore {
  users: Pick<UserRepo, 'balances'>;
  events: Pick<EventRepo, 'latestId' | 'since'>;
}

/** Reads of one load before giving up on finding a quiet moment in the change feed. */
const MAX_LOAD_TRIES = 5;

/** A hold on credits, returned by `reserve`; settle it exactly once. */
export class Reservation {
  readonly userId: number;
  readonly micros: number;
  /** True once settled or released; later settles are no-ops. */
  settled: boolean;

  constructor(userId: number, micros: number) {
    this.userId = userId;
    this.micros = micros;
    this.settled = false;
  }
}

/** One user's live state. */
class Account {
  balance: number;
  reserved: number;
  /** Costs this process settled whose records are not committed yet (see `committed`). */
  pendingDebit: number;
  /** Change-feed id up to which external deltas are in `balance` (so replays are ignored). */
  appliedEventId: number;

  constructor(balance: number, appliedEventId: number) {
    this.balance = balance;
    this.reserved = 0;
    this.appliedEventId = appliedEventId;
    this.pendingDebit = 0;
  }
}

/** A load in flight, with the deltas polled meanwhile (applied after it if newer than its read). */
interface PendingLoad {
  promise: Promise<void>;
  deltas: { eventId: number; delta: number }[];
}

/** What GET /api/v1/balance shows. */
export interface BalanceSnapshot {
  balanceMicros: number;
  reservedMicros: number;
}

export interface CreditLedgerOptions {
  /** How far below zero a user may go, in micro-credits (default 0). */
  overdraftMicros?: number;
}

function checkMicros(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${name} must be a non-negative integer number of micro-credits, got ${String(v)}`);
}

/** In-memory live balances with reservations. */
export class CreditLedger {
  readonly #store: LedgerStore;
  readonly #overdraft: number;
  readonly #accounts = new Map<number, Account>();
  readonly #loading = new Map<number, PendingLoad>();
  /** Counts writer commits, so a refresh can tell whether one landed while it read. */
  #commits = 0;

  /** @param store the store (only `users.balances`, `events.latestId` and `events.since` are used). */
  constructor(store: LedgerStore, opts: CreditLedgerOptions = {}) {
    const overdraft = opts.overdraftMicros ?? 0;
    checkMicros('overdraftMicros', overdraft);
    this.#store = store;
    this.#overdraft = overdraft;
  }

  /** True when `userId`'s balance is in memory, so `reserve` may be called at once. */
  isLoaded(userId: number): boolean {
    return this.#accounts.has(userId);
  }

  /**
   * Loads the balance from the store on first use; concurrent callers share
   * one read. A user the store does not know gets balance 0 (every reserve
   * of a priced request then fails with 402). Rejects when the store fails;
   * the next call tries again.
   */
  ensureLoaded(userId: number): Promise<void> {
    if (this.#accounts.has(userId)) return Promise.resolve();
    const pending = this.#loading.get(userId);
    if (pending !== undefined) return pending.promise;
    const load: PendingLoad = { promise: Promise.resolve(), deltas: [] };
    load.promise = this.#load(userId, load).finally(() => this.#loading.delete(userId));
    this.#loading.set(userId, load);
    return load.promise;
  }

  /**
   * Reads the balance together with the change-feed position it reflects.
   * Every event with id ≤ L1 (read before the balance) committed before the
   * balance was read, so it is in it (feed ids become visible in order, see
   * change-feed.ts). If no 'user.balance' event of this user lies in
   * (L1, L2], the balance reflects exactly the user's events ≤ L2; otherwise
   * one of them may or may not be in it, and the read is repeated.
   */
  async #load(userId: number, load: PendingLoad): Promise<void> {
    const { users, events } = this.#store;
    const subject = String(userId);
    for (let attempt = 1; ; attempt++) {
      const before = await events.latestId();
      const balance = (await users.balances([userId])).get(userId) ?? 0;
      const after = await events.latestId();
      let clean = before === after;
      if (!clean) {
        const between = await events.since(before, after - before);
        clean = !between.some((e) => e.id <= after && e.kind === 'user.balance' && e.subject === subject);
      }
      if (clean || attempt >= MAX_LOAD_TRIES) {
        if (!clean) throw new Error(`credit ledger: balance of user ${userId} kept changing while loading`);
        const acct = new Account(balance, after);
        for (const d of load.deltas) this.#applyDelta(acct, d.delta, d.eventId);
        this.#accounts.set(userId, acct);
        return;
      }
    }
  }

  /**
   * Reserves `micros` for one request, or returns null (→ 402) when
   * balance − reserved + overdraft < micros. Synchronous: the check and the
   * hold are one step. Throws if the user was not loaded (a caller bug).
   */
  reserve(userId: number, micros: number): Reservation | null {
    const acct = this.#accounts.get(userId);
    if (acct === undefined) throw new Error(`credit ledger: user ${userId} reserved before ensureLoaded`);
    if (!(micros >= 0) || !Number.isSafeInteger(micros)) throw new RangeError(`reservation must be a non-negative integer, got ${String(micros)}`);
    if (acct.balance - acct.reserved + this.#overdraft < micros) return null;
    acct.reserved += micros;
    return new Reservation(userId, micros);
  }

  /**
   * Releases the reservation and subtracts the real cost from the live
   * balance. Idempotent: only the first call on a reservation counts (a
   * request's finish path and its abort path may both reach here). Returns
   * by how much the cost exceeded the reservation (0 normally).
   */
  settle(res: Reservation, costMicros: number): number {
    if (res.settled) return 0;
    res.settled = true;
    const cost = costMicros > 0 ? Math.ceil(costMicros) : 0; // NaN and negatives charge nothing
    const acct = this.#accounts.get(res.userId);
    // The account is never evicted while a reservation exists; be safe anyway.
    if (acct === undefined) return Math.max(0, cost - res.micros);
    acct.reserved -= res.micros;
    acct.balance -= cost;
    acct.pendingDebit += cost;
    return cost > res.micros ? cost - res.micros : 0;
  }

  /** Gives the whole reservation back (request refused or failed before any cost). */
  release(res: Reservation): void {
    this.settle(res, 0);
  }

  /**
   * Applies a committed balance change made elsewhere: a 'user.balance'
   * change event (admin API, CLI), with its feed id so that an event the
   * load already read is not counted twice. Usage debits are not such
   * events: they are in the live balance through `settle`.
   */
  applyExternalDelta(userId: number, delta: number, eventId: number): void {
    const acct = this.#accounts.get(userId);
    if (acct !== undefined) {
      this.#applyDelta(acct, delta, eventId);
      return;
    }
    // Not loaded: the load reads the store, which already has it; one in
    // flight decides when it knows which events its read reflects.
    this.#loading.get(userId)?.deltas.push({ eventId, delta });
  }

  #applyDelta(acct: Account, delta: number, eventId: number): void {
    if (eventId <= acct.appliedEventId) return;
    acct.appliedEventId = eventId;
    acct.balance += delta;
  }

  /**
   * The writer committed records: their costs are in the store now, no longer
   * pending here. `deltas` is applyBatch's user → −cost map. Records spooled by
   * an earlier process were never pending here; their debit is clamped away.
   */
  committed(deltas: ReadonlyMap<number, number>): void {
    this.#commits++;
    for (const [userId, delta] of deltas) {
      const acct = this.#accounts.get(userId);
      if (acct !== undefined) acct.pendingDebit = Math.max(0, acct.pendingDebit + delta);
    }
  }

  /**
   * A settled cost whose record the store refused for good: it will never be
   * committed, so it leaves the pending debits and goes back on the balance
   * (store and ledger agree: neither holds it).
   */
  refused(userId: number, costMicros: number): void {
    const acct = this.#accounts.get(userId);
    if (acct === undefined || costMicros <= 0) return;
    acct.pendingDebit = Math.max(0, acct.pendingDebit - costMicros);
    acct.balance += costMicros;
  }

  /**
   * Re-reads the loaded balances from the store, so that spending committed
   * by OTHER gateway processes sharing the store reaches this one:
   * live = stored − this process's costs not yet committed. The read is
   * retried when a commit of ours or a credit event of these users lands
   * while it is in flight (the same rule as a first load). Without it each
   * node would only ever see its own spending; with it, a user hitting
   * several nodes can overspend by at most what the other nodes settled in
   * one flush + refresh interval.
   */
  async refresh(): Promise<void> {
    const ids = [...this.#accounts.keys()];
    if (ids.length === 0) return;
    const { users, events } = this.#store;
    const subjects = new Set(ids.map(String));
    for (let attempt = 1; attempt <= MAX_LOAD_TRIES; attempt++) {
      const commits = this.#commits;
      const before = await events.latestId();
      const stored = await users.balances(ids);
      const after = await events.latestId();
      if (commits !== this.#commits) continue;
      if (before !== after) {
        const between = await events.since(before, after - before);
        if (between.some((e) => e.id <= after && e.kind === 'user.balance' && subjects.has(e.subject))) continue;
        if (commits !== this.#commits) continue;
      }
      for (const [userId, acct] of this.#accounts) {
        const balance = stored.get(userId);
        if (balance === undefined) continue;
        acct.balance = balance - acct.pendingDebit;
        if (after > acct.appliedEventId) acct.appliedEventId = after;
      }
      return;
    }
  }

  /** Balance and open reservations, or null when the user is not loaded. */
  snapshot(userId: number): BalanceSnapshot | null {
    const acct = this.#accounts.get(userId);
    if (acct === undefined) return null;
    return { balanceMicros: acct.balance, reservedMicros: acct.reserved };
  }

  /** The configured overdraft, in micro-credits. */
  get overdraftMicros(): number {
    return this.#overdraft;
  }
}
