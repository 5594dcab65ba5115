/**
 * Child-process tests of the register entry against the built package: real apps (ESM and CommonJS) call the
 * Ollama test double, and real OTLP receivers (gRPC and HTTP) decode what arrives.
 */
import { join } from 'node:path';
import { type OllamaDouble, scrapeBackToBack, startOllamaDouble } from '@ollama-otel/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { closedPort, FAST_EXPORT_ENV, FIXTURES, runNode, spawnNode } from './helpers/child.js';
import type { TelemetryStore } from './helpers/otlp.js';
import { type OtlpGrpcReceiver, startOtlpGrpcReceiver } from './helpers/otlp-grpc-receiver.js';
import { type OtlpHttpReceiver, startOtlpHttpReceiver } from './helpers/otlp-http-receiver.js';

const APP_OUTPUT = 'chat: ok\nembed: 1\ndefault instance: function\n';

let double: OllamaDouble;
let grpc: OtlpGrpcReceiver;
let http: OtlpHttpReceiver;

beforeAll(async () => {
  [double, grpc, http] = await Promise.all([startOllamaDouble(), startOtlpGrpcReceiver(), startOtlpHttpReceiver()]);
});
afterAll(async () => {
  await Promise.all([double?.close(), grpc?.close(), http?.close()]);
});
beforeEach(() => {
  double.reset();
  grpc.store.clear();
  http.store.clear();
});

function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { ...FAST_EXPORT_ENV, OLLAMA_HOST: double.url, OTEL_SERVICE_NAME: 'register-test', ...extra };
}

/** The spans and metrics every run of app.mjs / app.cjs must produce. */
function expectAppTelemetry(store: TelemetryStore): void {
  const chat = store.spans.find((s) => s.attributes['gen_ai.operation.name'] === 'chat');
  expect(chat, 'chat span').toBeDefined();
  expect(chat?.attributes).toMatchObject({
    'gen_ai.provider.name': 'ollama',
    'gen_ai.request.model': 'llama3.2',
    'server.address': '127.0.0.1',
    'server.port': double.port,
  });
  expect(chat?.scope).toBe('@ollama-otel/instrumentation');
  expect(chat?.resource).toMatchObject({
    'service.name': 'register-test',
    'telemetry.distro.name': '@ollama-otel/node',
    'process.runtime.name': 'nodejs',
  });
  const embed = store.spans.find((s) => s.attributes['gen_ai.operation.name'] === 'embeddings');
  expect(embed?.attributes['gen_ai.request.model']).toBe('all-minilm');

  expect(store.metric('gen_ai.client.operation.duration')?.type).toBe('histogram');
  const up = store.lastPoint('ollama.up');
  expect(up?.value).toBe(1);
  expect(up?.attributes).toEqual({
    'server.address': '127.0.0.1',
    'server.port': double.port,
    'ollama.version': expect.any(String),
  });
  expect(store.metric('ollama.up')?.unit).toBe('{status}');
  expect(store.lastPoint('ollama.model.loaded', { 'ollama.model.name': 'llama3.2:latest' })?.value).toBe(1);
  expect(
    store.lastPoint('ollama.model.memory.vram', { 'ollama.model.name': 'all-minilm:latest' })?.value,
  ).toBeGreaterThan(0);
  expect(store.metric('ollama.model.memory.size')?.unit).toBe('By');
}

