/*
 * Ollama's server phases, reconstructed from the nanosecond timings of a final response: `ollama.load`,
 * `ollama.prompt_eval` and `ollama.eval` child spans of the GenAI span, laid end to end so that eval ends at the
 * moment the final response arrived. Also the part of `total_duration` the phases do not explain, and whether
 * the call was a cold start.
 */
import { type Attributes, type Context, type HrTime, SpanKind, type Tracer } from '@opentelemetry/api';
import { addNanoseconds } from './clock.js';
import type { ResponseSummary, ServerTimings } from './format.js';
import {
  ATTR_OLLAMA_PHASE_TOKEN_COUNT,
  ATTR_OLLAMA_PHASE_TOKENS_PER_SECOND,
  SPAN_OLLAMA_EVAL,
  SPAN_OLLAMA_LOAD,
  SPAN_OLLAMA_PROMPT_EVAL,
} from './semconv.js';

const NANOSECONDS_PER_SECOND = 1e9;

/**
 * Creates the phase spans under the span in `parent`; `arrivedAt` is when the final response arrived. The phases
 * are clipped so that none starts before `notBefore` (the parent's start): a server that reports more time than
 * the call took (clock skew, queued work) still yields children inside their parent.
 */
export function recordServerPhases(
  tracer: Tracer,
  parent: Context,
  summary: ResponseSummary,
  arrivedAt: HrTime,
  notBefore: HrTime,
): void {
  const timings = summary.timings;
  if (timings === undefined) return;
  const { loadNs, promptEvalNs, evalNs } = timings;
  let start = addNanoseconds(arrivedAt, -((loadNs ?? 0) + (promptEvalNs ?? 0) + (evalNs ?? 0)));
  if (compare(start, notBefore) < 0) start = notBefore;
  start = phase(tracer, parent, SPAN_OLLAMA_LOAD, start, arrivedAt, loadNs, undefined);
  start = phase(tracer, parent, SPAN_OLLAMA_PROMPT_EVAL, start, arrivedAt, promptEvalNs, summary.inputTokens);
  phase(tracer, parent, SPAN_OLLAMA_EVAL, start, arrivedAt, evalNs, summary.outputTokens);
}

/** One phase span from `start`, at most until `limit`; returns where the next phase starts. */
function phase(
  tracer: Tracer,
  parent: Context,
  name: string,
  start: HrTime,
  limit: HrTime,
  durationNs: number | undefined,
  tokens: number | undefined,
): HrTime {
  if (durationNs === undefined) return start;
  let end = addNanoseconds(start, durationNs);
  if (compare(end, limit) > 0) end = limit;
  const attributes: Attributes = {};
  if (tokens !== undefined) {
    attributes[ATTR_OLLAMA_PHASE_TOKEN_COUNT] = tokens;
    attributes[ATTR_OLLAMA_PHASE_TOKENS_PER_SECOND] = (tokens * NANOSECONDS_PER_SECOND) / durationNs;
  }
  tracer.startSpan(name, { kind: SpanKind.INTERNAL, startTime: start, attributes }, parent).end(end);
  return end;
}

/** Seconds of `total_duration` not spent loading, evaluating the prompt or generating (queueing, overhead). */
export function overheadSeconds(timings: ServerTimings): number | undefined {
  if (timings.totalNs === undefined) return undefined;
  const explained = (timings.loadNs ?? 0) + (timings.promptEvalNs ?? 0) + (timings.evalNs ?? 0);
  return Math.max(0, timings.totalNs - explained) / NANOSECONDS_PER_SECOND;
}

/** Whether loading the model took longer than the threshold; `undefined` when the response has no timings. */
export function isColdStart(timings: ServerTimings | undefined, thresholdNs: number): boolean | undefined {
  if (timings === undefined || (timings.loadNs === undefined && timings.totalNs === undefined)) return undefined;
  return (timings.loadNs ?? 0) > thresholdNs;
}

function compare(a: HrTime, b: HrTime): number {
  return a[0] === b[0] ? a[1] - b[1] : a[0] - b[0];
}
