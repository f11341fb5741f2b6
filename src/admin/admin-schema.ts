/**
 * What every admin route shares: the route descriptor (one object drives the
 * Fastify route, its validation and its OpenAPI entry), JSON-schema building
 * blocks, the strict validators, and the mapping of bad input to OpenAI-shaped
 * 400/404/409 errors that name the field.
 */
import { Ajv, type ErrorObject } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';
import type { Logger } from 'pino';
import { Errors, type ErrorSpec } from '../errors.ts';
import type { Gateway } from '../gateway/gateway.ts';
import type { Store } from '../store/store.ts';
import type { ChangeSync } from '../sync/change-sync.ts';

/** A JSON Schema (draft 2020-12 subset that Ajv and OpenAPI 3.1 both read). */
export type JsonSchema = Record<string, unknown>;

/** Admin-only error kinds; the client-facing catalog lives in src/errors.ts. */
export const AdminErrors = {
  notFound: { status: 404, type: 'invalid_request_error', code: 'not_found', message: 'No such object.' },
  conflict: { status: 409, type: 'invalid_request_error', code: 'conflict', message: 'The request conflicts with the current state.' },
  invalid: Errors.invalidBody,
  badQuery: Errors.badQuery,
} as const satisfies Record<string, ErrorSpec>;

/** A refusal raised by a handler; the admin error handler renders it. */
export class AdminError extends Error {
  readonly spec: ErrorSpec;
  readonly param: string | null;

  constructor(spec: ErrorSpec, message: string, param: string | null = null) {
    super(message);
    this.spec = spec;
    this.param = param;
  }
}

/** Shorthands for the refusals handlers raise most. */
export const notFound = (what: string, id: number | string, param: string | null = 'id') =>
  new AdminError(AdminErrors.notFound, param === null || param === 'id' ? `No ${what} with id ${id}.` : `Unknown '${param}': no ${what} with id ${id}.`, param);
export const badInput = (param: string, message: string) => new AdminError(AdminErrors.invalid, message, param);

/** Everything a handler may use, built once per server. */
export interface AdminContext {
  readonly gw: Gateway;
  readonly store: Store;
  readonly logger: Logger;
  /** Applies this server's own mutation now, so the next request sees it (see admin-routes.ts). */
  applied(): Promise<void>;
}

/** The validated parts of a request (already coerced and defaulted by the schemas). */
export interface AdminInput {
  params: Record<string, any>;
  query: Record<string, any>;
  body: Record<string, any>;
}

/** One admin route: method, path, schemas, documentation and handler in one place. */
export interface AdminRoute {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Full path in Fastify syntax, e.g. `/admin/users/:id`. */
  url: string;
  operationId: string;
  summary: string;
  tag: string;
  params?: JsonSchema;
  querystring?: JsonSchema;
  body?: JsonSchema;
  /** Status of a success. */
  status: 200 | 201;
  /** Schema of the success body (documentation only: replies are serialised with JSON.stringify). */
  response: JsonSchema;
  /** Whether the route can answer 404 for an unknown id (documentation). */
  notFound?: boolean;
  handler(input: AdminInput, ctx: AdminContext): Promise<unknown>;
}

// ---- schema building blocks ----------------------------------------------

/** Integers within the safe range: JSON numbers past 2^53 would silently lose precision. */
export const int = (min = -Number.MAX_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER, description?: string): JsonSchema => ({ type: 'integer', minimum: min, maximum: max, ...(description ? { description } : {}) });
/** A signed amount of micro-credits. */
export const micros = (description: string): JsonSchema => int(-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, `${description} (micro-credits, 1 credit = 1,000,000)`);
/** An integer limit, or null for none. */
export const nullableInt = (min: number, description: string): JsonSchema => ({ type: ['integer', 'null'], minimum: min, maximum: Number.MAX_SAFE_INTEGER, description });
/** A non-empty string. */
export const str = (maxLength = 200, description?: string): JsonSchema => ({ type: 'string', minLength: 1, maxLength, ...(description ? { description } : {}) });
/** A boolean. */
export const bool = (description?: string): JsonSchema => ({ type: 'boolean', ...(description ? { description } : {}) });
/** A reference to a view schema of the OpenAPI document. */
export const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
/** The `{ object: 'list', data }` envelope of lists. */
export const listOf = (item: JsonSchema): JsonSchema => ({
  type: 'object',
  required: ['object', 'data'],
  properties: { object: { const: 'list' }, data: { type: 'array', items: item } },
});

/** A keyset-paginated list: `next_after` (the last id) resumes it, null when `has_more` is false. */
export const pageOf = (item: JsonSchema): JsonSchema => ({
  type: 'object',
  required: ['object', 'data', 'has_more', 'next_after'],
  properties: { object: { const: 'list' }, data: { type: 'array', items: item }, has_more: { type: 'boolean' }, next_after: { type: ['integer', 'null'] } },
});

