/*
 * Span timestamps in the SDK's own time domain. The SDK stamps a span it times itself as `Date.now()` at its
 * start (whole milliseconds, wall clock) plus `performance.now()` deltas after that. Readings of
 * `performance.timeOrigin + performance.now()` drift from that wall-clock anchor, so explicit timestamps built
 * from them can put a child before its parent's start or after its end. Every explicit time we set is therefore
 * `anchor + (performance.now() reading - anchor's performance.now())`, where the anchor is the parent span's
 * (when it is a local SDK span the SDK times itself), else our own span's. Server durations (integer
 * nanoseconds) are added in HrTime, so phase boundaries stay exact to the nanosecond.
 */
import type { HrTime, Span } from '@opentelemetry/api';

const NANOSECONDS_PER_SECOND = 1e9;
const NANOSECONDS_PER_MILLISECOND = 1e6;

/** Maps `performance.now()` readings to span timestamps. */
export interface SpanClock {
  at(performanceNow: number): HrTime;
  /** The `performance.now()` reading that maps to the anchor time. */
  readonly anchorPerformanceNow: number;
}

/** What the SDK's span implementation (sdk-trace 2.x and 3.x) keeps about how it times itself. */
interface SdkSpanTiming {
  startTime?: unknown;
  _performanceStartTime?: unknown;
  _startTimeProvided?: unknown;
}

class AnchoredClock implements SpanClock {
  constructor(
    private readonly anchorTime: HrTime,
    readonly anchorPerformanceNow: number,
  ) {}

  at(performanceNow: number): HrTime {
    return addNanoseconds(
      this.anchorTime,
      Math.round((performanceNow - this.anchorPerformanceNow) * NANOSECONDS_PER_MILLISECOND),
    );
  }
}

const ORIGIN_SECONDS = Math.floor(performance.timeOrigin / 1000);
const ORIGIN_NANOSECONDS = Math.round((performance.timeOrigin - ORIGIN_SECONDS * 1000) * NANOSECONDS_PER_MILLISECOND);
/** For spans that are not the SDK's: `performance.timeOrigin + performance.now()`. */
export const PERFORMANCE_CLOCK: SpanClock = new AnchoredClock([ORIGIN_SECONDS, ORIGIN_NANOSECONDS], 0);

/**
 * The clock of a span the SDK times itself (no explicit start time), or `undefined` for any other span: one
 * with an explicit start, a non-recording span, or another implementation's.
 */
export function clockOf(span: Span | undefined): SpanClock | undefined {
  if (span === undefined) return undefined;
  const timing = span as unknown as SdkSpanTiming;
  const { startTime, _performanceStartTime: performanceStart } = timing;
  if (timing._startTimeProvided !== false || !isHrTime(startTime) || typeof performanceStart !== 'number') {
    return undefined;
  }
  return new AnchoredClock(startTime, performanceStart);
}

/** `time` plus `nanoseconds` (which may be negative). */
export function addNanoseconds(time: HrTime, nanoseconds: number): HrTime {
  const total = time[1] + nanoseconds;
  const carry = Math.floor(total / NANOSECONDS_PER_SECOND);
  return [time[0] + carry, total - carry * NANOSECONDS_PER_SECOND];
}

function isHrTime(value: unknown): value is HrTime {
  return Array.isArray(value) && value.length === 2 && typeof value[0] === 'number' && typeof value[1] === 'number';
}
