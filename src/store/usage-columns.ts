/**
 * The usage record's one schema: each field, its column in `usage_records`
 * and its kind. The record types, the table's row type, the mapping between
 * record and row, the SQLite insert statement, spool validation and repair
 * (metering/usage-record.ts) and the admin view are all derived from this
 * table: a new field is one new line here plus a migration.
 */
import type { Outcome } from '../observability/request-outcome.ts';

/**
 * How a field is typed, checked and repaired:
 * - `key`: a non-empty string, unique per record (a replayed record is skipped by it);
 * - `int`, `int-or-null`: an id, a safe integer taken as is (a repaired id would bill someone else);
 * - `uint`, `uint-or-null`: a non-negative safe integer (time, status, a count, money);
 *   a bad value is repaired rather than allowed to fail a batch (see metering/usage-record.ts);
 * - `string`, `string-or-null`;
 * - `outcome`: one of OUTCOMES.
 */
export type UsageColumnKind = 'key' | 'int' | 'int-or-null' | 'uint' | 'uint-or-null' | 'string' | 'string-or-null' | 'outcome';

interface KindTypes {
  key: string;
  int: number;
  'int-or-null': number | null;
  uint: number;
  'uint-or-null': number | null;
  string: string;
  'string-or-null': string | null;
  outcome: Outcome;
}

/** One field of the usage record. */
export interface UsageColumn {
  /** Property name in the record (camelCase). */
  readonly field: string;
  /** Column name in `usage_records`, and key in the admin view (snake_case). */
  readonly column: string;
  readonly kind: UsageColumnKind;
  /** The value of a field added after records were first spooled, for a spool line written without it. */
  readonly absent?: number | null;
}

/** Every field of the usage record except the generated `id`, in column order. */
export const USAGE_COLUMNS = [
  { field: 'requestId', column: 'request_id', kind: 'key' },
  // epoch ms at arrival
  { field: 'ts', column: 'ts', kind: 'uint' },
  { field: 'userId', column: 'user_id', kind: 'int' },
  { field: 'keyId', column: 'key_id', kind: 'int' },
  { field: 'model', column: 'model', kind: 'string' },
  { field: 'channelId', column: 'channel_id', kind: 'int-or-null' },
  { field: 'channelKeyId', column: 'channel_key_id', kind: 'int-or-null' },
  // the HTTP status sent to the client
  { field: 'status', column: 'status', kind: 'uint' },
  { field: 'outcome', column: 'outcome', kind: 'outcome' },
  { field: 'attempts', column: 'attempts', kind: 'uint' },
  { field: 'latencyMs', column: 'latency_ms', kind: 'uint' },
  { field: 'ttftMs', column: 'ttft_ms', kind: 'uint-or-null' },
  { field: 'promptTokens', column: 'prompt_tokens', kind: 'uint' },
  { field: 'completionTokens', column: 'completion_tokens', kind: 'uint' },
  // what the request cost: the user's balance is debited by exactly this
  { field: 'costMicros', column: 'cost_micros', kind: 'uint' },
  { field: 'errorClass', column: 'error_class', kind: 'string-or-null' },
  // parts of prompt and completion tokens (providers/usage-normalized.ts), priced per kind;
  // last because migration 0006 appended them to the table
  { field: 'cachedTokens', column: 'cached_tokens', kind: 'uint', absent: 0 },
  { field: 'cacheWriteTokens', column: 'cache_write_tokens', kind: 'uint', absent: 0 },
  { field: 'reasoningTokens', column: 'reasoning_tokens', kind: 'uint', absent: 0 },
  // the upstream's id of a Responses API object created natively (migration 0013): which channel
  // stored it and whose it is, for GET/DELETE /v1/responses/{id} (gateway/stored-responses.ts)
  { field: 'responseId', column: 'response_id', kind: 'string-or-null', absent: null },
] as const satisfies readonly UsageColumn[];

type Column = (typeof USAGE_COLUMNS)[number];

/** One usage record as the gateway produces it (see USAGE_COLUMNS). */
export type UsageRecordInsert = { -readonly [C in Column as C['field']]: KindTypes[C['kind']] };

/** The same record as a row of `usage_records` (without `id`). */
export type UsageRecordRow = { -readonly [C in Column as C['column']]: KindTypes[C['kind']] };

/** A stored usage record. */
export interface UsageRecord extends UsageRecordInsert {
  id: number;
}

/** Column names in table order, for generated statements. */
export const USAGE_COLUMN_NAMES: readonly string[] = USAGE_COLUMNS.map((c) => c.column);
/** Record fields in table order. */
export const USAGE_FIELDS: readonly string[] = USAGE_COLUMNS.map((c) => c.field);

/** The record as a row. */
export function usageRow(r: UsageRecordInsert): UsageRecordRow {
  const from = r as unknown as Record<string, unknown>;
  const row: Record<string, unknown> = {};
  for (let i = 0; i < USAGE_FIELDS.length; i++) row[USAGE_COLUMN_NAMES[i]] = from[USAGE_FIELDS[i]];
  return row as UsageRecordRow;
}

/** A row (or an admin view of one, whose extra keys are ignored) as a record. */
export function usageRecordFromRow(row: UsageRecordRow & { id: number }): UsageRecord {
  const from = row as unknown as Record<string, unknown>;
  const r: Record<string, unknown> = { id: row.id };
  for (let i = 0; i < USAGE_FIELDS.length; i++) r[USAGE_FIELDS[i]] = from[USAGE_COLUMN_NAMES[i]];
  return r as unknown as UsageRecord;
}

/** The record's values in column order, into `out` (reused per batch by the SQLite insert). */
export function usageValues(r: UsageRecordInsert, out: unknown[]): unknown[] {
  const from = r as unknown as Record<string, unknown>;
  for (let i = 0; i < USAGE_FIELDS.length; i++) out[i] = from[USAGE_FIELDS[i]];
  return out;
}