/** The query fields of a keyset-paginated list; `search` says what it matches. */
export const pageQuery = (search: string): Record<string, JsonSchema> => ({
  search: str(200, `case-insensitive substring of ${search}`),
  limit: int(1, 500, 'page size; absent: the whole list'),
  after: int(1, Number.MAX_SAFE_INTEGER, 'next_after of the previous page'),
  order: { type: 'string', enum: ['asc', 'desc'], default: 'asc', description: 'by id: asc is oldest first' },
});

/** The `pageOf` envelope of a store page. */
export function pageBody<T extends { id: number }, V>(page: { items: T[]; hasMore: boolean }, view: (item: T) => V) {
  return { object: 'list', data: page.items.map(view), has_more: page.hasMore, next_after: page.hasMore ? page.items[page.items.length - 1].id : null };
}

/** A closed object: unknown fields are refused (a typo must not be silently ignored). */
export function object(properties: Record<string, JsonSchema>, required: string[] = [], extra: JsonSchema = {}): JsonSchema {
  return { type: 'object', properties, required, additionalProperties: false, ...extra };
}

/** Path parameter `id` (and more), positive integers. */
export const idParams = (...names: string[]): JsonSchema => object(Object.fromEntries((names.length > 0 ? names : ['id']).map((n) => [n, int(1)])), names.length > 0 ? names : ['id']);

/** Query time bounds: epoch milliseconds or ISO-8601. */
export const timeParam = (description: string): JsonSchema => ({ type: 'string', minLength: 1, maxLength: 40, description: `${description}: epoch milliseconds or ISO-8601` });

/** Parses a time bound validated by `timeParam`; a malformed one is a 400 naming `param`. */
export function parseTime(value: string | undefined, param: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isSafeInteger(ms)) throw new AdminError(AdminErrors.badQuery, `Invalid query parameter: '${param}' must be epoch milliseconds or an ISO-8601 time.`, param);
  return ms;
}

/** Checks `from < to` when both are given. */
export function checkRange(from: number | undefined, to: number | undefined): void {
  if (from !== undefined && to !== undefined && from >= to) throw new AdminError(AdminErrors.badQuery, "Invalid query parameter: 'from' must be before 'to'.", 'from');
}

// ---- validation -----------------------------------------------------------

/**
 * Validators for the admin scope. Bodies are checked strictly (no type
 * coercion, unknown fields refused) rather than with Fastify's lenient
 * defaults, which would turn `"name": 5` into "5" and drop a misspelt field;
 * path and query parameters arrive as strings, so they are coerced.
 */
export function adminValidatorCompiler(): FastifySchemaCompiler<JsonSchema> {
  // allowUnionTypes: a field may take several JSON types (expires_at: epoch ms or a text time).
  const strict = new Ajv({ coerceTypes: false, removeAdditional: false, useDefaults: true, allErrors: false, allowUnionTypes: true });
  const coercing = new Ajv({ coerceTypes: true, removeAdditional: false, useDefaults: true, allErrors: false });
  return ({ schema, httpPart }) => (httpPart === 'body' ? strict : coercing).compile(schema);
}

const WHERE: Record<string, string> = { body: 'request body', querystring: 'query parameter', params: 'path parameter', headers: 'header' };

/** Turns the first Ajv error of a request part into a message and the offending field. */
export function describeValidation(errors: readonly ErrorObject[], part: string): { spec: ErrorSpec; message: string; param: string | null } {
  const spec = part === 'querystring' ? AdminErrors.badQuery : AdminErrors.invalid;
  const where = WHERE[part] ?? part;
  const e = errors[0];
  if (e === undefined) return { spec, message: `Invalid ${where}.`, param: null };
  const base = e.instancePath.split('/').slice(1).join('.');
  const join = (leaf: string) => (base === '' ? leaf : `${base}.${leaf}`);
  if (e.keyword === 'required') {
    const field = join(String(e.params.missingProperty));
    return { spec, message: `Invalid ${where}: missing required field '${field}'.`, param: field };
  }
  if (e.keyword === 'additionalProperties') {
    const field = join(String(e.params.additionalProperty));
    return { spec, message: `Invalid ${where}: unknown field '${field}'.`, param: field };
  }
  const detail = e.keyword === 'enum' ? `must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` : e.message ?? 'is invalid';
  if (base === '') return { spec, message: part === 'body' ? `Invalid request body: the body ${detail}.` : `Invalid ${where}: ${detail}.`, param: null };
  return { spec, message: `Invalid ${where}: '${base}' ${detail}.`, param: base };
}
