/**
 * Request/reply over a worker port for everything off the hot path (change
 * feed, metrics, balances): each ask carries an id, its reply the same id.
 * `Mine` are the asks this side makes, `Theirs` the asks it answers.
 */
import type { AskMessage, ReplyMessage } from './owner-protocol.ts';

type Reply<A, K extends keyof A> = A[K] extends { reply: infer R } ? R : never;
type Body<A, K extends keyof A> = A[K] extends { ask: infer Q } ? Q : never;
export type AskHandlers<A> = { [K in keyof A]: (body: Body<A, K>) => Promise<Reply<A, K>> };

export class PortRpc<Mine, Theirs> {
  readonly #post: (msg: AskMessage<Mine> | ReplyMessage) => void;
  readonly #handlers: AskHandlers<Theirs>;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  #nextId = 1;

  constructor(post: (msg: AskMessage<Mine> | ReplyMessage) => void, handlers: AskHandlers<Theirs>) {
    this.#post = post;
    this.#handlers = handlers;
  }

  ask<K extends keyof Mine & string>(kind: K, body: Body<Mine, K>): Promise<Reply<Mine, K>> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#post({ t: 'ask', id, kind, body } as unknown as AskMessage<Mine>);
    });
  }

  /** Handles an ask or a reply; false for any other message. */
  receive(msg: { t: string }): boolean {
    if (msg.t === 'reply') {
      const r = msg as ReplyMessage;
      const pending = this.#pending.get(r.id);
      this.#pending.delete(r.id);
      if (r.error !== undefined) pending?.reject(new Error(r.error));
      else pending?.resolve(r.body);
      return true;
    }
    if (msg.t !== 'ask') return false;
    const a = msg as unknown as { id: number; kind: keyof Theirs; body: never };
    this.#handlers[a.kind](a.body).then(
      (body) => this.#post({ t: 'reply', id: a.id, body }),
      (err: unknown) => this.#post({ t: 'reply', id: a.id, body: null, error: err instanceof Error ? err.message : String(err) }),
    );
    return true;
  }

  /** Fails every ask still waiting (the other side is gone). */
  abandon(reason: string): void {
    for (const p of this.#pending.values()) p.reject(new Error(reason));
    this.#pending.clear();
  }
}
