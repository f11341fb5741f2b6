/**
 * POST /v1/messages/count_tokens, answered by the gateway: the same prompt count
 * admission reserves against, in Anthropic's shape. It is the local tokenizer's
 * count (OpenAI's encoding), not Anthropic's own tokenizer, so for Claude models it
 * is an estimate within a few per cent; it costs nothing and reaches no upstream.
 */
import { estimatePromptTokens } from '../metering/token-estimate.ts';
import { writeResponseHead } from '../upstream/response-head.ts';
import type { RequestContext } from './context.ts';

export function countTokens(ctx: RequestContext): void {
  const body = JSON.stringify({ input_tokens: estimatePromptTokens(ctx.json, 'messages') });
  ctx.status = 200;
  writeResponseHead(ctx, 200, 'application/json', Buffer.byteLength(body));
  ctx.res.end(body);
}
