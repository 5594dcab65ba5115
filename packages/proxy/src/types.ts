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
  /**
   * How long {@link RunningProxy.close} keeps accepting connections (answering each with `Connection: close`)
   * before it stops listening, while `/healthz` already answers 503: the time an orchestrator takes to stop
   * sending traffic. Default 0.
   */
  drainDelayMillis?: number;
  /** A client must send its whole request head within this. Default 30000 ms. */
  headersTimeoutMillis?: number;
  /** Longest pause between two pieces of a request body (then 408). Default 60000 ms; 0 for none. */
  bodyIdleTimeoutMillis?: number;
  /** An idle kept-alive client connection is closed after this. Default 65000 ms. */
  keepAliveTimeoutMillis?: number;
  /** Ollama must start its answer within this (then 504). Default 900000 ms (15 min); 0 for none. */
  upstreamHeadersTimeoutMillis?: number;
  /** Longest pause between two chunks of Ollama's answer (then the client's response is cut). Default 300000 ms. */
  upstreamBodyIdleTimeoutMillis?: number;
  /**
   * Client connections open at once; one more is answered 503 at once and closed. Default: half the process's
   * descriptor limit less 64, at most 8192.
   */
  maxConnections?: number;
  /** Model names always recorded as they are on metrics (besides those Ollama lists in `/api/tags`). */
  models?: string[];
  /** Other distinct model names recorded as they are on metrics; later ones are `_OTHER`. Default 20. */
  maxUnlistedModels?: number;
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
  /** True once {@link RunningProxy.close} was called. */
  readonly draining: boolean;
  /**
   * Turns `/healthz` to 503, keeps accepting for the drain delay, stops accepting, closes idle connections, lets
   * in-flight requests finish for the grace period, then ends the rest.
   * Resolves once every connection is closed. Telemetry is not shut down here.
   */
  close(gracePeriodMillis?: number): Promise<void>;
}
