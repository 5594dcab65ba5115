import { request } from 'node:http';
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
import { startProxy } from '../src/index.js';
import type { ProxyOptions, RunningProxy } from '../src/types.js';

export interface Rig {
  double: OllamaDouble;
  telemetry: TelemetryHarness;
  proxy: RunningProxy;
  close(): Promise<void>;
}

/** The Ollama test double, an in-memory SDK, and the proxy in front of the double recording into it. */
export async function startRig(options: { double?: OllamaDoubleOptions; proxy?: ProxyOptions } = {}): Promise<Rig> {
  installContextManager();
  const double = await startOllamaDouble(options.double);
  const telemetry = createTelemetryHarness();
  const proxy = await startProxy({
    upstream: double.url,
    port: 0,
    tracerProvider: telemetry.tracerProvider,
    meterProvider: telemetry.meterProvider,
    loggerProvider: telemetry.loggerProvider,
    ...options.proxy,
  });
  return {
    double,
    telemetry,
    proxy,
    async close() {
      await proxy.close(0);
      await telemetry.shutdown();
      await double.close();
    },
  };
}

export const serverSpans = (telemetry: TelemetryHarness) => telemetry.spans().filter((s) => s.kind === SpanKind.SERVER);
export const clientSpans = (telemetry: TelemetryHarness) => telemetry.spans().filter((s) => s.kind === SpanKind.CLIENT);

export function onlyClientSpan(telemetry: TelemetryHarness): ReadableSpan {
  const spans = clientSpans(telemetry);
  if (spans.length !== 1)
    throw new Error(`expected one client span, got ${spans.map((s) => s.name).join(', ') || 'none'}`);
  return spans[0]!;
}

/** Waits until the proxy has ended as many server spans (spans end when the client's response closes). */
export async function settled(rig: Rig, serverSpanCount: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (serverSpans(rig.telemetry).length < serverSpanCount || rig.proxy.inFlight > 0) {
    if (Date.now() > deadline) {
      throw new Error(
        `${serverSpans(rig.telemetry).length} of ${serverSpanCount} server spans ended in ${timeoutMs} ms`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export function points(metrics: CollectedMetric[], name: string, match: Record<string, unknown> = {}) {
  return (findMetric(metrics, name)?.dataPoints ?? []).filter((point) =>
    Object.entries(match).every(([key, value]) => point.attributes[key] === value),
  );
}

export function histogramCount(metrics: CollectedMetric[], name: string, match: Record<string, unknown> = {}): number {
  return points(metrics, name, match).reduce((total, point) => total + point.value.count, 0);
}

export interface RawResponse {
  status: number;
  statusMessage: string;
  /** Raw header pairs as received, `Date` left out. */
  headers: [string, string][];
  body: Buffer;
  /** True when the connection was cut before the body ended. */
  cut: boolean;
}

/** One raw HTTP/1.1 exchange (its own connection), for byte-for-byte comparisons. */
export function rawRequest(
  base: string,
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    const framed = body === undefined ? headers : { 'content-length': String(Buffer.byteLength(body)), ...headers };
    const req = request(
      { host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers: framed, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        let cut = false;
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', () => {
          cut = true;
        });
        res.on('close', () => {
          const pairs: [string, string][] = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2) {
            if (res.rawHeaders[i]!.toLowerCase() !== 'date') pairs.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
          }
          resolve({
            status: res.statusCode ?? 0,
            statusMessage: res.statusMessage ?? '',
            headers: pairs,
            body: Buffer.concat(chunks),
            cut: cut || !res.complete,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export const QUESTION = [{ role: 'user' as const, content: 'Why is the sky blue?' }];
