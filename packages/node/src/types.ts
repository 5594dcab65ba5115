import type { OllamaInstrumentationConfig } from '@ollama-otel/instrumentation';
import type { Attributes, DiagLogLevel } from '@opentelemetry/api';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import type { ResourceDetector } from '@opentelemetry/resources';
import type { LogRecordProcessor } from '@opentelemetry/sdk-logs';
import type { IMetricReader, ViewOptions } from '@opentelemetry/sdk-metrics';
import type { Sampler, SpanProcessor } from '@opentelemetry/sdk-trace';

/** OTLP transport, as in `OTEL_EXPORTER_OTLP_PROTOCOL`. */
export type OtlpProtocol = 'grpc' | 'http/protobuf' | 'http/json';

/** Values of `OTEL_TRACES_EXPORTER` understood here. */
export type TracesExporterName = 'otlp' | 'console' | 'none';
/** Values of `OTEL_METRICS_EXPORTER` understood here. */
export type MetricsExporterName = 'otlp' | 'console' | 'prometheus' | 'none';
/** Values of `OTEL_LOGS_EXPORTER` understood here. */
export type LogsExporterName = 'otlp' | 'console' | 'none';

/** OTLP settings for one signal (or for all of them). */
export interface OtlpSignalOptions {
  /**
   * Collector URL. Given for all signals (`otlp.endpoint`) it is a base URL: `/v1/traces`, `/v1/metrics` or
   * `/v1/logs` is appended for the HTTP protocols. Given for one signal (`otlp.traces.endpoint`) it is used as is.
   */
  endpoint?: string;
  protocol?: OtlpProtocol;
  /** Extra request headers (e.g. an API key); merged over `OTEL_EXPORTER_OTLP_HEADERS`. */
  headers?: Record<string, string>;
}

export interface OtlpOptions extends OtlpSignalOptions {
  traces?: OtlpSignalOptions;
  metrics?: OtlpSignalOptions;
  logs?: OtlpSignalOptions;
}

/** The in-process Prometheus `/metrics` endpoint (`metricsExporter: 'prometheus'`). */
export interface PrometheusOptions {
  /** Default `OTEL_EXPORTER_PROMETHEUS_HOST`, else `localhost`. */
  host?: string;
  /** Default `OTEL_EXPORTER_PROMETHEUS_PORT`, else 9464. */
  port?: number;
}

/** Gauges read from the Ollama server's `GET /api/ps` and `GET /api/version`. */
export interface OllamaServerMetricsOptions {
  /** Default true (`OLLAMA_OTEL_SERVER_METRICS=false` turns them off). */
  enabled?: boolean;
  /**
   * The Ollama server, in any form `OLLAMA_HOST` accepts (`127.0.0.1:11434`, `http://gpu-box:11434`,
   * `https://ollama.example.com`). Default `OLLAMA_HOST`, else `http://127.0.0.1:11434`.
   */
  host?: string;
  /**
   * Several Ollama servers (a fleet), each in any form `host` accepts; every series carries its server's
   * `server.address` and `server.port`. Wins over `host`. Default `OLLAMA_OTEL_SERVER_METRICS_HOSTS` (separated by
   * commas), else just `host`.
   */
  hosts?: string[];
  /**
   * The server is asked at most once per this many milliseconds; collections in between reuse the last answer.
   * Default `OLLAMA_OTEL_SERVER_METRICS_MIN_INTERVAL`, else 15000.
   */
  minIntervalMillis?: number;
  /** Time limit of one poll. Default `OLLAMA_OTEL_SERVER_METRICS_TIMEOUT`, else 2000. */
  timeoutMillis?: number;
  /** Extra request headers. Default: `Authorization: Bearer $OLLAMA_API_KEY` when that variable is set. */
  headers?: Record<string, string>;
}

/**
 * Options of {@link startTelemetry}. Everything is optional: with no options the standard `OTEL_*` variables
 * (and a few `OLLAMA_*` ones) decide. An option given here wins over its variable, except `OTEL_SDK_DISABLED=true`.
 */
export interface TelemetryOptions {
  /** Start nothing (the API stays no-op). `OTEL_SDK_DISABLED=true` disables regardless of this option. */
  disabled?: boolean;
  /** `service.name`; wins over `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`. */
  serviceName?: string;
  /** `service.version`. */
  serviceVersion?: string;
  /** Resource attributes; win over detected ones and `OTEL_RESOURCE_ATTRIBUTES`. */
  resourceAttributes?: Attributes;
  /** Resource detectors; default NodeSDK's (`OTEL_NODE_RESOURCE_DETECTORS`, else env, host, os, process, service instance). */
  resourceDetectors?: ResourceDetector[];

  /**
   * Passed to `new OllamaInstrumentation(...)`. `enabled: false` (or `ollama` in
   * `OTEL_NODE_DISABLED_INSTRUMENTATIONS`) leaves it out. `propagateContext` unset: `OLLAMA_OTEL_PROPAGATE_CONTEXT`
   * (`true` / `false`), else the instrumentation's default.
   */
  ollamaInstrumentation?: OllamaInstrumentationConfig;
  /**
   * More instrumentations to register next to the Ollama one (Express, undici, `getNodeAutoInstrumentations()`,
   * ...). One instrumentation per name: one given here replaces ours of the same name (HTTP, host and runtime
   * metrics), and one that patches `ollama` replaces our Ollama instrumentation.
   */
  instrumentations?: (Instrumentation | Instrumentation[])[];

