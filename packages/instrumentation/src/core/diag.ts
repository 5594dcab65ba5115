/*
 * The diag logger is the user's code too: a logger that throws must not turn a contained telemetry failure into
 * an application failure. Every message we log goes through a logger whose methods never throw.
 */
import type { DiagLogger } from '@opentelemetry/api';

const LEVELS = ['error', 'warn', 'info', 'debug', 'verbose'] as const;
const GUARDED = Symbol.for('@ollama-otel/instrumentation.guarded-diag');

/** `logger`, with every method guarded: a throwing logger is silenced for that message. */
export function guardedDiag(logger: DiagLogger): DiagLogger {
  if ((logger as { [GUARDED]?: true })[GUARDED]) return logger;
  const guarded = { [GUARDED]: true } as unknown as DiagLogger;
  for (const level of LEVELS) {
    guarded[level] = (message: string, ...args: unknown[]) => {
      try {
        logger[level](message, ...args);
      } catch {
        // The user's logger failed; there is nowhere left to report it.
      }
    };
  }
  return guarded;
}
