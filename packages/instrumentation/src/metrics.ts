/*
 * The metric instruments and how a finished call is recorded into them. Everything is recorded from the
 * response itself, never from span data, so metrics stay complete when traces are sampled out.
 */
import type { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api';
import { nanosToSeconds, tokenCount } from './attributes.js';
import type { OllamaResponse } from './internal-types.js';
import {
  ATTR_GEN_AI_TOKEN_TYPE,
  GEN_AI_DURATION_BUCKETS,
  GEN_AI_TOKEN_BUCKETS,
  GEN_AI_TOKEN_TYPE_VALUE_INPUT,
  GEN_AI_TOKEN_TYPE_VALUE_OUTPUT,
  METRIC_GEN_AI_CLIENT_OPERATION_DURATION,
  METRIC_GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK,
  METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
  METRIC_GEN_AI_CLIENT_TOKEN_USAGE,
  METRIC_OLLAMA_CLIENT_OPERATION_DURATION,
  METRIC_OLLAMA_EVAL_DURATION,
  METRIC_OLLAMA_EVAL_TOKENS_PER_SECOND,
  METRIC_OLLAMA_LOAD_DURATION,
  METRIC_OLLAMA_MODEL_COLD_STARTS,
  METRIC_OLLAMA_PROMPT_EVAL_DURATION,
  METRIC_OLLAMA_PROMPT_EVAL_TOKENS_PER_SECOND,
  OLLAMA_LOAD_DURATION_BUCKETS,
  OLLAMA_OPERATION_DURATION_BUCKETS,
  OLLAMA_TOKENS_PER_SECOND_BUCKETS,
} from './semconv.js';

export class GenAiInstruments {
  readonly operationDuration: Histogram;
  readonly tokenUsage: Histogram;
  readonly timeToFirstChunk: Histogram;
  readonly timePerOutputChunk: Histogram;
  readonly loadDuration: Histogram;
  readonly promptEvalDuration: Histogram;
  readonly evalDuration: Histogram;
  readonly promptEvalTokensPerSecond: Histogram;
  readonly evalTokensPerSecond: Histogram;
  readonly coldStarts: Counter;
  readonly managementOperationDuration: Histogram;

  constructor(meter: Meter) {
    const seconds = (name: string, description: string, buckets = GEN_AI_DURATION_BUCKETS) =>
      meter.createHistogram(name, { description, unit: 's', advice: { explicitBucketBoundaries: buckets } });
    const rate = (name: string, description: string) =>
      meter.createHistogram(name, {
        description,
        unit: '{token}/s',
        advice: { explicitBucketBoundaries: OLLAMA_TOKENS_PER_SECOND_BUCKETS },
      });

    this.operationDuration = seconds(METRIC_GEN_AI_CLIENT_OPERATION_DURATION, 'GenAI operation duration.');
    this.tokenUsage = meter.createHistogram(METRIC_GEN_AI_CLIENT_TOKEN_USAGE, {
      description: 'Number of input and output tokens used, as reported by Ollama.',
      unit: '{token}',
      advice: { explicitBucketBoundaries: GEN_AI_TOKEN_BUCKETS },
    });
    this.timeToFirstChunk = seconds(
      METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
      'Time from the request until the first chunk of a streamed response arrived.',
    );
    this.timePerOutputChunk = seconds(
      METRIC_GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK,
      'Time between consecutive chunks of a streamed response, one point per chunk after the first.',
    );
    this.loadDuration = seconds(
      METRIC_OLLAMA_LOAD_DURATION,
      'Time Ollama spent loading the model (load_duration).',
      OLLAMA_LOAD_DURATION_BUCKETS,
    );
    this.promptEvalDuration = seconds(
      METRIC_OLLAMA_PROMPT_EVAL_DURATION,
      'Time Ollama spent evaluating the prompt (prefill, prompt_eval_duration).',
    );
    this.evalDuration = seconds(METRIC_OLLAMA_EVAL_DURATION, 'Time Ollama spent generating tokens (eval_duration).');
    this.promptEvalTokensPerSecond = rate(
      METRIC_OLLAMA_PROMPT_EVAL_TOKENS_PER_SECOND,
      'Prefill speed: prompt_eval_count / prompt_eval_duration.',
    );
    this.evalTokensPerSecond = rate(METRIC_OLLAMA_EVAL_TOKENS_PER_SECOND, 'Decode speed: eval_count / eval_duration.');
    this.coldStarts = meter.createCounter(METRIC_OLLAMA_MODEL_COLD_STARTS, {
      description: 'Calls for which Ollama had to load the model (load_duration above coldStartThresholdMs).',
      unit: '{event}',
    });
    this.managementOperationDuration = seconds(
      METRIC_OLLAMA_CLIENT_OPERATION_DURATION,
      'Duration of Ollama model-management calls (pull, push, create, delete, copy, list, show, ps, version...).',
      OLLAMA_OPERATION_DURATION_BUCKETS,
    );
  }

  /** Token usage, only for the counts Ollama reported. */
  recordTokenUsage(response: OllamaResponse, attributes: Attributes): void {
    const input = tokenCount(response.prompt_eval_count);
    const output = tokenCount(response.eval_count);
    if (input !== undefined) {
      this.tokenUsage.record(input, { ...attributes, [ATTR_GEN_AI_TOKEN_TYPE]: GEN_AI_TOKEN_TYPE_VALUE_INPUT });
    }
    if (output !== undefined) {
      this.tokenUsage.record(output, { ...attributes, [ATTR_GEN_AI_TOKEN_TYPE]: GEN_AI_TOKEN_TYPE_VALUE_OUTPUT });
    }
  }

  /** Ollama's own phase timings and speeds, each only when present in the response. */
  recordServerTimings(response: OllamaResponse, attributes: Attributes): void {
    const load = nanosToSeconds(response.load_duration);
    const promptEval = nanosToSeconds(response.prompt_eval_duration);
    const evaluation = nanosToSeconds(response.eval_duration);
    if (load !== undefined) this.loadDuration.record(load, attributes);
    if (promptEval !== undefined) {
      this.promptEvalDuration.record(promptEval, attributes);
      const tokens = tokenCount(response.prompt_eval_count);
      if (tokens) this.promptEvalTokensPerSecond.record(tokens / promptEval, attributes);
    }
    if (evaluation !== undefined) {
      this.evalDuration.record(evaluation, attributes);
      const tokens = tokenCount(response.eval_count);
      if (tokens) this.evalTokensPerSecond.record(tokens / evaluation, attributes);
    }
  }
}
