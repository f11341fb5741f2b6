/**
 * GET /v1/models and GET /v1/models/{id}: the models this gateway routes, whichever
 * protocol serves them, in OpenAI's shape — or Anthropic's when the request carries
 * `anthropic-version` (the Anthropic SDK always sends it). A key with a model
 * allow-list sees only the models it may use.
 */
import type { Gateway } from './gateway.ts';
import type { RequestContext } from './context.ts';
import { writeErrorResponse, writeResponseHead } from '../upstream/response-head.ts';
import { anthropicModel, openaiModel } from '../routing/route-table.ts';
import { MODEL_PATH_PREFIX, pathOf } from '../edge/endpoints.ts';
import { Errors } from '../errors.ts';

export function listModels(gw: Gateway, ctx: RequestContext): void {
  const routes = gw.routes;
  const path = pathOf(ctx.req.url ?? '');
  const anthropic = typeof ctx.req.headers['anthropic-version'] === 'string';
  if (path.startsWith(MODEL_PATH_PREFIX)) {
    const id = decodeModelId(path.slice(MODEL_PATH_PREFIX.length));
    if (id === null || !routes.models.has(id) || (ctx.allowedModels !== null && !ctx.allowedModels.has(id))) {
      writeErrorResponse(ctx, Errors.modelNotFound, `The model '${id ?? path.slice(MODEL_PATH_PREFIX.length)}' does not exist or you do not have access to it.`, 404, 'model');
      ctx.outcome = 'not_found';
      return;
    }
    return send(ctx, JSON.stringify(anthropic ? anthropicModel(id, routes.builtAt) : openaiModel(id, routes.builtAt)));
  }
  const allowed = ctx.allowedModels;
  // Unrestricted keys get the list serialised once per route table.
  if (!anthropic && allowed === null) return send(ctx, routes.modelsJson);
  const ids = allowed === null ? routes.modelIds : routes.modelIds.filter((id) => allowed.has(id));
  if (!anthropic) return send(ctx, JSON.stringify({ object: 'list', data: ids.map((id) => openaiModel(id, routes.builtAt)) }));
  const data = ids.map((id) => anthropicModel(id, routes.builtAt));
  send(ctx, JSON.stringify({ data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null }));
}

function send(ctx: RequestContext, body: Buffer | string): void {
  ctx.status = 200;
  writeResponseHead(ctx, 200, 'application/json', Buffer.byteLength(body));
  ctx.res.end(body);
}

/** A model id from the URL (ids like `org/model` arrive percent-encoded); null when it does not decode. */
function decodeModelId(raw: string): string | null {
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}
