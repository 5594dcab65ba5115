/*
 * Server-sent events as they arrive: complete events (`event:` name and `data:` bytes) are cut out of the byte
 * stream without copying when an event sits inside one chunk, as Ollama writes them. Used twice: to read a stream
 * for telemetry after its bytes were forwarded, and to rewrite a stream whose usage chunk the client did not ask
 * for (then an event is forwarded once it is complete).
 */

const LF = 0x0a;
const CR = 0x0d;
/** Events longer than this are not held whole for parsing. */
export const MAX_PENDING_EVENT = 4 * 1024 * 1024;

export interface SseEvent {
  /** The `event:` field, when the event has one (Responses and Anthropic streams name every event). */
  readonly name: string | undefined;
  /** The `data:` payload (lines joined by `\n`); a view valid only during the call. */
  readonly data: Buffer;
  /** The whole event as it arrived, its terminating blank line included; valid only during the call. */
  readonly raw: Buffer;
}

export interface EventSink {
  event(event: SseEvent): void;
  /**
   * Bytes of an event longer than the splitter holds, in order, as they arrive (its first bytes, then each
   * piece up to and including its blank line; `ended` on the last piece). Such an event is never parsed.
   */
  oversized?(bytes: Buffer, ended: boolean): void;
}

export class EventSplitter {
  private pending: Buffer | undefined;
  /** Inside an oversized event: the last two bytes seen, to find its end across chunk boundaries. */
  private skipTail: Buffer | undefined;

  constructor(
    private readonly sink: EventSink,
    private readonly maxEvent = MAX_PENDING_EVENT,
  ) {}

  push(chunk: Buffer): void {
    let data = chunk;
    if (this.skipTail !== undefined) {
      const rest = this.skip(chunk);
      if (rest === undefined) return;
      data = rest;
    }
    if (this.pending !== undefined) {
      data = Buffer.concat([this.pending, data]);
      this.pending = undefined;
    }
    let start = 0;
    for (;;) {
      const end = eventEnd(data, start);
      if (end < 0) break;
      this.sink.event(parseEvent(data.subarray(start, end)));
      start = end;
    }
    if (start < data.length) {
      const rest = data.subarray(start);
      if (rest.length > this.maxEvent) {
        this.skipTail = rest.subarray(-2);
        this.sink.oversized?.(rest, false);
      } else {
        this.pending = Buffer.from(rest);
      }
    }
  }

  /** Whatever is left when the stream ended (an event without its blank line). */
  rest(): Buffer | undefined {
    const rest = this.pending;
    this.pending = undefined;
    if (this.skipTail !== undefined) {
      this.skipTail = undefined;
      this.sink.oversized?.(Buffer.alloc(0), true);
    }
    return rest;
  }

  /** Forwards the oversized event's bytes in `chunk`; returns what follows its end, if it ends here. */
  private skip(chunk: Buffer): Buffer | undefined {
    const tail = this.skipTail as Buffer;
    const joined = Buffer.concat([tail, chunk.subarray(0, Math.min(chunk.length, 3))]);
    let end = eventEnd(joined, 0);
    if (end >= 0) end -= tail.length;
    else {
      end = eventEnd(chunk, 0);
    }
    if (end < 0) {
      this.skipTail = Buffer.from(chunk.length >= 2 ? chunk.subarray(-2) : Buffer.concat([tail, chunk]).subarray(-2));
      this.sink.oversized?.(chunk, false);
      return undefined;
    }
    this.skipTail = undefined;
    this.sink.oversized?.(chunk.subarray(0, end), true);
    return end < chunk.length ? chunk.subarray(end) : undefined;
  }
}

/** The index just past the blank line ending the event that starts at `start`, or -1. */
function eventEnd(data: Buffer, start: number): number {
  let at = data.indexOf(LF, start);
  while (at >= 0 && at + 1 < data.length) {
    const next = data[at + 1];
    if (next === LF) return at + 2;
    if (next === CR && data[at + 2] === LF) return at + 3;
    at = data.indexOf(LF, at + 1);
  }
  return -1;
}

const DATA = Buffer.from('data:');
const EVENT = Buffer.from('event:');

function parseEvent(raw: Buffer): SseEvent {
  let name: string | undefined;
  let data: Buffer | undefined;
  let extra: Buffer[] | undefined;
  let lineStart = 0;
  while (lineStart < raw.length) {
    let lineEnd = raw.indexOf(LF, lineStart);
    if (lineEnd < 0) lineEnd = raw.length;
    const contentEnd = lineEnd > lineStart && raw[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
    if (startsWith(raw, lineStart, DATA)) {
      const value = raw.subarray(skipSpace(raw, lineStart + DATA.length, contentEnd), contentEnd);
      if (data === undefined) data = value;
      else {
        extra ??= [data];
        extra.push(value);
      }
    } else if (startsWith(raw, lineStart, EVENT)) {
      name = raw.toString('utf8', skipSpace(raw, lineStart + EVENT.length, contentEnd), contentEnd);
    }
    lineStart = lineEnd + 1;
  }
  if (extra !== undefined) data = Buffer.from(extra.map((part) => part.toString('utf8')).join('\n'));
  return { name, data: data ?? EMPTY, raw };
}

const EMPTY = Buffer.alloc(0);

function startsWith(buffer: Buffer, at: number, prefix: Buffer): boolean {
  if (buffer.length - at < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (buffer[at + i] !== prefix[i]) return false;
  return true;
}

function skipSpace(buffer: Buffer, at: number, end: number): number {
  return at < end && buffer[at] === 0x20 ? at + 1 : at;
}
