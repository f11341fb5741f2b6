// Live balances and credit holds in Redis, shared by every gateway node
// (scale-out mode). The store stays the record; Redis holds what the nodes
// must agree on between two store reads. Key layout, the hold's life and the
// exactly-once rules are in redis-ledger-script.ts.
//
// Round trips: the ask and the settlements ride on the limiter's admission
// call (RedisLimiter writes them with `appendToCall`). Commit notices and
// admin credits go in a call of their own (`LEDGER_SYNC_LUA`), once per
// writer commit, not per request. Rebuilding a missing balance costs one
// store read and one call, then the admission is asked again.
//
// Rebuild rule (docs/metering.md): a missing balance is loaded from the
// store's (balance, debit_seq) and the feed position the read reflects; the
// debits and credits committed after that read come with their notices and
// are applied once. What a rebuild loses are the holds: requests in flight
// and costs settled but not yet committed. Until those commits arrive the
// user may spend up to that sum again (bounded by in-flight reservations plus
// one writer flush of costs, or the spool while the store is down).

import { Cluster } from 'ioredis';
import type { RedisClient } from '../sync/redis-client.ts';
import type { ShardMap } from '../limiter/redis-shards.ts';
import { creditsRefused, type CreditAsk, type CreditHold, type RateLimitState, type Refused } from '../limiter/limiter.ts';
import type { CreditLedger, Reservation } from './ledger.ts';
import type { ApplyBatchResult } from '../store/usage-repo.ts';
import type { UsageRecordInsert } from '../store/usage-columns.ts';
import type { EventRepo } from '../store/change-feed.ts';
import type { UserRepo } from '../store/user-repo.ts';
import { LEDGER_SYNC_LUA } from './redis-ledger-script.ts';

/** What the Redis ledger reads from the store. */
export interface RedisCreditStore {
  users: Pick<UserRepo, 'ledgerState'>;
  events: Pick<EventRepo, 'latestId' | 'since'>;
}

/** A hold taken by the admission script; settled through the next script call. */
export class RedisHold implements CreditHold {
  readonly userId: number;
  readonly micros: number;
  readonly id: string;
  settled: boolean;
  /** The real cost, once settled. */
  cost: number;

  constructor(ask: CreditAsk) {
    this.userId = ask.userId;
    this.micros = ask.micros;
    this.id = ask.holdId;
    this.settled = false;
    this.cost = 0;
  }
}

export interface RedisCreditsOptions {
  /** The limiter's key shards: a user's ledger keys sit in the user's shard, beside its limit keys. */
  shards: ShardMap;
  store: RedisCreditStore;
  overdraftMicros: number;
  /** A hold whose node never settles or commits it is dropped after this long (default 600,000 ms). */
  holdTtlMs?: number;
  /** Replays of a commit notice within this window are recognised (default 600,000 ms). */
  replayWindowMs?: number;
  /**
   * While Redis is down: null = credit asks are refused as unavailable (503,
   * the default); a ledger = they are judged by this node alone ('local').
   */
  local: CreditLedger | null;
  /** Ledger sync calls failed (they are retried): count and log. */
  onError?: (err: Error) => void;
}

type SyncClient = RedisClient & {
  tollgateLedgerV1(args: (string | number)[]): Promise<number[]>;
};

/** Sync operations kept while Redis is down; beyond, the oldest are dropped (the reconciliation shows the drift). */
const MAX_SYNC_OPS = 100_000;
/** Operations per sync call. */
const SYNC_BATCH = 256;
/** Load attempts before giving up on a quiet moment in the change feed. */
const MAX_LOAD_TRIES = 5;

