// Turns a limiter refusal into what the client is told: status and message.
// The gateway's error catalog wraps these in OpenAI's error JSON.

import type { Refused, LimitScope, RefusalKind } from './limiter.ts';
import { formatResetDuration } from './rate-limit-headers.ts';

const KIND_LABEL: Readonly<Record<RefusalKind, string>> = {
  rpm: 'requests per min (RPM)',
  tpm: 'tokens per min (TPM)',
  concurrency: 'concurrent requests',
  unavailable: 'rate limiter availability',
};

/** OpenAI's error `code` for each kind. */
export const REFUSAL_CODE: Readonly<Record<RefusalKind, string>> = {
  rpm: 'rate_limit_exceeded',
  tpm: 'rate_limit_exceeded',
  concurrency: 'rate_limit_exceeded',
  unavailable: 'rate_limiter_unavailable',
};

function subjectLabel(scope: LimitScope, subject: string): string {
  switch (scope) {
    case 'global':
      return 'the gateway';
    case 'user':
      return `user ${subject}`;
    case 'key':
      return `key ${subject}`;
    case 'model':
      return `model ${subject}`;
    case 'user_model':
      return `user:model ${subject}`;
  }
}

/** HTTP status of a refusal: 429, or 503 when the shared limiter store is unavailable (fail closed). */
export function refusalStatus(refused: Refused): 429 | 503 {
  return refused.kind === 'unavailable' ? 503 : 429;
}

/** A message naming the limit that refused, in OpenAI's wording. */
export function refusalMessage(refused: Refused): string {
  const wait = formatResetDuration(refused.retryAfterMs);
  if (refused.kind === 'unavailable') return `Rate limiter unavailable. Please try again in ${wait}.`;
  return (
    `Rate limit reached for ${subjectLabel(refused.scope, refused.subject)} on ` +
    `${KIND_LABEL[refused.kind]}: Limit ${refused.limit}. Please try again in ${wait}.`
  );
}