describe('register entry, OTLP/gRPC (the default)', () => {
  it.each([
    ['ESM app, --import', ['--import', '@ollama-otel/node/register', join(FIXTURES, 'app.mjs')]],
    ['CommonJS app, --require', ['--require', '@ollama-otel/node/register', join(FIXTURES, 'app.cjs')]],
    ['CommonJS app, --import', ['--import', '@ollama-otel/node/register', join(FIXTURES, 'app.cjs')]],
    ['ESM app, --require', ['--require', '@ollama-otel/node/register', join(FIXTURES, 'app.mjs')]],
  ])('%s: spans and metrics reach the receiver; output and exit code unchanged', async (_name, args) => {
    const result = await runNode(args, {
      env: baseEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: grpc.endpoint, APP_EXIT_CODE: '4' }),
    });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(APP_OUTPUT);
    expect(result.code).toBe(4);
    expectAppTelemetry(grpc.store);
    expect(grpc.store.requests.every((r) => r.transport === 'grpc')).toBe(true);
  });

  it('host and runtime metrics are on by default', async () => {
    // a longer interval: it is also the collection time limit, and host metrics read /proc
    const result = await runNode(['--import', '@ollama-otel/node/register', join(FIXTURES, 'app.mjs')], {
      env: baseEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: grpc.endpoint, OTEL_METRIC_EXPORT_INTERVAL: '5000' }),
    });
    expect(result.code).toBe(0);
    for (const name of [
      'system.cpu.time',
      'system.memory.usage',
      'process.memory.usage',
      'nodejs.eventloop.utilization',
    ]) {
      expect(grpc.store.metric(name), name).toBeDefined();
    }
    // Reading the network group blocks the event loop: it is opt-in.
    expect(grpc.store.metric('system.network.io')).toBeUndefined();
  });

  it('OLLAMA_OTEL_HOST_NETWORK_METRICS=true adds the host network metrics', async () => {
    const result = await runNode(['--import', '@ollama-otel/node/register', join(FIXTURES, 'app.mjs')], {
      env: baseEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: grpc.endpoint,
        OTEL_METRIC_EXPORT_INTERVAL: '5000',
        OLLAMA_OTEL_HOST_NETWORK_METRICS: 'true',
      }),
    });
    expect(result.code).toBe(0);
    for (const name of ['system.network.io', 'system.network.errors', 'system.cpu.time']) {
      expect(grpc.store.metric(name), name).toBeDefined();
    }
  });

  it('instruments streams and the default instance, ending an abandoned stream span', async () => {
    const result = await runNode(['--import', '@ollama-otel/node/register', join(FIXTURES, 'stream-app.mjs')], {
      env: baseEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: grpc.endpoint, OTEL_METRICS_EXPORTER: 'none' }),
    });
    expect(result.stdout).toBe('chunks: 2, generated: true, default: function\n');
    expect(result.code).toBe(0);
    expect(grpc.store.operations()).toEqual(['chat', 'text_completion']);
  });
});