/** The Redis side of the credit ledger. */
export class RedisCredits {
  readonly shards: ShardMap;
  readonly overdraftMicros: number;
  readonly holdTtlMs: number;
  readonly #store: RedisCreditStore;
  readonly #replayWindowMs: number;
  readonly #onError: ((err: Error) => void) | undefined;
  readonly local: CreditLedger | null;
  /** Settled holds waiting for a script call to carry them, per key shard (a call carries its own shard's only). */
  readonly #settled: RedisHold[][];
  /** Sync operations (four ARGV each, user id first for the keys) waiting to be sent. */
  #ops: (string | number)[][] = [];
  #client: SyncClient | null = null;
  #timer: NodeJS.Timeout | null = null;
  #sending: Promise<void> | null = null;
  droppedOps = 0;

  constructor(opts: RedisCreditsOptions) {
    this.shards = opts.shards;
    this.#settled = opts.shards.bases.map(() => []);
    this.overdraftMicros = opts.overdraftMicros;
    this.holdTtlMs = opts.holdTtlMs ?? 600_000;
    this.#store = opts.store;
    this.#replayWindowMs = opts.replayWindowMs ?? 600_000;
    this.#onError = opts.onError;
    this.local = opts.local;
  }

  /** The hold of an ask the script admitted. */
  holdFor(ask: CreditAsk): RedisHold {
    return new RedisHold(ask);
  }

