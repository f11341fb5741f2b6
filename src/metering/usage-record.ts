/**
 * The usage record as metering handles it: the store's insert shape, plus
 * the repairs that keep one bad value from blocking a whole batch.
 *
 * `applyBatch` refuses a batch that holds a non-integer cost (a float would
 * corrupt the balance), and a refused batch retried forever would stall every
 * record behind it. So the writer repairs costs on enqueue, and records read
 * back from a spool file are checked field by field and repaired the same way.
 */
import type { UsageRecordInsert } from '../store/usage-repo.ts';

export type { UsageRecordInsert, UsageOutcome } from '../store/usage-repo.ts';

const toInt = (v: number): number => (v > 0 ? Math.min(Math.ceil(v), Number.MAX_SAFE_INTEGER) : 0);

/**
 * Makes every integer column of `r` a non-negative safe integer, in place:
 * fractions round up (never undercharge; latencies from performance.now()),
 * NaN and negatives become 0. Costs ~10 integer checks, no allocation.
 * PostgreSQL rejects "1.5" for an integer column, and one such value would
 * fail its whole batch forever.
 */
export function normalizeRecord(r: UsageRecordInsert): UsageRecordInsert {
  if (!Number.isSafeInteger(r.costMicros) || r.costMicros < 0) r.costMicros = toInt(r.costMicros);
  if (!Number.isSafeInteger(r.promptTokens) || r.promptTokens < 0) r.promptTokens = toInt(r.promptTokens);
  if (!Number.isSafeInteger(r.completionTokens) || r.completionTokens < 0) r.completionTokens = toInt(r.completionTokens);
  if (!Number.isSafeInteger(r.latencyMs) || r.latencyMs < 0) r.latencyMs = toInt(r.latencyMs);
  if (r.ttftMs !== null && (!Number.isSafeInteger(r.ttftMs) || r.ttftMs < 0)) r.ttftMs = toInt(r.ttftMs);
  if (!Number.isSafeInteger(r.attempts) || r.attempts < 0) r.attempts = toInt(r.attempts);
  if (!Number.isSafeInteger(r.ts)) r.ts = toInt(r.ts);
  if (!Number.isSafeInteger(r.status)) r.status = toInt(r.status);
  return r;
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const isIntOrNull = (v: unknown): boolean => v === null || isInt(v);
const isNumOrNull = (v: unknown): boolean => v === null || isNum(v);
const isStr = (v: unknown): v is string => typeof v === 'string';

/**
 * Parses one spool line into a record, or returns null when the line is not
 * a complete, well-typed record (a torn last line after a crash, or a file
 * edited by hand).
 */
export function parseRecordLine(line: string): UsageRecordInsert | null {
  let v: any;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (v === null || typeof v !== 'object') return null;
  const ok =
    isStr(v.requestId) &&
    v.requestId.length > 0 &&
    isNum(v.ts) &&
    isInt(v.userId) &&
    isInt(v.keyId) &&
    isStr(v.model) &&
    isIntOrNull(v.channelId) &&
    isIntOrNull(v.channelKeyId) &&
    isNum(v.status) &&
    isStr(v.outcome) &&
    isNum(v.attempts) &&
    isNum(v.latencyMs) &&
    isNumOrNull(v.ttftMs) &&
    isNum(v.promptTokens) &&
    isNum(v.completionTokens) &&
    isNum(v.costMicros) &&
    (v.errorClass === null || isStr(v.errorClass));
  if (!ok) return null;
  return normalizeRecord({
    requestId: v.requestId,
    ts: v.ts,
    userId: v.userId,
    keyId: v.keyId,
    model: v.model,
    channelId: v.channelId,
    channelKeyId: v.channelKeyId,
    status: v.status,
    outcome: v.outcome,
    attempts: v.attempts,
    latencyMs: v.latencyMs,
    ttftMs: v.ttftMs,
    promptTokens: v.promptTokens,
    completionTokens: v.completionTokens,
    costMicros: v.costMicros,
    errorClass: v.errorClass,
  });
}
