/**
 * A tracer provider that counts the `end()` calls of every span started through it, so a test can assert that
 * every span was ended exactly once (a span ended twice, or never, shows as a count other than 1).
 */
import type { Span, Tracer, TracerProvider } from '@opentelemetry/api';

export interface SpanEndCounter {
  /** Give this to the code under test. */
  readonly tracerProvider: TracerProvider;
  /** Every span started so far, with its number of `end()` calls. */
  readonly ends: ReadonlyMap<Span, number>;
  /** The spans whose `end()` was not called exactly once. */
  notEndedOnce(): Span[];
}

export function countSpanEnds(inner: TracerProvider): SpanEndCounter {
  const ends = new Map<Span, number>();
  const counted = (span: Span): Span => {
    ends.set(span, 0);
    const end = span.end.bind(span);
    span.end = (endTime) => {
      ends.set(span, (ends.get(span) ?? 0) + 1);
      end(endTime);
    };
    return span;
  };
  const tracerProvider: TracerProvider = {
    getTracer(name, version, options) {
      const tracer = inner.getTracer(name, version, options);
      const startActiveSpan = (...args: unknown[]) => {
        const fn = args.pop() as (span: Span) => unknown;
        return (tracer.startActiveSpan as (...a: unknown[]) => unknown)(...args, (span: Span) => fn(counted(span)));
      };
      return {
        startSpan: (spanName, spanOptions, parent) => counted(tracer.startSpan(spanName, spanOptions, parent)),
        startActiveSpan: startActiveSpan as Tracer['startActiveSpan'],
      };
    },
  };
  return {
    tracerProvider,
    ends,
    notEndedOnce: () => [...ends].filter(([, count]) => count !== 1).map(([span]) => span),
  };
}
