/**
 * Reads a few counters from a Tollgate target's `GET /metrics` (see
 * docs/metrics.md), read around each run like the other target counters.
 */

/** Counters of one scrape; absent when the target serves no metrics. */
export interface ScrapedCounters {
  /** Sum of tollgate_requests_total over every label set. */
  requests: number;
  /** tollgate_writer_flush_duration_seconds_count: usage writer flushes (one store transaction each). */
  writerFlushes: number;
  /** tollgate_writer_flushed_records_total. */
  writerRecords: number;
}

/** Sum of every sample of `name` (no suffix matching: `name` must be followed by `{` or a space). */
function sumOf(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const next = line.charAt(name.length);
    if (next !== '{' && next !== ' ') continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) total += value;
  }
  return total;
}

/** Scrapes `${url}/metrics`; null when metrics are off (404) or the scrape fails. */
export async function scrapeCounters(url: string): Promise<ScrapedCounters | null> {
  try {
    const response = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) });
    const text = await response.text();
    if (response.status !== 200) return null;
    return {
      requests: sumOf(text, 'tollgate_requests_total'),
      writerFlushes: sumOf(text, 'tollgate_writer_flush_duration_seconds_count'),
      writerRecords: sumOf(text, 'tollgate_writer_flushed_records_total'),
    };
  } catch {
    return null;
  }
}
