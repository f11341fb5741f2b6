// Display formatting and the one piece of input parsing that touches money.
// Money arrives and leaves as integer micro-credits; floats are used only to
// display it.

const MICROS = 1_000_000;
const intFmt = new Intl.NumberFormat('en-US');

export function fmtInt(n) {
  return n === null || n === undefined ? '–' : intFmt.format(n);
}

/** 1234567 → "1.2M", 0.00042 → "0.00042": for tight places (tiles, axes). */
export function fmtCompact(n) {
  if (n === null || n === undefined) return '–';
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${trim(n / 1e9)}B`;
  if (abs >= 1e6) return `${trim(n / 1e6)}M`;
  if (abs >= 1e4) return `${trim(n / 1e3)}k`;
  if (abs >= 1 || abs === 0) return intFmt.format(Math.round(n * 100) / 100);
  return String(Number(n.toPrecision(2)));
}

function trim(x) {
  return x.toFixed(x >= 100 ? 0 : 1).replace(/\.0$/, '');
}

/** Micro-credits → credits, up to 6 decimals (exact). */
export function fmtCredits(micros) {
  if (micros === null || micros === undefined) return '–';
  const neg = micros < 0;
  const abs = Math.abs(micros);
  const whole = Math.floor(abs / MICROS);
  const frac = String(abs % MICROS).padStart(6, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${intFmt.format(whole)}${frac === '' ? '' : `.${frac}`}`;
}

/**
 * "12.5" credits → 12500000 micro-credits (with `signed`, "-1" → -1000000),
 * by string arithmetic so no float ever touches the amount. Throws on
 * anything else.
 */
export function parseCredits(text, { signed = false } = {}) {
  const s = String(text).trim();
  if (s === '') return 0;
  const m = /^(-?)(\d{1,9})(?:\.(\d{1,6}))?$/.exec(s);
  if (m === null || (m[1] === '-' && !signed)) throw new Error(`Credits must be a number with at most 6 decimals, e.g. 5 or 0.25${signed ? ' (or -2 to remove)' : ''}.`);
  const micros = Number(m[2]) * MICROS + Number((m[3] ?? '').padEnd(6, '0'));
  return m[1] === '-' ? -micros : micros;
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1000) return `${Math.round(ms * 10) / 10} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

export function fmtPercent(part, whole) {
  if (!whole) return '–';
  const p = (part / whole) * 100;
  return `${p === 0 ? '0' : p < 0.1 ? '<0.1' : p.toFixed(p < 10 ? 1 : 0)}%`;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });

export function fmtTime(ts) {
  return ts === null || ts === undefined ? '–' : timeFmt.format(new Date(ts));
}

/** "3 min ago" style, for last-seen columns. */
export function fmtAgo(ts, now = Date.now()) {
  if (ts === null || ts === undefined) return '–';
  const s = Math.max(0, Math.round((now - ts) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

/** A step width in ms as words: "per minute", "per 15 minutes". */
export function fmtStep(ms) {
  const min = ms / 60_000;
  if (min < 60) return min === 1 ? 'per minute' : `per ${min} minutes`;
  const h = min / 60;
  if (h < 24) return h === 1 ? 'per hour' : `per ${h} hours`;
  return h === 24 ? 'per day' : `per ${h / 24} days`;
}
