/**
 * Builds the service-route parts once for the composition root: the service
 * table (reloaded whole on a 'services' change event), the pool for targets
 * and the ingress, the call-record writer, metrics, and the hop links from
 * config.
 */
import { Agent } from 'undici';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Gateway } from '../gateway/gateway.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { Store } from '../store/store.ts';
import { HealthBook } from '../routing/channel-health.ts';
import { CallWriter } from './call-writer.ts';
import { EgressLink } from './hop/hop-links.ts';
import { LinkKey, LinkKeyRing } from './hop/link-key.ts';
import { ReplayGuard, type ReplayCheck } from './hop/replay-guard.ts';
import { ServiceMetrics } from './service-metrics.ts';
import { ServiceRouter } from './service-router.ts';
import { ServiceTable } from './service-table.ts';

export interface ServiceNode {
  readonly router: ServiceRouter;
  /** Re-reads services and rules from the store. */
  reload(): Promise<void>;
  /** Writes the queued records and closes the pool. */
  close(): Promise<void>;
}

async function loadTable(store: Store, health: HealthBook): Promise<ServiceTable> {
  const [services, rules] = await Promise.all([store.services.list(), store.services.rules()]);
  return new ServiceTable(services, rules, health);
}

/** Builds the service parts; null when `services.enabled` is false. */
/** `replay`: the hop nonce check to use instead of this node's own (workers share the main thread's). */
export async function startServiceNode(config: Config, store: Store, gw: Gateway, metrics: GatewayMetrics | null, logger: Logger, replay: ReplayCheck | null = null): Promise<ServiceNode | null> {
  const cfg = config.services;
  if (!cfg.enabled) return null;
  // Target cooldowns, with the same curve as LLM channels; kept across table reloads.
  const health = new HealthBook(config.upstream.cooldownBaseMs, config.upstream.cooldownMaxMs);
  const serviceMetrics = metrics === null ? null : new ServiceMetrics(metrics.registry);
  const writer = new CallWriter({
    insert: (calls) => store.services.insertCalls(calls),
    batchSize: cfg.recordBatchSize,
    flushMs: cfg.recordFlushMs,
    maxQueue: cfg.recordMaxQueue,
    onDrop: () => serviceMetrics?.dropped.child().inc(),
    onError: (err) => logger.warn({ err }, 'service call records could not be written'),
  });
  const agent = new Agent({
    connections: config.upstream.connectionsPerOrigin,
    connectTimeout: config.upstream.connectTimeoutMs,
    // The call's own timer (rule timeout cut to the deadline) bounds the wait for the head.
    headersTimeout: 0,
    bodyTimeout: config.upstream.bodyTimeoutMs,
    keepAliveTimeout: 30_000,
    pipelining: 1,
  });
  const router = new ServiceRouter({
    gw,
    table: await loadTable(store, health),
    agent,
    writer,
    metrics: serviceMetrics,
    hop: cfg.hop,
    egress: cfg.egress === null ? null : new EgressLink(cfg.egress.ingressUrl, new LinkKey(cfg.egress.linkKeyId, cfg.egress.linkKey), cfg.hop.transport),
    ingress: cfg.ingress.linkKeys.length === 0 ? null : { keys: new LinkKeyRing(cfg.ingress.linkKeys), guard: replay ?? new ReplayGuard(cfg.hop.replayWindowMs, cfg.hop.maxNonces) },
    logger,
  });
  return {
    router,
    reload: async () => { router.table = await loadTable(store, health); },
    close: async () => {
      router.egress?.mux?.close();
      await writer.close();
      await agent.close();
    },
  };
}
