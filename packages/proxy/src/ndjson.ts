/*
 * Splits an NDJSON byte stream into lines as chunks arrive, for telemetry only: the bytes themselves were already
 * forwarded. A line is handed on as a view of the chunk it arrived in (no copy) unless it spans chunks; only the
 * bytes of an unfinished line are kept, and at most MAX_PENDING_LINE of them.
 */

const NEWLINE = 0x0a;
/** A longer line is not JSON worth parsing for telemetry (a real Ollama line is well under 64 KiB). */
const MAX_PENDING_LINE = 1024 * 1024;

export interface LineSink {
  /** One complete line, `\n` excluded; `line` is only valid during the call. */
  line(line: Buffer): void;
  /** A line longer than the splitter holds ended (it is handed on as an empty line, never parsed). */
  oversized?(bytes: number): void;
}

export class LineSplitter {
  private pending: Buffer | undefined;
  /** The line being collected grew too long: its bytes are dropped, its end still counts as a line. */
  private overflowed = false;
  private overflowedBytes = 0;

  constructor(private readonly sink: LineSink) {}

  push(chunk: Buffer): void {
    let data = chunk;
    if (this.pending !== undefined) {
      data = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let start = 0;
    for (;;) {
      const end = data.indexOf(NEWLINE, start);
      if (end < 0) break;
      this.emit(data.subarray(start, end));
      start = end + 1;
    }
    if (start < data.length) this.keep(data.subarray(start));
  }

  /** The stream ended: a last line without its newline still counts. */
  end(): void {
    const rest = this.pending;
    this.pending = undefined;
    if (rest !== undefined && rest.length > 0) this.emit(rest);
    else if (this.overflowed) this.emit(Buffer.alloc(0));
    this.overflowed = false;
  }

  private emit(line: Buffer): void {
    if (this.overflowed) {
      this.sink.oversized?.(this.overflowedBytes + line.length);
      this.overflowed = false;
      this.overflowedBytes = 0;
      line = Buffer.alloc(0);
    }
    this.sink.line(line);
  }

  private keep(rest: Buffer): void {
    if (this.overflowed || rest.length > MAX_PENDING_LINE) {
      this.overflowed = true;
      this.overflowedBytes += rest.length;
      return;
    }
    // A copy: the chunk it is a view of may be large.
    this.pending = Buffer.from(rest);
  }
}

/** Parses a line as JSON; `undefined` when it is not JSON (telemetry never throws on what Ollama sent). */
export function parseJson(bytes: Buffer | string): unknown {
  try {
    return JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}
