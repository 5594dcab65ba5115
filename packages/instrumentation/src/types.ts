import type { LoggerProvider, MeterProvider, TracerProvider } from '@opentelemetry/api';
import type { InstrumentationConfig } from '@opentelemetry/instrumentation';

/** Configuration of {@link OllamaInstrumentation} and {@link instrumentOllama}. */
export interface OllamaInstrumentationConfig extends InstrumentationConfig {
  /**
   * A stream that nobody reads, aborts or finishes keeps its span open. After this many milliseconds without
   * the consumer pulling a chunk, the span is ended (with `error.type` = `abandoned`, end time = last activity).
   * Streams the garbage collector reclaims are ended too. Default 300000 (5 minutes); 0 disables the timer.
   */
  streamIdleTimeoutMs?: number;
}

/** Options of {@link instrumentOllama}: the instrumentation config plus the providers to use. */
export interface InstrumentOllamaConfig extends OllamaInstrumentationConfig {
  /** Defaults to the global tracer provider. */
  tracerProvider?: TracerProvider;
  /** Defaults to the global meter provider. */
  meterProvider?: MeterProvider;
  /** Defaults to the global logger provider. */
  loggerProvider?: LoggerProvider;
}

/** What {@link instrumentOllama} returns. */
export interface InstrumentedOllama {
  /** Restores the original client methods. Calls already in flight finish their telemetry normally. */
  uninstrument(): void;
}
