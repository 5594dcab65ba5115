/*
 * Reading an upstream response for telemetry, after its bytes were forwarded. Three shapes:
 * - a whole JSON body (non-streamed calls and every error answer): parsed once at its end;
 * - NDJSON (native streams): every line times a chunk; only the final (`done`) line and error lines are parsed,
 *   unless content capture is on or the call is a model-management one (its progress lines are recorded);
 * - server-sent events (OpenAI/Anthropic streams): the format's stream reader folds them into a whole response.
 * Each ends its observation exactly once; the observation itself guards every step.
 */
import {
  ATTR_OLLAMA_PROXY_PARSE_SKIPPED_BYTES,
  type CallObservation,
  EVENT_OLLAMA_PROXY_PARSE_SKIPPED,
} from '@ollama-otel/instrumentation/internal';
import { errorBodyMessage } from './formats/common.js';
import type { StreamReader } from './formats/format.js';
import { LineSplitter, parseJson } from './ndjson.js';
import { EventSplitter, type SseEvent } from './sse.js';

export interface ResponseObserver {
  data(chunk: Buffer): void;
  /** The body ended normally. */
  end(): void;
}

/** What ollama-js throws for an HTTP error status: `error.type` is the status, the message Ollama's own. */
export class UpstreamResponseError extends Error {
  override readonly name = 'ResponseError';

  constructor(
    message: string,
    readonly status_code: number,
  ) {
    super(message);
  }
}

/** Whole bodies larger than this are not parsed for telemetry (the call is still timed and counted). */
export const MAX_PARSED_BODY = 8 * 1024 * 1024;

export class JsonObserver implements ResponseObserver {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly observation: CallObservation,
    private readonly status: number,
    private readonly adapt: (body: unknown) => unknown = (body) => body,
  ) {}

  data(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size <= MAX_PARSED_BODY) this.chunks.push(chunk);
    else this.chunks = [];
  }

  end(): void {
    const text = this.size <= MAX_PARSED_BODY ? Buffer.concat(this.chunks).toString('utf8') : '';
    this.chunks = [];
    const body = text === '' ? undefined : parseJson(text);
    if (this.status >= 200 && this.status < 300) {
      this.observation.finish(this.adapt(body));
      return;
    }
    const message = errorBodyMessage(body) ?? (text.trim().slice(0, 512) || `HTTP ${this.status}`);
    this.observation.fail(new UpstreamResponseError(message, this.status));
  }
}

const DONE = Buffer.from('"done":true');
const ERROR_LINE = Buffer.from('{"error"');

export class NdjsonObserver implements ResponseObserver {
  private readonly lines: LineSplitter;

  /** `parseEveryLine`: content capture, or progress lines of a model-management call. */
  constructor(
    private readonly observation: CallObservation,
    private readonly parseEveryLine: boolean,
  ) {
    this.lines = new LineSplitter({
      line: (line) => this.line(line),
      oversized: (bytes) => recordSkipped(observation, bytes),
    });
  }

  data(chunk: Buffer): void {
    this.lines.push(chunk);
  }

  end(): void {
    this.lines.end();
    // A stream that ended without its final line (ended by then otherwise; this is a no-op).
    this.observation.incomplete();
  }

  private line(line: Buffer): void {
    if (line.length === 0) return;
    if (line.indexOf(ERROR_LINE) === 0) {
      const message = errorBodyMessage(parseJson(line)) ?? 'error line in the stream';
      this.observation.fail(new Error(message));
      return;
    }
    if (this.parseEveryLine || line.indexOf(DONE) >= 0) this.observation.chunk(parseJson(line));
    else this.observation.chunk(undefined);
  }
}

export class SseObserver implements ResponseObserver {
  private readonly events: EventSplitter;
  private skippedBytes = 0;

  constructor(
    private readonly observation: CallObservation,
    private readonly reader: StreamReader | undefined,
  ) {
    this.events = new EventSplitter({
      event: (event) => this.event(event),
      oversized: (bytes, ended) => {
        this.skippedBytes += bytes.length;
        if (!ended) return;
        recordSkipped(observation, this.skippedBytes);
        this.skippedBytes = 0;
        this.observation.chunk(undefined);
      },
    });
  }

  data(chunk: Buffer): void {
    this.events.push(chunk);
  }

  end(): void {
    this.events.rest();
    this.observation.incomplete();
  }

  private event(event: SseEvent): void {
    const reader = this.reader;
    if (reader === undefined) {
      this.observation.chunk(undefined);
      return;
    }
    switch (reader.event(event)) {
      case 'output':
        this.observation.chunk(undefined);
        return;
      case 'final':
        this.observation.finish(reader.result());
        return;
      case 'error':
        this.observation.fail(new Error(reader.errorMessage ?? 'error event in the stream'));
        return;
      default:
        return;
    }
  }
}

/** Telemetry gave up on one oversized event or line: say so on the span (its bytes reached the client). */
function recordSkipped(observation: CallObservation, bytes: number): void {
  const { span } = observation;
  if (span.isRecording()) {
    span.addEvent(EVENT_OLLAMA_PROXY_PARSE_SKIPPED, { [ATTR_OLLAMA_PROXY_PARSE_SKIPPED_BYTES]: bytes });
  }
}
