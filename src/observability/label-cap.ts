/**
 * Bounds the distinct values one label (or stats key) may take.
 *
 * Prometheus keeps a time series per label combination, and our JSON stats keep
 * a histogram per model/channel, so a label fed from anything a client can vary
 * must be capped. The first `max` distinct values are kept verbatim; later ones
 * fold into `other`. Values are also length-limited and stripped of characters
 * that would be confusing in a label (the text format escapes them anyway).
 */

/** The value unseen labels fold into once the cap is reached. */
export const OTHER = 'other';
/** The value used for an empty label (e.g. no channel picked). */
export const NONE = 'none';

const SAFE = /^[\w.:/@+-]*$/;

export class LabelCap {
  readonly max: number;
  readonly maxLength: number;
  private readonly seen = new Set<string>();

  constructor(max: number, maxLength = 96) {
    this.max = max;
    this.maxLength = maxLength;
  }

  /**
   * Returns the label value to use for `raw`. `admit` false means "do not spend
   * a slot on this value" (e.g. a model name from a request that was rejected
   * before resolution): it maps to `other` unless already known.
   * Cold path: callers cache the result per raw value.
   */
  bound(raw: string, admit = true): string {
    if (raw === '') return NONE;
    if (this.seen.has(raw)) return raw;
    if (!admit || this.seen.size >= this.max) return OTHER;
    if (raw.length > this.maxLength || !SAFE.test(raw) || raw === OTHER || raw === NONE) return OTHER;
    this.seen.add(raw);
    return raw;
  }

  /** Whether `raw` is kept verbatim (already admitted). */
  has(raw: string): boolean {
    return this.seen.has(raw);
  }

  get size(): number {
    return this.seen.size;
  }
}
