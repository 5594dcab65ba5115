/**
 * startTelemetry() in process: precedence of code over variables end to end, the single running instance,
 * and that nothing it does can throw into the app.
 */
import { createRequire } from 'node:module';
import { type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { context, type DiagLogger, DiagLogLevel, diag, logs, metrics, propagation, trace } from '@opentelemetry/api';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTelemetry as start } from '../src/index.js';
import type { TelemetryHandle, TelemetryOptions } from '../src/types.js';
import { startOtlpGrpcReceiver } from './helpers/otlp-grpc-receiver.js';
import { startOtlpHttpReceiver } from './helpers/otlp-http-receiver.js';

const QUIET: TelemetryOptions = {
  tracesExporter: 'none',
  metricsExporter: 'none',
  logsExporter: 'none',
  hostMetrics: false,
  runtimeMetrics: false,
  ollamaServerMetrics: false,
  gracefulShutdown: false,
  esmLoaderHook: false,
};

let double: OllamaDouble;
let running: TelemetryHandle | undefined;
const savedEnv = { ...process.env };

beforeAll(async () => {
  double = await startOllamaDouble();
});
afterAll(async () => {
  await double.close();
});
afterEach(async () => {
  process.env = { ...savedEnv };
  await running?.shutdown(); // a failed test must not leave its instance running for the next one
  running = undefined;
  // NodeSDK does not unregister the API globals on shutdown; start each test from a clean API.
  trace.disable();
  metrics.disable();
  context.disable();
  propagation.disable();
  logs.disable();
  diag.disable();
});

function captureDiag(): { level: string; text: string }[] {
  const messages: { level: string; text: string }[] = [];
  const logger = Object.fromEntries(
    (['error', 'warn', 'info', 'debug', 'verbose'] as const).map((level) => [
      level,
      (text: string) => messages.push({ level, text }),
    ]),
  ) as unknown as DiagLogger;
  diag.setLogger(logger, { logLevel: DiagLogLevel.INFO, suppressOverrideMessage: true });
  return messages;
}

function startTelemetry(options: TelemetryOptions): TelemetryHandle {
  running = start(options);
  return running;
}

/** Ends a span and flushes (the processors wait for async resource attributes before exporting). */
async function endOneSpan(exporter: InMemorySpanExporter, handle: TelemetryHandle): Promise<ReadableSpan> {
  trace.getTracer('test').startSpan('probe').end();
  await handle.forceFlush();
  const spans = exporter.getFinishedSpans();
  expect(spans).toHaveLength(1);
  const span = spans[0]!;
  await span.resource.waitForAsyncAttributes?.();
  return span;
}

