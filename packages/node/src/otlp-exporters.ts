/**
 * The OTLP exporters: the OpenTelemetry exporters' own configuration (code options, `OTEL_EXPORTER_OTLP_*`,
 * defaults), serialisers and export logic (partial-success handling), on our transports
 * ({@link HttpTransport}, {@link GrpcTransport} with {@link RetryingTransport}) behind a
 * {@link DetachedExportDelegate}: what they do while the collector is down never keeps a finished app alive nor
 * slows it down.
 */
import { Metadata } from '@grpc/grpc-js';
import { OTLPMetricExporterBase } from '@opentelemetry/exporter-metrics-otlp-http';
import {
  createOtlpNetworkExportDelegate,
  type IExporterTransport,
  type IOtlpExportDelegate,
  OTLPExporterBase,
} from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExporterMetrics } from '@opentelemetry/otlp-exporter-base/node-http';
import { convertLegacyOtlpGrpcOptions, createOtlpGrpcExporterMetrics } from '@opentelemetry/otlp-grpc-exporter-base';
import {
  type IExporterMetricsHelper,
  type ISerializer,
  JsonLogsSerializer,
  JsonMetricsSerializer,
  JsonTraceSerializer,
  LogsExporterMetricsHelper,
  MetricsExporterMetricsHelper,
  ProtobufLogsSerializer,
  ProtobufMetricsSerializer,
  ProtobufTraceSerializer,
  TraceExporterMetricsHelper,
} from '@opentelemetry/otlp-transformer';
import type { LogRecordExporter, ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import type { ResolvedOtlp } from './config.js';
import { type Delivery, DetachedExportDelegate, type DetachedOptions } from './detached-delegate.js';
import type { ExportLedger, SignalName } from './export-ledger.js';
import { GrpcTransport } from './grpc-transport.js';
import { HttpTransport } from './http-transport.js';
import { RetryingTransport } from './retrying-transport.js';

interface SignalSpec<T> {
  name: SignalName;
  /** As in `OTEL_EXPORTER_OTLP_<ID>_*`. */
  id: 'TRACES' | 'METRICS' | 'LOGS';
  path: string;
  grpcMethod: string;
  protobuf: ISerializer<T, unknown>;
  json: ISerializer<T, unknown>;
  helper: IExporterMetricsHelper<T>;
  component: string;
  count: (batch: T) => number;
}

const TRACES: SignalSpec<ReadableSpan[]> = {
  name: 'traces',
  id: 'TRACES',
  path: 'v1/traces',
  grpcMethod: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  protobuf: ProtobufTraceSerializer,
  json: JsonTraceSerializer,
  helper: TraceExporterMetricsHelper,
  component: 'span_exporter',
  count: (spans) => spans.length,
};

const METRICS: SignalSpec<ResourceMetrics> = {
  name: 'metrics',
  id: 'METRICS',
  path: 'v1/metrics',
  grpcMethod: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
  protobuf: ProtobufMetricsSerializer,
  json: JsonMetricsSerializer,
  helper: MetricsExporterMetricsHelper,
  component: 'metric_exporter',
  count: (resourceMetrics) => {
    let points = 0;
    for (const scope of resourceMetrics.scopeMetrics)
      for (const metric of scope.metrics) points += metric.dataPoints.length;
    return points;
  },
};

const LOGS: SignalSpec<ReadableLogRecord[]> = {
  name: 'logs',
  id: 'LOGS',
  path: 'v1/logs',
  grpcMethod: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
  protobuf: ProtobufLogsSerializer,
  json: JsonLogsSerializer,
  helper: LogsExporterMetricsHelper,
  component: 'log_exporter',
  count: (records) => records.length,
};

export interface OtlpExporter<E> {
  exporter: E;
  delivery: Delivery;
}

/** Batches as the processors build them: at most this many items in a queue, and in an export. */
export interface BatchLimits {
  maxQueuedItems: number;
  maxExportItems: number;
}

export function otlpTraceExporter(
  otlp: ResolvedOtlp,
  ledger: ExportLedger,
  limits: BatchLimits,
): OtlpExporter<SpanExporter> {
  const delivery = detachedDelegate(TRACES, otlp, ledger, {
    maxQueuedItems: limits.maxQueuedItems,
    merge: { join: (batches) => batches.flat(), maxExportItems: limits.maxExportItems },
  });
  return { exporter: new OTLPExporterBase(delivery), delivery };
}

/** Temporality from `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` (default cumulative), as the exporters do. */
export function otlpMetricExporter(otlp: ResolvedOtlp, ledger: ExportLedger): OtlpExporter<PushMetricExporter> {
  const delivery = detachedDelegate(METRICS, otlp, ledger, { maxQueuedItems: 0, newestWins: true });
  return { exporter: new OTLPMetricExporterBase(delivery), delivery };
}

export function otlpLogExporter(
  otlp: ResolvedOtlp,
  ledger: ExportLedger,
  limits: BatchLimits,
): OtlpExporter<LogRecordExporter> {
  const delivery = detachedDelegate(LOGS, otlp, ledger, {
    maxQueuedItems: limits.maxQueuedItems,
    merge: { join: (batches) => batches.flat(), maxExportItems: limits.maxExportItems },
  });
  return { exporter: new OTLPExporterBase(delivery), delivery };
}

function detachedDelegate<T>(
  spec: SignalSpec<T>,
  otlp: ResolvedOtlp,
  ledger: ExportLedger,
  queue: Omit<DetachedOptions<T>, 'count'>,
): DetachedExportDelegate<T> {
  let inner: IOtlpExportDelegate<T>;
  let retrying: RetryingTransport;
  let target: string;
  let collector: string;
  if (otlp.protocol === 'grpc') {
    const options = convertLegacyOtlpGrpcOptions(grpcConfig(otlp), spec.id);
    retrying = new RetryingTransport(new GrpcTransport(options, spec.grpcMethod));
    const metrics = createOtlpGrpcExporterMetrics(`otlp_grpc_${spec.component}`, spec.helper, options.url, undefined);
    inner = createOtlpNetworkExportDelegate(options, spec.protobuf, metrics, retrying as IExporterTransport);
    target = `grpc ${options.url}`;
    collector = options.url;
  } else {
    const json = otlp.protocol === 'http/json';
    const options = convertLegacyHttpOptions(httpConfig(otlp), spec.id, spec.path, {
      'Content-Type': json ? 'application/json' : 'application/x-protobuf',
    });
    retrying = new RetryingTransport(new HttpTransport(options));
    const component = json ? `otlp_http_json_${spec.component}` : `otlp_http_${spec.component}`;
    const metrics = createOtlpHttpExporterMetrics(component, spec.helper, options.url, undefined);
    inner = createOtlpNetworkExportDelegate(options, json ? spec.json : spec.protobuf, metrics, retrying);
    target = `${otlp.protocol} ${options.url}`;
    collector = new URL(options.url).host;
  }
  return new DetachedExportDelegate(inner, retrying, ledger.open(spec.name, target, collector), {
    count: spec.count,
    ...queue,
  });
}

/** Only what code gave: anything left out is read from `OTEL_EXPORTER_OTLP_*` or defaulted. */
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
