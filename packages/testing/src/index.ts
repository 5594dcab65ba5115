export type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
export type { ReadableSpan } from '@opentelemetry/sdk-trace';
export type { Fault, ScriptedFault } from './faults.js';
export { type Capability, canonicalModelName, type DoubleModel, MODELS, type ModelDetails } from './models.js';
export { seededRandom } from './random.js';
export { type BackToBackScraper, scrapeBackToBack } from './scraper.js';
export { type OllamaDouble, type OllamaDoubleOptions, type RecordedRequest, startOllamaDouble } from './server.js';
export { countSpanEnds, type SpanEndCounter } from './span-ends.js';
export {
  type CollectedDataPoint,
  type CollectedMetric,
  createTelemetryHarness,
  findMetric,
  type HistogramValue,
  installContextManager,
  type TelemetryHarness,
  type TelemetryHarnessOptions,
} from './telemetry.js';
