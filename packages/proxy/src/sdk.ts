/*
 * Telemetry for the command line, through `@ollama-otel/node` so that every standard `OTEL_*` variable means
 * what it means for an instrumented app, with the Ollama `/api/ps` gauges polling the upstream. Differences for a
 * proxy: its own HTTP server span replaces the HTTP instrumentation (which would add a second server span and a
 * client span per upstream call), there is no ollama-js to patch and no loader hook, the proxy drains before
 * telemetry shuts down, and a Prometheus reader is served on the proxy's listener.
 */
import { startTelemetry, type TelemetryHandle } from '@ollama-otel/node';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { PACKAGE_VERSION } from './version.js';

export const DEFAULT_SERVICE_NAME = 'ollama-otel-proxy';

export interface ProxyTelemetryHandle {
  /** Serves `/metrics`; undefined when metrics are off or telemetry is disabled. */
  readonly prometheus: PrometheusExporter | undefined;
  shutdown(timeoutMillis: number): Promise<void>;
}

export function startProxyTelemetry(upstream: string, metrics: boolean, env = process.env): ProxyTelemetryHandle {
  const disabled = env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true';
  const prometheus = metrics && !disabled ? new PrometheusExporter({ preventServerStart: true }) : undefined;
  const named =
    nonEmpty(env.OTEL_SERVICE_NAME) !== undefined ||
    /(^|,)\s*service\.name\s*=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? '');
  const handle: TelemetryHandle = startTelemetry({
    ...(named ? {} : { serviceName: DEFAULT_SERVICE_NAME, serviceVersion: PACKAGE_VERSION }),
    httpInstrumentation: false,
    ollamaInstrumentation: { enabled: false },
    esmLoaderHook: false,
    gracefulShutdown: false,
    ollamaServerMetrics: { host: upstream },
    metricReaders: prometheus === undefined ? [] : [prometheus],
  });
  return {
    prometheus,
    shutdown: async (timeoutMillis) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        handle.shutdown(),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMillis);
        }),
      ]);
      clearTimeout(timer);
    },
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
