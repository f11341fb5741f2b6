/**
 * Stage 3: may this request go out? Price check, then every applicable limit,
 * spend budget and the credit reservation in ONE judgment, all or nothing
 * (memory: one synchronous step; Redis: one script call), asked of the
 * admission gate (admission-gate.ts), whoever owns them. Refusals are typed
 * results, not exceptions.
 */
import { Errors, type ErrorSpec } from '../errors.ts';
import { costMicros, type Price } from '../metering/pricing.ts';
import { promptTokenBound } from '../metering/token-estimate.ts';
import type { Refused } from '../limiter/limiter.ts';
import { NO_BUDGETS } from '../limiter/policy-book.ts';
import type { BalanceSnapshot } from '../metering/ledger.ts';
import { refusalMessage } from '../limiter/refusal.ts';
import { boundFieldOf, largestCompletionBound, withCompletionBound } from '../providers/completion-bound.ts';
import { promptKind } from '../edge/endpoints.ts';
import type { Gateway } from './gateway.ts';
import type { RequestContext } from './context.ts';

export interface Refusal { readonly error: ErrorSpec; readonly message?: string; readonly limit?: Refused }

export async function admit(gw: Gateway, ctx: RequestContext): Promise<Refusal | null> {
  const price = reservationPrice(gw, ctx);
  if (price === null) return { error: Errors.modelNotPriced, message: `The model '${ctx.model}' has no price configured; ask the operator to set one.` };
  ctx.price = price;

  const policies = gw.policies.policiesFor(ctx.userId, ctx.keyId, ctx.model);
  const needsEstimate = !price.free || gw.policies.hasTokenLimits;
  // The largest bound the request carries: an upstream honouring any of them stays within the reservation.
  const bound = ctx.endpoint.kind === 'embeddings' ? 0 : largestCompletionBound(ctx.json!);
  const maxCompletion = bound ?? gw.config.metering.defaultMaxTokens;
  const promptEstimate = needsEstimate ? promptTokenBound(ctx.json, promptKind(ctx.endpoint)) : 0;
  ctx.estimatedTokens = promptEstimate + (needsEstimate ? maxCompletion : 0);
  // The credit reservation, also held against the caller's spend budgets (a free model spends nothing: no budget applies).
  const needed = price.free ? 0 : reservationMicros(price, promptReservation(promptEstimate), maxCompletion);
  const budgets = needed === 0 ? NO_BUDGETS : gw.policies.budgetsFor(ctx.userId, ctx.keyId);

  if (policies.length === 0 && price.free) return null;
  // The credit ask rides in the same admission as the limits: one judgment, one Redis call.
  const credit = price.free ? null : { userId: ctx.userId, micros: needed, holdId: ctx.recordId };
  const pending = gw.gate.admit({ userId: ctx.userId, policies, tokens: ctx.estimatedTokens, budgets, micros: needed, credit });
  // The in-process gate answers synchronously when it can: no promise, no microtask on the hot path.
  const verdict = pending instanceof Promise ? await pending : pending;
  if (policies.length > 0 || budgets.length > 0) gw.metrics?.limiterDecision(verdict.kind === 'limited' ? verdict.refused.kind : 'allowed', verdict.kind !== 'limited');
  switch (verdict.kind) {
    case 'limited': {
      const refused = verdict.refused;
      ctx.rateLimit = refused.state;
      if (refused.budget !== undefined) gw.metrics?.budgetRefused(refused.scope, refused.budget.period);
      // A credit ask Redis could not judge (and no local fallback) refuses at the user scope; the limiter's own refusal is global.
      if (refused.kind === 'unavailable' && refused.scope === 'user') return { error: Errors.ledgerUnavailable, limit: refused };
      const error = refused.kind === 'unavailable' ? Errors.limiterUnavailable : refused.kind === 'budget' ? Errors.budgetExceeded : Errors.rateLimited;
      return { error, limit: refused, message: refusalMessage(refused, ctx) };
    }
    case 'store_unavailable':
      ctx.rateLimit = verdict.state;
      gw.storeHealth.failed(Date.now());
      gw.onStoreError(new Error(verdict.message));
      return { error: Errors.storeUnavailable };
    case 'no_credits':
      ctx.rateLimit = verdict.state;
      return { error: Errors.insufficientCredits, message: creditsMessage(ctx, verdict.held, needed, bound === null ? maxCompletion : null) };
    case 'admitted':
      ctx.rateLimit = verdict.state;
      ctx.grant = verdict.grant;
      if (credit !== null && bound === null) forwardDefaultBound(ctx, maxCompletion);
  }
  return null;
}

