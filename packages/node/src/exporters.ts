/**
 * Builds span processors, metric readers and log record processors from the resolved configuration.
 * Every constructor runs under a guard: an exporter that cannot be built is reported through `diag` and skipped.
 */
import { diag } from '@opentelemetry/api';
import { getNumberFromEnv } from '@opentelemetry/core';
import {
  BatchLogRecordProcessor,
  ConsoleLogRecordExporter,
  type LogRecordProcessor,
  SimpleLogRecordProcessor,
} from '@opentelemetry/sdk-logs';
import {
  ConsoleMetricExporter,
  type IMetricReader,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import type { ResolvedConfig } from './config.js';
import type { Delivery } from './detached-delegate.js';
import { ExportLedger, type SignalName } from './export-ledger.js';
import { type BatchLimits, otlpLogExporter, otlpMetricExporter, otlpTraceExporter } from './otlp-exporters.js';
import { PrometheusEndpointExporter } from './prometheus-endpoint.js';

export interface Pipelines {
  spanProcessors: SpanProcessor[];
  metricReaders: IMetricReader[];
  logRecordProcessors: LogRecordProcessor[];
  /** The OTLP exporters' deliveries: drained by a flush, given up at the shutdown time limit. */
  deliveries: Delivery[];
  /** What they could not deliver. */
  ledger: ExportLedger;
  /** Where each signal goes (`console`, `otlp grpc localhost:4317`, `prometheus http://localhost:9464/metrics`). */
  destinations: Record<SignalName, string[]>;
}

/** The batch processors' defaults (as the SDK has them). */
const DEFAULT_MAX_QUEUE_SIZE = 2048;
const DEFAULT_MAX_EXPORT_BATCH_SIZE = 512;

export function buildPipelines(config: ResolvedConfig): Pipelines {
  const ledger = new ExportLedger();
  const deliveries: Delivery[] = [];
  const spanProcessors: SpanProcessor[] = [];
  for (const name of config.traces.exporters) {
    guarded(`${name} trace exporter`, () => {
      if (name === 'console') {
        spanProcessors.push(new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() }));
      } else {
        const settings = batchSettings('BSP');
        const otlp = otlpTraceExporter(config.traces.otlp, ledger, limits(settings));
        deliveries.push(otlp.delivery);
        spanProcessors.push(new BatchSpanProcessor({ exporter: otlp.exporter, ...settings }));
      }
    });
  }

  const metricReaders: IMetricReader[] = [];
  for (const name of config.metrics.exporters) {
    guarded(`${name} metric exporter`, () => {
      if (name === 'prometheus') {
        // Scrapes never keep the process alive, and shutdown closes their connections. A port in use is logged
        // through diag.
        metricReaders.push(new PrometheusEndpointExporter(config.metrics.prometheus));
        return;
      }
      let exporter: PushMetricExporter;
      if (name === 'console') {
        exporter = new ConsoleMetricExporter();
      } else {
        const otlp = otlpMetricExporter(config.metrics.otlp, ledger);
        deliveries.push(otlp.delivery);
        exporter = otlp.exporter;
      }
      metricReaders.push(
        new PeriodicExportingMetricReader({
          exporter,
          exportIntervalMillis: config.metrics.intervalMillis,
          exportTimeoutMillis: config.metrics.timeoutMillis,
        }),
      );
    });
  }

  const logRecordProcessors: LogRecordProcessor[] = [];
  for (const name of config.logs.exporters) {
    guarded(`${name} log exporter`, () => {
      if (name === 'console') {
        logRecordProcessors.push(new SimpleLogRecordProcessor({ exporter: new ConsoleLogRecordExporter() }));
      } else {
        const settings = batchSettings('BLRP');
        const otlp = otlpLogExporter(config.logs.otlp, ledger, limits(settings));
        deliveries.push(otlp.delivery);
        logRecordProcessors.push(new BatchLogRecordProcessor({ exporter: otlp.exporter, ...settings }));
      }
    });
  }

  const destinations = {
    traces: destinationsOf(config.traces.exporters, 'traces', ledger, config),
    metrics: destinationsOf(config.metrics.exporters, 'metrics', ledger, config),
    logs: destinationsOf(config.logs.exporters, 'logs', ledger, config),
  };
  return { spanProcessors, metricReaders, logRecordProcessors, deliveries, ledger, destinations };
}

function destinationsOf(names: string[], signal: SignalName, ledger: ExportLedger, config: ResolvedConfig): string[] {
  const otlp = ledger.targets(signal).map((target) => `otlp ${target}`);
  return names.flatMap((name) => {
    if (name === 'otlp') return otlp;
    if (name === 'prometheus') {
      const { host, port } = config.metrics.prometheus;
      return [`prometheus http://${host}:${port}/metrics`];
    }
    return [name];
  });
}

/** `OTEL_BSP_*` / `OTEL_BLRP_*`, as NodeSDK reads them (invalid or non-positive values fall back to defaults). */
function batchSettings(prefix: 'BSP' | 'BLRP'): {
  maxQueueSize?: number;
  scheduledDelayMillis?: number;
  exportTimeoutMillis?: number;
  maxExportBatchSize?: number;
} {
  const read = (name: string) => {
    const value = getNumberFromEnv(`OTEL_${prefix}_${name}`);
    return value !== undefined && value > 0 ? value : undefined;
  };
  return {
    maxQueueSize: read('MAX_QUEUE_SIZE'),
    scheduledDelayMillis: read('SCHEDULE_DELAY'),
    exportTimeoutMillis: read('EXPORT_TIMEOUT'),
    maxExportBatchSize: read('MAX_EXPORT_BATCH_SIZE'),
  };
}

/** The delivery behind a batch processor queues and sends batches of the same size as the processor. */
function limits(settings: ReturnType<typeof batchSettings>): BatchLimits {
  return {
    maxQueuedItems: settings.maxQueueSize ?? DEFAULT_MAX_QUEUE_SIZE,
    maxExportItems: settings.maxExportBatchSize ?? DEFAULT_MAX_EXPORT_BATCH_SIZE,
  };
}

function guarded(what: string, build: () => void): void {
  try {
    build();
  } catch (err) {
    diag.error(`@ollama-otel/node: could not set up the ${what}; continuing without it`, err);
  }
}
