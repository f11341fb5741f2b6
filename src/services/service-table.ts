/**
 * The service table: every service with its targets and, per caller, its
 * compiled rules and their limit policies. Built whole from the store and
 * swapped whole when a 'services' change event arrives; the hot path only
 * reads it.
 *
 * Limits: each rule belongs to one (caller, service, path rule), so a rule's
 * policy is fixed at load. It uses the limiter's 'key' scope with the subject
 * `svc:<ruleId>` — client key ids are plain numbers, so the subjects cannot
 * meet — and RPM and concurrency are judged together in one admission.
 *
 * Target health (cooldowns after a failed attempt) lives in a HealthBook
 * outside the table, keyed by service and URL, so a reload keeps it.
 */
import { HealthBook, type HealthState } from '../routing/channel-health.ts';
import type { AdmissionRequest, LimitPolicy } from '../limiter/limiter.ts';
import type { Service, ServiceRule } from '../store/store.ts';
import type { CounterChild, HistogramChild } from '../observability/fast-metric.ts';
import { compilePathRule, type PathMatcher } from './path-rule.ts';

const NO_POLICIES: readonly LimitPolicy[] = Object.freeze([]);

/** One rule, ready for the hot path. */
export class CompiledRule {
  readonly id: number;
  readonly path: PathMatcher;
  /** null: any method. */
  readonly methods: ReadonlySet<string> | null;
  /** The rule's timeout, else the service's. */
  readonly timeoutMs: number;
  readonly policies: readonly LimitPolicy[];
  /** The limiter request of every call under this rule, built once. */
  readonly admission: AdmissionRequest;

  constructor(rule: ServiceRule, serviceTimeoutMs: number) {
    this.id = rule.id;
    this.path = compilePathRule(rule.path);
    this.methods = rule.methods.includes('*') ? null : new Set(rule.methods);
    this.timeoutMs = rule.timeoutMs ?? serviceTimeoutMs;
    this.policies = rule.rpm === null && rule.concurrency === null
      ? NO_POLICIES
      : Object.freeze([{ scope: 'key', subject: `svc:${rule.id}`, rpm: rule.rpm, tpm: null, concurrency: rule.concurrency }]);
    this.admission = { policies: this.policies, tokens: 0 };
  }
}

/** An upstream base URL split the way undici's dispatch wants it. */
export class Target {
  readonly url: string;
  readonly origin: string;
  /** Path prefix of the base URL, without a trailing '/'. */
  readonly basePath: string;
  readonly weight: number;
  readonly health: HealthState;
  current = 0;

  constructor(url: string, weight: number, health: HealthState) {
    const u = new URL(url);
    this.url = url;
    this.origin = u.origin;
    this.basePath = u.pathname.endsWith('/') ? u.pathname.slice(0, -1) : u.pathname;
    this.weight = weight;
    this.health = health;
  }
}

/** One service: targets, rules by caller, and its metric children. */
export class ServiceEntry {
  readonly name: string;
  readonly remote: boolean;
  readonly timeoutMs: number;
  readonly targets: readonly Target[];
  readonly #book: HealthBook;
  readonly #rules = new Map<number, CompiledRule[]>();
  /** Metric children by status, filled on first use (see ServiceMetrics). */
  readonly requestsByStatus = new Map<number, CounterChild>();
  latency: HistogramChild | null = null;

  constructor(service: Service, rules: readonly ServiceRule[], book: HealthBook) {
    this.name = service.name;
    this.remote = service.remote;
    this.timeoutMs = service.timeoutMs;
    this.targets = service.targets.map((t) => new Target(t.url, t.weight, book.stateFor(`${service.name} ${t.url}`)));
    this.#book = book;
    for (const r of rules) {
      let list = this.#rules.get(r.userId);
      if (list === undefined) this.#rules.set(r.userId, (list = []));
      list.push(new CompiledRule(r, service.timeoutMs));
    }
    for (const list of this.#rules.values()) list.sort((a, b) => b.path.specificity - a.path.specificity);
  }

  /** The most specific rule letting `userId` call `method path`, or null (403). */
  match(userId: number, method: string, path: string): CompiledRule | null {
    const list = this.#rules.get(userId);
    if (list === undefined) return null;
    for (let i = 0; i < list.length; i++) {
      const r = list[i];
      if ((r.methods === null || r.methods.has(method)) && r.path.matches(path)) return r;
    }
    return null;
  }

  /**
   * Smooth weighted round robin (as nginx) over the targets not cooling down:
   * spreads picks evenly in proportion to weight. When every target cools
   * down, all of them take part (a call is still tried somewhere).
   */
  pick(now: number): Target {
    const targets = this.targets;
    if (targets.length === 1) return targets[0];
    let live = 0;
    for (let i = 0; i < targets.length; i++) if (targets[i].health.cooldownUntil <= now) live++;
    let best: Target | null = null;
    let total = 0;
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i];
      if (live > 0 && t.health.cooldownUntil > now) continue;
      t.current += t.weight;
      total += t.weight;
      if (best === null || t.current > best.current) best = t;
    }
    best!.current -= total;
    return best!;
  }

  /** A failed attempt on `target`: it cools down (capped exponential). */
  failed(target: Target, now: number): void {
    this.#book.fail(target.health, now);
  }

  /** An answer from `target`: its cooldown, if any, is over. */
  answered(target: Target): void {
    this.#book.succeed(target.health);
  }
}

/** Every service by name. */
export class ServiceTable {
  readonly #byName = new Map<string, ServiceEntry>();

  constructor(services: readonly Service[], rules: readonly ServiceRule[], book: HealthBook) {
    for (const s of services) this.#byName.set(s.name, new ServiceEntry(s, rules.filter((r) => r.service === s.name), book));
  }

  get(name: string): ServiceEntry | undefined {
    return this.#byName.get(name);
  }

  get size(): number {
    return this.#byName.size;
  }
}
