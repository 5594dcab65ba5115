/*
 * One observed call. Every path (plain result, streamed chunks, thrown error, consumer `break`, `abort()`,
 * abandoned stream) ends in `end()`, which runs once: the call's recorder (GenAI or model management) records
 * the outcome, then error status, the response hook, span end. Every public method is guarded: a telemetry
 * failure is logged through the diag logger and never reaches user code.
 */
import {
  type Attributes,
  type Context,
  context,
  type DiagLogger,
  type Logger,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { hrTimeOf } from './clock.js';
import {
  ERROR_TYPE_ABANDONED,
  ERROR_TYPE_CANCELLED,
  ERROR_TYPE_INCOMPLETE,
  errorMessage,
  errorType,
} from './errors.js';
import { describeGenAiCall, GenAiRecorder } from './genai-call.js';
import type { OllamaResponse } from './internal-types.js';
import { describeManagementCall, ManagementRecorder } from './management.js';
import type { GenAiInstruments } from './metrics.js';
import type { OperationSpec } from './operations.js';
import { ATTR_ERROR_TYPE } from './semconv.js';
import type { Settings } from './settings.js';

/** What an observation needs from the instrumentation, read at call time so provider changes apply. */
export interface ObservationHost {
  readonly tracer: Tracer;
  readonly instruments: GenAiInstruments;
  readonly diag: DiagLogger;
  readonly streamIdleTimeoutMs: number;
  readonly logger: Logger;
  /** The resolved configuration; a call keeps the settings it started with. */
  readonly settings: Settings;
}

/** What is known about a call before its request is sent. */
export interface CallDescription {
  spanName: string;
  spanAttributes: Attributes;
  /** The attributes every metric point of the call shares. */
  metricAttributes: Attributes;
}

/** A started call, as its recorder sees it. */
export interface CallState {
  readonly host: ObservationHost;
  readonly spec: OperationSpec;
  readonly settings: Settings;
  readonly span: Span;
  /** The span's context. */
  readonly context: Context;
  /** `performance.now()` when the call started. */
  readonly startedAt: number;
  readonly metricAttributes: Attributes;
}

/** What a kind of call records; both methods run inside the observation's guards. */
export interface CallRecorder {
  /** One streamed chunk (hot path: keep it cheap); true when it is the final one. */
  chunk(chunk: unknown, now: number): boolean;
  /** Once, before the span ends: response attributes, metrics, content. */
  end(outcome: Outcome, endedAt: number): void;
}

export interface Outcome {
  response?: OllamaResponse;
  error?: unknown;
  errorType?: string;
  message?: string;
  /** `performance.now()` of the moment the call ended; defaults to now. */
  endedAt?: number;
}

/** Ends the spans of streams that were garbage collected before anyone finished them. */
const collectedStreams = new FinalizationRegistry<CallObservation>((observation) => observation.abandon());

export class CallObservation implements CallState {
  readonly context: Context;
  private ended = false;
  private lastActivityAt = -1;
  private pendingReads = 0;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;

  private readonly recorder: CallRecorder;

  private constructor(
    readonly host: ObservationHost,
    readonly spec: OperationSpec,
    readonly settings: Settings,
    readonly span: Span,
    readonly startedAt: number,
    readonly metricAttributes: Attributes,
    request: unknown,
  ) {
    this.context = trace.setSpan(context.active(), span);
    this.recorder = spec.kind === 'management' ? new ManagementRecorder(this) : new GenAiRecorder(this, request);
  }

  static start(host: ObservationHost, spec: OperationSpec, client: unknown, request: unknown): CallObservation {
    const settings = host.settings;
    const call =
      spec.kind === 'management'
        ? describeManagementCall(spec, client, request)
        : describeGenAiCall(spec, client, request);
    const startedAt = performance.now();
    const span = host.tracer.startSpan(call.spanName, {
      kind: SpanKind.CLIENT,
      startTime: hrTimeOf(startedAt),
      attributes: call.spanAttributes,
    });
    const observation = new CallObservation(host, spec, settings, span, startedAt, call.metricAttributes, request);
    const { requestHook } = settings;
    if (requestHook !== undefined) {
      observation.runHook('requestHook', () => requestHook(span, { method: spec.method, request }));
    }
    return observation;
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

  /** A chunk arrived from the stream; the final chunk (`done`, or `status: "success"` for progress) ends the call. */
  chunk(chunk: unknown): void {
    this.pendingReads--;
    if (this.ended) return;
    try {
      const now = performance.now();
      this.lastActivityAt = now;
      if (this.recorder.chunk(chunk, now)) this.end({ response: chunk as OllamaResponse, endedAt: now });
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
      this.recorder.end(outcome, endedAt);
      if (outcome.errorType !== undefined) this.recordError(outcome);
      else if (outcome.response !== undefined) this.runResponseHook(outcome.response);
      this.span.end(hrTimeOf(endedAt));
    } catch (error) {
      this.host.diag.error('failed to finish an Ollama span', error);
      safeEnd(this.span);
    }
  }

  private runResponseHook(response: OllamaResponse): void {
    const hook = this.settings.responseHook;
    if (hook !== undefined) this.runHook('responseHook', () => hook(this.span, { method: this.spec.method, response }));
  }

  private runHook(name: string, run: () => void): void {
    try {
      run();
    } catch (error) {
      this.host.diag.error(`${name} threw; ignored`, error);
    }
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
