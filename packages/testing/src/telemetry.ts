/** An in-memory OpenTelemetry SDK for tests: finished spans, emitted logs and on-demand metric collection. */
import { context, logs, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { type ExportResult, ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core';
import { LoggerProvider, type ReadableLogRecord, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import {
  AggregationTemporality,
  DataPointType,
  MeterProvider,
  type MetricData,
  MetricReader,
} from '@opentelemetry/sdk-metrics';
import { type ReadableSpan, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';

/** A histogram data point's value, flattened. */
export interface HistogramValue {
  count: number;
  sum: number | undefined;
  min: number | undefined;
  max: number | undefined;
  buckets: { boundaries: number[]; counts: number[] };
}

export interface CollectedDataPoint {
  attributes: Record<string, unknown>;
  /** A number for sums and gauges, a {@link HistogramValue} for histograms (the SDK's value for exponential ones). */
  value: any;
}

/** One metric stream, flattened out of the SDK's resource/scope nesting. */
export interface CollectedMetric {
  name: string;
  unit: string;
  description: string;
  /** `'sum' | 'gauge' | 'histogram' | 'exponential_histogram'`. */
  type: string;
  /** For sums: whether the sum only goes up (a counter) or not (an up-down counter). */
  isMonotonic?: boolean;
  /** The meter (instrumentation scope) name. */
  scope: string;
  dataPoints: CollectedDataPoint[];
}

export interface TelemetryHarness {
  tracerProvider: TracerProvider;
  meterProvider: MeterProvider;
  loggerProvider: LoggerProvider;
  /** Finished spans, in the order they ended (still readable after `shutdown()`). */
  spans(): ReadableSpan[];
  /** Emitted log records, in emit order. */
  logs(): ReadableLogRecord[];
  /** Collects now (cumulative temporality) and flattens. */
  collectMetrics(): Promise<CollectedMetric[]>;
  /**
   * Clears finished spans and logs. Metrics are cumulative and are NOT reset: compare against an earlier
   * `collectMetrics()` or create a fresh harness when a test needs a clean slate.
   */
  reset(): void;
  /** Shuts the providers down and undoes what `registerGlobal` installed. */
  shutdown(): Promise<void>;
}

export interface TelemetryHarnessOptions {
  /**
   * Also install the ALS context manager and W3C propagator, and make these providers the global
   * tracer/meter/logger providers (replacing any registered before). Default false.
   */
  registerGlobal?: boolean;
}

/**
 * Keeps everything exported in memory. Unlike the SDK's in-memory exporters it keeps the records after shutdown, so a
 * test can still inspect them; after shutdown it refuses new exports.
 */
class CollectingExporter<T> {
  private records: T[] = [];
  private stopped = false;

  export(items: T[], resultCallback: (result: ExportResult) => void): void {
    if (this.stopped) {
      resultCallback({ code: ExportResultCode.FAILED, error: new Error('exporter is shut down') });
      return;
    }
    this.records.push(...items);
    resultCallback({ code: ExportResultCode.SUCCESS });
  }

  get collected(): T[] {
    return [...this.records];
  }

  clear(): void {
    this.records = [];
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
  }

  async forceFlush(): Promise<void> {}
}

/** A pull reader: nothing is exported until `collect()` is called. */
class CollectingMetricReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }

  protected override async onShutdown(): Promise<void> {}

  protected override async onForceFlush(): Promise<void> {}
}

let contextInstalledExplicitly = false;

/** Installs the ALS context manager and W3C propagator globally unless one is installed; true when it installed. */
function ensureContextManager(): boolean {
  const manager = new AsyncLocalStorageContextManager().enable();
  const installed = context.setGlobalContextManager(manager);
  if (!installed) manager.disable();
  if (installed) propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  return installed;
}

/**
 * Idempotently installs an `AsyncLocalStorageContextManager` as the global context manager and the W3C trace-context
 * propagator as the global propagator. Returns true when this call installed them, false when a context manager was
 * already in place. A harness never uninstalls what this function installed.
 */
export function installContextManager(): boolean {
  contextInstalledExplicitly = true;
  return ensureContextManager();
}

export function createTelemetryHarness(options: TelemetryHarnessOptions = {}): TelemetryHarness {
  const spanExporter = new CollectingExporter<ReadableSpan>();
  const logExporter = new CollectingExporter<ReadableLogRecord>();
  const metricReader = new CollectingMetricReader();
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spanExporter })] });
  const meterProvider = new MeterProvider({ readers: [metricReader] });
  const loggerProvider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter: logExporter })] });

  const globals = options.registerGlobal ? registerGlobals(tracerProvider, meterProvider, loggerProvider) : undefined;
  let shutdown: Promise<void> | undefined;

  return {
    tracerProvider,
    meterProvider,
    loggerProvider,
    spans: () => spanExporter.collected,
    logs: () => logExporter.collected,
    collectMetrics: async () => flattenMetrics(await metricReader.collect()),
    reset: () => {
      spanExporter.clear();
      logExporter.clear();
    },
    shutdown: () => {
      shutdown ??= (async () => {
        globals?.undo();
        await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown(), loggerProvider.shutdown()]);
      })();
      return shutdown;
    },
  };
}

function registerGlobals(tracerProvider: TracerProvider, meterProvider: MeterProvider, loggerProvider: LoggerProvider) {
  const ownsContext = ensureContextManager();
  trace.disable();
  metrics.disable();
  logs.disable();
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  logs.setGlobalLoggerProvider(loggerProvider);
  return {
    undo(): void {
      trace.disable();
      metrics.disable();
      logs.disable();
      if (ownsContext && !contextInstalledExplicitly) {
        context.disable();
        propagation.disable();
      }
    },
  };
}

type CollectionResult = Awaited<ReturnType<MetricReader['collect']>>;

function flattenMetrics({ resourceMetrics }: CollectionResult): CollectedMetric[] {
  return resourceMetrics.scopeMetrics.flatMap((scopeMetrics) =>
    scopeMetrics.metrics.map((metric) => flattenMetric(metric, scopeMetrics.scope.name)),
  );
}

const TYPE_NAMES: Record<DataPointType, string> = {
  [DataPointType.SUM]: 'sum',
  [DataPointType.GAUGE]: 'gauge',
  [DataPointType.HISTOGRAM]: 'histogram',
  [DataPointType.EXPONENTIAL_HISTOGRAM]: 'exponential_histogram',
};

function flattenMetric(metric: MetricData, scope: string): CollectedMetric {
  return {
    name: metric.descriptor.name,
    unit: metric.descriptor.unit,
    description: metric.descriptor.description,
    type: TYPE_NAMES[metric.dataPointType],
    ...(metric.dataPointType === DataPointType.SUM ? { isMonotonic: metric.isMonotonic } : {}),
    scope,
    dataPoints: metric.dataPoints.map((point) => ({
      attributes: { ...point.attributes },
      value: metric.dataPointType === DataPointType.HISTOGRAM ? histogramValue(point.value as any) : point.value,
    })),
  };
}

function histogramValue(value: {
  count: number;
  sum?: number;
  min?: number;
  max?: number;
  buckets: { boundaries: number[]; counts: number[] };
}): HistogramValue {
  return {
    count: value.count,
    sum: value.sum,
    min: value.min,
    max: value.max,
    buckets: { boundaries: [...value.buckets.boundaries], counts: [...value.buckets.counts] },
  };
}

/** The metric named `name`, if collected. */
export function findMetric(collected: CollectedMetric[], name: string): CollectedMetric | undefined {
  return collected.find((metric) => metric.name === name);
}