  /**
   * Redis is unavailable: with the 'local' policy this node's ledger judges
   * the ask (a user loaded here; otherwise the load starts and this ask is
   * refused as unavailable). Without it the ask is refused as unavailable.
   */
  holdLocally(ask: CreditAsk, state: RateLimitState): { allowed: true; hold: Reservation } | Refused {
    const local = this.local;
    if (local !== null && local.isLoaded(ask.userId)) {
      const hold = local.reserve(ask.userId, ask.micros);
      if (hold !== null) return { allowed: true, hold };
      const snap = local.snapshot(ask.userId)!;
      return creditsRefused(ask.userId, snap.balanceMicros, snap.reservedMicros, state);
    }
    if (local !== null) local.ensureLoaded(ask.userId).catch((err: unknown) => this.#onError?.(err as Error));
    return { allowed: false, scope: 'user', subject: String(ask.userId), kind: 'unavailable', limit: -1, retryAfterMs: 1000, state };
  }

  /** Gives the ledger the client for its own calls (the limiter's pool). */
  attach(client: RedisClient): void {
    if (typeof (client as unknown as Partial<SyncClient>).tollgateLedgerV1 !== 'function') client.defineCommand('tollgateLedgerV1', { lua: LEDGER_SYNC_LUA });
    this.#client = client as unknown as SyncClient;
  }

  /** The four keys of a user: balance, holds, applied changes, parked changes. */
  keysOf(userId: number): [string, string, string, string] {
    const base = this.#baseOf(userId);
    const u = String(userId);
    return [base + 'b:' + u, base + 'h:' + u, base + 'd:' + u, base + 'p:' + u];
  }

  /** Settlements waiting for a call. */
  get pendingSettlements(): number {
    let n = 0;
    for (const queue of this.#settled) n += queue.length;
    return n;
  }

  /** Settlements waiting in one shard. */
  pendingIn(shard: number): number {
    return this.#settled[shard].length;
  }

  /** Sync operations waiting (commit notices, admin credits). */
  get pendingSync(): number {
    return this.#ops.length;
  }

  /** Queues the real cost of a hold; the next script call applies it. Idempotent per hold. */
  settle(hold: RedisHold, costMicros: number): void {
    if (hold.settled) return;
    hold.settled = true;
    hold.cost = costMicros > 0 ? Math.ceil(costMicros) : 0;
    this.#settled[this.shards.shardOf(hold.userId)].push(hold);
  }

  /** Takes up to `max` settlements of one shard for a call to it; null when none wait. */
  take(max: number, shard: number): RedisHold[] | null {
    const queue = this.#settled[shard];
    if (queue.length === 0) return null;
    return queue.length <= max ? queue.splice(0) : queue.splice(0, max);
  }

  /** Settlements of a failed call go back: applying one twice is harmless (it sets the hold to its cost). */
  requeue(holds: readonly RedisHold[]): void {
    if (holds.length > 0) this.#settled[this.shards.shardOf(holds[0].userId)].unshift(...holds);
  }

  /**
   * Appends the ledger's KEYS to `args` (after the limiter's) and returns its
   * ARGV part, in the calling convention of redis-ledger-script.ts.
   */
  appendToCall(args: (string | number)[], ask: CreditAsk | null, settled: readonly RedisHold[] | null): (string | number)[] {
    const argv: (string | number)[] = ask === null ? [0, 0, '', this.holdTtlMs, this.overdraftMicros, 0] : [1, ask.micros, ask.holdId, this.holdTtlMs, this.overdraftMicros, 0];
    if (ask !== null) {
      const base = this.#baseOf(ask.userId);
      args.push(base + 'b:' + ask.userId, base + 'h:' + ask.userId);
    }
    if (settled !== null) {
      argv[5] = settled.length;
      for (const h of settled) {
        const base = this.#baseOf(h.userId);
        args.push(base + 'b:' + h.userId, base + 'h:' + h.userId);
        argv.push(h.id, h.cost);
      }
    }
    return argv;
  }

  /**
   * Loads a user's balance into Redis from the store (when it is missing
   * there). The read is taken between two feed positions with no credit of
   * this user between them, so it reflects exactly the credits up to the
   * second (the same rule as CreditLedger's load).
   */
  async rebuild(userId: number): Promise<void> {
    const { users, events } = this.#store;
    const subject = String(userId);
    for (let attempt = 1; ; attempt++) {
      const before = await events.latestId();
      const state = (await users.ledgerState(userId)) ?? { balanceMicros: 0, debitSeq: 0 };
      const after = await events.latestId();
      let clean = before === after;
      if (!clean) {
        const between = await events.since(before, after - before);
        clean = !between.some((e) => e.id <= after && e.kind === 'user.balance' && e.subject === subject);
      }
      if (clean) {
        await this.#call([userId, 'L', state.balanceMicros, state.debitSeq, after]);
        return;
      }
      if (attempt >= MAX_LOAD_TRIES) throw new Error(`redis credits: balance of user ${userId} kept changing while loading`);
    }
  }

  /**
   * The writer committed records: per user, the debit (with its debit_seq)
   * reaches bal and the records' holds go. Sent in the background; retried
   * until Redis takes it (each notice applies once).
   */
  committed(result: ApplyBatchResult, records: readonly UsageRecordInsert[]): void {
    const ids = new Map<number, string[]>();
    for (const r of records) {
      if (r.costMicros <= 0) continue;
      const list = ids.get(r.userId);
      if (list === undefined) ids.set(r.userId, [r.requestId]);
      else list.push(r.requestId);
    }
    for (const [userId, seq] of result.debitSeqs) {
      this.#enqueue([userId, 'C', seq, result.balanceDeltas.get(userId) ?? 0, (ids.get(userId) ?? []).join(',')]);
      ids.delete(userId);
    }
    // Records already stored (a replay) debit nothing now, but their holds must go.
    for (const [userId, list] of ids) this.#enqueue([userId, 'C', 0, 0, list.join(',')]);
  }

  /** Records the store refused for good: their holds go without a debit. */
  refused(records: readonly UsageRecordInsert[]): void {
    for (const r of records) if (r.costMicros > 0) this.#enqueue([r.userId, 'C', 0, 0, r.requestId]);
  }

  /** An admin credit from the change feed; every node sends it, Redis applies it once. */
  externalCredit(userId: number, delta: number, eventId: number): void {
    this.#enqueue([userId, 'E', eventId, delta, '']);
  }

  /** Sends every queued sync operation now (also on close). */
  async flush(): Promise<void> {
    while (this.#ops.length > 0) {
      if (this.#sending === null) this.#sending = this.#sendBatch().finally(() => (this.#sending = null));
      const sending = this.#sending;
      const ok = await sending.then(() => true, () => false);
      if (!ok) return;
    }
  }

  /** Balance and holds of a user as Redis has them; null when not loaded there (or Redis is not reachable). */
  async snapshot(userId: number): Promise<{ balanceMicros: number; reservedMicros: number } | null> {
    if (this.#client === null || this.#client.status !== 'ready') return null;
    const [bal, res] = await this.#client.hmget(this.#baseOf(userId) + 'b:' + userId, 'bal', 'res');
    return bal === null ? null : { balanceMicros: Number(bal), reservedMicros: Number(res ?? 0) };
  }

  /**
   * What Redis holds for a user, for reconciliation: the balance, the holds,
   * and the highest debit_seq it contains (the load's, or a commit applied since).
   */
  async inspect(userId: number): Promise<{ balanceMicros: number; reservedMicros: number; debitSeq: number } | null> {
    const client = this.#client;
    if (client === null || client.status !== 'ready') return null;
    const [b, , d] = this.keysOf(userId);
    const [[, fields], [, markers]] = (await client.multi().hmget(b, 'bal', 'res', 'seq').zrange(d, '0', '-1').exec()) as [[unknown, (string | null)[]], [unknown, string[]]];
    if (fields[0] === null) return null;
    let seq = Number(fields[2]);
    for (const m of markers) if (m.startsWith('s')) seq = Math.max(seq, Number(m.slice(1)));
    return { balanceMicros: Number(fields[0]), reservedMicros: Number(fields[1] ?? 0), debitSeq: seq };
  }

  /** Ids of the users whose balance is in Redis now. */
  async loadedUsers(): Promise<number[]> {
    const client = this.#client;
    if (client === null || client.status !== 'ready') return [];
    const ids: number[] = [];
    // On a cluster each master holds its own part of the keys.
    const nodes = client instanceof Cluster ? client.nodes('master') : [client];
    for (const base of this.shards.bases) {
      const match = base.replace(/[*?[\]\\]/g, '\\$&') + 'b:*';
      for (const node of nodes) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
          for (const k of keys) ids.push(Number(k.slice(base.length + 2)));
          cursor = next;
        } while (cursor !== '0');
      }
    }
    return ids;
  }

  /** Stops the background timer. */
  close(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #enqueue(op: (string | number)[]): void {
    if (this.#ops.length >= MAX_SYNC_OPS) {
      this.#ops.shift();
      this.droppedOps++;
    }
    this.#ops.push(op);
    this.#schedule(0);
  }

  #schedule(delayMs: number): void {
    if (this.#timer !== null) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.flush();
    }, delayMs);
    this.#timer.unref();
  }

