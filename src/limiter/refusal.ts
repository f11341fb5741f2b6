// Turns a limiter refusal into the message the client is told. The gateway's
// error catalog gives the status (429, or 503 when fail-closed) and OpenAI's JSON.

import type { Refused, LimitScope, RefusalKind } from './limiter.ts';
import { formatResetDuration } from './rate-limit-headers.ts';

const KIND_LABEL: Readonly<Record<RefusalKind, string>> = {
  rpm: 'requests per min (RPM)',
  tpm: 'tokens per min (TPM)',
  concurrency: 'concurrent requests',
  unavailable: 'rate limiter availability',
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

/** A message naming the limit that refused, in OpenAI's wording. */
export function refusalMessage(refused: Refused): string {
  const wait = formatResetDuration(refused.retryAfterMs);
  if (refused.kind === 'unavailable') return `Rate limiter unavailable. Please try again in ${wait}.`;
  return (
    `Rate limit reached for ${subjectLabel(refused.scope, refused.subject)} on ` +
    `${KIND_LABEL[refused.kind]}: Limit ${refused.limit}. Please try again in ${wait}.`
  );
}