describe('register entry, OTLP/HTTP', () => {
  it('http/protobuf: every signal goes to <endpoint>/v1/<signal>', async () => {
    const result = await runNode(['--import', '@ollama-otel/node/register', join(FIXTURES, 'app.mjs')], {
      env: baseEnv({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_ENDPOINT: http.endpoint }),
    });
    expect(result.stdout).toBe(APP_OUTPUT);
    expect(result.code).toBe(0);
    expectAppTelemetry(http.store);
    expect(new Set(http.paths)).toEqual(new Set(['/v1/traces', '/v1/metrics']));
    expect(http.store.requests.every((r) => r.transport === 'http/protobuf')).toBe(true);
  });

  it('http/json works too', async () => {
    const result = await runNode(['--require', '@ollama-otel/node/register', join(FIXTURES, 'app.cjs')], {
      env: baseEnv({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_ENDPOINT: http.endpoint }),
    });
    expect(result.code).toBe(0);
    expectAppTelemetry(http.store);
    expect(http.store.requests.every((r) => r.transport === 'http/json')).toBe(true);
  });

  it('per-signal variables win: metrics over http/protobuf to their own URL, traces over gRPC', async () => {
    const result = await runNode(['--import', '@ollama-otel/node/register', join(FIXTURES, 'app.mjs')], {
      env: baseEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: grpc.endpoint,
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf',
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${http.endpoint}/v1/metrics`,
        OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=ollama-otel',
      }),
    });
    expect(result.code).toBe(0);
    expect(grpc.store.spans.length).toBeGreaterThan(0);
    expect(grpc.store.metrics).toEqual([]);
    expect(http.store.spans).toEqual([]);
    expect(http.store.lastPoint('ollama.up')?.value).toBe(1);
    expect(grpc.store.requests[0]?.headers['x-tenant']).toBe('ollama-otel');
    expect(http.store.requests[0]?.headers['x-tenant']).toBe('ollama-otel');
  });
});

describe('register entry, other exporters and switches', () => {
  it('OTEL_SDK_DISABLED=true: nothing is exported, the app runs unchanged', async () => {
    const result = await runNode(['--import', '@ollama-otel/node/register', join(FIXTURES, 'app.mjs')], {
      env: baseEnv({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: grpc.endpoint }),
    });
    expect(result.stdout).toBe(APP_OUTPUT);
    expect(result.code).toBe(0);
    expect(grpc.store.requests).toEqual([]);
  });

  it.each([
    { value: undefined, propagates: true, says: 'unset: Ollama gets the traceparent (the default)' },
    { value: 'true', propagates: true, says: 'true: Ollama gets the traceparent' },
    { value: 'false', propagates: false, says: 'false: Ollama gets no traceparent' },
  ])('OLLAMA_OTEL_PROPAGATE_CONTEXT $says', async ({ value, propagates }) => {
    const propagate: Record<string, string> = value === undefined ? {} : { OLLAMA_OTEL_PROPAGATE_CONTEXT: value };
    const result = await runNode(['--import', '@ollama-otel/node/register', join(FIXTURES, 'app.mjs')], {
      env: baseEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: grpc.endpoint, ...propagate }),
    });
    expect(result.stdout).toBe(APP_OUTPUT);
    expect(result.stderr).toBe('');
    const chatRequest = double.requests.find((r) => r.path === '/api/chat');
    expect(chatRequest).toBeDefined();
    const chatSpan = grpc.store.spans.find((s) => s.attributes['gen_ai.operation.name'] === 'chat');
    expect(chatSpan).toBeDefined();
    if (propagates) {
      expect(chatRequest?.headers.traceparent).toMatch(new RegExp(`^00-${chatSpan?.traceId}-[0-9a-f]{16}-01$`));
    } else {
      expect(chatRequest?.headers).not.toHaveProperty('traceparent');
    }
  });

  it('OTEL_*_EXPORTER=none plus the OLLAMA_OTEL_* switches: only what is left on is exported', async () => {
    const result = await runNode(['--import', '@ollama-otel/node/register', join(FIXTURES, 'app.mjs')], {
      env: baseEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: grpc.endpoint,
        OTEL_TRACES_EXPORTER: 'none',
        OLLAMA_OTEL_HOST_METRICS: 'false',
        OLLAMA_OTEL_RUNTIME_METRICS: 'false',
        OLLAMA_OTEL_SERVER_METRICS: 'false',
      }),
    });
    expect(result.code).toBe(0);
    expect(grpc.store.spans).toEqual([]);
    const names = new Set(grpc.store.metrics.map((m) => m.name));
    expect(names.has('gen_ai.client.operation.duration')).toBe(true);
    for (const off of ['system.cpu.time', 'nodejs.eventloop.utilization', 'ollama.up'])
      expect(names.has(off)).toBe(false);
  });

  it('the ESM loader hook is what instruments ES module imports (OLLAMA_OTEL_ESM_LOADER_HOOK=false)', async () => {
    const env = baseEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: grpc.endpoint, OLLAMA_OTEL_ESM_LOADER_HOOK: 'false' });
    const esm = await runNode(['--import', '@ollama-otel/node/register', join(FIXTURES, 'app.mjs')], { env });
    expect(esm.code).toBe(0);
    expect(grpc.store.spans).toEqual([]);
    const cjs = await runNode(['--import', '@ollama-otel/node/register', join(FIXTURES, 'app.cjs')], { env });
    expect(cjs.code).toBe(0);
    expect(grpc.store.operations()).toEqual(['chat', 'embeddings']);
  });

  it('the loader-thread hook (module.register, for older Node versions) instruments ES modules too', async () => {
    const result = await runNode(['--import', '@ollama-otel/node/register', join(FIXTURES, 'app.mjs')], {
      env: baseEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: grpc.endpoint,
        OLLAMA_OTEL_ESM_LOADER_HOOK: 'async',
        OTEL_LOG_LEVEL: 'debug',
      }),
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(APP_OUTPUT);
    expect(result.stdout + result.stderr).toContain('ESM loader hook registered (loader thread) for ollama');
    expectAppTelemetry(grpc.store);
  });

  it('OTEL_LOG_LEVEL=debug reports through the diag logger on the console', async () => {
    const result = await runNode(['--import', '@ollama-otel/node/register', join(FIXTURES, 'app.mjs')], {
      env: baseEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: grpc.endpoint, OTEL_LOG_LEVEL: 'debug' }),
    });
    expect(result.code).toBe(0);
    const output = result.stdout + result.stderr;
    expect(output).toContain('@ollama-otel/node: ESM loader hook registered');
    expect(output).toContain('@ollama-otel/node: telemetry started: traces to otlp grpc');
    expect(output).toContain('@ollama-otel/node: instrumentations: @ollama-otel/instrumentation,');
    expect(output).not.toContain('Current logger will be overwritten');
  });

  it('OTEL_METRICS_EXPORTER=prometheus serves /metrics with the translated names', async () => {
    const port = await closedPort();
    const app = spawnNode(['--import', '@ollama-otel/node/register', join(FIXTURES, 'service.mjs')], {
      env: baseEnv({
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_LOGS_EXPORTER: 'none',
        OTEL_METRICS_EXPORTER: 'prometheus',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      }),
    });
    try {
      await app.waitForStdout('ready');
      const scrape = await fetchWithRetry(`http://127.0.0.1:${port}/metrics`);
      const lines = scrape.split('\n');
      const line = (prefix: string) => lines.find((l) => l.startsWith(prefix));
      expect(line('ollama_up{')).toMatch(/^ollama_up\{.*server_address="127\.0\.0\.1".*ollama_version="[^"]+".*\} 1$/);
      expect(line('ollama_model_loaded{')).toMatch(/ollama_model_name="llama3\.2:latest".*\} 1$/);
      expect(line('ollama_model_memory_size{')).toBeDefined();
      expect(line('ollama_model_loads_total{')).toBeDefined();
      expect(scrape).toContain('# TYPE ollama_up gauge');
      expect(scrape).toContain('# UNIT ollama_model_memory_vram By');
      expect(line('gen_ai_client_operation_duration_bucket{')).toBeDefined();
    } finally {
      app.child.kill('SIGTERM');
    }
    const result = await app.result;
    expect(result.signal).toBe('SIGTERM');
  });

  it('the Prometheus endpoint does not keep a short app alive', async () => {
    const port = await closedPort();
    const result = await runNode(['--import', '@ollama-otel/node/register', join(FIXTURES, 'app.mjs')], {
      env: baseEnv({
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_METRICS_EXPORTER: 'prometheus',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
      }),
      timeoutMs: 10_000,
    });
    expect(result.timedOut).toBe(false);
    expect(result.stdout).toBe(APP_OUTPUT);
    expect(result.code).toBe(0);
  });

  it('a scraper that keeps scraping does not keep a stopping app alive (a scrape in flight at shutdown)', async () => {
    const port = await closedPort();
    // A slow /api/ps makes every scrape slow (the Ollama gauges poll it during the collection): one is in flight.
    double.script({ path: '/api/ps', times: 1000, fault: { kind: 'slow-headers', delayMs: 100 } });
    const app = spawnNode(['--import', '@ollama-otel/node/register', join(FIXTURES, 'service.mjs')], {
      env: baseEnv({
        APP_SIGNAL_HANDLER: 'exit-code',
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_LOGS_EXPORTER: 'none',
        OTEL_METRICS_EXPORTER: 'prometheus',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OLLAMA_OTEL_SERVER_METRICS_MIN_INTERVAL: '0',
      }),
      timeoutMs: 15_000,
    });
    await app.waitForStdout('ready');
    await fetchWithRetry(`http://127.0.0.1:${port}/metrics`);
    const scraper = scrapeBackToBack(`http://127.0.0.1:${port}/metrics`);
    await scraper.waitFor(5);
    app.child.kill('SIGTERM');
    const result = await app.result;
    await scraper.stop();
    expect(result.timedOut, result.stdout + result.stderr).toBe(false);
    expect(result.stdout).toContain('app: closed');
    expect(result.code).toBe(7);
    expect(result.durationMs).toBeLessThan(10_000);
  });
});

async function fetchWithRetry(url: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const response = await fetch(url);
      if (response.ok) return await response.text();
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
