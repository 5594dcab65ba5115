/**
 * The instrumentations to register: ours (Ollama, HTTP, host and runtime metrics, each unless switched off) and
 * the ones given in `instrumentations`, with one instrumentation per name and the user's winning. A second
 * instance of an instrumentation patches the same functions again: doubled spans, and `no original to unwrap`
 * when both unpatch at shutdown. So ours is left out when the user gives one of that name (the README's
 * `new HttpInstrumentation()`, `getNodeAutoInstrumentations()` with its HTTP and runtime instrumentations), the
 * Ollama one also when any of theirs patches `ollama`; of the user's own duplicates the first is kept and the
 * others are disabled.
 */
import { OllamaInstrumentation } from '@ollama-otel/instrumentation';
import { diag } from '@opentelemetry/api';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { HostMetricsInstrumentation } from '@opentelemetry/instrumentation-host-metrics';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { RuntimeNodeInstrumentation } from '@opentelemetry/instrumentation-runtime-node';
import type { ResolvedConfig } from './config.js';
import { instrumentedModuleNames } from './esm-hooks.js';
import { guard } from './guard.js';
import type { TelemetryOptions } from './types.js';
import { PACKAGE_NAME } from './version.js';

/** `instrumentationName`s of ours, known before they are built (building one enables it). */
const HTTP = '@opentelemetry/instrumentation-http';
const HOST_METRICS = '@opentelemetry/instrumentation-host-metrics';
const RUNTIME_NODE = '@opentelemetry/instrumentation-runtime-node';

export function buildInstrumentations(options: TelemetryOptions, config: ResolvedConfig): Instrumentation[] {
  const theirs = userInstrumentations(options.instrumentations ?? []);
  const taken = new Set(theirs.map((instrumentation) => instrumentation.instrumentationName));
  const ours: Instrumentation[] = [];
  const add = (enabled: boolean, name: string | undefined, what: string, build: () => Instrumentation): void => {
    if (!enabled) return;
    if (name !== undefined && taken.has(name)) {
      diag.debug(`${PACKAGE_NAME}: ${what}: using the ${name} given in instrumentations`);
      return;
    }
    const built = guard(what, build);
    if (built !== undefined) ours.push(built);
  };
  const theirOllama = theirs.find((instrumentation) => instrumentedModuleNames([instrumentation]).includes('ollama'));
  if (theirOllama !== undefined && config.ollamaInstrumentation) {
    diag.debug(
      `${PACKAGE_NAME}: the Ollama instrumentation: using the ${theirOllama.instrumentationName} given in instrumentations`,
    );
  }
  add(
    config.ollamaInstrumentation && theirOllama === undefined,
    undefined,
    'the Ollama instrumentation',
    () => new OllamaInstrumentation(ollamaConfig(options, config)),
  );
  add(config.httpInstrumentation, HTTP, 'the HTTP instrumentation', () => new HttpInstrumentation());
  add(config.hostMetrics, HOST_METRICS, 'host metrics', () => new HostMetricsInstrumentation(hostMetricGroups(config)));
  add(config.runtimeMetrics, RUNTIME_NODE, 'runtime metrics', () => new RuntimeNodeInstrumentation());
  return [...ours, ...theirs];
}

/** Every group but `system.network` unless asked for: reading it blocks the event loop (see `hostNetworkMetrics`). */
function hostMetricGroups(config: ResolvedConfig): { metricGroups?: string[] } {
  if (config.hostNetworkMetrics) return {};
  return { metricGroups: ['system.cpu', 'system.memory', 'process.cpu', 'process.memory'] };
}

/** `OLLAMA_OTEL_PROPAGATE_CONTEXT` applies unless the code set `propagateContext`. */
function ollamaConfig(options: TelemetryOptions, config: ResolvedConfig): TelemetryOptions['ollamaInstrumentation'] {
  const fromCode = options.ollamaInstrumentation;
  if (config.propagateContext === undefined || fromCode?.propagateContext !== undefined) return fromCode;
  return { ...fromCode, propagateContext: config.propagateContext };
}

/** Flattened, one per name: the first wins, later ones are disabled (they enabled themselves when built). */
function userInstrumentations(given: NonNullable<TelemetryOptions['instrumentations']>): Instrumentation[] {
  const kept = new Map<string, Instrumentation>();
  for (const instrumentation of given.flat()) {
    const name = instrumentation.instrumentationName;
    const first = kept.get(name);
    if (first === undefined) {
      kept.set(name, instrumentation);
    } else if (first !== instrumentation) {
      diag.warn(`${PACKAGE_NAME}: ${name} is given twice in instrumentations; the second one is disabled`);
      guard(`disabling the second ${name}`, () => instrumentation.disable());
    }
  }
  return [...kept.values()];
}
