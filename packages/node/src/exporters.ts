/**
 * Builds span processors, metric readers and log record processors from the resolved configuration.
 * Every constructor runs under a guard: an exporter that cannot be built is reported through `diag` and skipped.
 */
import { Metadata } from '@grpc/grpc-js';
import { diag } from '@opentelemetry/api';
import { getNumberFromEnv } from '@opentelemetry/core';
import { OTLPLogExporter as OTLPLogExporterGrpc } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as OTLPLogExporterJson } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as OTLPLogExporterProto } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter as OTLPMetricExporterGrpc } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as OTLPMetricExporterJson } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as OTLPMetricExporterProto } from '@opentelemetry/exporter-metrics-otlp-proto';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter as OTLPTraceExporterGrpc } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as OTLPTraceExporterJson } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPTraceExporterProto } from '@opentelemetry/exporter-trace-otlp-proto';
import {
  BatchLogRecordProcessor,
  ConsoleLogRecordExporter,
  type LogRecordExporter,
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
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import type { ResolvedConfig, ResolvedOtlp } from './config.js';

export interface Pipelines {
  spanProcessors: SpanProcessor[];
  metricReaders: IMetricReader[];
  logRecordProcessors: LogRecordProcessor[];
}

export function buildPipelines(config: ResolvedConfig): Pipelines {
  const spanProcessors: SpanProcessor[] = [];
  for (const name of config.traces.exporters) {
    guarded(`${name} trace exporter`, () => {
      if (name === 'console') {
        spanProcessors.push(new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() }));
      } else {
        spanProcessors.push(
          new BatchSpanProcessor({ exporter: otlpTraceExporter(config.traces.otlp), ...batchSettings('BSP') }),
        );
      }
    });
  }

  const metricReaders: IMetricReader[] = [];
  for (const name of config.metrics.exporters) {
    guarded(`${name} metric exporter`, () => {
      if (name === 'prometheus') {
        // Its HTTP server is unref'd: it never keeps the process alive. A port in use is logged through diag.
        metricReaders.push(new PrometheusExporter(config.metrics.prometheus));
        return;
      }
      const exporter: PushMetricExporter =
        name === 'console' ? new ConsoleMetricExporter() : otlpMetricExporter(config.metrics.otlp);
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
        logRecordProcessors.push(
          new BatchLogRecordProcessor({ exporter: otlpLogExporter(config.logs.otlp), ...batchSettings('BLRP') }),
        );
      }
    });
  }

  return { spanProcessors, metricReaders, logRecordProcessors };
}

function otlpTraceExporter(otlp: ResolvedOtlp): SpanExporter {
  switch (otlp.protocol) {
    case 'grpc':
      return new OTLPTraceExporterGrpc(grpcConfig(otlp));
    case 'http/json':
      return new OTLPTraceExporterJson(httpConfig(otlp));
    default:
      return new OTLPTraceExporterProto(httpConfig(otlp));
  }
}

function otlpMetricExporter(otlp: ResolvedOtlp): PushMetricExporter {
  // Temporality comes from OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE (read by the exporter), default cumulative.
  switch (otlp.protocol) {
    case 'grpc':
      return new OTLPMetricExporterGrpc(grpcConfig(otlp));
    case 'http/json':
      return new OTLPMetricExporterJson(httpConfig(otlp));
    default:
      return new OTLPMetricExporterProto(httpConfig(otlp));
  }
}

function otlpLogExporter(otlp: ResolvedOtlp): LogRecordExporter {
  switch (otlp.protocol) {
    case 'grpc':
      return new OTLPLogExporterGrpc(grpcConfig(otlp));
    case 'http/json':
      return new OTLPLogExporterJson(httpConfig(otlp));
    default:
      return new OTLPLogExporterProto(httpConfig(otlp));
  }
}

/** Only what code gave: anything left out is read by the exporter from `OTEL_EXPORTER_OTLP_*` or defaulted. */
function httpConfig(otlp: ResolvedOtlp): { url?: string; headers?: Record<string, string> } {
  const config: { url?: string; headers?: Record<string, string> } = {};
  if (otlp.url !== undefined) config.url = otlp.url;
  if (otlp.headers !== undefined) config.headers = otlp.headers;
  return config;
}

function grpcConfig(otlp: ResolvedOtlp): { url?: string; metadata?: Metadata } {
  const config: { url?: string; metadata?: Metadata } = {};
  if (otlp.url !== undefined) config.url = otlp.url;
  if (otlp.headers !== undefined) {
    const metadata = new Metadata();
    for (const [key, value] of Object.entries(otlp.headers)) metadata.set(key, value);
    config.metadata = metadata;
  }
  return config;
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

function guarded(what: string, build: () => void): void {
  try {
    build();
  } catch (err) {
    diag.error(`@ollama-otel/node: could not set up the ${what}; continuing without it`, err);
  }
}
