// The process set-up every arm but `bare` shares, as NodeSDK 0.301 (`startNodeSdk`) builds it, with the network
// exporters swapped for discarding ones: AsyncLocalStorageContextManager, NodeSDK's default propagator (W3C trace
// context + W3C baggage), a TracerProvider with a BatchSpanProcessor (default queue, batch size and 5 s delay), a
// MeterProvider with a PeriodicExportingMetricReader at its default 60 s interval, and a LoggerProvider with a
// BatchLogRecordProcessor, all registered globally through @opentelemetry/api.
//
// The exporters count what reaches them (spans, log records, metric exports) and, while `record` is on, keep it,
// so that the harness can check that every arm produces telemetry and that none records message content.
import { context, logs, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';

const SUCCESS = { code: 0 };

/** What the discarding exporters saw, across every provider of the process (peers bring their own). */
export const sink = {
  spans: 0,
  logRecords: 0,
  metricExports: 0,
  record: false,
  recorded: { spans: [], logRecords: [], metrics: [] },
};

/** A span exporter that drops everything (after counting it). Works with SDK 1.x, 2.x and 3.x processors. */
export const discardingSpanExporter = {
  export(spans, done) {
    sink.spans += spans.length;
    if (sink.record) sink.recorded.spans.push(...spans);
    done(SUCCESS);
  },
  shutdown: async () => {},
  forceFlush: async () => {},
};

export const discardingLogExporter = {
  export(records, done) {
    sink.logRecords += records.length;
    if (sink.record) sink.recorded.logRecords.push(...records);
    done(SUCCESS);
  },
  shutdown: async () => {},
  forceFlush: async () => {},
};

const discardingMetricExporter = {
  export(resourceMetrics, done) {
    sink.metricExports++;
    if (sink.record) sink.recorded.metrics.push(resourceMetrics);
    done(SUCCESS);
  },
  shutdown: async () => {},
  forceFlush: async () => {},
};

/** Starts the NodeSDK-like set-up and returns its providers; `flush()` pushes everything queued to the sinks. */
export function startNodeSdkLike() {
  const contextManager = new AsyncLocalStorageContextManager();
  contextManager.enable();
  const propagator = new CompositePropagator({
    propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
  });
  const resource = resourceFromAttributes({ 'service.name': 'ollama-otel-peer-bench' });
  const meterProvider = new MeterProvider({
    resource,
    readers: [new PeriodicExportingMetricReader({ exporter: discardingMetricExporter, exportIntervalMillis: 60_000 })],
  });
  const tracerProvider = new TracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor({ exporter: discardingSpanExporter })],
  });
  const loggerProvider = new LoggerProvider({
    resource,
    processors: [new BatchLogRecordProcessor({ exporter: discardingLogExporter })],
  });
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(propagator);
  metrics.setGlobalMeterProvider(meterProvider);
  trace.setGlobalTracerProvider(tracerProvider);
  logs.setGlobalLoggerProvider(loggerProvider);
  const flushers = [tracerProvider, loggerProvider];
  return {
    tracerProvider,
    meterProvider,
    loggerProvider,
    /** Providers that a peer built for itself, flushed with ours. */
    addFlusher(provider) {
      flushers.push(provider);
    },
    async flush() {
      for (const provider of flushers) await provider.forceFlush();
    },
    /** Collects metrics now (outside the measured windows), so the verification sees them. */
    async collectMetrics() {
      await meterProvider.forceFlush();
    },
    async shutdown() {
      await Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown(), loggerProvider.shutdown()]);
    },
  };
}
