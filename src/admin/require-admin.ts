/** The admin token check shared by every operator-only route. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Errors, errorBody } from '../errors.ts';
import { adminTokenMatches } from './admin-token.ts';
import type { Gateway } from '../gateway/gateway.ts';

/** preHandler for operator-only routes: the admin token, compared in constant time. */
export function requireAdmin(gw: Gateway) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const token = gw.config.adminToken;
    if (token === null) return reply.code(403).type('application/json').send(errorBody(Errors.adminDisabled));
    if (!adminTokenMatches(req.headers.authorization, token)) return reply.code(401).type('application/json').send(errorBody(Errors.adminTokenRequired));
  };
}
