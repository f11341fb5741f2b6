/**
 * The repairs and checks that keep one bad usage record from blocking a
 * whole batch, driven by the kinds in store/usage-columns.ts.
 *
 * `applyBatch` refuses a batch that holds a non-integer cost (a float would
 * corrupt the balance), and a refused batch retried forever would stall every
 * record behind it. So the writer repairs records before they are written,
 * and records read back from a spool file are checked field by field and
 * repaired the same way.
 */
import { OUTCOMES } from '../observability/request-outcome.ts';
import { USAGE_COLUMNS, type UsageColumn, type UsageColumnKind, type UsageRecordInsert } from '../store/usage-columns.ts';

const toInt = (v: number): number => (v > 0 ? Math.min(Math.ceil(v), Number.MAX_SAFE_INTEGER) : 0);

const fieldsOf = (...kinds: UsageColumnKind[]): readonly string[] => USAGE_COLUMNS.filter((c) => kinds.includes(c.kind)).map((c) => c.field);
const UINT_FIELDS = fieldsOf('uint');
const UINT_OR_NULL_FIELDS = fieldsOf('uint-or-null');

/**
 * Makes every `uint` field of `r` a non-negative safe integer, in place:
 * fractions round up (never undercharge; latencies from performance.now()),
 * NaN and negatives become 0. About ten integer checks, no allocation.
 * PostgreSQL rejects "1.5" for an integer column, and one such value would
 * fail its whole batch forever.
 */
export function normalizeRecord(r: UsageRecordInsert): UsageRecordInsert {
  const o = r as unknown as Record<string, number | null>;
  for (let i = 0; i < UINT_FIELDS.length; i++) {
    const f = UINT_FIELDS[i];
    const v = o[f] as number;
    if (!Number.isSafeInteger(v) || v < 0) o[f] = toInt(v);
  }
  for (let i = 0; i < UINT_OR_NULL_FIELDS.length; i++) {
    const f = UINT_OR_NULL_FIELDS[i];
    const v = o[f];
    if (v !== null && (!Number.isSafeInteger(v) || v < 0)) o[f] = toInt(v);
  }
  return r;
}

const isNum = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);
const isInt = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v);
const isStr = (v: unknown): boolean => typeof v === 'string';
const OUTCOME_SET: ReadonlySet<unknown> = new Set(OUTCOMES);

/** What a spool line may hold per kind: `uint` fields accept any finite number, repaired afterwards. */
const VALID = {
  key: (v) => isStr(v) && (v as string).length > 0,
  int: isInt,
  'int-or-null': (v) => v === null || isInt(v),
  uint: isNum,
  'uint-or-null': (v) => v === null || isNum(v),
  string: isStr,
  'string-or-null': (v) => v === null || isStr(v),
  outcome: (v) => OUTCOME_SET.has(v),
} satisfies Record<UsageColumnKind, (v: unknown) => boolean>;

/**
 * Parses one spool line into a record, or returns null when the line is not
 * a complete, well-typed record (a torn last line after a crash, or a file
 * edited by hand). Keys that are not record fields are dropped.
 */
export function parseRecordLine(line: string): UsageRecordInsert | null {
  let v: any;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (v === null || typeof v !== 'object') return null;
  const r: Record<string, unknown> = {};
  for (const c of USAGE_COLUMNS as readonly UsageColumn[]) {
    // A line spooled by an earlier version lacks the fields added since: they take their `absent` value.
    const x = v[c.field] === undefined && c.absent !== undefined ? c.absent : v[c.field];
    if (!VALID[c.kind](x)) return null;
    r[c.field] = x;
  }
  return normalizeRecord(r as unknown as UsageRecordInsert);
}
