/*
 * One observed call. Every path (complete response, streamed chunks, thrown error, consumer `break`, `abort()`,
 * abandoned stream) ends in `end()`, which runs once: the call's recorder (GenAI or model management) records
 * the outcome, then error status, the response hook, and the span ends exactly once, even when ending it throws.
 * Every public method is guarded: a telemetry failure is logged through the diag logger and never reaches the
 * caller.
 */
import {
  type Attributes,
  type Context,
  context,
  type HrTime,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { clockOf, PERFORMANCE_CLOCK, type SpanClock } from './clock.js';
import {
  ERROR_TYPE_ABANDONED,
  ERROR_TYPE_CANCELLED,
  ERROR_TYPE_INCOMPLETE,
  errorMessage,
  errorName,
  errorType,
} from './errors.js';
import type { GenAiFormat } from './format.js';
import { describeGenAiCall, GenAiRecorder } from './genai-recorder.js';
import type { TelemetryHost } from './host.js';
import { describeManagementCall, ManagementRecorder } from './management-recorder.js';
import { scrub } from './scrub.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_EXCEPTION_MESSAGE,
  ATTR_EXCEPTION_STACKTRACE,
  ATTR_EXCEPTION_TYPE,
  EVENT_EXCEPTION,
} from './semconv.js';
import type { Settings } from './settings.js';

/** A GenAI call (chat, text completion, embeddings) about to be sent. */
export interface GenAiCallInit {
  operationName: string;
  /** How this call's request and responses read. */
  format: GenAiFormat;
  /** The request body; read, never modified. */
  request: unknown;
  /** `server.address`/`server.port` (from `serverAttributes()`). */
  server: Attributes;
  /** The name given to request/response hooks (the ollama-js method). */
  method?: string;
}

/** A model-management call (pull, push, create, delete, copy, list, show, ps, version...). */
export interface ManagementCallInit {
  operationName: string;
  server: Attributes;
  /** `ollama.model.name`: the model the operation acts on. */
  model?: string;
  /** `ollama.copy.destination`. */
  destination?: string;
  method?: string;
}

/** What is known about a call before its request is sent. */
export interface CallDescription {
  spanName: string;
  /** The attributes a sampler may look at; also on the span. */
  spanAttributes: Attributes;
  /** The attributes every metric point of the call shares (cached, frozen). */
  metricAttributes: Attributes;
}

/** A started call, as its recorder sees it. */
export interface CallState {
  readonly host: TelemetryHost;
  readonly settings: Settings;
  readonly span: Span;
  /** The span's context. */
  readonly context: Context;
  /** `performance.now()` when the call started. */
  readonly startedAt: number;
  /** Maps `performance.now()` readings to this span's time domain. */
  readonly clock: SpanClock;
  readonly metricAttributes: Attributes;
}

/** What a kind of call records; both methods run inside the observation's guards. */
export interface CallRecorder {
  /** One streamed chunk (hot path: keep it cheap); true when it is the final one. */
  chunk(chunk: unknown, now: number): boolean;
  /** Once, before the span ends: response attributes, metrics, content. */
  end(outcome: Outcome, endedAt: number, endTime: HrTime): void;
}

export interface Outcome {
  /** The complete response, or a stream's final chunk. */
  response?: unknown;
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
  private lastActivityAt: number;
  private pendingReads = 0;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private followed = false;
  private recorder!: CallRecorder;

  private constructor(
    readonly host: TelemetryHost,
    readonly settings: Settings,
    readonly span: Span,
    readonly startedAt: number,
    readonly clock: SpanClock,
    readonly metricAttributes: Attributes,
    parent: Context,
    private readonly method: string | undefined,
  ) {
    this.context = trace.setSpan(parent, span);
    this.lastActivityAt = startedAt;
  }

  /** Starts the span of a GenAI call under `parent` (default: the active context). */
  static startGenAi(host: TelemetryHost, init: GenAiCallInit, parent: Context = context.active()): CallObservation {
    const settings = host.settings;
    const description = describeGenAiCall(init, host.modelNames);
    const observation = CallObservation.open(host, settings, description, parent, init.method);
    observation.recorder = new GenAiRecorder(observation, init);
    observation.runRequestHook(init.request);
    return observation;
  }

  /** Starts the span of a model-management call under `parent` (default: the active context). */
  static startManagement(
    host: TelemetryHost,
    init: ManagementCallInit,
    request?: unknown,
    parent: Context = context.active(),
  ): CallObservation {
    const settings = host.settings;
    const observation = CallObservation.open(host, settings, describeManagementCall(init), parent, init.method);
    observation.recorder = new ManagementRecorder(observation);
    observation.runRequestHook(request);
    return observation;
  }

