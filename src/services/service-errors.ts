/**
 * Errors of service routes, in the gateway's one error shape (errors.ts).
 * Kept beside the feature so the shared catalog stays as it is.
 */
import type { ErrorSpec } from '../errors.ts';

const spec = (status: number, type: string, code: string, message: string): ErrorSpec => ({ status, type, code, message });

export const ServiceErrors = {
  unknownService: spec(404, 'invalid_request_error', 'unknown_service', 'No such service.'),
  forbidden: spec(403, 'permission_error', 'service_forbidden', 'This caller may not call this path and method of the service.'),
  badDeadline: spec(400, 'invalid_request_error', 'invalid_deadline', 'x-tollgate-deadline must be epoch milliseconds.'),
  deadlineExceeded: spec(504, 'api_error', 'deadline_exceeded', 'The request deadline has passed.'),
  timeout: spec(504, 'api_error', 'service_timeout', 'The service did not answer in time.'),
  upstreamFailed: spec(502, 'api_error', 'service_unreachable', 'The service failed to answer.'),
  noEgress: spec(503, 'api_error', 'no_egress', 'This service is remote and this node has no egress configured.'),
  hopMalformed: spec(400, 'invalid_request_error', 'hop_malformed', 'The hop header is malformed.'),
  hopUnknownKey: spec(401, 'invalid_request_error', 'hop_unknown_key', 'The hop is signed with an unknown link key.'),
  hopBadSignature: spec(401, 'invalid_request_error', 'hop_bad_signature', 'The hop header and its first frame do not authenticate.'),
  hopExpired: spec(401, 'invalid_request_error', 'hop_expired', 'The hop timestamp is outside the accepted window.'),
  hopReplayed: spec(409, 'invalid_request_error', 'hop_replayed', 'This hop request was seen before.'),
  hopBadReply: spec(502, 'api_error', 'hop_bad_reply', 'The ingress reply does not authenticate.'),
  hopBadFrame: spec(400, 'invalid_request_error', 'hop_bad_frame', 'An encrypted frame failed authentication.'),
  hopBusy: spec(503, 'api_error', 'hop_busy', 'Too many hop requests in the replay window.'),
  hopDisabled: spec(404, 'invalid_request_error', 'hop_disabled', 'This node accepts no hop requests.'),
} as const satisfies Record<string, ErrorSpec>;
