/**
 * `startTelemetry()`: resolve the configuration, build the instrumentations and exporters, start NodeSDK, add host
 * and Ollama server metrics, register the ESM loader hook and the shutdown hooks. Every step is guarded: a
 * telemetry problem is logged through `diag` and never reaches the app.
 */
import { diag, metrics } from '@opentelemetry/api';
import {
  type DetectedResourceAttributes,
  envDetector,
  hostDetector,
  osDetector,
  processDetector,
  type ResourceDetector,
  serviceInstanceIdDetector,
} from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { type Env, type ResolvedConfig, resolveConfig } from './config.js';
import { registerEsmLoaderHook } from './esm-hooks.js';
import { buildPipelines } from './exporters.js';
import { guard } from './guard.js';
import { buildInstrumentations } from './instrumentations.js';
import { type OllamaServerMetrics, registerOllamaServerMetrics } from './ollama-gauges.js';
import { installShutdownHooks, type ShutdownHooks, withTimeout } from './shutdown.js';
import { diagSetup, startLine } from './start-line.js';
import type { TelemetryHandle, TelemetryOptions } from './types.js';
import { PACKAGE_NAME, PACKAGE_VERSION } from './version.js';

const RUNNING = Symbol.for('@ollama-otel/node.running');

const NOOP_HANDLE: TelemetryHandle = Object.freeze({
  shutdown: () => Promise.resolve(),
  forceFlush: () => Promise.resolve(),
});

/**
 * Starts OpenTelemetry for an app that uses Ollama: NodeSDK with the Ollama instrumentation, OTLP (gRPC by default),
 * console or Prometheus exporters, host, runtime and Ollama server metrics. Call it before `ollama` is loaded
 * (e.g. in a file given to `node --import`). Configured by `options`, then the standard `OTEL_*` variables.
 * Starting twice returns the running instance. Never throws.
 */
export function startTelemetry(options: TelemetryOptions = {}): TelemetryHandle {
  const global = globalThis as { [RUNNING]?: TelemetryHandle };
  const running = global[RUNNING];
  if (running !== undefined) {
    diag.warn(`${PACKAGE_NAME}: telemetry is already started in this process; returning the running instance`);
    return running;
  }
  try {
    const handle = start(options, process.env);
    if (handle !== NOOP_HANDLE) global[RUNNING] = handle;
    return handle;
  } catch (err) {
    diag.error(`${PACKAGE_NAME}: could not start telemetry; the app runs without it`, err);
    return NOOP_HANDLE;
  }
}

