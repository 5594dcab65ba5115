import { DiagLogLevel } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { appendSignalPath, DEFAULTS, parseOllamaHost, resolveConfig } from '../src/config.js';
// The public entry point exports every type TelemetryOptions is made of (pnpm typecheck fails otherwise).
import type { OllamaServerMetricsOptions, TelemetryOptions } from '../src/index.js';

describe('resolveConfig: defaults', () => {
  const config = resolveConfig({}, {});

  it('exports traces, metrics and logs over OTLP/gRPC, leaving the endpoint to the exporter (localhost:4317)', () => {
    expect(config.traces).toEqual({
      exporters: ['otlp'],
      otlp: { protocol: 'grpc', url: undefined, headers: undefined },
    });
    expect(config.metrics.exporters).toEqual(['otlp']);
    expect(config.metrics.otlp.protocol).toBe('grpc');
    expect(config.logs.exporters).toEqual(['otlp']);
  });

  it('uses the spec defaults for intervals and Prometheus, and turns every extra on', () => {
    expect(config.metrics.intervalMillis).toBe(60_000);
    expect(config.metrics.timeoutMillis).toBe(30_000);
    expect(config.metrics.prometheus).toEqual({ host: 'localhost', port: 9464 });
    expect(config.hostMetrics).toBe(true);
    expect(config.hostNetworkMetrics).toBe(false);
    expect(config.runtimeMetrics).toBe(true);
    expect(config.ollamaInstrumentation).toBe(true);
    expect(config.propagateContext).toBeUndefined(); // the instrumentation's default
    expect(config.gracefulShutdown).toBe(true);
    expect(config.shutdownTimeoutMillis).toBe(5_000);
    expect(config.esmLoaderHook).toBe('auto');
    expect(config.disabled).toBe(false);
    expect(config.logLevel).toBeUndefined();
    expect(config.warnings).toEqual([]);
  });

  it('polls the local Ollama server every 15 s at most, 2 s per poll', () => {
    expect(config.serverMetrics).toEqual({
      baseUrl: 'http://127.0.0.1:11434',
      address: '127.0.0.1',
      port: 11434,
      servers: [{ baseUrl: 'http://127.0.0.1:11434', address: '127.0.0.1', port: 11434 }],
      minIntervalMillis: 15_000,
      timeoutMillis: 2_000,
      headers: {},
    });
  });
});