  /**
   * The span starts in its parent's time domain when the parent is a local span the SDK times itself, so that
   * it can never start before or end after it; otherwise the SDK stamps it and we follow the span's own clock.
   */
  private static open(
    host: TelemetryHost,
    settings: Settings,
    description: CallDescription,
    parent: Context,
    method: string | undefined,
  ): CallObservation {
    let startedAt = performance.now();
    const parentClock = clockOf(trace.getSpan(parent));
    const span = host.tracer.startSpan(
      description.spanName,
      {
        kind: SpanKind.CLIENT,
        attributes: description.spanAttributes,
        ...(parentClock === undefined ? {} : { startTime: parentClock.at(startedAt) }),
      },
      parent,
    );
    let clock = parentClock;
    if (clock === undefined) {
      // The SDK stamped the span: its start is the call's start, so that span and metric durations agree.
      clock = clockOf(span) ?? PERFORMANCE_CLOCK;
      if (clock !== PERFORMANCE_CLOCK) startedAt = clock.anchorPerformanceNow;
    }
    return new CallObservation(host, settings, span, startedAt, clock, description.metricAttributes, parent, method);
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** The call completed with a whole (non-streamed) response. */
  finish(response: unknown): void {
    this.end({ response });
  }

  fail(error: unknown): void {
    this.end({ error, errorType: errorType(error), message: errorMessage(error) });
  }

  /** The caller stopped the call: `abort()` on the stream or the client, `break` out of the loop, a disconnect. */
  cancel(message: string): void {
    this.end({ errorType: ERROR_TYPE_CANCELLED, message });
  }

  /** Nobody read the stream to its end: idle for `streamIdleTimeoutMs`, or garbage collected. */
  abandon(): void {
    this.end({
      errorType: ERROR_TYPE_ABANDONED,
      message: 'stream was not read to its end',
      endedAt: this.lastActivityAt,
    });
  }

  /** The stream ended without its final chunk. */
  incomplete(): void {
    this.end({ errorType: ERROR_TYPE_INCOMPLETE, message: 'stream ended without a final chunk' });
  }

  /**
   * A streamed chunk arrived. `chunk` is the parsed chunk, or `undefined` when only its arrival is known (a proxy
   * that parses only the final line); the final chunk ends the call.
   */
  chunk(chunk: unknown): void {
    if (this.ended) return;
    try {
      const now = performance.now();
      this.lastActivityAt = now;
      if (this.recorder.chunk(chunk, now)) this.end({ response: chunk, endedAt: now });
    } catch (error) {
      this.host.diag.error('failed to record a streamed chunk', error);
    }
  }

  /** The call returned a stream the caller reads: from now on the stream's end paths end the observation. */
  followStream(stream: object): void {
    if (this.ended) return;
    try {
      this.lastActivityAt = performance.now();
      collectedStreams.register(stream, this, this);
      this.followed = true;
      if (this.settings.streamIdleTimeoutMs > 0) this.armIdleTimer(this.settings.streamIdleTimeoutMs);
    } catch (error) {
      this.host.diag.error('failed to follow a stream', error);
    }
  }

  readStarted(): void {
    this.pendingReads++;
  }

  /** A read of the followed stream returned a chunk. */
  readChunk(chunk: unknown): void {
    this.pendingReads--;
    this.chunk(chunk);
  }

  /** Reading the stream threw: an error line, a cut connection, an abort. */
  readFailed(error: unknown): void {
    this.pendingReads--;
    this.fail(error);
  }

  /** The iterator finished. Normally the final chunk already ended the call; if not, the stream was incomplete. */
  readCompleted(): void {
    this.pendingReads--;
    this.incomplete();
  }

  private end(outcome: Outcome): void {
    if (this.ended) return;
    this.ended = true;
    const { diag } = this.host;
    let endTime: HrTime | undefined;
    try {
      this.release();
      const endedAt = outcome.endedAt ?? performance.now();
      endTime = this.clock.at(endedAt);
      this.recorder.end(outcome, endedAt, endTime);
    } catch (error) {
      diag.error('failed to record the outcome of a call', error);
    }
    try {
      if (outcome.errorType !== undefined) this.recordError(outcome, endTime);
      else if (outcome.response !== undefined) this.runResponseHook(outcome.response);
    } catch (error) {
      diag.error('failed to record the status of a call', error);
    }
    // The SDK marks a span ended before its processors run: if one throws, the span is ended all the same.
    try {
      this.span.end(endTime);
    } catch (error) {
      diag.error('ending a span threw (a span processor failed?)', error);
    }
  }

  private runRequestHook(request: unknown): void {
    const hook = this.settings.requestHook;
    if (hook !== undefined) this.runHook('requestHook', () => hook(this.span, { method: this.method ?? '', request }));
  }

  private runResponseHook(response: unknown): void {
    const hook = this.settings.responseHook;
    if (hook !== undefined)
      this.runHook('responseHook', () => hook(this.span, { method: this.method ?? '', response }));
  }

  private runHook(name: string, run: () => void): void {
    try {
      run();
    } catch (error) {
      this.host.diag.error(`${name} threw; ignored`, error);
    }
  }

  /** `error.type`, the status and the exception event, every message scrubbed of credentials. */
  private recordError(outcome: Outcome, time: HrTime | undefined): void {
    const message = outcome.message === undefined ? undefined : scrub(outcome.message);
    this.span.setAttribute(ATTR_ERROR_TYPE, outcome.errorType as string);
    this.span.setStatus({ code: SpanStatusCode.ERROR, message });
    const error = outcome.error;
    if (!(error instanceof Error)) return;
    const attributes: Attributes = { [ATTR_EXCEPTION_TYPE]: errorName(error) };
    if (message !== undefined) attributes[ATTR_EXCEPTION_MESSAGE] = message;
    if (typeof error.stack === 'string') attributes[ATTR_EXCEPTION_STACKTRACE] = scrub(error.stack);
    this.span.addEvent(EVENT_EXCEPTION, attributes, time);
  }

  private release(): void {
    if (!this.followed) return;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    collectedStreams.unregister(this);
  }

  private armIdleTimer(delayMs: number): void {
    this.idleTimer = setTimeout(() => this.checkIdle(), delayMs);
    this.idleTimer.unref?.();
  }

  private checkIdle(): void {
    try {
      if (this.ended) return;
      const timeout = this.settings.streamIdleTimeoutMs;
      // A consumer waiting on a slow server is not idle.
      const idleFor = this.pendingReads > 0 ? 0 : performance.now() - this.lastActivityAt;
      if (idleFor >= timeout) this.abandon();
      else this.armIdleTimer(Math.max(1, Math.ceil(timeout - idleFor)));
    } catch (error) {
      this.host.diag.error('failed to check an idle stream', error);
    }
  }
}
