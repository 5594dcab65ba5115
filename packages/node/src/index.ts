export { startTelemetry } from './start.js';
export type {
  LogsExporterName,
  MetricsExporterName,
  OtlpOptions,
  OtlpProtocol,
  OtlpSignalOptions,
  PrometheusOptions,
  TelemetryHandle,
  TelemetryOptions,
  TracesExporterName,
} from './types.js';
