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
  let member = INCLUDE_USAGE_MEMBER;
  let kept = body;
  if (options !== undefined) {
    // Only this member is rewritten: the rest of the client's bytes (a 64-bit `seed`...) reach Ollama as sent.
    const without = withoutTopLevelMember(body, 'stream_options');
    if (without === undefined) return undefined;
    kept = without;
    member = `"stream_options":${JSON.stringify({ ...(isObject(options) ? options : {}), include_usage: true })}`;
  }
  let end = kept.length - 1;
  while (end >= 0 && isSpace(kept[end]!)) end--;
  if (end < 0 || kept[end] !== CLOSING_BRACE) return undefined;
  let first = kept.indexOf(0x7b) + 1;
  while (first < end && isSpace(kept[first]!)) first++;
  const separator = first === end ? '' : ',';
  return Buffer.concat([kept.subarray(0, end), Buffer.from(`${separator}${member}`), kept.subarray(end)]);
}

/**
 * `body` (a JSON object) without its top-level members named `key`, other bytes untouched; `undefined` when
 * it is not the plain object it parsed as.
 */
function withoutTopLevelMember(body: Buffer, key: string): Buffer | undefined {
  const text = body.toString('utf8');
  const spans: [number, number][] = [];
  let at = skipSpaces(text, 0);
  if (text[at] !== '{') return undefined;
  at = skipSpaces(text, at + 1);
  if (text[at] === '}') return body;
  for (;;) {
    const memberStart = at;
    const keyEnd = stringEnd(text, at);
    if (keyEnd < 0) return undefined;
    const name = JSON.parse(text.slice(at, keyEnd)) as string;
    at = skipSpaces(text, keyEnd);
    if (text[at] !== ':') return undefined;
    at = valueEnd(text, skipSpaces(text, at + 1));
    if (at < 0) return undefined;
    const memberEnd = at;
    at = skipSpaces(text, at);
    if (name === key) spans.push([memberStart, memberEnd]);
    if (text[at] === '}') break;
    if (text[at] !== ',') return undefined;
    at = skipSpaces(text, at + 1);
  }
  let out = text;
  for (const [start, end] of spans.reverse()) {
    const after = skipSpaces(out, end);
    if (out[after] === ',') out = out.slice(0, start) + out.slice(skipSpaces(out, after + 1));
    else {
      let before = start - 1;
      while (before >= 0 && isSpace(out.charCodeAt(before))) before--;
      out = out[before] === ',' ? out.slice(0, before) + out.slice(end) : out.slice(0, start) + out.slice(end);
    }
  }
  return Buffer.from(out);
}

function skipSpaces(text: string, at: number): number {
  while (at < text.length && isSpace(text.charCodeAt(at))) at++;
  return at;
}

/** The index just past the JSON string starting at `at`, or -1. */
function stringEnd(text: string, at: number): number {
  if (text[at] !== '"') return -1;
  for (let i = at + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i + 1;
  }
  return -1;
}

/** The index just past the JSON value starting at `at`, or -1. */
function valueEnd(text: string, at: number): number {
  if (text[at] === '"') return stringEnd(text, at);
  if (text[at] !== '{' && text[at] !== '[') {
    let i = at;
    while (i < text.length && !',}] \t\r\n'.includes(text[i] as string)) i++;
    return i > at ? i : -1;
  }
  let depth = 0;
  for (let i = at; i < text.length; i++) {
    const char = text[i];
    if (char === '"') {
      i = stringEnd(text, i) - 1;
      if (i < 0) return -1;
    } else if (char === '{' || char === '[') depth++;
    else if (char === '}' || char === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

const NO_CHOICES = Buffer.from('"choices":[]');
/** A usage chunk is a few hundred bytes; an event longer than this is content and is forwarded as it arrives. */
const MAX_HELD_EVENT = 64 * 1024;
const ZERO_USAGE = Buffer.from(',"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}');

/** Removes from a stream what `include_usage` added. Whole events are forwarded as soon as they are complete. */
export class UsageStripper {
  private readonly splitter: EventSplitter;
  private out: Buffer[] = [];

  constructor(private readonly stripZeroUsage: boolean) {
    this.splitter = new EventSplitter(
      {
        event: (event) => this.keep(event),
        // Larger than any usage chunk: forwarded as it comes, never held or changed.
        oversized: (bytes) => {
          if (bytes.length > 0) this.out.push(bytes);
        },
      },
      MAX_HELD_EVENT,
    );
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
