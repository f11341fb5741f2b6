/**
 * Services, caller rules and per-call records of service routes. Every
 * mutation of services or rules appends a 'services' change event in the same
 * transaction, so running nodes reload their service table.
 */
import type { Kysely, Selectable } from 'kysely';
import { appendChange } from './change-feed.ts';
import { StoreInputError, isUniqueViolation } from './errors.ts';
import type { Database, Dialect } from './schema.ts';
import type { ServiceCallsTable, ServiceRulesTable, ServicesTable, ServiceTables } from './service-schema.ts';
import type { SqliteCallBatch } from './sqlite-call-batch.ts';

/** One upstream base URL of a service and its share of calls. */
export interface ServiceTarget { url: string; weight: number }

/** A stored service. */
export interface Service { id: number; name: string; targets: ServiceTarget[]; timeoutMs: number; remote: boolean; createdAt: number }
export type ServiceInput = Omit<Service, 'id' | 'createdAt'>;

/** A stored rule: which caller may call which paths and methods of a service, with its limits. */
export interface ServiceRule {
  id: number;
  service: string;
  userId: number;
  /** A prefix ('/v1/') or a glob ('/items/*', '/files/**'). */
  path: string;
  /** Upper-case methods, or ['*']. */
  methods: string[];
  rpm: number | null;
  concurrency: number | null;
  timeoutMs: number | null;
  createdAt: number;
}
export type ServiceRuleInput = Omit<ServiceRule, 'id' | 'createdAt'>;

/** One relayed call, as the batched writer stores it. */
export type ServiceCall = Omit<Selectable<ServiceCallsTable>, 'id'>;

/** A service's calls over a time range (dashboard). */
export interface ServiceTraffic {
  service: string;
  requests: number;
  /** Answered 5xx (service failed, unreachable, timed out, gateway error). */
  errors: number;
  /** Refused 4xx (key, privilege, limits, deadline already passed). */
  refused: number;
  latencyP50Ms: number;
  bytesIn: number;
  bytesOut: number;
}

const NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const CHANGE_KIND = 'services';

function toService(r: Selectable<ServicesTable>): Service {
  return { id: r.id, name: r.name, targets: JSON.parse(r.targets) as ServiceTarget[], timeoutMs: r.timeout_ms, remote: r.remote === 1, createdAt: r.created_at };
}

function toRule(r: Selectable<ServiceRulesTable>): ServiceRule {
  return { id: r.id, service: r.service, userId: r.user_id, path: r.path, methods: r.methods.split(','), rpm: r.rpm, concurrency: r.concurrency, timeoutMs: r.timeout_ms, createdAt: r.created_at };
}

function checkService(s: ServiceInput): void {
  if (!NAME.test(s.name)) throw new StoreInputError('invalid', 'service name must be 1-63 of a-z, 0-9, _, ., - (starting with a letter or digit)');
  if (!s.remote && s.targets.length === 0) throw new StoreInputError('invalid', 'a local service needs at least one target URL');
  for (const t of s.targets) {
    let u: URL;
    try { u = new URL(t.url); } catch { throw new StoreInputError('invalid', `target "${t.url}" is not a URL`); }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new StoreInputError('invalid', `target "${t.url}" must be http(s)`);
    if (!Number.isInteger(t.weight) || t.weight < 1) throw new StoreInputError('invalid', 'target weight must be a positive integer');
  }
  if (!Number.isInteger(s.timeoutMs) || s.timeoutMs < 1) throw new StoreInputError('invalid', 'timeout must be a positive integer (ms)');
}

function checkRule(r: ServiceRuleInput): void {
  if (!r.path.startsWith('/')) throw new StoreInputError('invalid', 'a path rule starts with "/"');
  if (r.methods.length === 0 || r.methods.some((m) => !/^([A-Z]{1,16}|\*)$/.test(m))) throw new StoreInputError('invalid', 'methods must be upper-case HTTP methods or *');
  for (const [name, v] of [['rpm', r.rpm], ['concurrency', r.concurrency], ['timeout', r.timeoutMs]] as const) {
    if (v !== null && (!Number.isSafeInteger(v) || v < 0)) throw new StoreInputError('invalid', `${name} must be a non-negative integer or null`);
  }
}

export class ServiceRepo {
  readonly #db: Kysely<Database & ServiceTables>;
  readonly #dialect: Dialect;
  readonly #sqliteCalls: SqliteCallBatch | null;

  /** `sqliteCalls`: the prepared-statement path for call records, on SQLite. */
  constructor(db: Kysely<Database>, dialect: Dialect, sqliteCalls: SqliteCallBatch | null = null) {
    this.#db = db.withTables<ServiceTables>();
    this.#dialect = dialect;
    this.#sqliteCalls = sqliteCalls;
  }

