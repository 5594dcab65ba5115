import type { IncomingMessage, ServerResponse } from 'node:http';
import type { OllamaInstrumentationConfig } from '@ollama-otel/instrumentation';
import type { LoggerProvider, MeterProvider, TracerProvider } from '@opentelemetry/api';

/** A Prometheus exposition handler, e.g. `@opentelemetry/exporter-prometheus`'s `PrometheusExporter`. */
export interface MetricsEndpoint {
  getMetricsRequestHandler(req: IncomingMessage, res: ServerResponse): void;
}

/** Options of {@link startProxy}. */
export interface ProxyOptions {
  /** The Ollama server, in any form `OLLAMA_HOST` accepts. Default `http://127.0.0.1:11434`. */
  upstream?: string;
  /** Listen address. Default `127.0.0.1`: loopback unless told otherwise. */
  host?: string;
  /** Listen port; 0 picks a free one. Default 11435. */
  port?: number;
  /** Serves `GET /metrics` on the proxy's own listener (Prometheus text). */
  metrics?: MetricsEndpoint;
  /** Request bodies of the GenAI and management routes larger than this are answered 413. Default 64 MiB. */
  maxBodyBytes?: number;
  /**
   * Asks Ollama for usage (`stream_options.include_usage`) in OpenAI-compatible streams and removes it again
   * from what the client gets when it had not asked, so token counts are always recorded. Default true.
   */
  injectUsage?: boolean;
  /** How long {@link RunningProxy.close} lets in-flight requests finish. Default 20000 ms. */
  gracePeriodMillis?: number;
  /** The recording core's configuration (content capture, phase spans, cold-start threshold...). */
  instrumentation?: OllamaInstrumentationConfig;
  /** Providers for the proxy's telemetry. Default: the global ones (what `@ollama-otel/node` registers). */
  tracerProvider?: TracerProvider;
  meterProvider?: MeterProvider;
  loggerProvider?: LoggerProvider;
}

export interface RunningProxy {
  /** `http://host:port`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The Ollama server it forwards to. */
  readonly upstream: string;
  /** Requests in flight now. */
  readonly inFlight: number;
  /**
   * Stops accepting connections, lets in-flight requests finish for the grace period, then ends the rest.
   * Resolves once every connection is closed. Telemetry is not shut down here.
   */
  close(gracePeriodMillis?: number): Promise<void>;
}