/**
 * The 402 text: what the request needs against what the user has, so the
 * caller can tell "add credits" from "ask for fewer tokens". `defaultBound`
 * is the completion bound assumed when the request set none.
 */
function creditsMessage(ctx: RequestContext, held: BalanceSnapshot | null, needed: number, defaultBound: number | null): string {
  const balance = held === null ? 0 : held.balanceMicros;
  const inFlight = held === null || held.reservedMicros === 0 ? '' : `, of which ${held.reservedMicros} is held by requests in flight`;
  const assumed = defaultBound === null ? '' : ` (no max_tokens given: ${defaultBound} assumed)`;
  return `You do not have enough credits for this request: user '${ctx.userName}' has a balance of ${balance} micro-credits${inFlight}; ` +
    `this request to '${ctx.model}' needs up to ${needed} micro-credits${assumed}. Add credits or lower max_tokens.`;
}

/**
 * A priced request without a completion bound was reserved for the default:
 * the upstream gets that bound too, in the request's own field, so it cannot
 * generate more than was reserved. The parsed body follows, for a rename or
 * a translation that re-serialises it.
 */
function forwardDefaultBound(ctx: RequestContext, value: number): void {
  const field = boundFieldOf(ctx.endpoint.kind);
  if (field === null || ctx.body === null) return;
  ctx.json![field] = value;
  ctx.body = withCompletionBound(ctx.body, field, value);
}

/**
 * Prompt tokens to hold credits for: the estimate plus a margin. The estimate
 * uses OpenAI's encoding; other upstreams count the same prompt differently
 * (Anthropic's tokenizer often 10–30 % more, and every protocol adds its own
 * per-message overhead), and the charge is capped at the reservation plus the
 * overdraft — so without a margin every such request would be undercharged. The
 * unused part of the hold is released at settlement.
 */
export function promptReservation(estimate: number): number {
  return estimate + Math.ceil(estimate * PROMPT_MARGIN) + PROMPT_MARGIN_TOKENS;
}
const PROMPT_MARGIN = 0.5;
const PROMPT_MARGIN_TOKENS = 32;

/**
 * Credits to hold: every prompt token at the dearest input kind (a cache write
 * may cost more than plain input) and every completion token at the dearest
 * output kind (reasoning may cost more than visible output).
 */
function reservationMicros(price: Price, promptTokens: number, completionTokens: number): number {
  const written = price.cacheWriteMicrosPerMTok > price.inputMicrosPerMTok ? promptTokens : 0;
  const reasoning = price.reasoningMicrosPerMTok > price.outputMicrosPerMTok ? completionTokens : 0;
  return costMicros(price, promptTokens, completionTokens, 0, written, reasoning);
}

/**
 * The price to reserve against: the dearest among the channels that may serve
 * the request, since failover may land on any of them. null = not priced anywhere.
 */
function reservationPrice(gw: Gateway, ctx: RequestContext): Price | null {
  let chosen: Price | null = null;
  let chosenRate = -1;
  for (const tier of ctx.modelRoute!.tiers) {
    for (const channel of tier.channels) {
      const p = gw.prices.lookup(ctx.model, channel.id);
      if (p === null) continue;
      const rate = p.free ? 0 : p.inputMicrosPerMTok + p.outputMicrosPerMTok;
      if (rate > chosenRate) {
        chosen = p;
        chosenRate = rate;
      }
    }
  }
  return chosen;
}