describe('resolveConfig: environment variables', () => {
  it('reads the OTEL_* exporter selection, protocol and intervals', () => {
    const config = resolveConfig(
      {},
      {
        OTEL_TRACES_EXPORTER: 'console, otlp',
        OTEL_METRICS_EXPORTER: 'prometheus',
        OTEL_LOGS_EXPORTER: 'none',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_METRIC_EXPORT_INTERVAL: '200',
        OTEL_EXPORTER_PROMETHEUS_HOST: '0.0.0.0',
        OTEL_EXPORTER_PROMETHEUS_PORT: '9999',
        OTEL_LOG_LEVEL: 'DEBUG',
      },
    );
    expect(config.traces.exporters).toEqual(['console', 'otlp']);
    expect(config.traces.otlp.protocol).toBe('http/protobuf');
    expect(config.metrics.exporters).toEqual(['prometheus']);
    expect(config.logs.exporters).toEqual([]);
    expect(config.metrics.intervalMillis).toBe(200);
    expect(config.metrics.timeoutMillis).toBe(200); // clamped to the interval
    expect(config.metrics.prometheus).toEqual({ host: '0.0.0.0', port: 9999 });
    expect(config.logLevel).toBe(DiagLogLevel.DEBUG);
  });

  it('lets a signal-specific protocol win over the generic one', () => {
    const config = resolveConfig(
      {},
      { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf' },
    );
    expect(config.traces.otlp.protocol).toBe('http/json');
    expect(config.metrics.otlp.protocol).toBe('http/protobuf');
    expect(config.logs.otlp.protocol).toBe('http/json');
  });

  it('polls every host of OLLAMA_OTEL_SERVER_METRICS_HOSTS (a fleet), once each; ollamaServerMetrics.hosts wins', () => {
    const fromEnv = resolveConfig(
      {},
      { OLLAMA_HOST: 'ignored:1', OLLAMA_OTEL_SERVER_METRICS_HOSTS: 'gpu-a:11434, http://gpu-b:8080,,gpu-a ' },
    ).serverMetrics;
    expect(fromEnv?.servers).toEqual([
      { baseUrl: 'http://gpu-a:11434', address: 'gpu-a', port: 11434 },
      { baseUrl: 'http://gpu-b:8080', address: 'gpu-b', port: 8080 },
    ]);
    expect(fromEnv?.baseUrl).toBe('http://gpu-a:11434');
    const fromCode = resolveConfig(
      { ollamaServerMetrics: { hosts: ['https://c.example'] } },
      { OLLAMA_OTEL_SERVER_METRICS_HOSTS: 'gpu-a' },
    ).serverMetrics;
    expect(fromCode?.servers).toEqual([{ baseUrl: 'https://c.example:443', address: 'c.example', port: 443 }]);
    const bad = resolveConfig({}, { OLLAMA_OTEL_SERVER_METRICS_HOSTS: 'gpu-a,ftp://x' });
    expect(bad.serverMetrics).toBeUndefined();
    expect(bad.warnings).toEqual([expect.stringMatching(/cannot parse the Ollama host.*ftp:\/\/x/)]);
  });

  it('reads the Ollama host, poll settings and the API key', () => {
    const config = resolveConfig(
      {},
      {
        OLLAMA_HOST: 'gpu-box:8080',
        OLLAMA_OTEL_SERVER_METRICS_MIN_INTERVAL: '0',
        OLLAMA_OTEL_SERVER_METRICS_TIMEOUT: '750',
        OLLAMA_API_KEY: 'secret',
      },
    );
    expect(config.serverMetrics).toEqual({
      baseUrl: 'http://gpu-box:8080',
      address: 'gpu-box',
      port: 8080,
      servers: [{ baseUrl: 'http://gpu-box:8080', address: 'gpu-box', port: 8080 }],
      minIntervalMillis: 0,
      timeoutMillis: 750,
      headers: { Authorization: 'Bearer secret' },
    });
  });

  it('switches the extras off by their own variables or by OTEL_NODE_DISABLED_INSTRUMENTATIONS', () => {
    const own = resolveConfig(
      {},
      {
        OLLAMA_OTEL_HOST_METRICS: 'false',
        OLLAMA_OTEL_RUNTIME_METRICS: '0',
        OLLAMA_OTEL_SERVER_METRICS: 'off',
        OLLAMA_OTEL_GRACEFUL_SHUTDOWN: 'false',
        OLLAMA_OTEL_SHUTDOWN_TIMEOUT: '1500',
      },
    );
    expect([own.hostMetrics, own.runtimeMetrics, own.serverMetrics, own.gracefulShutdown]).toEqual([
      false,
      false,
      undefined,
      false,
    ]);
    expect(own.shutdownTimeoutMillis).toBe(1500);

    const listed = resolveConfig(
      {},
      { OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'runtime-node,@opentelemetry/instrumentation-host-metrics,ollama' },
    );
    expect([listed.runtimeMetrics, listed.hostMetrics, listed.ollamaInstrumentation]).toEqual([false, false, false]);
    expect(listed.serverMetrics).toBeDefined();

    const enabledOnly = resolveConfig({}, { OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'ollama' });
    expect([enabledOnly.ollamaInstrumentation, enabledOnly.runtimeMetrics, enabledOnly.hostMetrics]).toEqual([
      true,
      false,
      false,
    ]);
    expect(enabledOnly.serverMetrics).toBeUndefined();
  });

  it('reports bad values and falls back to the defaults', () => {
    const config = resolveConfig(
      {},
      {
        OTEL_EXPORTER_OTLP_PROTOCOL: 'carrier-pigeon',
        OTEL_TRACES_EXPORTER: 'zipkin',
        OTEL_METRIC_EXPORT_INTERVAL: '-5',
        OTEL_EXPORTER_PROMETHEUS_PORT: '70000',
        OTEL_LOG_LEVEL: 'loud',
        OLLAMA_OTEL_HOST_METRICS: 'maybe',
        OLLAMA_OTEL_PROPAGATE_CONTEXT: 'sometimes',
        OLLAMA_HOST: 'ftp://nope',
      },
    );
    expect(config.traces.otlp.protocol).toBe('grpc');
    expect(config.traces.exporters).toEqual([]);
    expect(config.metrics.intervalMillis).toBe(DEFAULTS.metricExportIntervalMillis);
    expect(config.metrics.prometheus.port).toBe(9464);
    expect(config.logLevel).toBeUndefined();
    expect(config.hostMetrics).toBe(true);
    expect(config.serverMetrics).toBeUndefined();
    expect(config.propagateContext).toBeUndefined();
    for (const bad of ['carrier-pigeon', 'zipkin', '"-5"', '70000', 'loud', 'maybe', 'sometimes', 'ftp://nope']) {
      expect(config.warnings.filter((w) => w.includes(bad))).toHaveLength(1);
    }
  });
});

describe('resolveConfig: code options win over variables', () => {
  const env = {
    OTEL_TRACES_EXPORTER: 'console',
    OTEL_METRICS_EXPORTER: 'console',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
    OTEL_METRIC_EXPORT_INTERVAL: '1000',
    OTEL_LOG_LEVEL: 'debug',
    OLLAMA_HOST: 'elsewhere:1',
    OLLAMA_OTEL_HOST_METRICS: 'true',
    OTEL_EXPORTER_PROMETHEUS_PORT: '1234',
  };

  it('for exporters, protocol, endpoint, interval, log level, host and switches', () => {
    const config = resolveConfig(
      {
        tracesExporter: 'otlp',
        metricsExporter: ['otlp', 'prometheus'],
        otlp: { protocol: 'grpc', endpoint: 'http://collector:4317', headers: { 'x-api-key': 'k' } },
        metricExportIntervalMillis: 5000,
        logLevel: 'error',
        ollamaServerMetrics: { host: 'https://ollama.example.com', minIntervalMillis: 1000 },
        hostMetrics: false,
        prometheus: { port: 9100 },
      },
      env,
    );
    expect(config.traces).toEqual({
      exporters: ['otlp'],
      otlp: { protocol: 'grpc', url: 'http://collector:4317', headers: { 'x-api-key': 'k' } },
    });
    expect(config.metrics.exporters).toEqual(['otlp', 'prometheus']);
    expect(config.metrics.intervalMillis).toBe(5000);
    expect(config.metrics.prometheus.port).toBe(9100);
    expect(config.logLevel).toBe(DiagLogLevel.ERROR);
    expect(config.hostMetrics).toBe(false);
    expect(config.serverMetrics).toMatchObject({
      baseUrl: 'https://ollama.example.com:443',
      address: 'ollama.example.com',
      port: 443,
      minIntervalMillis: 1000,
    });
  });

  it('appends /v1/<signal> to a code base endpoint for HTTP, uses a per-signal one as is', () => {
    const config = resolveConfig(
      {
        otlp: {
          protocol: 'http/protobuf',
          endpoint: 'http://collector:4318/',
          metrics: { endpoint: 'http://prometheus:9090/api/v1/otlp/v1/metrics', headers: { a: 'b' } },
        },
      },
      env,
    );
    expect(config.traces.otlp.url).toBe('http://collector:4318/v1/traces');
    expect(config.logs.otlp.url).toBe('http://collector:4318/v1/logs');
    expect(config.metrics.otlp.url).toBe('http://prometheus:9090/api/v1/otlp/v1/metrics');
    expect(config.metrics.otlp.headers).toEqual({ a: 'b' });
    expect(config.metrics.otlp.protocol).toBe('http/protobuf');
  });

  it('except OTEL_SDK_DISABLED=true, which disables whatever the code says', () => {
    expect(resolveConfig({ disabled: false }, { OTEL_SDK_DISABLED: 'true' }).disabled).toBe(true);
    expect(resolveConfig({ disabled: true }, { OTEL_SDK_DISABLED: 'false' }).disabled).toBe(true);
    expect(resolveConfig({}, { OTEL_SDK_DISABLED: 'false' }).disabled).toBe(false);
  });

  it('an empty exporter list or none in code disables the signal', () => {
    const config = resolveConfig({ tracesExporter: [], metricsExporter: 'none' }, env);
    expect(config.traces.exporters).toEqual([]);
    expect(config.metrics.exporters).toEqual([]);
  });

  it('ollamaInstrumentation.enabled=false leaves the instrumentation out', () => {
    expect(resolveConfig({ ollamaInstrumentation: { enabled: false } }, {}).ollamaInstrumentation).toBe(false);
  });

  it('ollamaInstrumentation.propagateContext wins over OLLAMA_OTEL_PROPAGATE_CONTEXT', () => {
    const propagateOff = { OLLAMA_OTEL_PROPAGATE_CONTEXT: 'false' };
    expect(resolveConfig({}, propagateOff).propagateContext).toBe(false);
    expect(resolveConfig({}, { OLLAMA_OTEL_PROPAGATE_CONTEXT: 'true' }).propagateContext).toBe(true);
    const fromCode = { ollamaInstrumentation: { propagateContext: true } };
    expect(resolveConfig(fromCode, propagateOff).propagateContext).toBe(true);
  });

  it('ollamaServerMetrics: false turns the gauges off', () => {
    expect(resolveConfig({ ollamaServerMetrics: false }, env).serverMetrics).toBeUndefined();
  });

  it('ollamaServerMetrics.enabled wins over OLLAMA_OTEL_SERVER_METRICS', () => {
    const off: OllamaServerMetricsOptions = { enabled: false, host: 'gpu-box' };
    const options: TelemetryOptions = { ollamaServerMetrics: off };
    expect(resolveConfig(options, { OLLAMA_OTEL_SERVER_METRICS: 'true' }).serverMetrics).toBeUndefined();
    const on = resolveConfig({ ollamaServerMetrics: { enabled: true } }, { OLLAMA_OTEL_SERVER_METRICS: 'false' });
    expect(on.serverMetrics?.baseUrl).toBe('http://127.0.0.1:11434');
  });
});

describe('resolveConfig: ESM loader hook', () => {
  it.each([
    [{}, {}, 'auto'],
    [{}, { OLLAMA_OTEL_ESM_LOADER_HOOK: 'false' }, false],
    [{}, { OLLAMA_OTEL_ESM_LOADER_HOOK: 'async' }, 'async'],
    [{ esmLoaderHook: true }, { OLLAMA_OTEL_ESM_LOADER_HOOK: 'false' }, 'auto'],
    [{ esmLoaderHook: 'sync' as const }, {}, 'sync'],
    [{ esmLoaderHook: false }, { OLLAMA_OTEL_ESM_LOADER_HOOK: 'async' }, false],
  ])('%o with %o -> %s', (options, env, expected) => {
    expect(resolveConfig(options, env).esmLoaderHook).toBe(expected);
  });
});

describe('parseOllamaHost', () => {
  it.each([
    [undefined, 'http://127.0.0.1:11434', '127.0.0.1', 11434],
    ['', 'http://127.0.0.1:11434', '127.0.0.1', 11434],
    ['127.0.0.1', 'http://127.0.0.1:11434', '127.0.0.1', 11434],
    ['0.0.0.0:11434', 'http://127.0.0.1:11434', '127.0.0.1', 11434],
    [':8080', 'http://127.0.0.1:8080', '127.0.0.1', 8080],
    ['gpu-box', 'http://gpu-box:11434', 'gpu-box', 11434],
    ['http://gpu-box', 'http://gpu-box:80', 'gpu-box', 80],
    ['https://ollama.example.com/', 'https://ollama.example.com:443', 'ollama.example.com', 443],
    ['https://proxy.example.com:8443/ollama/', 'https://proxy.example.com:8443/ollama', 'proxy.example.com', 8443],
    ['[::1]:11434', 'http://[::1]:11434', '::1', 11434],
    ['[::]', 'http://[::1]:11434', '::1', 11434],
  ])('%s', (raw, baseUrl, address, port) => {
    expect(parseOllamaHost(raw)).toEqual({ baseUrl, address, port });
  });

  it('rejects schemes other than http and https', () => {
    expect(() => parseOllamaHost('unix:///tmp/ollama.sock')).toThrow(/scheme/);
  });
});

describe('appendSignalPath', () => {
  it('follows the OTLP/HTTP rule for base endpoints', () => {
    expect(appendSignalPath('http://c:4318', 'traces')).toBe('http://c:4318/v1/traces');
    expect(appendSignalPath('http://c:4318/prefix/', 'metrics')).toBe('http://c:4318/prefix/v1/metrics');
  });
});
