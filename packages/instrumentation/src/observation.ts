/*
 * One observed call. Every path (plain result, streamed chunks, thrown error, consumer `break`, `abort()`,
 * abandoned stream) ends in `end()`, which runs once: response attributes, metrics, span end. Every public
 * method is guarded: a telemetry failure is logged through the diag logger and never reaches user code.
 */
import {
  type Attributes,
  type Context,
  context,
  type DiagLogger,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import {
  commonAttributes,
  requestAttributes,
  requestModel,
  responseAttributes,
  serverAttributes,
} from './attributes.js';
import {
  ERROR_TYPE_ABANDONED,
  ERROR_TYPE_CANCELLED,
  ERROR_TYPE_INCOMPLETE,
  errorMessage,
  errorType,
} from './errors.js';
import type { OllamaClient, OllamaRequest, OllamaResponse } from './internal-types.js';
import type { GenAiInstruments } from './metrics.js';
import type { OperationSpec } from './operations.js';
import { ATTR_ERROR_TYPE, ATTR_GEN_AI_RESPONSE_MODEL, ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK } from './semconv.js';

/** What an observation needs from the instrumentation, read at call time so provider changes apply. */
export interface ObservationHost {
  readonly tracer: Tracer;
  readonly instruments: GenAiInstruments;
  readonly diag: DiagLogger;
  readonly streamIdleTimeoutMs: number;
}

interface Outcome {
  response?: OllamaResponse;
  error?: unknown;
  errorType?: string;
  message?: string;
  /** `performance.now()` of the moment the call ended; defaults to now. */
  endedAt?: number;
}

/** Ends the spans of streams that were garbage collected before anyone finished them. */
const collectedStreams = new FinalizationRegistry<CallObservation>((observation) => observation.abandon());

export class CallObservation {
  readonly span: Span;
  readonly context: Context;
  private readonly startedAt = performance.now();
  private ended = false;
  private firstChunkAt = -1;
  private lastChunkAt = -1;
  private lastActivityAt = -1;
  private pendingReads = 0;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(
    private readonly host: ObservationHost,
    private readonly metricAttributes: Attributes,
    span: Span,
  ) {
    this.span = span;
    this.context = trace.setSpan(context.active(), span);
  }

  static start(host: ObservationHost, spec: OperationSpec, client: unknown, request: unknown): CallObservation {
    const ollamaRequest = (typeof request === 'object' && request !== null ? request : undefined) as
      | OllamaRequest
      | undefined;
    const model = requestModel(ollamaRequest);
    const server = serverAttributes((client as OllamaClient | undefined)?.config?.host);
    const common = commonAttributes(spec, model, server);
    const span = host.tracer.startSpan(model === undefined ? spec.operationName : `${spec.operationName} ${model}`, {
      kind: SpanKind.CLIENT,
      attributes: { ...common, ...requestAttributes(ollamaRequest) },
    });
    return new CallObservation(host, common, span);
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** The original call resolved with a complete (non-streamed) response. */
  finish(response: unknown): void {
    this.end({ response: asResponse(response) });
  }

  fail(error: unknown): void {
    this.end({ error, errorType: errorType(error), message: errorMessage(error) });
  }

  /** The caller stopped the call: `abort()` on the stream or the client, or `break` out of the loop. */
  cancel(message: string): void {
    this.end({ errorType: ERROR_TYPE_CANCELLED, message });
  }

  /** Nobody read the stream to its end: idle for `streamIdleTimeoutMs`, or garbage collected. */
  abandon(): void {
    this.end({
      errorType: ERROR_TYPE_ABANDONED,
      message: 'stream was not read to its end',
      endedAt: this.lastActivityAt >= 0 ? this.lastActivityAt : undefined,
    });
  }

  /** The call returned a stream: from now on the stream's end paths end the observation. */
  followStream(stream: object): void {
    if (this.ended) return;
    try {
      this.lastActivityAt = performance.now();
      collectedStreams.register(stream, this, this);
      if (this.host.streamIdleTimeoutMs > 0) this.armIdleTimer(this.host.streamIdleTimeoutMs);
    } catch (error) {
      this.host.diag.error('failed to follow an Ollama stream', error);
    }
  }

  readStarted(): void {
    this.pendingReads++;
    this.lastActivityAt = performance.now();
  }

  /** A chunk arrived from the stream; the `done` chunk ends the call. */
  chunk(chunk: unknown): void {
    this.pendingReads--;
    if (this.ended) return;
    try {
      const now = performance.now();
      this.lastActivityAt = now;
      if (this.firstChunkAt < 0) {
        this.firstChunkAt = now;
        const timeToFirstChunk = (now - this.startedAt) / 1000;
        this.span.setAttribute(ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, timeToFirstChunk);
        this.host.instruments.timeToFirstChunk.record(timeToFirstChunk, this.metricAttributes);
      } else {
        this.host.instruments.timePerOutputChunk.record((now - this.lastChunkAt) / 1000, this.metricAttributes);
      }
      this.lastChunkAt = now;
      if ((chunk as OllamaResponse | undefined)?.done === true)
        this.end({ response: chunk as OllamaResponse, endedAt: now });
    } catch (error) {
      this.host.diag.error('failed to record an Ollama stream chunk', error);
    }
  }

  /** Reading the stream threw: an error line, a cut connection, an abort. */
  readFailed(error: unknown): void {
    this.pendingReads--;
    this.fail(error);
  }

  /** The iterator finished. Normally the `done` chunk already ended the call; if not, the stream was incomplete. */
  readCompleted(): void {
    this.pendingReads--;
    this.end({ errorType: ERROR_TYPE_INCOMPLETE, message: 'stream ended without a final chunk' });
  }

  private end(outcome: Outcome): void {
    if (this.ended) return;
    this.ended = true;
    try {
      this.release();
      const endedAt = outcome.endedAt ?? performance.now();
      const attributes = this.metricAttributesFor(outcome);
      if (outcome.response !== undefined) this.recordResponse(outcome.response, attributes);
      if (outcome.errorType !== undefined) this.recordError(outcome);
      this.host.instruments.operationDuration.record((endedAt - this.startedAt) / 1000, attributes);
      this.span.end(performance.timeOrigin + endedAt);
    } catch (error) {
      this.host.diag.error('failed to finish an Ollama span', error);
      safeEnd(this.span);
    }
  }

  private metricAttributesFor(outcome: Outcome): Attributes {
    const attributes = { ...this.metricAttributes };
    const model = outcome.response?.model;
    if (typeof model === 'string' && model !== '') attributes[ATTR_GEN_AI_RESPONSE_MODEL] = model;
    if (outcome.errorType !== undefined) attributes[ATTR_ERROR_TYPE] = outcome.errorType;
    return attributes;
  }

  private recordResponse(response: OllamaResponse, attributes: Attributes): void {
    if (this.span.isRecording()) this.span.setAttributes(responseAttributes(response));
    this.host.instruments.recordTokenUsage(response, attributes);
    this.host.instruments.recordServerTimings(response, attributes);
  }

  private recordError(outcome: Outcome): void {
    this.span.setAttribute(ATTR_ERROR_TYPE, outcome.errorType as string);
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.message });
    if (outcome.error instanceof Error) this.span.recordException(outcome.error);
  }

  private release(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    collectedStreams.unregister(this);
  }

  private armIdleTimer(delayMs: number): void {
    this.idleTimer = setTimeout(() => this.checkIdle(), delayMs);
    this.idleTimer.unref?.();
  }

  private checkIdle(): void {
    if (this.ended) return;
    const timeout = this.host.streamIdleTimeoutMs;
    // A consumer waiting on a slow server is not idle.
    const idleFor = this.pendingReads > 0 ? 0 : performance.now() - this.lastActivityAt;
    if (idleFor >= timeout) this.abandon();
    else this.armIdleTimer(timeout - idleFor);
  }
}

function asResponse(value: unknown): OllamaResponse {
  return typeof value === 'object' && value !== null ? (value as OllamaResponse) : {};
}

function safeEnd(span: Span): void {
  try {
    span.end();
  } catch {
    // Nothing more we can do; the diag logger already has the cause.
  }
}
