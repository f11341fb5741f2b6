/**
 * Which filter applies to a request: the rules of every scope it falls in (all
 * requests, its channel, its model, its client key), compiled into one
 * TextFilter per distinct rule set and kept. Built whole from the store and
 * swapped on change, like the route table. With no rules anywhere, `filterFor`
 * is one boolean test and the answer's bytes are never touched.
 */
import { TextFilter } from './text-filter.ts';
import { textRule, type FilterRuleSpec } from './filter-rules.ts';

export class FilterBook {
  readonly #global: readonly FilterRuleSpec[];
  readonly #byChannel = new Map<number, FilterRuleSpec[]>();
  readonly #byModel = new Map<string, FilterRuleSpec[]>();
  readonly #byKey = new Map<number, FilterRuleSpec[]>();
  /** Compiled filters by the ids of their rules. */
  readonly #compiled = new Map<string, TextFilter>();
  readonly #empty: boolean;
  readonly #globalOnly: TextFilter | null;
  readonly size: number;

  constructor(specs: readonly FilterRuleSpec[]) {
    const global: FilterRuleSpec[] = [];
    for (const spec of specs) {
      if (spec.scope === 'global') global.push(spec);
      else if (spec.scope === 'channel') push(this.#byChannel, Number(spec.subject), spec);
      else if (spec.scope === 'model') push(this.#byModel, spec.subject, spec);
      else push(this.#byKey, Number(spec.subject), spec);
    }
    this.#global = global;
    this.size = specs.length;
    this.#empty = specs.length === 0;
    const scopedOnlyGlobal = this.#byChannel.size === 0 && this.#byModel.size === 0 && this.#byKey.size === 0;
    this.#globalOnly = scopedOnlyGlobal && global.length > 0 ? compile(global) : null;
  }

  /**
   * Whether any rule may apply to a request for `model` with `keyId`, on
   * whichever channel serves it (the response cache neither serves nor stores
   * such requests: a filter may rewrite or refuse the answer, and a rule added
   * later must apply to every answer).
   */
  mayFilter(model: string, keyId: number): boolean {
    return !this.#empty && (this.#global.length > 0 || this.#byChannel.size > 0 || this.#byModel.has(model) || this.#byKey.has(keyId));
  }

  /** The filter for a request on this channel, model and key; null when no rule applies. */
  filterFor(channelId: number, model: string, keyId: number): TextFilter | null {
    if (this.#empty) return null;
    if (this.#globalOnly !== null) return this.#globalOnly;
    const channel = this.#byChannel.get(channelId);
    const byModel = this.#byModel.get(model);
    const byKey = this.#byKey.get(keyId);
    if (channel === undefined && byModel === undefined && byKey === undefined) return this.#global.length === 0 ? null : this.#compiledFor(this.#global);
    return this.#compiledFor([...this.#global, ...(channel ?? []), ...(byModel ?? []), ...(byKey ?? [])]);
  }

  #compiledFor(specs: readonly FilterRuleSpec[]): TextFilter {
    const id = specs.map((s) => s.id).join(',');
    let filter = this.#compiled.get(id);
    if (filter === undefined) this.#compiled.set(id, (filter = compile(specs)));
    return filter;
  }
}

function compile(specs: readonly FilterRuleSpec[]): TextFilter {
  const rules = specs.filter((s) => s.kind !== 'strip_thinking').map(textRule);
  return new TextFilter(rules, specs.some((s) => s.kind === 'strip_thinking'));
}

function push<K>(map: Map<K, FilterRuleSpec[]>, key: K, spec: FilterRuleSpec): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [spec]);
  else list.push(spec);
}
