/*
 * Span timestamps as `HrTime` built from `performance.now()` readings. Epoch milliseconds in a double lose
 * sub-microsecond precision, so server durations (integer nanoseconds) are added and subtracted in HrTime, and
 * every span and phase boundary is exact to the nanosecond relative to the others.
 */
import type { HrTime } from '@opentelemetry/api';

const NANOSECONDS_PER_SECOND = 1e9;
const NANOSECONDS_PER_MILLISECOND = 1e6;
const ORIGIN_SECONDS = Math.floor(performance.timeOrigin / 1000);
const ORIGIN_NANOSECONDS = Math.round((performance.timeOrigin - ORIGIN_SECONDS * 1000) * NANOSECONDS_PER_MILLISECOND);

/** The epoch time of a `performance.now()` reading. */
export function hrTimeOf(performanceNow: number): HrTime {
  return addNanoseconds([ORIGIN_SECONDS, ORIGIN_NANOSECONDS], Math.round(performanceNow * NANOSECONDS_PER_MILLISECOND));
}

/** `time` plus `nanoseconds` (which may be negative). */
export function addNanoseconds(time: HrTime, nanoseconds: number): HrTime {
  const total = time[1] + nanoseconds;
  const carry = Math.floor(total / NANOSECONDS_PER_SECOND);
  return [time[0] + carry, total - carry * NANOSECONDS_PER_SECOND];
}
