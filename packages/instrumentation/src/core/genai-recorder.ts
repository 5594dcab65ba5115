/*
 * What a GenAI call (chat, text completion, embeddings) records: semantic-convention span attributes and
 * metrics, streaming timings, Ollama's server phases and cold starts, and opt-in message content. It reads
 * responses only through the call's format.
 */
import type { Attributes, HrTime } from '@opentelemetry/api';
import { coldStartAttributes, commonAttributes, responseAttributes } from './attributes.js';
import { ChunkGaps } from './chunk-gaps.js';
import { ContentCapture } from './content-capture.js';
import type { GenAiFormat, ResponseSummary } from './format.js';
import { type GenAiClientMetrics, OutcomeAttributes } from './metrics.js';
import type { MetricModelNames } from './model-names.js';
import type { CallDescription, CallRecorder, CallState, GenAiCallInit, Outcome } from './observation.js';
import { isColdStart, overheadSeconds, recordServerPhases } from './phases.js';
import {
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_OLLAMA_MODEL_COLD_START,
  ATTR_OLLAMA_RESPONSE_OVERHEAD_DURATION,
  GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS,
} from './semconv.js';

/** Span name `{operation} {model}` and the sampling-relevant attributes, known before the request is sent. */
export function describeGenAiCall(init: GenAiCallInit, modelNames: MetricModelNames): CallDescription {
  const model = init.format.requestModel(init.request);
  const common = commonAttributes(init.operationName, model, init.server);
  const metricModel = modelNames.metricValue(model);
  return {
    spanName: model === undefined ? init.operationName : `${init.operationName} ${model}`,
    spanAttributes: common,
    metricAttributes: metricModel === model ? common : commonAttributes(init.operationName, metricModel, init.server),
  };
}

export class GenAiRecorder implements CallRecorder {
  private firstChunkAt = -1;
  private lastChunkAt = -1;
  private gaps: ChunkGaps | undefined;
  private readonly format: GenAiFormat;
  private readonly content: ContentCapture | undefined;
  /** v1.41 or latest experimental, per `OTEL_SEMCONV_STABILITY_OPT_IN`; chosen once per call. */
  private readonly metrics: GenAiClientMetrics;
  private readonly embeddings: boolean;

  constructor(
    private readonly call: CallState,
    init: GenAiCallInit,
  ) {
    const { host, settings, span } = call;
    this.format = init.format;
    this.metrics = host.instruments.client(settings.genAiLatestExperimental);
    this.embeddings = init.operationName === GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS;
    // Request parameters are not sampling-relevant: they are read only for spans that record.
    if (span.isRecording()) span.setAttributes(init.format.requestAttributes(init.request));
    const source = settings.content === undefined ? undefined : init.format.content?.(init.request);
    this.content = source === undefined ? undefined : new ContentCapture(settings.content!, source);
  }

  chunk(chunk: unknown, now: number): boolean {
    const { span, metricAttributes } = this.call;
    if (this.firstChunkAt < 0) {
      this.firstChunkAt = now;
      const timeToFirstChunk = (now - this.call.startedAt) / 1000;
      span.setAttribute(ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, timeToFirstChunk);
      this.metrics.timeToFirstChunk.record(timeToFirstChunk, metricAttributes);
    } else {
      this.gaps ??= new ChunkGaps(this.metrics.timePerOutputChunk, metricAttributes);
      this.gaps.add((now - this.lastChunkAt) / 1000);
    }
    this.lastChunkAt = now;
    if (chunk === undefined) return false;
    if (this.content !== undefined) this.content.chunk(chunk);
    return this.format.isFinal(chunk);
  }

  end(outcome: Outcome, endedAt: number, endTime: HrTime): void {
    const { host, span, startedAt, metricAttributes } = this.call;
    this.gaps?.flush();
    const summary = outcome.response === undefined ? undefined : this.format.summarize(outcome.response);
    const responseModel = host.modelNames.metricValue(summary?.model);
    const attributes = new OutcomeAttributes(metricAttributes, responseModel, outcome.errorType);
    const recording = span.isRecording();
    const fromResponse = summary === undefined ? undefined : responseAttributes(summary);
    if (summary !== undefined) {
      if (recording) span.setAttributes(fromResponse!);
      host.instruments.recordServerTimings(summary, attributes.all);
      this.recordServerSide(summary, endTime, recording);
    }
    const seconds = (endedAt - startedAt) / 1000;
    if (this.embeddings) this.metrics.recordEmbeddings(summary, attributes, seconds);
    else this.metrics.recordInference(summary, attributes, seconds);
    if (this.content !== undefined) this.recordContent(outcome, summary, endTime, attributes.all, fromResponse);
  }

  private recordServerSide(summary: ResponseSummary, endTime: HrTime, recording: boolean): void {
    const { host, span, settings, context, metricAttributes, clock, startedAt } = this.call;
    const coldStart = isColdStart(summary.timings, settings.coldStartThresholdNs);
    if (coldStart !== undefined) {
      if (recording) span.setAttribute(ATTR_OLLAMA_MODEL_COLD_START, coldStart);
      if (coldStart) host.instruments.coldStarts.add(1, coldStartAttributes(metricAttributes));
    }
    if (!recording || summary.timings === undefined || !this.format.generationPhases) return;
    const overhead = overheadSeconds(summary.timings);
    if (overhead !== undefined) span.setAttribute(ATTR_OLLAMA_RESPONSE_OVERHEAD_DURATION, overhead);
    if (settings.serverPhaseSpans) recordServerPhases(host.tracer, context, summary, endTime, clock.at(startedAt));
  }

  private recordContent(
    outcome: Outcome,
    summary: ResponseSummary | undefined,
    endTime: HrTime,
    attributes: Attributes,
    fromResponse: Attributes | undefined,
  ): void {
    const { host, span, context } = this.call;
    try {
      const eventAttributes = fromResponse
        ? { ...attributes, ...pick(fromResponse, EVENT_RESPONSE_ATTRIBUTES) }
        : attributes;
      this.content!.record(
        { response: outcome.response, summary, failed: outcome.errorType !== undefined },
        { span, context, logger: host.logger, diag: host.diag, eventAttributes, endTime },
      );
    } catch (error) {
      host.diag.error('failed to record message content', error);
    }
  }
}

const EVENT_RESPONSE_ATTRIBUTES = [
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
] as const;

function pick(attributes: Attributes, keys: readonly string[]): Attributes {
  const picked: Attributes = {};
  for (const key of keys) if (attributes[key] !== undefined) picked[key] = attributes[key];
  return picked;
}
