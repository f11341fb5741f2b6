/**
 * Fault injection for the mock upstream: the fault type, the server-wide fault slot
 * (optionally limited to the next N requests) and the per-request triggers
 * (`x-mock-fault` header, or a marker inside the upstream API key).
 */

/** A failure the mock upstream simulates instead of (or while) answering. */
export type MockFault =
  /** Answer with this HTTP status and the API's error JSON. */
  | { kind: 'status'; status: number; count?: number }
  /** Destroy the socket before any response byte. */
  | { kind: 'reset'; count?: number }
  /** Stream `afterChunks` content chunks, then destroy the socket. */
  | { kind: 'reset-mid-stream'; afterChunks: number; count?: number }
  /** Never answer; the request only ends when the client gives up. */
  | { kind: 'hang'; count?: number }
  /** Wait this long before sending headers, then answer normally. */
  | { kind: 'latency'; ms: number; count?: number };

/** Content chunks delivered before the reset when `reset-mid-stream` names no count. */
const DEFAULT_RESET_AFTER_CHUNKS = 2;
const KEY_MARKER = /fault-(\d{3}|reset-mid-stream|reset|hang)/;

/** Throws a RangeError naming the bad field when a fault is malformed. */
export function validateFault(fault: MockFault): void {
  if (fault.count !== undefined && !(Number.isInteger(fault.count) && fault.count >= 1)) {
    throw new RangeError('MockFault.count must be a positive integer');
  }
  if (fault.kind === 'status' && !(Number.isInteger(fault.status) && fault.status >= 400 && fault.status <= 599)) {
    throw new RangeError('MockFault.status must be an integer in 400..599');
  }
  if (fault.kind === 'reset-mid-stream' && !(Number.isInteger(fault.afterChunks) && fault.afterChunks >= 0)) {
    throw new RangeError('MockFault.afterChunks must be a non-negative integer');
  }
  if (fault.kind === 'latency' && !(Number.isFinite(fault.ms) && fault.ms >= 0)) {
    throw new RangeError('MockFault.ms must be a non-negative number');
  }
}

/** The server-wide fault set by `setFault`, consumed one request at a time when counted. */
export class FaultSlot {
  fault: MockFault | null = null;
  /** Requests left before the fault clears itself; -1 while it has no count. */
  remaining = -1;

  set(fault: MockFault | null): void {
    if (fault !== null) validateFault(fault);
    this.fault = fault;
    this.remaining = fault?.count ?? -1;
  }

  /** The fault for the next request, counting it down. */
  take(): MockFault | null {
    const fault = this.fault;
    if (fault !== null && this.remaining > 0 && --this.remaining === 0) this.fault = null;
    return fault;
  }
}

/**
 * Parses an `x-mock-fault` header value: `500`, `reset`, `reset-mid-stream:3`, `hang`,
 * `latency:200`. Returns undefined for a value it does not understand.
 */
export function parseFaultHeader(value: string): MockFault | undefined {
  const colon = value.indexOf(':');
  const name = (colon < 0 ? value : value.slice(0, colon)).trim();
  const arg = colon < 0 ? '' : value.slice(colon + 1).trim();
  const number = arg === '' ? NaN : Number(arg);
  if (/^\d{3}$/.test(name)) {
    const status = Number(name);
    return status >= 400 && status <= 599 && arg === '' ? { kind: 'status', status } : undefined;
  }
  switch (name) {
    case 'reset':
    case 'hang':
      return arg === '' ? { kind: name } : undefined;
    case 'reset-mid-stream':
      if (arg === '') return { kind: 'reset-mid-stream', afterChunks: DEFAULT_RESET_AFTER_CHUNKS };
      return Number.isInteger(number) && number >= 0 ? { kind: 'reset-mid-stream', afterChunks: number } : undefined;
    case 'latency':
      return Number.isFinite(number) && number >= 0 ? { kind: 'latency', ms: number } : undefined;
    default:
      return undefined;
  }
}

/**
 * The fault named by a `fault-500` / `fault-429` / `fault-reset` / `fault-reset-mid-stream`
 * / `fault-hang` marker inside an `Authorization` or `x-api-key` value, if any.
 */
export function faultFromApiKey(value: string): MockFault | null {
  // Cheap pre-check: almost every key has no marker, so skip the regex for them.
  if (!value.includes('fault-')) return null;
  const match = KEY_MARKER.exec(value);
  if (match === null) return null;
  const name = match[1];
  if (name === 'reset' || name === 'hang') return { kind: name };
  if (name === 'reset-mid-stream') return { kind: 'reset-mid-stream', afterChunks: DEFAULT_RESET_AFTER_CHUNKS };
  const status = Number(name);
  return status >= 400 && status <= 599 ? { kind: 'status', status } : null;
}
