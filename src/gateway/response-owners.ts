/**
 * Who owns a stored Responses API object: the user, key and channel of the
 * native POST /v1/responses that created it. The durable answer is the usage
 * record, which carries the upstream's response id (store/usage-columns.ts) and
 * is written in batches off the request path, so it holds across restarts and
 * nodes. Until its batch is written (metering.flushIntervalMs) this node
 * remembers its own recent ids, so a client polling at once finds its response.
 */
import type { ResponseOwner } from '../store/usage-repo.ts';

export type { ResponseOwner } from '../store/usage-repo.ts';
export type ResponseOwnerLookup = (responseId: string) => Promise<ResponseOwner | undefined>;

/** Recent ids kept in memory; older ones are read from the store. */
const MAX_RECENT = 10_000;

export class ResponseOwners {
  readonly #lookup: ResponseOwnerLookup;
  readonly #recent = new Map<string, ResponseOwner>();

  constructor(lookup: ResponseOwnerLookup) {
    this.#lookup = lookup;
  }

  /** A response just created by a request of this node: O(1), no store access. */
  remember(responseId: string, owner: ResponseOwner): void {
    if (this.#recent.size >= MAX_RECENT) this.#recent.delete(this.#recent.keys().next().value!);
    this.#recent.set(responseId, owner);
  }

  /** The owner of `responseId`, undefined when no request through the gateway created it; throws when the store fails. */
  async find(responseId: string): Promise<ResponseOwner | undefined> {
    const recent = this.#recent.get(responseId);
    if (recent !== undefined) return recent;
    const owner = await this.#lookup(responseId);
    if (owner !== undefined) this.remember(responseId, owner);
    return owner;
  }
}
