/** GET /v1/models: the models this gateway routes, in OpenAI's list shape. */
import type { Gateway } from './gateway.ts';
import type { RequestContext } from './context.ts';
import { writeResponseHead } from '../upstream/response-head.ts';

export function listModels(gw: Gateway, ctx: RequestContext): void {
  const body = gw.routes.modelsJson;
  ctx.status = 200;
  writeResponseHead(ctx, 200, 'application/json', body.length);
  ctx.res.end(body);
}
