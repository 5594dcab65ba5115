/** Span timestamps as a trace viewer needs them: events inside their span, children inside their parent. */
import type { ReceivedSpan } from './otlp-receiver.js';

export function timingViolations(spans: ReceivedSpan[]): string[] {
  const byId = new Map(spans.map((span) => [span.spanId, span]));
  const problems: string[] = [];
  for (const span of spans) {
    if (span.end < span.start) problems.push(`${span.name}: ends ${span.start - span.end} ns before it starts`);
    for (const event of span.events) {
      if (event.time < span.start)
        problems.push(`${span.name}: event ${event.name} ${span.start - event.time} ns before the span`);
      if (event.time > span.end)
        problems.push(`${span.name}: event ${event.name} ${event.time - span.end} ns after the span`);
    }
    const parent = byId.get(span.parentSpanId);
    if (parent === undefined) continue;
    if (span.start < parent.start)
      problems.push(`${span.name}: starts ${parent.start - span.start} ns before its parent ${parent.name}`);
    if (span.end > parent.end)
      problems.push(`${span.name}: ends ${span.end - parent.end} ns after its parent ${parent.name}`);
  }
  return problems;
}
