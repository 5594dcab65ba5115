/*
 * What the recording core needs from a wire format (Ollama's native API as ollama-js returns it or the proxy
 * sees it, OpenAI's and Anthropic's compatible APIs): a summary of the final response, whether a streamed chunk
 * is the last one, and, when content capture is on, the conversation. The core never reads a wire format itself.
 */
import type { Attributes } from '@opentelemetry/api';
import type { MessageContent } from '../types.js';

/** What a finished GenAI call reported, in one shape for every format. Fields are absent when not reported. */
export interface ResponseSummary {
  /** `gen_ai.response.model`. */
  model?: string;
  /** `gen_ai.response.id`. */
  id?: string;
  /** `gen_ai.response.finish_reasons`, as the provider spells them. */
  finishReasons?: string[];
  /** Tokens as reported; `undefined` when not reported (e.g. a prompt-cache hit), never a made-up 0. */
  inputTokens?: number;
  outputTokens?: number;
  /** `gen_ai.embeddings.dimension.count` of the returned vectors. */
  embeddingDimensions?: number;
  /** Ollama's own timings, in integer nanoseconds (native API only). */
  timings?: ServerTimings;
}

export interface ServerTimings {
  totalNs?: number;
  loadNs?: number;
  promptEvalNs?: number;
  evalNs?: number;
}

/** How the core reads the responses of one kind of call. */
export interface GenAiFormat {
  /** `gen_ai.request.model`, when the request names one. */
  requestModel(request: unknown): string | undefined;
  /** Request parameters for the span (temperature, max tokens, stream...); read only for recording spans. */
  requestAttributes(request: unknown): Attributes;
  /**
   * Whether responses report Ollama's generation phases (chat, generate), recorded as `ollama.load`,
   * `ollama.prompt_eval` and `ollama.eval` spans with `ollama.response.overhead_duration`. Embeddings report
   * timings too, which are recorded as attributes and metrics only.
   */
  readonly generationPhases: boolean;
  /** Whether a streamed chunk is the final one (it then carries what {@link summarize} needs). */
  isFinal(chunk: unknown): boolean;
  /** The summary of a complete response, or of a stream's final chunk. */
  summarize(response: unknown): ResponseSummary;
  /** The conversation of a call, for content capture; absent for formats that carry none (embeddings). */
  content?(request: unknown): ContentSource;
}

/** One call's conversation: the request's, plus what the response (or the stream's chunks) carried. */
export interface ContentSource {
  /** A streamed chunk, to accumulate the output. */
  chunk(chunk: unknown): void;
  /**
   * Everything to record. `response` is the complete response or the final chunk (`undefined` when the call did
   * not finish); `failed` tells whether it failed or was cancelled. When `maxLength` is given, the oldest input
   * messages that could not fit in that many JSON characters may be left out, counted in the first kept
   * message's `truncated_messages`, so that a long history costs what is kept.
   */
  collect(response: unknown, summary: ResponseSummary | undefined, failed: boolean, maxLength?: number): MessageContent;
}
