/**
 * The recording core, shared with `@ollama-otel/proxy`: the same spans, metrics, content capture and server
 * phases, driven by HTTP exchanges instead of patched ollama-js methods.
 *
 * @internal Not a public API: it changes with this package's releases, without semver guarantees. Depend on the
 * exact version of this package if you use it.
 */
export {
  nonEmptyString,
  serverAttributes,
  setNumber,
  setScalarAsString,
  stopSequences,
  tokenCount,
} from './core/attributes.js';
export { imagePart, isObject, type Loose, pushText } from './core/content-parts.js';
export { guardedDiag } from './core/diag.js';
export {
  ERROR_TYPE_ABANDONED,
  ERROR_TYPE_CANCELLED,
  ERROR_TYPE_INCOMPLETE,
  errorMessage,
  errorType,
} from './core/errors.js';
export type { ContentSource, GenAiFormat, ResponseSummary, ServerTimings } from './core/format.js';
export { createTelemetryHost, type TelemetryHost, type TelemetryHostOptions } from './core/host.js';
export { MetricModelNames, MODEL_NAME_OVERFLOW_VALUE } from './core/model-names.js';
export { CallObservation, type GenAiCallInit, type ManagementCallInit } from './core/observation.js';
export { REDACTED, scrub, scrubHeaderValue } from './core/scrub.js';
export * from './core/semconv.js';
export {
  OLLAMA_CHAT_FORMAT,
  OLLAMA_EMBEDDINGS_FORMAT,
  OLLAMA_GENERATE_FORMAT,
  ollamaRequestAttributes,
  ollamaRequestModel,
  summarizeOllamaResponse,
} from './formats/ollama.js';
export { toolDefinitions } from './formats/ollama-content.js';
export { PACKAGE_NAME, PACKAGE_VERSION } from './version.js';
