/**
 * Typed errors of the store: bad input from a caller (a malformed cursor, an
 * unknown id, a name that is already taken) is a `StoreInputError` that the
 * admin API and CLI turn into a 4xx or a clear message; anything else that a
 * query throws is a real failure and propagates as is.
 */

/** Why the store refused the input. */
export type StoreInputCode = 'invalid' | 'not_found' | 'conflict';

/** Bad input to a store method; `code` tells which kind. */
export class StoreInputError extends Error {
  readonly code: StoreInputCode;

  constructor(code: StoreInputCode, message: string) {
    super(message);
    this.name = 'StoreInputError';
    this.code = code;
  }
}

/**
 * True when `err` is a unique-constraint violation on either dialect:
 * better-sqlite3 sets `code` to SQLITE_CONSTRAINT_UNIQUE (or _PRIMARYKEY),
 * pg sets the SQLSTATE 23505.
 */
export function isUniqueViolation(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** True when `err` is a foreign-key violation on either dialect. */
export function isForeignKeyViolation(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  return code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}
