/**
 * Admin routes for response filters (src/filters/): list, add, delete. Rules
 * are checked when added (a regex that does not compile, matches empty text or
 * uses an unsupported construct is a 400 naming why). Changes reach this node's
 * filter book before the reply; other nodes follow through the change feed.
 */
import { StoreInputError } from '../store/store.ts';
import { FILTER_KINDS, FILTER_SCOPES, DEFAULT_REGEX_MAX_LENGTH, type FilterRuleSpec } from '../filters/filter-rules.ts';
import { badInput, idParams, int, listOf, notFound, object, type AdminRoute } from './admin-schema.ts';

export const filterView = (f: FilterRuleSpec) => ({
  object: 'response_filter', id: f.id, scope: f.scope, subject: f.subject, kind: f.kind, pattern: f.pattern, replacement: f.replacement, max_length: f.maxLength,
});

const FILTER_SCHEMA = {
  type: 'object',
  properties: {
    object: { const: 'response_filter' }, id: { type: 'integer' }, scope: { type: 'string' }, subject: { type: 'string' }, kind: { type: 'string' },
    pattern: { type: 'string' }, replacement: { type: ['string', 'null'] }, max_length: { type: 'integer' },
  },
  required: ['object', 'id', 'scope', 'subject', 'kind', 'pattern', 'replacement', 'max_length'],
};

export const FILTER_ROUTES: readonly AdminRoute[] = [
  {
    method: 'GET', url: '/admin/filters', operationId: 'listFilters', tag: 'filters', status: 200, response: listOf(FILTER_SCHEMA),
    summary: 'List response filter rules',
    async handler(_input, ctx) {
      return { object: 'list', data: (await ctx.store.filters.list()).map(filterView) };
    },
  },
  {
    method: 'POST', url: '/admin/filters', operationId: 'addFilter', tag: 'filters', status: 201, response: FILTER_SCHEMA,
    summary: 'Add a response filter rule: a literal or regex replaced (or dropped) in answers, or the built-in strip_thinking',
    body: object({
      scope: { type: 'string', enum: FILTER_SCOPES },
      subject: { type: 'string', maxLength: 300, default: '', description: "'' (global), a channel id, a model name or a key id" },
      kind: { type: 'string', enum: FILTER_KINDS },
      pattern: { type: 'string', maxLength: 1000, default: '', description: 'the literal text or the regex (JavaScript syntax, no anchors, lookarounds, \\b or backreferences)' },
      replacement: { type: ['string', 'null'], maxLength: 1000, default: null, description: 'null or absent: the match is dropped' },
      max_length: { ...int(1, 4096, 'regex only: the longest text it may match (streams hold back this much)'), default: DEFAULT_REGEX_MAX_LENGTH },
    }, ['scope', 'kind']),
    async handler({ body }, ctx) {
      const rule = await ctx.store.filters.add({
        scope: body.scope, subject: body.subject, kind: body.kind, pattern: body.pattern, replacement: body.replacement, maxLength: body.max_length,
      }).catch((err: unknown) => {
        if (err instanceof StoreInputError) {
          const param = /subject/.test(err.message) ? 'subject' : /maxLength/.test(err.message) ? 'max_length' : /scope|kind/.test(err.message) ? 'scope' : 'pattern';
          throw badInput(param, `Invalid request body: '${param}': ${err.message}.`);
        }
        throw err;
      });
      await ctx.applied();
      return filterView(rule);
    },
  },
  {
    method: 'DELETE', url: '/admin/filters/:id', operationId: 'deleteFilter', tag: 'filters', status: 200, response: { $ref: '#/components/schemas/Deleted' }, notFound: true,
    summary: 'Remove a response filter rule', params: idParams(),
    async handler({ params }, ctx) {
      if (!(await ctx.store.filters.remove(params.id))) throw notFound('response filter', params.id);
      await ctx.applied();
      return { object: 'response_filter', id: params.id, deleted: true };
    },
  },
];