describe('startTelemetry', () => {
  it('lets code options win over OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, keeping the rest', async () => {
    process.env.OTEL_SERVICE_NAME = 'from-env';
    process.env.OTEL_RESOURCE_ATTRIBUTES = 'deployment.environment.name=staging,team=genai';
    const exporter = new InMemorySpanExporter();
    const handle = startTelemetry({
      ...QUIET,
      serviceName: 'from-code',
      serviceVersion: '1.2.3',
      resourceAttributes: { team: 'platform' },
      spanProcessors: [new SimpleSpanProcessor({ exporter })],
    });
    const span = await endOneSpan(exporter, handle);
    expect(span.resource.attributes).toMatchObject({
      'service.name': 'from-code',
      'service.version': '1.2.3',
      team: 'platform',
      'deployment.environment.name': 'staging',
      'telemetry.distro.name': '@ollama-otel/node',
      'telemetry.distro.version': expect.any(String),
    });
    await handle.shutdown();
  });

  it('without code options the variables decide', async () => {
    process.env.OTEL_SERVICE_NAME = 'from-env';
    const exporter = new InMemorySpanExporter();
    const handle = startTelemetry({ ...QUIET, spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    expect((await endOneSpan(exporter, handle)).resource.attributes['service.name']).toBe('from-env');
    await handle.shutdown();
  });

  it('sends to the OTLP endpoint, protocol and headers given in code, over the variables', async () => {
    const [grpc, http] = await Promise.all([startOtlpGrpcReceiver(), startOtlpHttpReceiver()]);
    try {
      process.env.OTEL_EXPORTER_OTLP_ENDPOINT = 'http://127.0.0.1:1';
      process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'http/json';
      const handle = startTelemetry({
        ...QUIET,
        tracesExporter: 'otlp',
        metricsExporter: 'otlp',
        otlp: {
          protocol: 'grpc',
          endpoint: grpc.endpoint,
          headers: { 'x-api-key': 'from-code' },
          metrics: { protocol: 'http/protobuf', endpoint: `${http.endpoint}/custom/v1/metrics` },
        },
      });
      trace.getTracer('test').startSpan('to grpc').end();
      metrics.getMeter('test').createCounter('to.http').add(1);
      await handle.forceFlush();
      expect(grpc.store.spans.map((s) => s.name)).toEqual(['to grpc']);
      expect(grpc.store.requests[0]?.headers['x-api-key']).toBe('from-code');
      expect(http.paths).toEqual(['/custom/v1/metrics']);
      expect(http.store.lastPoint('to.http')?.value).toBe(1);
      expect(http.store.requests[0]?.headers['x-api-key']).toBe('from-code');
      await handle.shutdown();
    } finally {
      await Promise.all([grpc.close(), http.close()]);
    }
  });

  it('returns the running instance when called again, and a new one after shutdown', async () => {
    const messages = captureDiag();
    const first = startTelemetry(QUIET);
    const second = startTelemetry(QUIET);
    expect(second).toBe(first);
    expect(messages.some((m) => m.level === 'warn' && m.text.includes('already started'))).toBe(true);
    await first.shutdown();
    await first.shutdown(); // idempotent
    trace.disable();
    metrics.disable();
    logs.disable();
    const third = startTelemetry(QUIET);
    expect(third).not.toBe(first);
    await third.shutdown();
  });

  it('OTEL_SDK_DISABLED=true starts nothing, even when the code says disabled: false', async () => {
    process.env.OTEL_SDK_DISABLED = 'true';
    const exporter = new InMemorySpanExporter();
    const handle = startTelemetry({
      ...QUIET,
      disabled: false,
      spanProcessors: [new SimpleSpanProcessor({ exporter })],
    });
    trace.getTracer('test').startSpan('probe').end();
    expect(exporter.getFinishedSpans()).toEqual([]);
    expect(trace.getTracer('test').startSpan('x').isRecording()).toBe(false);
    await expect(handle.shutdown()).resolves.toBeUndefined();
    await expect(handle.forceFlush()).resolves.toBeUndefined();
  });

  it('instruments ollama (CommonJS require, no loader hook needed)', async () => {
    const exporter = new InMemorySpanExporter();
    const handle = startTelemetry({ ...QUIET, spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    const { Ollama } = createRequire(import.meta.url)('ollama') as typeof import('ollama');
    await new Ollama({ host: double.url }).chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
    await handle.forceFlush();
    const chat = exporter.getFinishedSpans().find((s) => s.attributes['gen_ai.operation.name'] === 'chat');
    expect(chat?.attributes['gen_ai.request.model']).toBe('llama3.2');
    await handle.shutdown();
  });

  it('ollamaInstrumentation: { enabled: false } leaves ollama alone', async () => {
    const exporter = new InMemorySpanExporter();
    const handle = startTelemetry({
      ...QUIET,
      ollamaInstrumentation: { enabled: false },
      spanProcessors: [new SimpleSpanProcessor({ exporter })],
    });
    const { Ollama } = createRequire(import.meta.url)('ollama') as typeof import('ollama');
    await new Ollama({ host: double.url }).chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
    await handle.forceFlush();
    expect(exporter.getFinishedSpans()).toEqual([]);
  });

  it('shutdown() and forceFlush() never reject, even when a processor does', async () => {
    const messages = captureDiag();
    const failing: SpanProcessor = {
      onStart: () => {},
      onEnd: () => {},
      forceFlush: () => Promise.reject(new Error('flush boom')),
      shutdown: () => Promise.reject(new Error('shutdown boom')),
    };
    const handle = startTelemetry({ ...QUIET, spanProcessors: [failing] });
    await expect(handle.forceFlush()).resolves.toBeUndefined();
    await expect(handle.shutdown()).resolves.toBeUndefined();
    expect(messages.filter((m) => m.level === 'error').map((m) => m.text)).toEqual([
      '@ollama-otel/node: telemetry flush failed',
      '@ollama-otel/node: telemetry shutdown failed',
    ]);
  });

  it('never throws into the app: a broken instrumentation is logged and the app goes on', () => {
    const messages = captureDiag();
    const broken = {
      instrumentationName: 'broken',
      instrumentationVersion: '0',
      enable: () => {
        throw new Error('enable boom');
      },
      disable: () => {},
      setTracerProvider: () => {
        throw new Error('provider boom');
      },
      setMeterProvider: () => {},
      setLoggerProvider: () => {},
      setConfig: () => {},
      getConfig: () => ({}),
    } as unknown as Instrumentation;
    const start = () => startTelemetry({ ...QUIET, instrumentations: [broken] });
    expect(start).not.toThrow();
    expect(messages.some((m) => m.level === 'error' && m.text.includes('could not start telemetry'))).toBe(true);
  });

  it('reports bad configuration through diag instead of failing', async () => {
    const messages = captureDiag();
    process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'smoke-signals';
    const handle = startTelemetry({ ...QUIET, metricExportIntervalMillis: -1 });
    const warnings = messages.filter((m) => m.level === 'warn').map((m) => m.text);
    expect(warnings.some((w) => w.includes('smoke-signals'))).toBe(true);
    expect(warnings.some((w) => w.includes('metricExportIntervalMillis'))).toBe(true);
    await handle.shutdown();
  });
});

describe('graceful shutdown wiring', () => {
  it('installs beforeExit and signal listeners, and removes them on shutdown', async () => {
    const before = {
      beforeExit: process.listenerCount('beforeExit'),
      SIGTERM: process.listenerCount('SIGTERM'),
      SIGINT: process.listenerCount('SIGINT'),
    };
    const handle = startTelemetry({ ...QUIET, gracefulShutdown: true });
    expect(process.listenerCount('beforeExit')).toBe(before.beforeExit + 1);
    expect(process.listenerCount('SIGTERM')).toBe(before.SIGTERM + 1);
    expect(process.listenerCount('SIGINT')).toBe(before.SIGINT + 1);
    await handle.shutdown();
    expect(process.listenerCount('beforeExit')).toBe(before.beforeExit);
    expect(process.listenerCount('SIGTERM')).toBe(before.SIGTERM);
    expect(process.listenerCount('SIGINT')).toBe(before.SIGINT);
  });

  it('a signal the app also handles: telemetry is flushed and shut down, the process is not exited', async () => {
    const ended: string[] = [];
    let shutDown = false;
    const recorder = {
      onStart() {},
      onEnd(span: { name: string }) {
        ended.push(span.name);
      },
      forceFlush: async () => {},
      shutdown: async () => {
        shutDown = true;
      },
    };
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    const kill = vi.spyOn(process, 'kill').mockImplementation(() => true);
    const appHandler = vi.fn();
    process.on('SIGTERM', appHandler);
    const handle = startTelemetry({
      ...QUIET,
      gracefulShutdown: true,
      spanProcessors: [recorder as never],
    });
    try {
      trace.getTracer('test').startSpan('before the signal').end();
      process.emit('SIGTERM', 'SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(appHandler).toHaveBeenCalledOnce();
      expect(exit).not.toHaveBeenCalled();
      expect(kill).not.toHaveBeenCalled();
      // Flushed, then shut down: nothing of ours keeps the draining process alive.
      expect(ended).toEqual(['before the signal']);
      expect(shutDown).toBe(true);
    } finally {
      process.removeListener('SIGTERM', appHandler);
      exit.mockRestore();
      kill.mockRestore();
      await handle.shutdown();
    }
  });
});
