/*
 * `instrumentOllama()`: the entry point that needs no loader hooks and loads nothing of
 * `@opentelemetry/instrumentation` (no require-in-the-middle, no import-in-the-middle), so that it works in
 * bundles. Providers default to the global ones, looked up at call time: a `NodeSDK` started later is used.
 */
import {
  createNoopMeter,
  type DiagLogger,
  diag,
  type Logger,
  type LoggerProvider,
  logs,
  type MeterProvider,
  metrics,
  ProxyTracerProvider,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { watchApplicationCopies } from './application-copies.js';
import { ClientPatcher } from './client-patcher.js';
import { guardedDiag } from './core/diag.js';
import { metricModelNamesOf, type TelemetryHost } from './core/host.js';
import { GenAiInstruments } from './core/metrics.js';
import { resolveSettings } from './core/settings.js';
import { describeTarget, findClientPrototype } from './targets.js';
import type { InstrumentedOllama, InstrumentOllamaConfig } from './types.js';
import { PACKAGE_NAME, PACKAGE_VERSION } from './version.js';

/**
 * Instruments ollama-js without loader hooks (bundlers, ESM apps without a `--import` step).
 *
 * `target` may be the `ollama` module namespace (`import * as ollama from 'ollama'`), the `Ollama` class, or a
 * client instance. Without a target, every copy of `ollama` the application loads, now or later, through
 * `require` or `import` (frameworks' own nested copies and `ollama/browser` included) is instrumented: call it
 * before the framework loads. Inside a bundle, pass the module.
 *
 * @throws TypeError when `target` is not an ollama module, class or instance, or when called without a target
 * inside a bundle.
 */
export function instrumentOllama(target?: unknown, config?: InstrumentOllamaConfig | null): InstrumentedOllama {
  const log = guardedDiag(diag.createComponentLogger({ namespace: PACKAGE_NAME }));
  const options = configObject(config, log);
  const { tracerProvider, meterProvider, loggerProvider, ...instrumentationConfig } = options;
  const patcher = new ClientPatcher(
    telemetryHost(instrumentationConfig, log, tracerProvider, meterProvider, loggerProvider),
  );
  const undo: (() => void)[] = [];
  if (target === undefined) {
    const stop = watchApplicationCopies(
      (exports) => patchCopy(patcher, exports, undo, log),
      (message) => log.warn(`instrumentOllama(): ${message}`),
    );
    undo.push(stop);
  } else {
    const restore = findClientPrototype(target) === undefined ? undefined : patcher.patch(target);
    if (restore === undefined) {
      throw new TypeError(
        `instrumentOllama(): expected the \`ollama\` module, its \`Ollama\` class or an \`Ollama\` instance, got ${describeTarget(target)}`,
      );
    }
    undo.push(restore);
  }
  let instrumented = true;
  return {
    uninstrument() {
      if (!instrumented) return;
      instrumented = false;
      for (const restore of undo.splice(0)) restore();
    },
  };
}

/** One loaded copy's exports: an exports object or namespace, or (from an ES module's bindings) its values. */
function patchCopy(patcher: ClientPatcher, exports: unknown, undo: (() => void)[], log: DiagLogger): void {
  try {
    const candidates = findClientPrototype(exports) !== undefined ? [exports] : Object.values(exports as object);
    for (const candidate of candidates) {
      const restore = findClientPrototype(candidate) === undefined ? undefined : patcher.patch(candidate);
      if (restore !== undefined) undo.push(restore);
    }
  } catch (error) {
    log.error('instrumentOllama(): failed to instrument a loaded copy of `ollama`', error);
  }
}

function configObject(config: unknown, log: DiagLogger): InstrumentOllamaConfig {
  if (config === undefined || config === null) return {};
  if (typeof config === 'object') return config as InstrumentOllamaConfig;
  log.warn(`instrumentOllama(): ignoring the configuration ${describeTarget(config)}: expected an object`);
  return {};
}

/**
 * Providers given here are fixed; the global ones are looked up on each call (the tracer and logger providers
 * are proxies; the meter provider is not, so its instruments are rebuilt when a new one is registered).
 */
function telemetryHost(
  config: unknown,
  log: DiagLogger,
  tracerProvider: InstrumentOllamaConfig['tracerProvider'],
  meterProvider: MeterProvider | undefined,
  loggerProvider: LoggerProvider | undefined,
): TelemetryHost {
  const tracer = guarded(log, 'tracer', createNoopTracer, () =>
    (tracerProvider ?? trace.getTracerProvider()).getTracer(PACKAGE_NAME, PACKAGE_VERSION),
  );
  const logger = guarded(
    log,
    'logger',
    () => NOOP_LOGGER,
    () => (loggerProvider ?? logs.getLoggerProvider()).getLogger(PACKAGE_NAME, PACKAGE_VERSION),
  );
  const settings = resolveSettings(config, log);
  let instrumentsFor: MeterProvider | undefined;
  let instruments: GenAiInstruments | undefined;
  return {
    tracer,
    logger,
    diag: log,
    settings,
    modelNames: metricModelNamesOf(() => settings),
    get instruments() {
      const provider = meterProvider ?? metrics.getMeterProvider();
      if (instruments === undefined || provider !== instrumentsFor) {
        instrumentsFor = provider;
        const meter = guarded(log, 'meter', createNoopMeter, () => provider.getMeter(PACKAGE_NAME, PACKAGE_VERSION));
        instruments = GenAiInstruments.create(meter, log);
      }
      return instruments;
    },
  };
}

const NOOP_LOGGER: Logger = { emit() {}, enabled: () => false };

/** A provider with no delegate hands out no-op tracers. */
function createNoopTracer(): Tracer {
  return new ProxyTracerProvider().getTracer(PACKAGE_NAME);
}

function guarded<T>(log: DiagLogger, what: string, fallback: () => T, get: () => T): T {
  try {
    return get();
  } catch (error) {
    log.error(`instrumentOllama(): the ${what} provider failed; telemetry of that kind is off`, error);
    return fallback();
  }
}
