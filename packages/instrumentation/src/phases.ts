/*
 * Ollama's server phases, reconstructed from the nanosecond timings of a final response: `ollama.load`,
 * `ollama.prompt_eval` and `ollama.eval` child spans of the GenAI span, laid end to end so that eval ends at the
 * moment the final response arrived. Also the part of `total_duration` the phases do not explain, and whether
 * the call was a cold start.
 */
import { type Attributes, type Context, type HrTime, SpanKind, type Tracer } from '@opentelemetry/api';
import { tokenCount } from './attributes.js';
import { addNanoseconds } from './clock.js';
import type { OllamaResponse } from './internal-types.js';
import {
  ATTR_OLLAMA_PHASE_TOKEN_COUNT,
  ATTR_OLLAMA_PHASE_TOKENS_PER_SECOND,
  SPAN_OLLAMA_EVAL,
  SPAN_OLLAMA_LOAD,
  SPAN_OLLAMA_PROMPT_EVAL,
} from './semconv.js';

const NANOSECONDS_PER_SECOND = 1e9;

interface Phase {
  name: string;
  durationNs: number;
  tokens: number | undefined;
}

/** Creates the phase spans under the span in `parent`; `arrivedAt` is when the final response arrived. */
export function recordServerPhases(tracer: Tracer, parent: Context, response: OllamaResponse, arrivedAt: HrTime): void {
  const phases: Phase[] = [];
  const load = durationNs(response.load_duration);
  const promptEval = durationNs(response.prompt_eval_duration);
  const evaluation = durationNs(response.eval_duration);
  if (load !== undefined) phases.push({ name: SPAN_OLLAMA_LOAD, durationNs: load, tokens: undefined });
  if (promptEval !== undefined) {
    phases.push({
      name: SPAN_OLLAMA_PROMPT_EVAL,
      durationNs: promptEval,
      tokens: tokenCount(response.prompt_eval_count),
    });
  }
  if (evaluation !== undefined) {
    phases.push({ name: SPAN_OLLAMA_EVAL, durationNs: evaluation, tokens: tokenCount(response.eval_count) });
  }
  let start = arrivedAt;
  for (const phase of phases) start = addNanoseconds(start, -phase.durationNs);
  for (const phase of phases) {
    const end = addNanoseconds(start, phase.durationNs);
    tracer
      .startSpan(phase.name, { kind: SpanKind.INTERNAL, startTime: start, attributes: phaseAttributes(phase) }, parent)
      .end(end);
    start = end;
  }
}

/** Seconds of `total_duration` not spent loading, evaluating the prompt or generating (queueing, overhead). */
export function overheadSeconds(response: OllamaResponse): number | undefined {
  const total = durationNs(response.total_duration);
  if (total === undefined) return undefined;
  const explained =
    (durationNs(response.load_duration) ?? 0) +
    (durationNs(response.prompt_eval_duration) ?? 0) +
    (durationNs(response.eval_duration) ?? 0);
  return Math.max(0, total - explained) / NANOSECONDS_PER_SECOND;
}

/** Whether loading the model took longer than the threshold; `undefined` when the response has no timings. */
export function isColdStart(response: OllamaResponse, thresholdNs: number): boolean | undefined {
  const load = durationNs(response.load_duration);
  if (load === undefined && durationNs(response.total_duration) === undefined) return undefined;
  return (load ?? 0) > thresholdNs;
}

function phaseAttributes(phase: Phase): Attributes {
  if (phase.tokens === undefined) return {};
  const attributes: Attributes = { [ATTR_OLLAMA_PHASE_TOKEN_COUNT]: phase.tokens };
  if (phase.durationNs > 0) {
    attributes[ATTR_OLLAMA_PHASE_TOKENS_PER_SECOND] = (phase.tokens * NANOSECONDS_PER_SECOND) / phase.durationNs;
  }
  return attributes;
}

/** Ollama reports durations in integer nanoseconds and omits them when zero. */
function durationNs(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.round(value) : undefined;
}
