import {
  type CollectedMetric,
  createTelemetryHarness,
  findMetric,
  installContextManager,
  type OllamaDouble,
  type OllamaDoubleOptions,
  type ReadableSpan,
  startOllamaDouble,
  type TelemetryHarness,
} from '@ollama-otel/testing';
import { SpanKind } from '@opentelemetry/api';
import { Ollama } from 'ollama';
import { type InstrumentedOllama, type InstrumentOllamaConfig, instrumentOllama } from '../src/index.js';

export interface Rig {
  double: OllamaDouble;
  telemetry: TelemetryHarness;
  client: Ollama;
  handle: InstrumentedOllama;
  close(): Promise<void>;
}

/** A test double, an in-memory SDK, and the ESM `ollama` client instrumented against them. */
export async function startRig(
  options: { double?: OllamaDoubleOptions; config?: InstrumentOllamaConfig; target?: unknown } = {},
): Promise<Rig> {
  installContextManager();
  const double = await startOllamaDouble(options.double);
  const telemetry = createTelemetryHarness();
  const handle = instrumentOllama(options.target ?? Ollama, {
    tracerProvider: telemetry.tracerProvider,
    meterProvider: telemetry.meterProvider,
    loggerProvider: telemetry.loggerProvider,
    ...options.config,
  });
  const client = new Ollama({ host: double.url });
  return {
    double,
    telemetry,
    client,
    handle,
    async close() {
      handle.uninstrument();
      await telemetry.shutdown();
      await double.close();
    },
  };
}

/** The spans of client calls (GenAI and management), without the `ollama.*` server-phase child spans. */
export function clientSpans(telemetry: TelemetryHarness): ReadableSpan[] {
  return telemetry.spans().filter((span) => span.kind === SpanKind.CLIENT);
}

export function onlySpan(telemetry: TelemetryHarness): ReadableSpan {
  const spans = clientSpans(telemetry);
  if (spans.length !== 1)
    throw new Error(`expected exactly one client span, got ${spans.map((s) => s.name).join(', ')}`);
  return spans[0]!;
}

/** Histogram data points of `name` whose attributes include `match`. */
export function points(metrics: CollectedMetric[], name: string, match: Record<string, unknown> = {}) {
  return (findMetric(metrics, name)?.dataPoints ?? []).filter((point) =>
    Object.entries(match).every(([key, value]) => point.attributes[key] === value),
  );
}

/** Total count over histogram points of `name` matching `match`. */
export function histogramCount(metrics: CollectedMetric[], name: string, match: Record<string, unknown> = {}): number {
  return points(metrics, name, match).reduce((total, point) => total + point.value.count, 0);
}

export function histogramSum(metrics: CollectedMetric[], name: string, match: Record<string, unknown> = {}): number {
  return points(metrics, name, match).reduce((total, point) => total + point.value.sum, 0);
}

export const USER_QUESTION = [{ role: 'user', content: 'Why is the sky blue?' }];

export async function drain<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const chunks: T[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

export function durationMs(span: ReadableSpan): number {
  return span.duration[0] * 1e3 + span.duration[1] / 1e6;
}
