/*
 * The parts of ollama-js objects we read. They are typed loosely on purpose: we never import `ollama` at run
 * time, fields the typings call required are absent at run time (`omitempty` on the server), and we must
 * tolerate any shape a future or past client version hands us.
 */
import type { Attributes, Context, Span } from '@opentelemetry/api';

export interface OllamaRequestOptions {
  temperature?: unknown;
  top_p?: unknown;
  top_k?: unknown;
  num_predict?: unknown;
  seed?: unknown;
  stop?: unknown;
  frequency_penalty?: unknown;
  presence_penalty?: unknown;
  num_ctx?: unknown;
}

export interface OllamaRequest {
  model?: unknown;
  stream?: unknown;
  format?: unknown;
  keep_alive?: unknown;
  think?: unknown;
  dimensions?: unknown;
  options?: OllamaRequestOptions;
}

export interface OllamaToolCall {
  id?: string;
  function?: { index?: number; name?: string; arguments?: unknown };
}

export interface OllamaMessage {
  role?: string;
  content?: string;
  thinking?: string;
  tool_calls?: OllamaToolCall[];
}

/** A chat/generate response or stream chunk, or an embed/embeddings response. */
export interface OllamaResponse {
  model?: unknown;
  done?: unknown;
  done_reason?: unknown;
  total_duration?: unknown;
  load_duration?: unknown;
  prompt_eval_count?: unknown;
  prompt_eval_duration?: unknown;
  eval_count?: unknown;
  eval_duration?: unknown;
  message?: OllamaMessage;
  response?: unknown;
  thinking?: unknown;
  embeddings?: unknown;
  embedding?: unknown;
}

/** The client instance a patched method runs on (`this`). */
export interface OllamaClient {
  config?: { host?: unknown };
}

/** A started call: its span, the context the original method runs in, and the metric attributes known so far. */
export interface StartedCall {
  span: Span;
  context: Context;
  metricAttributes: Attributes;
}