  async #sendBatch(): Promise<void> {
    const batch = this.#takeBatch();
    try {
      await this.#call(...batch);
    } catch (err) {
      // Unknown whether it ran: every operation is idempotent, so send it again later.
      this.#ops.unshift(...batch);
      this.#onError?.(err as Error);
      this.#schedule(1000);
      throw err;
    }
  }

  /** Up to SYNC_BATCH queued operations of the first one's shard (one script call touches one slot). */
  #takeBatch(): (string | number)[][] {
    if (this.shards.count === 1) return this.#ops.splice(0, SYNC_BATCH);
    const shard = this.shards.shardOf(this.#ops[0][0] as number);
    const batch: (string | number)[][] = [];
    const rest: (string | number)[][] = [];
    for (const op of this.#ops) {
      if (batch.length < SYNC_BATCH && this.shards.shardOf(op[0] as number) === shard) batch.push(op);
      else rest.push(op);
    }
    this.#ops = rest;
    return batch;
  }

  #baseOf(userId: number): string {
    return this.shards.bases[this.shards.shardOf(userId)];
  }

  async #call(...ops: (string | number)[][]): Promise<void> {
    const client = this.#client;
    if (client === null || client.status !== 'ready') throw new Error('redis credits: no ready connection');
    const keys: string[] = [];
    const argv: (string | number)[] = [this.#replayWindowMs];
    for (const op of ops) {
      keys.push(...this.keysOf(op[0] as number));
      argv.push(op[1], op[2], op[3], op[4]);
    }
    await client.tollgateLedgerV1([keys.length, ...keys, ...argv]);
  }
}
