/**
 * The main thread's side of one worker's gate: runs the worker's operations
 * in the order they were sent against the one LocalGate (so every limit and
 * balance has a single holder and stays exact whatever worker a request
 * landed on), hands its usage records to the one writer, and answers the
 * verdicts of one turn in one message.
 */
import type { LocalGate, GateVerdict, Grant } from '../gateway/admission-gate.ts';
import type { UsageQueue } from '../gateway/gateway.ts';
import type { Op, WireVerdict } from './owner-protocol.ts';

export class GateOwnerSession {
  readonly #gate: LocalGate;
  readonly #writer: UsageQueue;
  readonly #post: (verdicts: [number, WireVerdict][]) => void;
  /** Admitted and not yet settled, by the worker's admission id. */
  readonly #grants = new Map<number, Grant>();
  #out: [number, WireVerdict][] = [];
  #scheduled = false;
  /** The worker is gone (releaseAll ran): a verdict still pending is given back at once. */
  #released = false;

  constructor(gate: LocalGate, writer: UsageQueue, post: (verdicts: [number, WireVerdict][]) => void) {
    this.#gate = gate;
    this.#writer = writer;
    this.#post = post;
  }

  /** Admissions not yet settled (for shutdown logs and tests). */
  get open(): number {
    return this.#grants.size;
  }

  run(ops: readonly Op[]): void {
    for (const op of ops) {
      switch (op.op) {
        case 'admit': {
          const v = this.#gate.admit(op.req);
          if (v instanceof Promise) v.then((r) => this.#answer(op.id, r));
          else this.#answer(op.id, v);
          break;
        }
        case 'settle': {
          const grant = this.#grants.get(op.id);
          if (grant === undefined) break;
          this.#grants.delete(op.id);
          this.#gate.settle(grant, op.tokens, op.costMicros);
          break;
        }
        case 'record':
          this.#writer.enqueue(op.record);
          break;
      }
    }
  }

  #answer(id: number, v: GateVerdict): void {
    if (this.#released) {
      if (v.kind === 'admitted') this.#gate.settle(v.grant, 0, 0);
      return;
    }
    if (v.kind === 'admitted') {
      this.#grants.set(id, v.grant);
      this.#out.push([id, { kind: 'admitted', reservedMicros: v.grant.reservedMicros, state: v.state }]);
    } else this.#out.push([id, v]);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      const out = this.#out;
      this.#out = [];
      this.#post(out);
    });
  }

  /**
   * The worker is gone: give back every hold it still had (no cost is known
   * for them), and any admission still being judged once it is. Each hold is
   * released once: a second call finds nothing left.
   */
  releaseAll(): void {
    this.#released = true;
    for (const grant of this.#grants.values()) this.#gate.settle(grant, 0, 0);
    this.#grants.clear();
  }
}
