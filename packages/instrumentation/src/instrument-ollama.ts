import { OllamaInstrumentation } from './instrumentation.js';
import { loadApplicationOllama } from './targets.js';
import type { InstrumentedOllama, InstrumentOllamaConfig } from './types.js';

/**
 * Instruments ollama-js without loader hooks (bundlers, ESM apps without a `--import` step).
 *
 * `target` may be the `ollama` module namespace (`import * as ollama from 'ollama'`), the `Ollama` class, or a
 * client instance. Without a target, both copies (CommonJS and ESM) of the `ollama` package the application
 * resolves are instrumented. Providers default to the global ones.
 *
 * @throws TypeError when `target` is not an ollama module, class or instance, or `ollama` cannot be resolved.
 */
export function instrumentOllama(target?: unknown, config: InstrumentOllamaConfig = {}): InstrumentedOllama {
  const { tracerProvider, meterProvider, loggerProvider, ...instrumentationConfig } = config;
  const instrumentation = new OllamaInstrumentation({ ...instrumentationConfig, enabled: false });
  if (tracerProvider) instrumentation.setTracerProvider(tracerProvider);
  if (meterProvider) instrumentation.setMeterProvider(meterProvider);
  if (loggerProvider) instrumentation.setLoggerProvider(loggerProvider);
  const targets = target === undefined ? loadApplicationOllama() : [target];
  const undo = targets.map((each) => instrumentation._instrumentTarget(each));
  let instrumented = true;
  return {
    uninstrument() {
      if (!instrumented) return;
      instrumented = false;
      for (const restore of undo) restore();
    },
  };
}
