/**
 * Keeps a running server in step with the store's change feed: revocations,
 * key rule changes, disabled users, credits, channels, prices, limits and response filters written by another
 * process (the CLI, another node) reach this one within one poll interval.
 * Table reloads are coalesced: one reload per kind per poll, however many
 * events arrived.
 */
import type { Store } from '../store/store.ts';
import type { ChangeEvent } from '../store/change-feed.ts';

export interface ChangeHandlers {
  keyRevoked(keyHash: string): void;
  /** A key's expiry, model or address rules changed. */
  keyChanged(keyHash: string): void;
  userDisabled(userId: number): void;
  balanceChanged(userId: number, delta: number, eventId: number): void;
  reloadChannels(): Promise<void>;
  reloadPrices(): Promise<void>;
  reloadLimits(): Promise<void>;
  /** Spend budgets. */
  reloadBudgets(): Promise<void>;
  reloadFilters(): Promise<void>;
  /** Outbound proxies and their bindings. */
  reloadProxies?(): Promise<void>;
  /** Services and their caller rules (service routes); absent when they are off. */
  reloadServices?(): Promise<void>;
  onError(err: unknown): void;
}

export class ChangeSync {
  readonly #store: Store;
  readonly #handlers: ChangeHandlers;
  readonly #intervalMs: number;
  #lastId = 0;
  #timer: NodeJS.Timeout | null = null;
  #polling: Promise<void> | null = null;
  #queued: Promise<void> | null = null;

  constructor(store: Store, handlers: ChangeHandlers, intervalMs: number) {
    this.#store = store;
    this.#handlers = handlers;
    this.#intervalMs = intervalMs;
  }

  /** Starts after the newest event: the tables were just loaded in full. */
  async start(): Promise<void> {
    this.#lastId = await this.#store.events.latestId();
    this.#timer = setInterval(() => void this.pollNow(), this.#intervalMs);
    this.#timer.unref();
  }

  /**
   * Polls now (e.g. right after this server made a change) and resolves once
   * a poll that started after this call has finished. A poll already running
   * may have read the feed before the caller's change, so it does not count;
   * callers arriving meanwhile share the one poll queued behind it.
   */
  pollNow(): Promise<void> {
    if (this.#polling === null) {
      this.#polling = this.#poll().finally(() => {
        this.#polling = null;
      });
      return this.#polling;
    }
    this.#queued ??= this.#polling.then(() => {
      this.#queued = null;
      return this.pollNow();
    });
    return this.#queued;
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  async #poll(): Promise<void> {
    try {
      let events: ChangeEvent[];
      do {
        events = await this.#store.events.since(this.#lastId);
        if (events.length > 0) {
          await this.#apply(events);
          this.#lastId = events[events.length - 1].id;
        }
      } while (events.length >= 1000);
    } catch (err) {
      this.#handlers.onError(err);
    }
  }

  async #apply(events: readonly ChangeEvent[]): Promise<void> {
    const h = this.#handlers;
    let channels = false;
    let prices = false;
    let limits = false;
    let budgets = false;
    let services = false;
    let filters = false;
    let proxies = false;
    for (const e of events) {
      switch (e.kind) {
        case 'key.revoked': h.keyRevoked(e.subject); break;
        case 'key.changed': h.keyChanged(e.subject); break;
        case 'user.disabled': h.userDisabled(Number(e.subject)); break;
        case 'user.balance': h.balanceChanged(Number(e.subject), e.delta, e.id); break;
        case 'channels': channels = true; break;
        case 'prices': prices = true; break;
        case 'limits': limits = true; break;
        case 'budgets': budgets = true; break;
        case 'services': services = true; break;
        case 'filters': filters = true; break;
        case 'proxies': proxies = true; break;
      }
    }
    if (channels) await h.reloadChannels();
    if (prices) await h.reloadPrices();
    if (limits) await h.reloadLimits();
    if (budgets) await h.reloadBudgets();
    if (services) await h.reloadServices?.();
    if (filters) await h.reloadFilters();
    if (proxies) await h.reloadProxies?.();
  }
}
