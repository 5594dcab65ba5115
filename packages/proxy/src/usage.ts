/*
 * Token counts for every OpenAI-compatible stream: Ollama reports usage in a stream only when the client asked
 * for `stream_options.include_usage`. The proxy asks on the way up and, when the client had not, removes on the
 * way down exactly what asking added, so the client sees the bytes it would have seen:
 * - `/v1/chat/completions`: the usage-only chunk (`"choices":[]`) before `data: [DONE]`;
 * - `/v1/completions`: the same chunk, and the zero `usage` Ollama then puts on every other chunk.
 */
import { isObject } from '@ollama-otel/instrumentation/internal';
import { EventSplitter, type SseEvent } from './sse.js';

const CLOSING_BRACE = 0x7d;
const INCLUDE_USAGE_MEMBER = '"stream_options":{"include_usage":true}';

/**
 * The request body with `include_usage` asked for, or `undefined` when nothing needs changing (not a stream, or
 * the client asked itself) or the body is not a JSON object. The client's bytes are kept as they are when it
 * sent no `stream_options` (the usual case): the member is appended before the closing brace.
 */
export function withIncludeUsage(body: Buffer, request: unknown): Buffer | undefined {
  if (!isObject(request) || request.stream !== true) return undefined;
  const options = request.stream_options;
  if (isObject(options) && options.include_usage === true) return undefined;
  if (options !== undefined) {
    const rewritten = { ...request, stream_options: { ...(isObject(options) ? options : {}), include_usage: true } };
    return Buffer.from(JSON.stringify(rewritten));
  }
  let end = body.length - 1;
  while (end >= 0 && isSpace(body[end]!)) end--;
  if (end < 0 || body[end] !== CLOSING_BRACE) return undefined;
  let first = body.indexOf(0x7b) + 1;
  while (first < end && isSpace(body[first]!)) first++;
  const separator = first === end ? '' : ',';
  return Buffer.concat([body.subarray(0, end), Buffer.from(`${separator}${INCLUDE_USAGE_MEMBER}`), body.subarray(end)]);
}

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

const NO_CHOICES = Buffer.from('"choices":[]');
const ZERO_USAGE = Buffer.from(',"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}');

/** Removes from a stream what `include_usage` added. Whole events are forwarded as soon as they are complete. */
export class UsageStripper {
  private readonly splitter: EventSplitter;
  private out: Buffer[] = [];

  constructor(private readonly stripZeroUsage: boolean) {
    this.splitter = new EventSplitter({ event: (event) => this.keep(event) });
  }

  /** What to forward of `chunk` (possibly nothing yet, or events completed by it). */
  push(chunk: Buffer): Buffer | undefined {
    this.splitter.push(chunk);
    return this.take();
  }

  /** What is left at the end of the stream (an unterminated event is forwarded as it came). */
  end(): Buffer | undefined {
    const rest = this.splitter.rest();
    if (rest !== undefined) this.out.push(rest);
    return this.take();
  }

  private keep(event: SseEvent): void {
    if (event.data.indexOf(NO_CHOICES) >= 0) return;
    if (this.stripZeroUsage) {
      const at = event.raw.indexOf(ZERO_USAGE);
      if (at >= 0) {
        this.out.push(Buffer.concat([event.raw.subarray(0, at), event.raw.subarray(at + ZERO_USAGE.length)]));
        return;
      }
    }
    // A view into the chunk: forwarded before the next chunk arrives.
    this.out.push(event.raw);
  }

  private take(): Buffer | undefined {
    const out = this.out;
    if (out.length === 0) return undefined;
    this.out = [];
    return out.length === 1 ? out[0] : Buffer.concat(out);
  }
}