function start(options: TelemetryOptions, env: Env): TelemetryHandle {
  const config = resolveConfig(options, env);
  const logger = diagSetup(config);
  logger.install();
  for (const warning of config.warnings) diag.warn(`${PACKAGE_NAME}: ${warning}`);
  if (config.disabled) {
    diag.info(`${PACKAGE_NAME}: telemetry disabled (OTEL_SDK_DISABLED or the disabled option)`);
    return NOOP_HANDLE;
  }

  const instrumentations = buildInstrumentations(options, config);
  if (config.esmLoaderHook !== false) registerEsmLoaderHook(instrumentations, config.esmLoaderHook);

  const pipelines = buildPipelines(config);
  const spanProcessors = [...pipelines.spanProcessors, ...(options.spanProcessors ?? [])];
  const metricReaders = [...pipelines.metricReaders, ...(options.metricReaders ?? [])];
  const logRecordProcessors = [...pipelines.logRecordProcessors, ...(options.logRecordProcessors ?? [])];

  // NodeSDK's constructor installs a console logger from OTEL_LOG_LEVEL, warning that it replaces ours: we
  // step aside and put ours (same variable, code first) back afterwards.
  if (env.OTEL_LOG_LEVEL) diag.disable();
  const sdk = new NodeSDK({
    instrumentations,
    resourceDetectors: resourceDetectors(options, config, env),
    spanProcessors,
    metricReaders,
    logRecordProcessors,
    ...(options.views ? { views: options.views } : {}),
    ...(options.sampler ? { sampler: options.sampler } : {}),
  });
  logger.install();
  sdk.start();

  let serverMetrics: OllamaServerMetrics | undefined;
  if (metricReaders.length > 0 && config.serverMetrics !== undefined) {
    const server = config.serverMetrics;
    serverMetrics = guard('Ollama server metrics', () =>
      registerOllamaServerMetrics(metrics.getMeter(PACKAGE_NAME, PACKAGE_VERSION), server),
    );
  }

  const flush = async (): Promise<void> => {
    const results = await Promise.allSettled([
      ...spanProcessors.map((p) => p.forceFlush()),
      ...metricReaders.map((r) => r.forceFlush()),
      ...logRecordProcessors.map((p) => p.forceFlush()),
    ]);
    for (const result of results) {
      if (result.status === 'rejected') diag.error(`${PACKAGE_NAME}: telemetry flush failed`, result.reason);
    }
    // The processors have handed their batches over; wait until they are delivered (or failed).
    await Promise.all(pipelines.deliveries.map((delivery) => delivery.forceFlush()));
  };

  const timeoutMillis = config.shutdownTimeoutMillis;
  let shutdownHooks: ShutdownHooks | undefined;
  let stopped: Promise<boolean> | undefined;
  /** Flushes and shuts down within the time limit; resolves whether it finished in time. */
  const shutdown = (): Promise<boolean> => {
    stopped ??= (async () => {
      shutdownHooks?.uninstall();
      for (const delivery of pipelines.deliveries) delivery.stopRetrying();
      // Our exports never keep the process alive, so the flush does, for the time limit at most: an app that
      // awaits it (or a beforeExit flush) must not end half-way.
      const finished = await withTimeout(sdk.shutdown(), timeoutMillis, true); // the final collection still polls the Ollama server
      try {
        if (!finished) {
          for (const delivery of pipelines.deliveries) delivery.abandon('no answer before the shutdown time limit');
        }
        pipelines.ledger.report(finished ? undefined : timeoutMillis);
      } finally {
        serverMetrics?.stop();
        // Unpatch, so that a later startTelemetry() in this process instruments afresh.
        for (const instrumentation of instrumentations) {
          guard(`disabling ${instrumentation.instrumentationName}`, () => instrumentation.disable());
        }
        const global = globalThis as { [RUNNING]?: TelemetryHandle };
        if (global[RUNNING] === handle) delete global[RUNNING];
      }
      return finished;
    })();
    return stopped;
  };
  const handle: TelemetryHandle = {
    shutdown: () => shutdown().then(() => undefined),
    forceFlush: () =>
      withTimeout(
        flush().catch((err: unknown) => diag.error(`${PACKAGE_NAME}: telemetry flush failed`, err)),
        timeoutMillis,
        true,
      ).then(() => undefined),
  };

  if (config.gracefulShutdown) {
    shutdownHooks = guard('graceful shutdown', () => installShutdownHooks({ shutdown }));
  }

  logger.announce(
    startLine(
      pipelines.destinations,
      {
        traces: options.spanProcessors?.length ?? 0,
        metrics: options.metricReaders?.length ?? 0,
        logs: options.logRecordProcessors?.length ?? 0,
      },
      serverMetrics ? config.serverMetrics?.baseUrl : undefined,
    ),
  );
  diag.debug(`${PACKAGE_NAME}: instrumentations: ${instrumentations.map((i) => i.instrumentationName).join(',')}`);
  return handle;
}

const DETECTORS: Record<string, ResourceDetector> = {
  env: envDetector,
  host: hostDetector,
  os: osDetector,
  process: processDetector,
  serviceinstance: serviceInstanceIdDetector,
};

/**
 * NodeSDK's detectors (`OTEL_NODE_RESOURCE_DETECTORS`, default all of env, host, os, process, serviceinstance)
 * or the ones given in code, then one that adds the attributes given in code, so those win.
 */
function resourceDetectors(options: TelemetryOptions, config: ResolvedConfig, env: Env): ResourceDetector[] {
  let detectors: ResourceDetector[];
  if (options.resourceDetectors !== undefined) {
    detectors = [...options.resourceDetectors];
  } else {
    const names = (env.OTEL_NODE_RESOURCE_DETECTORS ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    if (names.length === 0 || names.includes('all')) detectors = Object.values(DETECTORS);
    else if (names.includes('none')) detectors = [];
    else {
      detectors = [];
      for (const name of names) {
        const detector = DETECTORS[name];
        if (detector) detectors.push(detector);
        else diag.warn(`${PACKAGE_NAME}: OTEL_NODE_RESOURCE_DETECTORS: unknown detector "${name}"; ignored`);
      }
    }
  }
  const distro: DetectedResourceAttributes = {
    'telemetry.distro.name': PACKAGE_NAME,
    'telemetry.distro.version': PACKAGE_VERSION,
  };
  const fromCode: DetectedResourceAttributes = { ...options.resourceAttributes };
  if (config.serviceName !== undefined) fromCode['service.name'] = config.serviceName;
  if (config.serviceVersion !== undefined) fromCode['service.version'] = config.serviceVersion;
  return [{ detect: () => ({ attributes: distro }) }, ...detectors, { detect: () => ({ attributes: fromCode }) }];
}
