/*
 * The metric instruments and how a finished call is recorded into them. Everything is recorded from the
 * response itself, never from span data, so metrics stay complete when traces are sampled out.
 */
import {
  type Attributes,
  type Counter,
  createNoopMeter,
  type DiagLogger,
  type Histogram,
  type Meter,
} from '@opentelemetry/api';
import { outcomeAttributes, withAttribute } from './attributes.js';
import type { ResponseSummary } from './format.js';
import {
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_TOKEN_MODALITY,
  ATTR_GEN_AI_TOKEN_TYPE,
  GEN_AI_DURATION_BUCKETS,
  GEN_AI_TOKEN_BUCKETS,
  GEN_AI_TOKEN_MODALITY_VALUE_TEXT,
  GEN_AI_TOKEN_MODALITY_VALUE_UNKNOWN,
  GEN_AI_TOKEN_TYPE_VALUE_INPUT,
  GEN_AI_TOKEN_TYPE_VALUE_OUTPUT,
  METRIC_GEN_AI_CLIENT_EMBEDDINGS_DURATION,
  METRIC_GEN_AI_CLIENT_EMBEDDINGS_OPERATION_INPUT_TOKENS,
  METRIC_GEN_AI_CLIENT_INFERENCE_DURATION,
  METRIC_GEN_AI_CLIENT_INFERENCE_OPERATION_INPUT_TOKENS,
  METRIC_GEN_AI_CLIENT_INFERENCE_OPERATION_OUTPUT_TOKENS,
  METRIC_GEN_AI_CLIENT_INFERENCE_TIME_PER_OUTPUT_CHUNK,
  METRIC_GEN_AI_CLIENT_INFERENCE_TIME_TO_FIRST_CHUNK,
  METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_INPUT_TOKENS,
  METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_OUTPUT_TOKENS,
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

const NANOSECONDS_PER_SECOND = 1e9;

type SecondsHistogram = (name: string, description: string, buckets?: number[]) => Histogram;

function secondsHistogram(meter: Meter): SecondsHistogram {
  return (name, description, buckets = GEN_AI_DURATION_BUCKETS) =>
    meter.createHistogram(name, { description, unit: 's', advice: { explicitBucketBoundaries: buckets } });
}

function tokenHistogram(meter: Meter, name: string, description: string): Histogram {
  return meter.createHistogram(name, {
    description,
    unit: '{token}',
    advice: { explicitBucketBoundaries: GEN_AI_TOKEN_BUCKETS },
  });
}

/**
 * The metric attributes of a finished call: its common attributes (operation, provider, server, request model),
 * the response model and, for failures, `error.type`. Each variant is a cached, frozen object.
 */
export class OutcomeAttributes {
  /** With `error.type` (when set): operation duration, token histograms, server timings. */
  readonly all: Attributes;

  constructor(
    readonly common: Attributes,
    readonly responseModel: string | undefined,
    readonly errorType: string | undefined,
  ) {
    this.all = outcomeAttributes(common, responseModel, errorType);
  }

  /** Without `error.type`: the latest-experimental usage counters. */
  get withoutError(): Attributes {
    return withAttribute(this.common, ATTR_GEN_AI_RESPONSE_MODEL, this.responseModel);
  }
}

/**
 * The GenAI client metrics of one semantic-convention generation: the streaming timings (recorded per chunk by
 * the call) and what a finished call records. `summary` is `undefined` when no final response arrived (failed,
 * cancelled, abandoned or incomplete calls).
 */
export interface GenAiClientMetrics {
  readonly timeToFirstChunk: Histogram;
  readonly timePerOutputChunk: Histogram;
  /** chat, generate. */
  recordInference(summary: ResponseSummary | undefined, attributes: OutcomeAttributes, seconds: number): void;
  /** embed, embeddings. */
  recordEmbeddings(summary: ResponseSummary | undefined, attributes: OutcomeAttributes, seconds: number): void;
}

/** The v1.41 GenAI client metrics (the default). */
class V141ClientMetrics implements GenAiClientMetrics {
  readonly operationDuration: Histogram;
  readonly tokenUsage: Histogram;
  readonly timeToFirstChunk: Histogram;
  readonly timePerOutputChunk: Histogram;

  constructor(meter: Meter) {
    const seconds = secondsHistogram(meter);
    this.operationDuration = seconds(METRIC_GEN_AI_CLIENT_OPERATION_DURATION, 'GenAI operation duration.');
    this.tokenUsage = tokenHistogram(
      meter,
      METRIC_GEN_AI_CLIENT_TOKEN_USAGE,
      'Number of input and output tokens used, as reported by Ollama.',
    );
    this.timeToFirstChunk = seconds(
      METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
      'Time from the request until the first chunk of a streamed response arrived.',
    );
    this.timePerOutputChunk = seconds(
      METRIC_GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK,
      'Time between consecutive chunks of a streamed response, one point per chunk after the first.',
    );
  }

  recordInference(summary: ResponseSummary | undefined, attributes: OutcomeAttributes, seconds: number): void {
    const all = attributes.all;
    if (summary?.inputTokens !== undefined) {
      this.tokenUsage.record(
        summary.inputTokens,
        withAttribute(all, ATTR_GEN_AI_TOKEN_TYPE, GEN_AI_TOKEN_TYPE_VALUE_INPUT),
      );
    }
    if (summary?.outputTokens !== undefined) {
      this.tokenUsage.record(
        summary.outputTokens,
        withAttribute(all, ATTR_GEN_AI_TOKEN_TYPE, GEN_AI_TOKEN_TYPE_VALUE_OUTPUT),
      );
    }
    this.operationDuration.record(seconds, all);
  }

  recordEmbeddings(summary: ResponseSummary | undefined, attributes: OutcomeAttributes, seconds: number): void {
    this.recordInference(summary, attributes, seconds);
  }
}

/**
 * The latest experimental GenAI client metrics (semantic-conventions-genai), for
 * `OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`.
 *
 * Token counts: the `…operation.{input,output}_tokens` histograms get only the counts the server reported (as the
 * v1.41 histogram does). The `…usage.{input,output}_tokens` counters are added to on every inference call, as
 * the genai-repo conventions ask, failed ones included: the reported count with modality `text`, or `0` with
 * modality `unknown` when none was reported (prompt-cache hit, load/unload calls, failures).
 */
class LatestClientMetrics implements GenAiClientMetrics {
  readonly inferenceDuration: Histogram;
  readonly timeToFirstChunk: Histogram;
  readonly timePerOutputChunk: Histogram;
  readonly usageInputTokens: Counter;
  readonly usageOutputTokens: Counter;
  readonly operationInputTokens: Histogram;
  readonly operationOutputTokens: Histogram;
  readonly embeddingsDuration: Histogram;
  readonly embeddingsInputTokens: Histogram;

  constructor(meter: Meter) {
    const seconds = secondsHistogram(meter);
    const tokenCounter = (name: string, description: string) =>
      meter.createCounter(name, { description, unit: '{token}' });
    this.inferenceDuration = seconds(METRIC_GEN_AI_CLIENT_INFERENCE_DURATION, 'GenAI inference operation duration.');
    this.timeToFirstChunk = seconds(
      METRIC_GEN_AI_CLIENT_INFERENCE_TIME_TO_FIRST_CHUNK,
      'Time from the request until the first chunk of a streamed response arrived.',
    );
    this.timePerOutputChunk = seconds(
      METRIC_GEN_AI_CLIENT_INFERENCE_TIME_PER_OUTPUT_CHUNK,
      'Time between consecutive chunks of a streamed response, one point per chunk after the first.',
    );
    this.usageInputTokens = tokenCounter(
      METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_INPUT_TOKENS,
      'Input tokens used by inference calls, as reported by Ollama.',
    );
    this.usageOutputTokens = tokenCounter(
      METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_OUTPUT_TOKENS,
      'Output tokens used by inference calls, as reported by Ollama.',
    );
    this.operationInputTokens = tokenHistogram(
      meter,
      METRIC_GEN_AI_CLIENT_INFERENCE_OPERATION_INPUT_TOKENS,
      'Input tokens per inference call, as reported by Ollama.',
    );
    this.operationOutputTokens = tokenHistogram(
      meter,
      METRIC_GEN_AI_CLIENT_INFERENCE_OPERATION_OUTPUT_TOKENS,
      'Output tokens per inference call, as reported by Ollama.',
    );
    this.embeddingsDuration = seconds(METRIC_GEN_AI_CLIENT_EMBEDDINGS_DURATION, 'GenAI embeddings operation duration.');
    this.embeddingsInputTokens = tokenHistogram(
      meter,
      METRIC_GEN_AI_CLIENT_EMBEDDINGS_OPERATION_INPUT_TOKENS,
      'Input tokens per embeddings call, as reported by Ollama.',
    );
  }

  recordInference(summary: ResponseSummary | undefined, attributes: OutcomeAttributes, seconds: number): void {
    const all = attributes.all;
    this.inferenceDuration.record(seconds, all);
    const input = summary?.inputTokens;
    const output = summary?.outputTokens;
    if (input !== undefined) this.operationInputTokens.record(input, all);
    if (output !== undefined) this.operationOutputTokens.record(output, all);
    const usage = attributes.withoutError;
    addUsage(this.usageInputTokens, input, usage);
    addUsage(this.usageOutputTokens, output, usage);
  }

  recordEmbeddings(summary: ResponseSummary | undefined, attributes: OutcomeAttributes, seconds: number): void {
    const all = attributes.all;
    this.embeddingsDuration.record(seconds, all);
    if (summary?.inputTokens !== undefined) this.embeddingsInputTokens.record(summary.inputTokens, all);
  }
}

/** Only text tokens are reported for chat and generate; nothing reported: `0`, modality `unknown`. */
function addUsage(counter: Counter, count: number | undefined, attributes: Attributes): void {
  counter.add(
    count ?? 0,
    withAttribute(
      attributes,
      ATTR_GEN_AI_TOKEN_MODALITY,
      count === undefined ? GEN_AI_TOKEN_MODALITY_VALUE_UNKNOWN : GEN_AI_TOKEN_MODALITY_VALUE_TEXT,
    ),
  );
}

export class GenAiInstruments {
  /** The v1.41 GenAI client metrics. */
  readonly v141: GenAiClientMetrics;
  /** The latest experimental GenAI client metrics (`gen_ai_latest_experimental`). */
  readonly latestExperimental: GenAiClientMetrics;
  readonly loadDuration: Histogram;
  readonly promptEvalDuration: Histogram;
  readonly evalDuration: Histogram;
  readonly promptEvalTokensPerSecond: Histogram;
  readonly evalTokensPerSecond: Histogram;
  readonly coldStarts: Counter;
  readonly managementOperationDuration: Histogram;

  /** The instruments of `meter`; when it fails to create them, no-op ones (the failure goes to `diag`). */
  static create(meter: Meter, diag: DiagLogger): GenAiInstruments {
    try {
      return new GenAiInstruments(meter);
    } catch (error) {
      diag.error('failed to create the Ollama metric instruments; metrics are off', error);
      return new GenAiInstruments(createNoopMeter());
    }
  }

  private constructor(meter: Meter) {
    const seconds = secondsHistogram(meter);
    const rate = (name: string, description: string) =>
      meter.createHistogram(name, {
        description,
        unit: '{token}/s',
        advice: { explicitBucketBoundaries: OLLAMA_TOKENS_PER_SECOND_BUCKETS },
      });

    // Both generations are created up front: the SDK exports no metric that has no data points.
    this.v141 = new V141ClientMetrics(meter);
    this.latestExperimental = new LatestClientMetrics(meter);
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

  /** The GenAI client metrics of the generation the settings chose. */
  client(latestExperimental: boolean): GenAiClientMetrics {
    return latestExperimental ? this.latestExperimental : this.v141;
  }

  /** Ollama's own phase timings and speeds, each only when present in the response. */
  recordServerTimings(summary: ResponseSummary, attributes: Attributes): void {
    const timings = summary.timings;
    if (timings === undefined) return;
    const { loadNs, promptEvalNs, evalNs } = timings;
    if (loadNs !== undefined) this.loadDuration.record(loadNs / NANOSECONDS_PER_SECOND, attributes);
    if (promptEvalNs !== undefined) {
      this.promptEvalDuration.record(promptEvalNs / NANOSECONDS_PER_SECOND, attributes);
      const tokens = summary.inputTokens;
      if (tokens) this.promptEvalTokensPerSecond.record((tokens * NANOSECONDS_PER_SECOND) / promptEvalNs, attributes);
    }
    if (evalNs !== undefined) {
      this.evalDuration.record(evalNs / NANOSECONDS_PER_SECOND, attributes);
      const tokens = summary.outputTokens;
      if (tokens) this.evalTokensPerSecond.record((tokens * NANOSECONDS_PER_SECOND) / evalNs, attributes);
    }
  }
}
