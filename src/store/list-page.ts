/**
 * Keyset pages of the small admin lists (users, client keys): ordered by id,
 * resumed after the last id of the previous page, optionally narrowed by a
 * case-insensitive substring. Keyset rather than offset so a page does not
 * shift when rows are added meanwhile.
 */
import { sql, type Expression, type SqlBool } from 'kysely';

/** What a caller asks for; every field optional. */
export interface PageQuery {
  /** Case-insensitive substring to look for (see each repo for which columns). */
  search?: string;
  /** Resume after this id (in the chosen order). */
  after?: number;
  /** At most this many rows; absent: all of them. */
  limit?: number;
  /** 'asc' (oldest first, the default) or 'desc' (newest first). */
  order?: 'asc' | 'desc';
}

/** One page and whether more rows follow it. */
export interface Page<T> {
  items: T[];
  hasMore: boolean;
}

/**
 * `lower(column) LIKE '%text%'` with the LIKE wildcards in `text` escaped.
 * lower() on both sides: Postgres LIKE is case-sensitive, SQLite's is not
 * (both lower ASCII only, which is what names and prefixes are made of).
 */
export function contains(column: Expression<string>, text: string): Expression<SqlBool> {
  const pattern = `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return sql<SqlBool>`lower(${column}) like ${pattern} escape '\\'`;
}

/** Splits `rows` fetched with `limit + 1` into the page and whether more follow. */
export function toPage<T>(rows: T[], limit: number | undefined): Page<T> {
  if (limit === undefined || rows.length <= limit) return { items: rows, hasMore: false };
  return { items: rows.slice(0, limit), hasMore: true };
}
