import type { LoggerProvider, MeterProvider, Span, TracerProvider } from '@opentelemetry/api';
import type { InstrumentationConfig } from '@opentelemetry/instrumentation';

/** Configuration of {@link OllamaInstrumentation} and {@link instrumentOllama}. */
export interface OllamaInstrumentationConfig extends InstrumentationConfig {
  /**
   * A stream that nobody reads, aborts or finishes keeps its span open. After this many milliseconds without
   * the consumer pulling a chunk, the span is ended (with `error.type` = `abandoned`, end time = last activity).
   * Streams the garbage collector reclaims are ended too. Default 300000 (5 minutes); 0 disables the timer; at
   * most 2147483647 (the longest timer delay). An invalid value is reported through the diag logger and the default
   * is used.
   */
  streamIdleTimeoutMs?: number;

  /**
   * Records the messages of chat/generate calls (off by default; content may be sensitive).
   * - `'SPAN_ONLY'` (or `true`): `gen_ai.input.messages`, `gen_ai.output.messages`, `gen_ai.system_instructions` and
   *   `gen_ai.tool.definitions` on the span, as JSON strings (semantic conventions v1.41 message schemas).
   * - `'EVENT_ONLY'`: the same content, structured, on one `gen_ai.client.inference.operation.details` log record
   *   per call (Logs API), correlated with the span; recorded even when the span is not sampled.
   * - `'SPAN_AND_EVENT'`: both. `'NO_CONTENT'` (or `false`): neither.
   *
   * `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` (`true`, `false` or one of the modes, any case) overrides
   * this. Never recorded, whatever the setting: image bytes (only modality, MIME type and size), embeddings and
   * their input, generate's `context` tokens, headers and keys.
   */
  captureMessageContent?: boolean | ContentCaptureMode;
  /**
   * Maximum length, in UTF-16 code units, of each captured content attribute once serialised to JSON, markers
   * included; the log record carries the same bounded content. Longer content is shortened so that the JSON stays
   * valid and the newest messages are kept: messages that cannot fit are dropped oldest first (the first kept
   * message says how many in `"truncated_messages"`), the longest texts are cut (parts marked
   * `"truncated": true`), then tool-call arguments and tool parameters are dropped. Default 16384, at least 128.
   */
  maxContentLength?: number;
  /**
   * Model names are chosen by whoever calls (an app may pass its users' choice through), so on metrics they are
   * bounded: names listed here are always recorded as they are, and so are the first `maxUnlistedModelNames` other
   * distinct names; every later one is recorded as `_OTHER`. Spans always carry the real name.
   */
  metricModelNames?: string[];
  /** See `metricModelNames`. Default 100; 0 records every unlisted name as `_OTHER`. */
  maxUnlistedModelNames?: number;
  /**
   * Rewrites or redacts captured content before it is recorded. Receives a copy of the content (semconv message
   * shapes) and the span; return the content to record, or nothing to record the (possibly modified) copy.
   * If it throws, no content is recorded for that call.
   */
  contentHook?: ContentHook;
  /**
   * Adds `ollama.load`, `ollama.prompt_eval` and `ollama.eval` child spans to each completed chat/generate span,
   * reconstructed from the nanosecond timings in Ollama's response and anchored at the moment the final response
   * arrived. Default true.
   */
  serverPhaseSpans?: boolean;
  /**
   * A `load_duration` above this many milliseconds counts as a cold start: `ollama.model.cold_start` = true on the
   * span and one `ollama.model.cold_starts` increment. Default 500.
   */
  coldStartThresholdMs?: number;
  /**
   * Traces model-management calls (`pull`, `push`, `create`, `delete`, `copy`, `list`, `show`, `ps`, `version`,
   * `webSearch`, `webFetch`) as `ollama.{operation}` CLIENT spans with the `ollama.client.operation.duration`
   * histogram. Default true.
   */
  managementSpans?: boolean;
  /**
   * Adds W3C `traceparent`/`tracestate` (through the globally configured propagator) to each HTTP request a
   * traced call makes, by wrapping the client instance's `fetch`. Default: on, for every entry point (`ollama` and
   * `ollama/browser`, which LangChain and LlamaIndex use in Node too), except when running in a browser, where
   * Ollama's CORS policy rejects these headers. Skipped while an undici instrumentation (which propagates itself)
   * is active, so headers are never doubled. If the propagator fails, the request is sent as the app made it.
   */
  propagateContext?: boolean;
  /** Called with each span right after it starts, before the request is sent. Errors are caught and logged. */
  requestHook?: OllamaRequestHook;
  /**
   * Called with each span before it ends, once the response is complete (for streams: after the final chunk).
   * Not called for failed or cancelled calls. Errors are caught and logged.
   */
  responseHook?: OllamaResponseHook;
}

