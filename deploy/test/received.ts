/* What the OTLP receivers got (packages/node/test/helpers), summarised for the deploy tests. */
import type { ReceivedMetric } from '../../packages/node/test/helpers/otlp.js';

/** The histogram count of `name` summed over its series, at the latest collection time (0 when none arrived). */
export function lastTotalCount(metrics: ReceivedMetric[], name: string): number {
  const points = metrics.filter((m) => m.name === name).flatMap((m) => m.points);
  const latest = Math.max(...points.map((p) => p.timeUnixNano));
  return points.filter((p) => p.timeUnixNano === latest).reduce((sum, p) => sum + (p.count ?? 0), 0);
}
