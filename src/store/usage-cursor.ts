/**
 * The opaque pagination cursor of the usage log: base64url of `${ts}:${id}`,
 * the sort key of the last record of a page (pages run newest first).
 */
import { StoreInputError } from './errors.ts';

/** Position in the (ts, id) descending order. */
export interface UsageCursor {
  ts: number;
  id: number;
}

const SHAPE = /^(\d{1,16}):(\d{1,16})$/;

/** The cursor that resumes after the record (ts, id). */
export function encodeUsageCursor(ts: number, id: number): string {
  return Buffer.from(`${ts}:${id}`, 'latin1').toString('base64url');
}

/** Decodes a cursor from a client; anything malformed is a `StoreInputError('invalid')`. */
export function decodeUsageCursor(cursor: string): UsageCursor {
  // Buffer's base64url decoder skips characters outside the alphabet, so check
  // the alphabet first or junk could decode to something plausible.
  if (cursor.length === 0 || cursor.length > 48 || !/^[A-Za-z0-9_-]+$/.test(cursor)) {
    throw new StoreInputError('invalid', 'malformed cursor');
  }
  const m = SHAPE.exec(Buffer.from(cursor, 'base64url').toString('latin1'));
  if (!m) throw new StoreInputError('invalid', 'malformed cursor');
  const ts = Number(m[1]);
  const id = Number(m[2]);
  if (!Number.isSafeInteger(ts) || !Number.isSafeInteger(id)) throw new StoreInputError('invalid', 'malformed cursor');
  return { ts, id };
}