/** Where captured message content goes; see {@link OllamaInstrumentationConfig.captureMessageContent}. */
export type ContentCaptureMode = 'NO_CONTENT' | 'SPAN_ONLY' | 'EVENT_ONLY' | 'SPAN_AND_EVENT';

export interface OllamaRequestHookInfo {
  /** The ollama-js method called, e.g. `chat` or `pull`. */
  method: string;
  /** The request object the caller passed (the same object: do not modify it). */
  request: unknown;
}

export interface OllamaResponseHookInfo {
  /** The ollama-js method called, e.g. `chat` or `pull`. */
  method: string;
  /** The complete response, or for streams the final chunk (`done: true` or `status: "success"`). */
  response: unknown;
}

export type OllamaRequestHook = (span: Span, info: OllamaRequestHookInfo) => void;
export type OllamaResponseHook = (span: Span, info: OllamaResponseHookInfo) => void;
// biome-ignore lint/suspicious/noConfusingVoidType: a hook that edits the copy in place returns nothing.
export type ContentHook = (content: MessageContent, span: Span) => MessageContent | undefined | void;

/** Captured content, in the shapes of the GenAI semantic conventions v1.41 message JSON schemas. */
export interface MessageContent {
  inputMessages?: InputMessage[];
  outputMessages?: OutputMessage[];
  systemInstructions?: MessagePart[];
  toolDefinitions?: ToolDefinition[];
}

export interface InputMessage {
  role: string;
  parts: MessagePart[];
  /** Set when content of this message was shortened to fit `maxContentLength`. */
  truncated?: boolean;
  /** On the first kept message: how many older messages were left out to fit `maxContentLength`. */
  truncated_messages?: number;
}

export interface OutputMessage extends InputMessage {
  finish_reason: string;
}

export type MessagePart = TextPart | ReasoningPart | ToolCallPart | ToolCallResponsePart | ImagePart;

export interface TextPart {
  type: 'text';
  content: string;
  truncated?: boolean;
}

/** Ollama's `thinking`. */
export interface ReasoningPart {
  type: 'reasoning';
  content: string;
  truncated?: boolean;
}

export interface ToolCallPart {
  type: 'tool_call';
  /** Present when Ollama assigned one. */
  id?: string;
  name: string;
  /** The arguments object as Ollama sent it; left out when truncated. */
  arguments?: unknown;
  truncated?: boolean;
}

/** A `role: "tool"` message's content. */
export interface ToolCallResponsePart {
  type: 'tool_call_response';
  /** The message's `tool_call_id`, when present. */
  id?: string;
  /** The message's `tool_name`, when present. */
  name?: string;
  response: unknown;
  truncated?: boolean;
}

/**
 * An image, described but never recorded: the semconv `blob` part without its `content`, plus `size` (bytes,
 * when known) and `mime_type` (when recognisable from the image's first bytes).
 */
export interface ImagePart {
  type: 'blob';
  modality: 'image';
  mime_type?: string;
  size?: number;
}

export interface ToolDefinition {
  type: string;
  name: string;
  description?: string;
  /** The JSON schema of the parameters; left out when truncated. */
  parameters?: unknown;
  truncated?: boolean;
}

/** Options of {@link instrumentOllama}: the instrumentation config plus the providers to use. */
export interface InstrumentOllamaConfig extends OllamaInstrumentationConfig {
  /** Defaults to the global tracer provider. */
  tracerProvider?: TracerProvider;
  /** Defaults to the global meter provider. */
  meterProvider?: MeterProvider;
  /** Defaults to the global logger provider. */
  loggerProvider?: LoggerProvider;
}

/** What {@link instrumentOllama} returns. */
export interface InstrumentedOllama {
  /** Restores the original client methods. Calls already in flight finish their telemetry normally. */
  uninstrument(): void;
}
