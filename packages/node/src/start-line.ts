/**
 * What the package says without being asked: a console diag logger at `warn` unless the app chose a level
 * (`OTEL_LOG_LEVEL`, `logLevel`) or installed a diag logger of its own, and one line at start saying where each
 * signal goes. Both go to stderr; `OTEL_LOG_LEVEL=none` (or `logLevel: 'none'`) silences them.
 */
import { DiagConsoleLogger, DiagLogLevel, diag } from '@opentelemetry/api';
import type { ResolvedConfig } from './config.js';
import type { SignalName } from './export-ledger.js';
import { PACKAGE_NAME } from './version.js';

/** The level of our own console logger when nothing chose one: the start line, delivery warnings and errors. */
export const DEFAULT_LOG_LEVEL = DiagLogLevel.WARN;

export interface DiagSetup {
  /** Installs (again) our console logger, when it is ours to install. */
  install(): void;
  /** Writes the start line where it belongs. */
  announce(line: string): void;
}

export function diagSetup(config: ResolvedConfig): DiagSetup {
  const ours = config.logLevel !== undefined || !appHasDiagLogger();
  const level = config.logLevel ?? DEFAULT_LOG_LEVEL;
  return {
    install: () => {
      if (!ours) return;
      diag.setLogger(new DiagConsoleLogger(), { logLevel: level, suppressOverrideMessage: true });
      globals()[OURS] = globals()[API]?.diag;
    },
    announce: (line) => {
      if (!ours) diag.info(line);
      else if (level >= DiagLogLevel.WARN) console.warn(line);
    },
  };
}

/** Where the OpenTelemetry API keeps its globals, and where we note the diag logger we installed. */
const API = Symbol.for('opentelemetry.js.api.1');
const OURS = Symbol.for('@ollama-otel/node.diag-logger');
const globals = () => globalThis as { [API]?: { diag?: unknown }; [OURS]?: unknown };

/**
 * A diag logger is already there, set by the app before telemetry started (not ours from an earlier start): its
 * level is the app's choice.
 */
function appHasDiagLogger(): boolean {
  const installed = globals()[API]?.diag;
  return installed !== undefined && installed !== globals()[OURS];
}

export function startLine(
  destinations: Record<SignalName, string[]>,
  extra: Record<SignalName, number>,
  serverMetrics: string | undefined,
): string {
  const signals = (['traces', 'metrics', 'logs'] as const).map((signal) => {
    const where = [...destinations[signal]];
    if (extra[signal] > 0) where.push(`${extra[signal]} more given in code`);
    return `${signal} to ${where.join(' and ') || 'nowhere (off)'}`;
  });
  const gauges = serverMetrics ? `Ollama server gauges from ${serverMetrics}` : 'Ollama server gauges off';
  return `${PACKAGE_NAME}: telemetry started: ${signals.join(', ')}; ${gauges} (OTEL_LOG_LEVEL=none silences this)`;
}
