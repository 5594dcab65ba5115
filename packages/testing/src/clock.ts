import { setTimeout as delay } from 'node:timers/promises';

/** Monotonic clock in nanoseconds. */
export function nowNs(): bigint {
  return process.hrtime.bigint();
}

/** Elapsed nanoseconds since `start` as a number, never 0 (0 would be omitted like Go's omitempty). */
export function elapsedNs(start: bigint, end: bigint = nowNs()): number {
  const elapsed = Number(end - start);
  return elapsed > 0 ? elapsed : 1;
}

const wallAnchorMs = Date.now();
const monotonicAnchorNs = nowNs();

/**
 * RFC 3339 timestamp with a nanosecond fraction (trailing zeros trimmed), UTC, as Go's `time.Time` marshals.
 * Without an argument, "now" with sub-millisecond precision from the monotonic clock.
 */
export function rfc3339(date?: Date): string {
  let epochNs: bigint;
  if (date) {
    epochNs = BigInt(date.getTime()) * 1_000_000n;
  } else {
    epochNs = BigInt(wallAnchorMs) * 1_000_000n + (nowNs() - monotonicAnchorNs);
  }
  const ms = Number(epochNs / 1_000_000n);
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const fraction = (epochNs % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${iso.slice(0, 19)}${fraction ? `.${fraction}` : ''}Z`;
}

/** Sleeps `ms` (no timer at all for 0); rejects with an AbortError when `signal` aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) {
    signal?.throwIfAborted();
    return;
  }
  await delay(ms, undefined, signal ? { signal } : undefined);
}

const DEFAULT_KEEP_ALIVE_MS = 5 * 60_000;
/** Go's maximum `time.Duration`: what a negative keep_alive means ("forever"). */
const FOREVER_MS = 9_223_372_036_854.775;

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses `keep_alive` as the server does: a number is seconds, a string is a Go duration ("5m", "1h30m", "-1"),
 * negative means forever. Returns milliseconds; `undefined` (absent or unparseable) means the 5 minute default.
 */
export function keepAliveMs(value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_KEEP_ALIVE_MS;
  let ms: number | undefined;
  if (typeof value === 'number') ms = value * 1000;
  else if (typeof value === 'string') ms = parseGoDuration(value);
  if (ms === undefined || Number.isNaN(ms)) return DEFAULT_KEEP_ALIVE_MS;
  return ms < 0 ? FOREVER_MS : ms;
}

function parseGoDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^[-+]?\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  const match = /^([-+]?)((?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+)$/.exec(trimmed);
  if (!match) return undefined;
  let total = 0;
  for (const part of match[2]!.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) {
    total += Number(part[1]) * UNIT_MS[part[2]!]!;
  }
  return match[1] === '-' ? -total : total;
}
