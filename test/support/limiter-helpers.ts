/** Small builders and narrowing asserts shared by the limiter tests. */
import assert from 'node:assert/strict';
import type { Admission, Admitted, LimitPolicy, Refused } from '../../src/limiter/limiter.ts';

export function policy(scope: LimitPolicy['scope'], subject: string, limits: Partial<Pick<LimitPolicy, 'rpm' | 'tpm' | 'concurrency'>>): LimitPolicy {
  return { scope, subject, rpm: limits.rpm ?? null, tpm: limits.tpm ?? null, concurrency: limits.concurrency ?? null };
}

export function admitted(a: Admission): Admitted {
  assert.equal(a.allowed, true, `expected admission, got ${JSON.stringify(a)}`);
  return a as Admitted;
}

export function refused(a: Admission): Refused {
  assert.equal(a.allowed, false, 'expected refusal');
  return a as Refused;
}
