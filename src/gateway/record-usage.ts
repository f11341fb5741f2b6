/**
 * Stage 5: settle and record, exactly once per request whatever the exit path
 * (success, upstream failure, client disconnect, refusal, shutdown): work out
 * the tokens, charge the real cost and release the reservation, correct the
 * TPM windows and free the concurrency slot, queue the usage record (batched
 * writer, no DB write here), then metrics and the request log.
 */
import { costMicros } from '../metering/pricing.ts';
import { estimatePromptTokens } from '../metering/token-estimate.ts';
import type { UsageRecordInsert } from '../store/usage-columns.ts';
import { promptKind } from '../edge/endpoints.ts';
import type { Gateway } from './gateway.ts';
import type { RequestContext } from './context.ts';

/** Ends the request's accounting; idempotent, so every exit path may call it. */
export function finishRequest(gw: Gateway, ctx: RequestContext): void {
  if (ctx.finished) return;
  ctx.finished = true;
  gw.active.delete(ctx);
  ctx.latencyMs = performance.now() - ctx.startedAt;
  if (ctx.status === 0) ctx.status = ctx.clientGone ? 499 : 500;

  const reachedUpstream = ctx.attempts > 0;
  if (reachedUpstream && !ctx.usageReported && ctx.json !== null) {
    // No usage from the upstream (cut stream, error): count what was sent (admission only
    // bounded it); completion tokens were kept as they streamed.
    ctx.promptTokens = estimatePromptTokens(ctx.json, promptKind(ctx.endpoint));
  }
  const channelId = ctx.upstreamChannel?.id ?? null;
  const hit = ctx.outcome === 'cache_hit';
  // A hit is priced as the stored answer's channel prices it today, then scaled (cache.hitPricePermille).
  const price = ctx.price === null ? null : (gw.prices.lookup(ctx.model, hit ? ctx.cachedChannelId : channelId) ?? ctx.price);
  // Charged only when the client got (some of) an answer: failures before the first byte,
  // failover attempts included, cost nothing.
  const delivered = ctx.committed && ctx.status < 400;
  ctx.costMicros = price === null || !delivered ? 0 : costMicros(price, ctx.promptTokens, ctx.completionTokens, ctx.cachedTokens, ctx.cacheWriteTokens, ctx.reasoningTokens);
  if (hit) ctx.costMicros = gw.responseCache!.hitCost(ctx.costMicros);
  const reserved = ctx.grant === null ? null : ctx.grant.reservedMicros;
  if (reserved !== null) {
    // No request costs more than it reserved plus the overdraft: an upstream that ignored every
    // completion bound (or a prompt far above its estimate) does not drain the balance. The real
    // tokens stay on the record; the excess is counted for the operator.
    const ceiling = reserved + gw.config.metering.overdraftMicros;
    if (ctx.costMicros > ceiling) {
      gw.metrics?.chargeCapped(ctx.costMicros - ceiling);
      ctx.costMicros = ceiling;
    }
  }

  // A hit spent no upstream tokens: it counts as a request (RPM, concurrency) but gives its
  // token estimate back; its budgets are charged what it cost (the hit price).
  if (ctx.grant !== null) gw.gate.settle(ctx.grant, hit ? 0 : ctx.promptTokens + ctx.completionTokens, ctx.costMicros);
  // A leader that ended without storing (error, cut, thrown): its waiters go upstream themselves.
  if (ctx.cacheFlight !== null) ctx.cacheFlight.settle(null);

  // One record per request that reached an upstream or the response cache, and one per refusal after authentication.
  if (reachedUpstream || hit || (ctx.outcome === 'refused' && ctx.userId !== 0)) gw.writer.enqueue(usageRecord(ctx, channelId));
  // Known here at once; the record makes it known everywhere once its batch is written.
  if (ctx.responseId !== null) gw.responseOwners.remember(ctx.responseId, { userId: ctx.userId, keyId: ctx.keyId, channelId: channelId!, channelKeyId: ctx.upstreamKey?.id ?? null });
  gw.metrics?.recordRequest(ctx);
  gw.latency.record(ctx);
  if (gw.requestLog !== null) gw.requestLog(ctx);
  if (gw.tracer !== null) gw.tracer.record(ctx);
}

function usageRecord(ctx: RequestContext, channelId: number | null): UsageRecordInsert {
  return {
    requestId: ctx.recordId,
    ts: ctx.ts,
    userId: ctx.userId,
    keyId: ctx.keyId,
    model: ctx.model,
    channelId,
    channelKeyId: ctx.upstreamKey?.id ?? null,
    status: ctx.status,
    outcome: ctx.outcome,
    attempts: ctx.attempts,
    latencyMs: Math.round(ctx.latencyMs),
    ttftMs: ctx.ttftMs < 0 ? null : Math.round(ctx.ttftMs),
    promptTokens: ctx.promptTokens,
    completionTokens: ctx.completionTokens,
    cachedTokens: ctx.cachedTokens,
    cacheWriteTokens: ctx.cacheWriteTokens,
    reasoningTokens: ctx.reasoningTokens,
    costMicros: ctx.costMicros,
    errorClass: ctx.errorClass,
    responseId: ctx.responseId,
  };
}
