// Turns a limiter refusal into the message the client is told. The gateway's
// error catalog gives the status (429, or 503 when fail-closed) and OpenAI's JSON.

import type { BudgetRefusal } from './budget.ts';
import type { Refused, LimitScope, RefusalKind } from './limiter.ts';
import { formatResetDuration } from './rate-limit-headers.ts';

const KIND_LABEL: Readonly<Record<RefusalKind, string>> = {
  rpm: 'requests per min (RPM)',
  tpm: 'tokens per min (TPM)',
  concurrency: 'concurrent requests',
  unavailable: 'rate limiter availability',
  budget: 'spend budget',
  credits: 'credits',
};

/** Who is calling, by name (from the key cache entry: naming costs no store query). */
export interface CallerNames { readonly userName: string; readonly keyName: string }

function subjectLabel(scope: LimitScope, subject: string, caller: CallerNames | null): string {
  // The user, key and user_model policies of a request are the caller's own, so their subjects are the caller.
  switch (scope) {
    case 'global':
      return 'the gateway';
    case 'user':
      return caller === null ? `user ${subject}` : `user '${caller.userName}'`;
    case 'key':
      return caller === null ? `key ${subject}` : `key '${caller.keyName}' of user '${caller.userName}'`;
    case 'model':
      return `model ${subject}`;
    case 'user_model':
      return caller === null ? `user:model ${subject}` : `user '${caller.userName}' on model ${subject.slice(subject.indexOf(':') + 1)}`;
  }
}

/** A message naming the limit that refused, in OpenAI's wording; names the caller when known. */
export function refusalMessage(refused: Refused, caller: CallerNames | null = null): string {
  const wait = formatResetDuration(refused.retryAfterMs);
  if (refused.kind === 'unavailable') return `Rate limiter unavailable. Please try again in ${wait}.`;
  if (refused.budget !== undefined) return budgetMessage(refused, refused.budget, subjectLabel(refused.scope, refused.subject, caller), wait);
  return (
    `Rate limit reached for ${subjectLabel(refused.scope, refused.subject, caller)} on ` +
    `${KIND_LABEL[refused.kind]}: Limit ${refused.limit}. Please try again in ${wait}.`
  );
}

/** The 402 text of a budget refusal: which budget, its limit and spend, what the request needed, and when it resets. */
function budgetMessage(refused: Refused, b: BudgetRefusal, who: string, wait: string): string {
  const period = b.mode === 'calendar' ? `${b.period} (calendar)` : `rolling ${b.period}`;
  const reset = b.mode === 'calendar' ? 'The budget resets' : 'Enough of the spend rolls out of the window';
  return `Spend budget reached for ${who}, ${period}: Limit ${refused.limit} micro-credits, spent ${b.spentMicros} ` +
    `(requests in flight included); this request needs up to ${b.requestMicros}. ` +
    `${reset} at ${new Date(b.resetAtMs).toISOString()} (in ${wait}).`;
}
