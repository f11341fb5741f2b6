/**
 * The way out of one channel attempt: the request's bound proxy, else the
 * channel's (or the global) proxy pool, else direct (see routing/proxy-table.ts).
 * A pool proxy that fails before the first byte — unreachable, credentials
 * refused — cools down and the same channel is tried through the next one, up
 * to the pool's size (at most upstream.maxAttempts); a bound proxy is never
 * swapped for another, so its failure is the request's.
 */
import type { Dispatcher } from 'undici';
import { Errors } from '../errors.ts';
import type { ChannelRoute } from '../routing/route-table.ts';
import { UNAVAILABLE_BINDING, type ProxyRoute } from '../routing/proxy-table.ts';
import type { Failure } from '../upstream/failure.ts';
import type { Gateway } from './gateway.ts';
import type { RequestContext } from './context.ts';

/** A request's binding: undefined when unbound. */
export type Binding = ProxyRoute | typeof UNAVAILABLE_BINDING | undefined;

const UNAVAILABLE: Failure = {
  error: Errors.noChannel,
  status: 503,
  message: 'The outbound proxy this key or user is bound to is disabled or removed; its traffic is not sent any other way.',
  errorClass: 'proxy_unavailable',
  // The proxy's: the relay stops there for a bound request (nothing to cool, nothing was sent).
  blame: 'proxy',
};

/** Runs `run` (one attempt on `channel`) through the request's egress; null when the answer was delivered. */
export async function throughEgress(gw: Gateway, ctx: RequestContext, channel: ChannelRoute, bound: Binding, run: (upstream: Dispatcher) => Promise<Failure | null>): Promise<Failure | null> {
  if (bound === UNAVAILABLE_BINDING) return UNAVAILABLE;
  if (bound !== undefined) return via(gw, bound, run);
  const table = gw.proxies;
  let proxy = table.pick(channel.id, Date.now());
  if (proxy === null) return run(gw.upstream);
  const tries = Math.min(table.poolSize(channel.id), gw.config.upstream.maxAttempts);
  for (let i = 1; ; i++) {
    const failure = await via(gw, proxy, run);
    if (failure?.blame !== 'proxy' || i >= tries || ctx.committed || ctx.cancelled !== null) return failure;
    ctx.attempts++;
    proxy = table.pick(channel.id, Date.now())!;
  }
}

async function via(gw: Gateway, proxy: ProxyRoute, run: (upstream: Dispatcher) => Promise<Failure | null>): Promise<Failure | null> {
  proxy.counters.attempt();
  const started = performance.now();
  const failure = await run(proxy.dispatcher);
  proxy.counters.done((performance.now() - started) / 1000);
  if (failure === null) gw.health.succeed(proxy.health);
  else if (failure.blame === 'proxy') {
    gw.health.fail(proxy.health, Date.now());
    proxy.counters.failure(failure.errorClass);
  }
  return failure;
}