  /** Creates or replaces a service by name. */
  async put(input: ServiceInput): Promise<Service> {
    checkService(input);
    return this.#db.transaction().execute(async (trx) => {
      const row = await trx.insertInto('services')
        .values({ name: input.name, targets: JSON.stringify(input.targets), timeout_ms: input.timeoutMs, remote: input.remote ? 1 : 0, created_at: Date.now() })
        .onConflict((oc) => oc.column('name').doUpdateSet((eb) => ({ targets: eb.ref('excluded.targets'), timeout_ms: eb.ref('excluded.timeout_ms'), remote: eb.ref('excluded.remote') })))
        .returningAll().executeTakeFirstOrThrow();
      await appendChange(trx as unknown as Kysely<Database>, this.#dialect, CHANGE_KIND, input.name);
      return toService(row);
    });
  }

  /** Removes a service and its rules; false when there was none. */
  remove(name: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const res = await trx.deleteFrom('services').where('name', '=', name).executeTakeFirst();
      if (res.numDeletedRows === 0n) return false;
      await trx.deleteFrom('service_rules').where('service', '=', name).execute();
      await appendChange(trx as unknown as Kysely<Database>, this.#dialect, CHANGE_KIND, name);
      return true;
    });
  }

  async list(): Promise<Service[]> {
    return (await this.#db.selectFrom('services').selectAll().orderBy('name').execute()).map(toService);
  }

  /** Creates or replaces the rule of (service, user, path); unknown service is `not_found`. */
  async allow(input: ServiceRuleInput): Promise<ServiceRule> {
    checkRule(input);
    return this.#db.transaction().execute(async (trx) => {
      const svc = await trx.selectFrom('services').select('id').where('name', '=', input.service).executeTakeFirst();
      if (svc === undefined) throw new StoreInputError('not_found', `no service "${input.service}"`);
      try {
        const row = await trx.insertInto('service_rules')
          .values({ service: input.service, user_id: input.userId, path: input.path, methods: input.methods.join(','), rpm: input.rpm, concurrency: input.concurrency, timeout_ms: input.timeoutMs, created_at: Date.now() })
          .onConflict((oc) => oc.columns(['service', 'user_id', 'path']).doUpdateSet((eb) => ({
            methods: eb.ref('excluded.methods'), rpm: eb.ref('excluded.rpm'), concurrency: eb.ref('excluded.concurrency'), timeout_ms: eb.ref('excluded.timeout_ms'),
          })))
          .returningAll().executeTakeFirstOrThrow();
        await appendChange(trx as unknown as Kysely<Database>, this.#dialect, CHANGE_KIND, input.service);
        return toRule(row);
      } catch (err) {
        if (isUniqueViolation(err)) throw new StoreInputError('conflict', 'rule exists');
        throw err;
      }
    });
  }

  /** Removes rules of (service, user), one path or all; returns how many. */
  deny(service: string, userId: number, path: string | null): Promise<number> {
    return this.#db.transaction().execute(async (trx) => {
      let q = trx.deleteFrom('service_rules').where('service', '=', service).where('user_id', '=', userId);
      if (path !== null) q = q.where('path', '=', path);
      const n = Number((await q.executeTakeFirst()).numDeletedRows);
      if (n > 0) await appendChange(trx as unknown as Kysely<Database>, this.#dialect, CHANGE_KIND, service);
      return n;
    });
  }

  /** Removes one rule by id; false when there was none. */
  removeRule(id: number): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const row = await trx.deleteFrom('service_rules').where('id', '=', id).returning('service').executeTakeFirst();
      if (row === undefined) return false;
      await appendChange(trx as unknown as Kysely<Database>, this.#dialect, CHANGE_KIND, row.service);
      return true;
    });
  }

  async rules(service?: string): Promise<ServiceRule[]> {
    let q = this.#db.selectFrom('service_rules').selectAll();
    if (service !== undefined) q = q.where('service', '=', service);
    return (await q.orderBy('service').orderBy('user_id').orderBy('id').execute()).map(toRule);
  }

  /** Appends a batch of call records in one statement. */
  async insertCalls(calls: readonly ServiceCall[]): Promise<void> {
    if (calls.length === 0) return;
    if (this.#sqliteCalls?.usable) return this.#sqliteCalls.insert(calls);
    await this.#db.insertInto('service_calls').values(calls as ServiceCall[]).execute();
  }

  /**
   * Per service, the calls with `from` ≤ ts < `to` (epoch ms): counts, bytes
   * and the median latency (one indexed lookup per service: SQLite has no
   * percentile function). Busiest service first.
   */
  async traffic(from: number, to: number): Promise<ServiceTraffic[]> {
    const rows = await this.#db.selectFrom('service_calls')
      .where('ts', '>=', from).where('ts', '<', to)
      .select((eb) => [
        'service',
        eb.fn.countAll<number | string>().as('requests'),
        eb.fn.sum<number | string | null>(eb.case().when('status', '>=', 500).then(1).else(0).end()).as('errors'),
        eb.fn.sum<number | string | null>(eb.case().when(eb.and([eb('status', '>=', 400), eb('status', '<', 500)])).then(1).else(0).end()).as('refused'),
        eb.fn.sum<number | string | null>('bytes_in').as('bytes_in'),
        eb.fn.sum<number | string | null>('bytes_out').as('bytes_out'),
      ])
      .groupBy('service').execute();
    const out: ServiceTraffic[] = [];
    for (const r of rows) {
      const requests = Number(r.requests);
      const median = await this.#db.selectFrom('service_calls').select('latency_ms')
        .where('service', '=', r.service).where('ts', '>=', from).where('ts', '<', to)
        .orderBy('latency_ms').limit(1).offset(Math.floor((requests - 1) / 2)).executeTakeFirst();
      out.push({
        service: r.service, requests, errors: Number(r.errors ?? 0), refused: Number(r.refused ?? 0),
        latencyP50Ms: median?.latency_ms ?? 0, bytesIn: Number(r.bytes_in ?? 0), bytesOut: Number(r.bytes_out ?? 0),
      });
    }
    return out.sort((a, b) => b.requests - a.requests || a.service.localeCompare(b.service));
  }

  /** Newest calls first (admin view). */
  calls(service: string | null, limit: number): Promise<Selectable<ServiceCallsTable>[]> {
    let q = this.#db.selectFrom('service_calls').selectAll();
    if (service !== null) q = q.where('service', '=', service);
    return q.orderBy('id', 'desc').limit(limit).execute();
  }
}
