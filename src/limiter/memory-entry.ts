// One (scope, subject) of the memory limiter: its bucket state, and when an
// entry may be dropped without losing anything.

import { drainedLevel } from './bucket-math.ts';
import type { LimitScope } from './limiter.ts';

// A switch on interned strings beats a keyed load on a lookup object here.
export function scopeIndex(scope: LimitScope): number {
  switch (scope) {
    case 'global':
      return 0;
    case 'user':
      return 1;
    case 'key':
      return 2;
    case 'model':
      return 3;
    case 'user_model':
      return 4;
  }
}

/** Bucket state of one (scope, subject). */
export class Entry {
  readonly scope: number;
  readonly subject: string;
  /** Limits seen at the last charge (-1: none), so the sweep can drain without the policy. */
  rpm: number;
  tpm: number;
  rLevel: number;
  rAt: number;
  tLevel: number;
  tAt: number;
  inflight: number;
  /** Sequence number of the admission that last used it: never evicted during that admission. */
  stamp: number;
  /** Clock time it was last used. */
  seen: number;

  constructor(scope: number, subject: string) {
    this.scope = scope;
    this.subject = subject;
    this.rpm = -1;
    this.tpm = -1;
    this.rLevel = 0;
    this.rAt = 0;
    this.tLevel = 0;
    this.tAt = 0;
    this.inflight = 0;
    this.stamp = 0;
    this.seen = 0;
  }
}

// Idle: unused for a whole window, nothing in flight, both buckets empty.
// Such an entry is equal to a fresh one, so dropping it loses nothing. The
// window of grace keeps an active subject's entry from being dropped and
// rebuilt between its requests (measured: churn halved the bench's rate).
export function isIdle(e: Entry, now: number, windowMs: number): boolean {
  return (
    e.inflight === 0 &&
    now - e.seen >= windowMs &&
    (e.rpm <= 0 || drainedLevel(e.rLevel, e.rAt, now, e.rpm) === 0) &&
    (e.tpm <= 0 || drainedLevel(e.tLevel, e.tAt, now, e.tpm) === 0)
  );
}
