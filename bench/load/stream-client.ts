/**
 * The streaming client: keeps `concurrency` SSE completions open at a time
 * and records, per stream, the time to first byte of the body (TTFT, the first
 * `data:` event) and whether the stream ended with `data: [DONE]`. Every
 * started stream is read to its end, so counts are exact also when the run is
 * bounded by time.
 */
import { Pool } from 'undici';
import { percentile } from '../summary.ts';

/** A streaming run against one target. */
export interface StreamSpec {
  url: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  concurrency: number;
  /** Run length in seconds; ignored when `amount` is set. */
  durationS: number;
  /** Exact number of streams (count-bounded runs). */
  amount: number | null;
  timeoutS: number;
}

/** The outcome of a streaming run. */
export interface StreamResult {
  /** Streams answered 2xx and ended with [DONE]. */
  streams: number;
  /** Streams started (each one is also finished, failed or errored). */
  started: number;
  durationS: number;
  streamsPerS: number;
  ttftP50Ms: number;
  ttftP99Ms: number;
  /** Transport errors and streams cut before [DONE]. */
  errors: number;
  non2xx: number;
}

const doneMarker = Buffer.from('data: [DONE]');

interface StreamTally {
  started: number;
  streams: number;
  errors: number;
  non2xx: number;
  ttfts: number[];
}

async function oneStream(pool: Pool, spec: StreamSpec, tally: StreamTally): Promise<void> {
  const startedAt = performance.now();
  try {
    const { statusCode, body } = await pool.request({
      path: spec.path,
      method: 'POST',
      headers: spec.headers,
      body: spec.body,
      headersTimeout: spec.timeoutS * 1000,
      bodyTimeout: spec.timeoutS * 1000,
    });
    let first = true;
    // The tail of the body so far, enough to find [DONE] across a chunk boundary.
    let tail = Buffer.alloc(0);
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (first) {
        tally.ttfts.push(performance.now() - startedAt);
        first = false;
      }
      tail = Buffer.concat([tail.subarray(-doneMarker.length), chunk]);
    }
    if (statusCode < 200 || statusCode >= 300) tally.non2xx += 1;
    else if (tail.includes(doneMarker)) tally.streams += 1;
    else tally.errors += 1;
  } catch {
    tally.errors += 1;
  }
}

/** Runs `spec.concurrency` stream loops until the count or the time is reached. */
export async function runStreams(spec: StreamSpec): Promise<StreamResult> {
  const pool = new Pool(spec.url, { connections: spec.concurrency, keepAliveTimeout: 30_000 });
  const tally: StreamTally = { started: 0, streams: 0, errors: 0, non2xx: 0, ttfts: [] };
  const startedAt = performance.now();
  const deadline = startedAt + spec.durationS * 1000;
  // Count-bounded runs stop starting streams after a minute whatever the count.
  const cap = startedAt + 60_000;
  const more = (): boolean => (spec.amount === null ? performance.now() < deadline : tally.started < spec.amount && performance.now() < cap);
  const loop = async (): Promise<void> => {
    while (more()) {
      tally.started += 1;
      await oneStream(pool, spec, tally);
    }
  };
  try {
    await Promise.all(Array.from({ length: spec.concurrency }, loop));
  } finally {
    await pool.close();
  }
  const durationS = (performance.now() - startedAt) / 1000;
  tally.ttfts.sort((a, b) => a - b);
  return {
    streams: tally.streams,
    started: tally.started,
    durationS,
    streamsPerS: tally.streams / durationS,
    ttftP50Ms: percentile(tally.ttfts, 50),
    ttftP99Ms: percentile(tally.ttfts, 99),
    errors: tally.errors,
    non2xx: tally.non2xx,
  };
}
