/*
 * What the proxy adds to the recording core's `GenAiFormat` for the OpenAI- and Anthropic-compatible APIs: a
 * reader for their server-sent-event streams, which accumulates, cheaply, what the format's `summarize()` reads
 * (id, model, finish reasons, usage; the output only when content capture is on). Its `result()` is then finished
 * like a whole response, so streamed and whole responses are summarised by the same code.
 */
import type { GenAiFormat } from '@ollama-otel/instrumentation/internal';
import type { SseEvent } from '../sse.js';

/**
 * - `output`: a chunk of the answer (times time-to-first-chunk and time-per-output-chunk);
 * - `final`: the stream is complete (`[DONE]`, `message_stop`, `response.completed`);
 * - `error`: an error event (Ollama failed mid-stream);
 * - `other`: bookkeeping (`response.created`, `ping`, a usage-only chunk...).
 */
export type StreamEventKind = 'output' | 'final' | 'error' | 'other';

export interface StreamReader {
  event(event: SseEvent): StreamEventKind;
  /** What was accumulated, in the shape of the format's whole response. */
  result(): unknown;
  /** The message of the error event, once one arrived. */
  readonly errorMessage: string | undefined;
}

export interface WireFormat extends GenAiFormat {
  /** Reads this format's event stream; `content`: also accumulate the output (content capture is on). */
  streamReader?(content: boolean): StreamReader;
}

/** `data: [DONE]`, the end of OpenAI chat and completion streams. */
export function isDone(data: Buffer): boolean {
  return data.length === 6 && data.toString('latin1') === '[DONE]';
}
