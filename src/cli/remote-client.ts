/**
 * A small client of a remote Tollgate's admin API (/admin/*), for the CLI's
 * remote mode. Refusals that the local store would also raise (400 bad input,
 * 404 unknown id, 409 conflict) come back as the same `StoreInputError`, so
 * the commands behave the same in both modes; anything else (token refused,
 * server unreachable, 5xx) is a `RemoteApiError`.
 */
import { request } from 'undici';
import { StoreInputError } from '../store/store.ts';

/** The remote Tollgate could not be used: unreachable, token refused, or a server error. */
export class RemoteApiError extends Error {
  /** HTTP status; 0 when the server was not reached. */
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = 'RemoteApiError';
    this.status = status;
  }
}

/** Query values; undefined ones are left out. */
export type Query = Record<string, string | number | boolean | undefined>;

const TIMEOUT_MS = 30_000;

/** Calls the admin API of one Tollgate with its admin token. */
export class AdminClient {
  readonly #base: string;
  readonly #authorization: string;

  /** `baseUrl`: `http://host:port` (a trailing slash or `/admin` is tolerated). */
  constructor(baseUrl: string, adminToken: string) {
    this.#base = baseUrl.replace(/\/+$/, '').replace(/\/admin$/, '');
    this.#authorization = `Bearer ${adminToken}`;
  }

  /** `method path` with an optional JSON body; resolves to the parsed JSON reply. */
  async call<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, opts: { query?: Query; body?: unknown } = {}): Promise<T> {
    const url = new URL(`${this.#base}${path}`);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { authorization: this.#authorization, accept: 'application/json' };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    let res;
    try {
      res = await request(url, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        headersTimeout: TIMEOUT_MS,
        bodyTimeout: TIMEOUT_MS,
      });
    } catch (err) {
      throw new RemoteApiError(0, `cannot reach ${this.#base}: ${(err as Error).message}`);
    }
    const text = await res.body.text();
    let json: any;
    try {
      json = text === '' ? null : JSON.parse(text);
    } catch {
      throw new RemoteApiError(res.statusCode, `${method} ${url.pathname}: HTTP ${res.statusCode} with a body that is not JSON (is ${this.#base} a Tollgate?)`);
    }
    if (res.statusCode >= 200 && res.statusCode < 300) return json as T;
    const message: string = json?.error?.message ?? `HTTP ${res.statusCode}`;
    switch (res.statusCode) {
      case 400: throw new StoreInputError('invalid', message);
      case 404: throw new StoreInputError('not_found', message);
      case 409: throw new StoreInputError('conflict', message);
      case 401:
      case 403: throw new RemoteApiError(res.statusCode, `admin API refused (${res.statusCode}): ${message}`);
      default: throw new RemoteApiError(res.statusCode, `${method} ${url.pathname} failed (${res.statusCode}): ${message}`);
    }
  }
}
