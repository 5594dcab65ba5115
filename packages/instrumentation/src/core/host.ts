/*
 * What an observation needs from whoever runs it (the ollama-js instrumentation, or the proxy): a tracer, the
 * metric instruments, a logger for content events, a diag logger that never throws, and the settings.
 */
import type { DiagLogger, Logger, Meter, Tracer } from '@opentelemetry/api';
import { guardedDiag } from './diag.js';
import { GenAiInstruments } from './metrics.js';
import { MetricModelNames } from './model-names.js';
import { resolveSettings, type Settings } from './settings.js';

/** Read at call time, so that provider and configuration changes apply to the next call. */
export interface TelemetryHost {
  readonly tracer: Tracer;
  readonly instruments: GenAiInstruments;
  readonly logger: Logger;
  /** Never throws. */
  readonly diag: DiagLogger;
  /** The resolved configuration; a call keeps the settings it started with. */
  readonly settings: Settings;
  /** Bounds the model names recorded on metrics; one per host, so the bound holds across calls. */
  readonly modelNames: MetricModelNames;
}

export interface TelemetryHostOptions {
  tracer: Tracer;
  meter: Meter;
  logger: Logger;
  diag: DiagLogger;
  /** The instrumentation's configuration (content capture, phase spans, cold-start threshold...). */
  config?: unknown;
}

/** A host with fixed providers and configuration. */
export function createTelemetryHost(options: TelemetryHostOptions): TelemetryHost {
  const diag = guardedDiag(options.diag);
  const settings = resolveSettings(options.config, diag);
  return Object.freeze({
    tracer: options.tracer,
    instruments: GenAiInstruments.create(options.meter, diag),
    logger: options.logger,
    diag,
    settings,
    modelNames: metricModelNamesOf(() => settings),
  });
}

/** The model-name bound of a host whose settings may change (read on each new name). */
export function metricModelNamesOf(settings: () => Settings): MetricModelNames {
  return new MetricModelNames(
    () => settings().metricModelNames,
    () => settings().maxUnlistedModelNames,
  );
}
