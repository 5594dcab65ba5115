/*
 * What a GenAI call (chat, generate, embed, embeddings) records: semantic-convention span attributes and
 * metrics, streaming timings, Ollama's server phases and cold starts, and opt-in message content.
 */
import type { Attributes } from '@opentelemetry/api';
import {
  commonAttributes,
  requestAttributes,
  requestModel,
  responseAttributes,
  serverAttributes,
} from './attributes.js';
import { hrTimeOf } from './clock.js';
import { CONTENT_METHODS, ContentCapture } from './content-capture.js';
import type { OllamaClient, OllamaRequest, OllamaResponse } from './internal-types.js';
import type { GenAiClientMetrics } from './metrics.js';
import type { CallDescription, CallRecorder, CallState, Outcome } from './observation.js';
import type { OperationSpec } from './operations.js';
import { isColdStart, overheadSeconds, recordServerPhases } from './phases.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_OLLAMA_MODEL_COLD_START,
  ATTR_OLLAMA_RESPONSE_OVERHEAD_DURATION,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS,
} from './semconv.js';

const EVENT_RESPONSE_ATTRIBUTES = [
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
] as const;
const COLD_START_ATTRIBUTES = [
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
] as const;

/** Span name `{operation} {model}` and the sampling-relevant attributes, known before the request is sent. */
export function describeGenAiCall(spec: OperationSpec, client: unknown, request: unknown): CallDescription {
  const ollamaRequest = (typeof request === 'object' && request !== null ? request : undefined) as
    | OllamaRequest
    | undefined;
  const model = requestModel(ollamaRequest);
  const server = serverAttributes((client as OllamaClient | undefined)?.config?.host);
  const common = commonAttributes(spec, model, server);
  return {
    spanName: model === undefined ? spec.operationName : `${spec.operationName} ${model}`,
    spanAttributes: { ...common, ...requestAttributes(ollamaRequest) },
    metricAttributes: common,
  };
}

export class GenAiRecorder implements CallRecorder {
  private firstChunkAt = -1;
  private lastChunkAt = -1;
  private readonly content: ContentCapture | undefined;
  /** v1.41 or latest experimental, per `OTEL_SEMCONV_STABILITY_OPT_IN`; chosen once per call. */
  private readonly metrics: GenAiClientMetrics;
  private readonly embeddings: boolean;

  constructor(
    private readonly call: CallState,
    request: unknown,
  ) {
    const { host, settings, spec } = call;
    this.metrics = host.instruments.client(settings.genAiLatestExperimental);
    this.embeddings = spec.operationName === GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS;
    this.content =
      settings.content !== undefined && CONTENT_METHODS.has(spec.method)
        ? new ContentCapture(settings.content, spec.method, request)
        : undefined;
  }

  chunk(chunk: unknown, now: number): boolean {
    const { span, metricAttributes } = this.call;
    if (this.firstChunkAt < 0) {
      this.firstChunkAt = now;
      const timeToFirstChunk = (now - this.call.startedAt) / 1000;
      span.setAttribute(ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, timeToFirstChunk);
      this.metrics.timeToFirstChunk.record(timeToFirstChunk, metricAttributes);
    } else {
      this.metrics.timePerOutputChunk.record((now - this.lastChunkAt) / 1000, metricAttributes);
    }
    this.lastChunkAt = now;
    if (this.content !== undefined) this.content.chunk(chunk);
    return (chunk as OllamaResponse | undefined)?.done === true;
  }

  end(outcome: Outcome, endedAt: number): void {
    const { host, span, startedAt } = this.call;
    const attributes = this.metricAttributesFor(outcome);
    const response = outcome.response;
    const recording = span.isRecording();
    const fromResponse = response === undefined ? undefined : responseAttributes(response);
    if (response !== undefined) {
      if (recording) span.setAttributes(fromResponse as Attributes);
      host.instruments.recordServerTimings(response, attributes);
      this.recordServerSide(response, endedAt, recording);
    }
    const seconds = (endedAt - startedAt) / 1000;
    if (this.embeddings) this.metrics.recordEmbeddings(response, attributes, seconds);
    else this.metrics.recordInference(response, attributes, seconds);
    if (this.content !== undefined) this.recordContent(outcome, endedAt, attributes, fromResponse);
  }

  private metricAttributesFor(outcome: Outcome): Attributes {
    const attributes = { ...this.call.metricAttributes };
    const model = outcome.response?.model;
    if (typeof model === 'string' && model !== '') attributes[ATTR_GEN_AI_RESPONSE_MODEL] = model;
    if (outcome.errorType !== undefined) attributes[ATTR_ERROR_TYPE] = outcome.errorType;
    return attributes;
  }

  private recordServerSide(response: OllamaResponse, endedAt: number, recording: boolean): void {
    const { host, span, settings, spec, context } = this.call;
    const coldStart = isColdStart(response, settings.coldStartThresholdNs);
    if (coldStart !== undefined) {
      if (recording) span.setAttribute(ATTR_OLLAMA_MODEL_COLD_START, coldStart);
      if (coldStart) host.instruments.coldStarts.add(1, pick(this.call.metricAttributes, COLD_START_ATTRIBUTES));
    }
    if (!spec.hasServerTimings || !recording) return;
    const overhead = overheadSeconds(response);
    if (overhead !== undefined) span.setAttribute(ATTR_OLLAMA_RESPONSE_OVERHEAD_DURATION, overhead);
    if (settings.serverPhaseSpans) recordServerPhases(host.tracer, context, response, hrTimeOf(endedAt));
  }

  private recordContent(
    outcome: Outcome,
    endedAt: number,
    attributes: Attributes,
    fromResponse: Attributes | undefined,
  ): void {
    const { host, span, context } = this.call;
    try {
      const eventAttributes = fromResponse
        ? { ...attributes, ...pick(fromResponse, EVENT_RESPONSE_ATTRIBUTES) }
        : attributes;
      (this.content as ContentCapture).record(
        { response: outcome.response, failed: outcome.errorType !== undefined },
        { span, context, logger: host.logger, diag: host.diag, eventAttributes, endTime: hrTimeOf(endedAt) },
      );
    } catch (error) {
      host.diag.error('failed to record Ollama message content', error);
    }
  }
}

function pick(attributes: Attributes, keys: readonly string[]): Attributes {
  const picked: Attributes = {};
  for (const key of keys) if (attributes[key] !== undefined) picked[key] = attributes[key];
  return picked;
}
