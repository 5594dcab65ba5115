import { createTelemetryHarness, findMetric, installContextManager } from '@ollama-otel/testing';
import { context, logs, metrics, propagation, SpanStatusCode, trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';

describe('telemetry harness', () => {
  const harnesses: Array<ReturnType<typeof createTelemetryHarness>> = [];
  const harness = (registerGlobal = false) => {
    const created = createTelemetryHarness({ registerGlobal });
    harnesses.push(created);
    return created;
  };
  afterEach(async () => {
    await Promise.all(harnesses.splice(0).map((h) => h.shutdown()));
  });

  it('collects finished spans in end order, and reset clears them', () => {
    const h = harness();
    const tracer = h.tracerProvider.getTracer('test');
    const outer = tracer.startSpan('outer');
    const inner = tracer.startSpan('inner');
    inner.setStatus({ code: SpanStatusCode.ERROR });
    inner.end();
    outer.end();
    expect(h.spans().map((s) => s.name)).toEqual(['inner', 'outer']);
    expect(h.spans()[0]!.status.code).toBe(SpanStatusCode.ERROR);
    h.reset();
    expect(h.spans()).toEqual([]);
  });

  it('collects log records', () => {
    const h = harness();
    h.loggerProvider
      .getLogger('test')
      .emit({ eventName: 'gen_ai.test', body: { hello: 'world' }, attributes: { a: 1 } });
    expect(h.logs()).toHaveLength(1);
    expect(h.logs()[0]).toMatchObject({ eventName: 'gen_ai.test', body: { hello: 'world' }, attributes: { a: 1 } });
    h.reset();
    expect(h.logs()).toHaveLength(0);
  });

  it('collects cumulative metrics, flattened', async () => {
    const h = harness();
    const meter = h.meterProvider.getMeter('test');
    const histogram = meter.createHistogram('gen_ai.client.operation.duration', {
      unit: 's',
      description: 'GenAI operation duration',
      advice: { explicitBucketBoundaries: [0.1, 1, 10] },
    });
    const counter = meter.createCounter('requests');
    histogram.record(0.5, { 'gen_ai.operation.name': 'chat' });
    histogram.record(2, { 'gen_ai.operation.name': 'chat' });
    counter.add(3);
    let collected = await h.collectMetrics();
    const duration = findMetric(collected, 'gen_ai.client.operation.duration')!;
    expect(duration).toMatchObject({ unit: 's', description: 'GenAI operation duration', type: 'histogram' });
    expect(duration.dataPoints).toEqual([
      {
        attributes: { 'gen_ai.operation.name': 'chat' },
        value: { count: 2, sum: 2.5, min: 0.5, max: 2, buckets: { boundaries: [0.1, 1, 10], counts: [0, 1, 1, 0] } },
      },
    ]);
    expect(findMetric(collected, 'requests')).toMatchObject({
      type: 'sum',
      isMonotonic: true,
      dataPoints: [{ value: 3 }],
    });
    counter.add(2);
    collected = await h.collectMetrics();
    expect(findMetric(collected, 'requests')!.dataPoints[0]!.value).toBe(5);
    expect(findMetric(collected, 'nope')).toBeUndefined();
  });

  it('registerGlobal installs global providers, ALS context and W3C propagation; shutdown undoes them', async () => {
    const h = harness(true);
    const tracer = trace.getTracer('global');
    const span = tracer.startSpan('parent');
    const carrier: Record<string, string> = {};
    await context.with(trace.setSpan(context.active(), span), async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      expect(trace.getActiveSpan()).toBe(span);
      propagation.inject(context.active(), carrier);
    });
    span.end();
    expect(carrier.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(h.spans().map((s) => s.name)).toEqual(['parent']);
    metrics.getMeter('global').createCounter('c').add(1);
    expect(findMetric(await h.collectMetrics(), 'c')).toBeDefined();
    logs.getLogger('global').emit({ body: 'x' });
    expect(h.logs()).toHaveLength(1);

    await h.shutdown();
    trace.getTracer('global').startSpan('after').end();
    expect(h.spans().map((s) => s.name)).toEqual(['parent']);
  });

  it('installContextManager is idempotent and enables context propagation without providers', async () => {
    installContextManager();
    expect(installContextManager()).toBe(false);
    const key = Symbol('k');
    const value = await context.with(context.active().setValue(key, 42), async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return context.active().getValue(key);
    });
    expect(value).toBe(42);
    const h = harness(true);
    await h.shutdown();
    const stillThere = await context.with(context.active().setValue(key, 7), async () => {
      await Promise.resolve();
      return context.active().getValue(key);
    });
    expect(stillThere).toBe(7);
  });
});