  /** Default `OTEL_TRACES_EXPORTER`, else `otlp`. `none` (or `[]`) disables tracing. */
  tracesExporter?: TracesExporterName | TracesExporterName[];
  /** Default `OTEL_METRICS_EXPORTER`, else `otlp`. `none` (or `[]`) disables metrics. */
  metricsExporter?: MetricsExporterName | MetricsExporterName[];
  /** Default `OTEL_LOGS_EXPORTER`, else `otlp`. `none` (or `[]`) disables logs. */
  logsExporter?: LogsExporterName | LogsExporterName[];
  /** OTLP exporter settings. Default protocol `grpc` (`OTEL_EXPORTER_OTLP_PROTOCOL` and per-signal variants). */
  otlp?: OtlpOptions;
  /** The in-process Prometheus endpoint. */
  prometheus?: PrometheusOptions;
  /** Push interval of periodic metric exporters. Default `OTEL_METRIC_EXPORT_INTERVAL`, else 60000. */
  metricExportIntervalMillis?: number;
  /**
   * Time limit of one metric collection. Default `OTEL_METRIC_EXPORT_TIMEOUT`, else 30000 (at most the interval).
   * Sending is limited by the OTLP exporter's own time limit (`OTEL_EXPORTER_OTLP_TIMEOUT`, default 10 s).
   */
  metricExportTimeoutMillis?: number;
  /** Additional span processors (your own exporters), next to the configured ones. */
  spanProcessors?: SpanProcessor[];
  /** Additional metric readers, next to the configured ones. */
  metricReaders?: IMetricReader[];
  /** Additional log record processors, next to the configured ones. */
  logRecordProcessors?: LogRecordProcessor[];
  /** Metric views. */
  views?: ViewOptions[];
  /** Sampler; default from `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`, else parent-based always-on. */
  sampler?: Sampler;

  /**
   * Server and client spans for `node:http`/`node:https` (`@opentelemetry/instrumentation-http`), so the requests
   * your service handles are the parents of its Ollama spans. Default `OLLAMA_OTEL_HTTP_INSTRUMENTATION`, else true.
   */
  httpInstrumentation?: boolean;
  /** Host metrics (CPU and memory of the host and the process). Default `OLLAMA_OTEL_HOST_METRICS`, else true. */
  hostMetrics?: boolean;
  /**
   * Also the host's network metrics (`system.network.*`). Off by default: to read them, the statistics library
   * runs `ip route` synchronously on every collection, which blocks the event loop for 10 to 30 ms each time (each
   * scrape, with the Prometheus exporter). Default `OLLAMA_OTEL_HOST_NETWORK_METRICS`, else false.
   */
  hostNetworkMetrics?: boolean;
  /** Node.js runtime metrics (event loop, GC, heap). Default `OLLAMA_OTEL_RUNTIME_METRICS`, else true. */
  runtimeMetrics?: boolean;
  /** Ollama server gauges; `false` turns them off. */
  ollamaServerMetrics?: boolean | OllamaServerMetricsOptions;

  /** Diagnostic log level of OpenTelemetry itself. Default `OTEL_LOG_LEVEL`, else no diagnostic logger is installed. */
  logLevel?: DiagLogLevel | 'none' | 'error' | 'warn' | 'info' | 'debug' | 'verbose' | 'all';
  /**
   * Flush on SIGTERM, SIGINT and `beforeExit`, then let the process end as it would have. Default
   * `OLLAMA_OTEL_GRACEFUL_SHUTDOWN`, else true.
   */
  gracefulShutdown?: boolean;
  /**
   * Upper bound of that flush, and of {@link TelemetryHandle.shutdown} and {@link TelemetryHandle.forceFlush}:
   * what is still unsent at the limit is dropped (and counted in one diag warning). Default
   * `OLLAMA_OTEL_SHUTDOWN_TIMEOUT`, else 5000.
   */
  shutdownTimeoutMillis?: number;
  /**
   * Register the ESM loader hook (import-in-the-middle, only for the modules the instrumentations name) so that
   * `import ... from 'ollama'` is instrumented. `true` picks the in-thread hook where Node supports it, else the
   * loader thread; `'sync'` / `'async'` ask for one (`'sync'` falls back to `'async'` where unsupported).
   * Default `OLLAMA_OTEL_ESM_LOADER_HOOK` (`true`, `false`, `sync`, `async`), else true. Has to run before the app
   * imports `ollama`.
   */
  esmLoaderHook?: boolean | 'sync' | 'async';
}

/** What {@link startTelemetry} returns. */
export interface TelemetryHandle {
  /** Flushes and stops everything it started, within `shutdownTimeoutMillis`; idempotent, never rejects. */
  shutdown(): Promise<void>;
  /** Exports what is buffered now (spans, metrics, logs), waiting `shutdownTimeoutMillis` at most; never rejects. */
  forceFlush(): Promise<void>;
}
