export { startTelemetry } from './start.js';
export type {
  LogsExporterName,
  MetricsExporterName,
  OllamaServerMetricsOptions,
  OtlpOptions,
  OtlpProtocol,
  OtlpSignalOptions,
  PrometheusOptions,
  TelemetryHandle,
  TelemetryOptions,
  TracesExporterName,
} from './types.js';
