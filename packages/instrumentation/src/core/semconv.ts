/*
 * Our copy of the semantic-convention names we emit.
 *
 * The GenAI conventions are incubating (v1.41 is the last release of them in the main semantic-conventions
 * repository), so, as the OpenTelemetry JS maintainers advise, we copy the names we use instead of importing
 * `@opentelemetry/semantic-conventions/incubating` at run time. Ollama-specific names (`ollama.*`) are ours and
 * are listed in the second half of this file.
 *
 * @see https://github.com/open-telemetry/semantic-conventions/tree/v1.41.0/docs/gen-ai
 */

// --- Stable general attributes ---
export const ATTR_SERVER_ADDRESS = 'server.address' as const;
export const ATTR_SERVER_PORT = 'server.port' as const;
export const ATTR_ERROR_TYPE = 'error.type' as const;
export const EVENT_EXCEPTION = 'exception' as const;
export const ATTR_EXCEPTION_TYPE = 'exception.type' as const;
export const ATTR_EXCEPTION_MESSAGE = 'exception.message' as const;
export const ATTR_EXCEPTION_STACKTRACE = 'exception.stacktrace' as const;

// --- GenAI attributes (v1.41) ---
export const ATTR_GEN_AI_OPERATION_NAME = 'gen_ai.operation.name' as const;
export const ATTR_GEN_AI_PROVIDER_NAME = 'gen_ai.provider.name' as const;
export const ATTR_GEN_AI_REQUEST_MODEL = 'gen_ai.request.model' as const;
export const ATTR_GEN_AI_REQUEST_TEMPERATURE = 'gen_ai.request.temperature' as const;
export const ATTR_GEN_AI_REQUEST_TOP_P = 'gen_ai.request.top_p' as const;
export const ATTR_GEN_AI_REQUEST_TOP_K = 'gen_ai.request.top_k' as const;
export const ATTR_GEN_AI_REQUEST_MAX_TOKENS = 'gen_ai.request.max_tokens' as const;
export const ATTR_GEN_AI_REQUEST_SEED = 'gen_ai.request.seed' as const;
export const ATTR_GEN_AI_REQUEST_STOP_SEQUENCES = 'gen_ai.request.stop_sequences' as const;
export const ATTR_GEN_AI_REQUEST_FREQUENCY_PENALTY = 'gen_ai.request.frequency_penalty' as const;
export const ATTR_GEN_AI_REQUEST_PRESENCE_PENALTY = 'gen_ai.request.presence_penalty' as const;
export const ATTR_GEN_AI_REQUEST_STREAM = 'gen_ai.request.stream' as const;
export const ATTR_GEN_AI_OUTPUT_TYPE = 'gen_ai.output.type' as const;
export const ATTR_GEN_AI_RESPONSE_MODEL = 'gen_ai.response.model' as const;
export const ATTR_GEN_AI_RESPONSE_ID = 'gen_ai.response.id' as const;
export const ATTR_GEN_AI_RESPONSE_FINISH_REASONS = 'gen_ai.response.finish_reasons' as const;
export const ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = 'gen_ai.response.time_to_first_chunk' as const;
export const ATTR_GEN_AI_USAGE_INPUT_TOKENS = 'gen_ai.usage.input_tokens' as const;
export const ATTR_GEN_AI_USAGE_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens' as const;
export const ATTR_GEN_AI_EMBEDDINGS_DIMENSION_COUNT = 'gen_ai.embeddings.dimension.count' as const;
export const ATTR_GEN_AI_TOKEN_TYPE = 'gen_ai.token.type' as const;
export const ATTR_GEN_AI_INPUT_MESSAGES = 'gen_ai.input.messages' as const;
export const ATTR_GEN_AI_OUTPUT_MESSAGES = 'gen_ai.output.messages' as const;
export const ATTR_GEN_AI_SYSTEM_INSTRUCTIONS = 'gen_ai.system_instructions' as const;
export const ATTR_GEN_AI_TOOL_DEFINITIONS = 'gen_ai.tool.definitions' as const;

export const GEN_AI_PROVIDER_NAME_VALUE_OLLAMA = 'ollama' as const;
export const GEN_AI_OPERATION_NAME_VALUE_CHAT = 'chat' as const;
export const GEN_AI_OPERATION_NAME_VALUE_TEXT_COMPLETION = 'text_completion' as const;
export const GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS = 'embeddings' as const;
export const GEN_AI_OUTPUT_TYPE_VALUE_JSON = 'json' as const;
export const GEN_AI_TOKEN_TYPE_VALUE_INPUT = 'input' as const;
export const GEN_AI_TOKEN_TYPE_VALUE_OUTPUT = 'output' as const;

// --- GenAI metrics (v1.41) ---
export const METRIC_GEN_AI_CLIENT_OPERATION_DURATION = 'gen_ai.client.operation.duration' as const;
export const METRIC_GEN_AI_CLIENT_TOKEN_USAGE = 'gen_ai.client.token.usage' as const;
export const METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK =
  'gen_ai.client.operation.time_to_first_chunk' as const;
export const METRIC_GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK =
  'gen_ai.client.operation.time_per_output_chunk' as const;

// --- Latest experimental GenAI metrics (open-telemetry/semantic-conventions-genai, unreleased) ---
// Emitted instead of the v1.41 GenAI client metrics above when OTEL_SEMCONV_STABILITY_OPT_IN lists this token.
/** The `OTEL_SEMCONV_STABILITY_OPT_IN` token: "emit the latest experimental version and not the old one". */
export const SEMCONV_STABILITY_OPT_IN_GEN_AI_LATEST_EXPERIMENTAL = 'gen_ai_latest_experimental' as const;
export const METRIC_GEN_AI_CLIENT_INFERENCE_DURATION = 'gen_ai.client.inference.duration' as const;
export const METRIC_GEN_AI_CLIENT_INFERENCE_TIME_TO_FIRST_CHUNK =
  'gen_ai.client.inference.time_to_first_chunk' as const;
export const METRIC_GEN_AI_CLIENT_INFERENCE_TIME_PER_OUTPUT_CHUNK =
  'gen_ai.client.inference.time_per_output_chunk' as const;
export const METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_INPUT_TOKENS = 'gen_ai.client.inference.usage.input_tokens' as const;
export const METRIC_GEN_AI_CLIENT_INFERENCE_USAGE_OUTPUT_TOKENS =
  'gen_ai.client.inference.usage.output_tokens' as const;
export const METRIC_GEN_AI_CLIENT_INFERENCE_OPERATION_INPUT_TOKENS =
  'gen_ai.client.inference.operation.input_tokens' as const;
export const METRIC_GEN_AI_CLIENT_INFERENCE_OPERATION_OUTPUT_TOKENS =
  'gen_ai.client.inference.operation.output_tokens' as const;
export const METRIC_GEN_AI_CLIENT_EMBEDDINGS_DURATION = 'gen_ai.client.embeddings.duration' as const;
export const METRIC_GEN_AI_CLIENT_EMBEDDINGS_OPERATION_INPUT_TOKENS =
  'gen_ai.client.embeddings.operation.input_tokens' as const;
/** Required on the `gen_ai.client.inference.usage.*` counters (replaces `gen_ai.token.type`). */
export const ATTR_GEN_AI_TOKEN_MODALITY = 'gen_ai.token.modality' as const;
export const GEN_AI_TOKEN_MODALITY_VALUE_TEXT = 'text' as const;
/** For a counter point recorded without a reported count (the value is then 0). */
export const GEN_AI_TOKEN_MODALITY_VALUE_UNKNOWN = 'unknown' as const;

// --- GenAI events (v1.41) ---
export const EVENT_GEN_AI_CLIENT_INFERENCE_OPERATION_DETAILS = 'gen_ai.client.inference.operation.details' as const;

/** Bucket advice from the v1.41 metric definitions (unchanged for their genai-repo replacements). */
export const GEN_AI_DURATION_BUCKETS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
export const GEN_AI_TOKEN_BUCKETS = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];

// --- Ollama-specific attributes (ours) ---
export const ATTR_OLLAMA_REQUEST_KEEP_ALIVE = 'ollama.request.keep_alive' as const;
export const ATTR_OLLAMA_REQUEST_THINK = 'ollama.request.think' as const;
export const ATTR_OLLAMA_REQUEST_NUM_CTX = 'ollama.request.num_ctx' as const;
export const ATTR_OLLAMA_RESPONSE_TOTAL_DURATION = 'ollama.response.total_duration' as const;
export const ATTR_OLLAMA_RESPONSE_LOAD_DURATION = 'ollama.response.load_duration' as const;
export const ATTR_OLLAMA_RESPONSE_PROMPT_EVAL_DURATION = 'ollama.response.prompt_eval_duration' as const;
export const ATTR_OLLAMA_RESPONSE_EVAL_DURATION = 'ollama.response.eval_duration' as const;
/** Seconds of `total_duration` that load, prompt eval and eval do not explain (queueing, overhead). */
export const ATTR_OLLAMA_RESPONSE_OVERHEAD_DURATION = 'ollama.response.overhead_duration' as const;
export const ATTR_OLLAMA_MODEL_COLD_START = 'ollama.model.cold_start' as const;

// Server phases as child spans of the GenAI span.
export const SPAN_OLLAMA_LOAD = 'ollama.load' as const;
export const SPAN_OLLAMA_PROMPT_EVAL = 'ollama.prompt_eval' as const;
export const SPAN_OLLAMA_EVAL = 'ollama.eval' as const;
export const ATTR_OLLAMA_PHASE_TOKEN_COUNT = 'ollama.phase.token_count' as const;
export const ATTR_OLLAMA_PHASE_TOKENS_PER_SECOND = 'ollama.phase.tokens_per_second' as const;

// Model-management operations (pull, push, create, delete, copy, list, show, ps, version, web search/fetch).
export const ATTR_OLLAMA_OPERATION_NAME = 'ollama.operation.name' as const;
export const ATTR_OLLAMA_MODEL_NAME = 'ollama.model.name' as const;
export const ATTR_OLLAMA_COPY_DESTINATION = 'ollama.copy.destination' as const;
export const ATTR_OLLAMA_OPERATION_STATUS = 'ollama.operation.status' as const;
export const ATTR_OLLAMA_MODEL_COUNT = 'ollama.model.count' as const;
export const ATTR_OLLAMA_SERVER_VERSION = 'ollama.server.version' as const;
export const ATTR_OLLAMA_PROGRESS_UPDATES = 'ollama.progress.updates' as const;
export const ATTR_OLLAMA_PROGRESS_LAYERS = 'ollama.progress.layers' as const;
export const ATTR_OLLAMA_PROGRESS_TOTAL_BYTES = 'ollama.progress.total_bytes' as const;
export const ATTR_OLLAMA_PROGRESS_COMPLETED_BYTES = 'ollama.progress.completed_bytes' as const;
export const ATTR_OLLAMA_PROGRESS_STATUS = 'ollama.progress.status' as const;
export const ATTR_OLLAMA_PROGRESS_DIGEST = 'ollama.progress.digest' as const;
export const EVENT_OLLAMA_PROGRESS = 'ollama.progress' as const;

// --- Ollama-specific metrics (ours) ---
export const METRIC_OLLAMA_LOAD_DURATION = 'ollama.load.duration' as const;
export const METRIC_OLLAMA_PROMPT_EVAL_DURATION = 'ollama.prompt_eval.duration' as const;
export const METRIC_OLLAMA_EVAL_DURATION = 'ollama.eval.duration' as const;
export const METRIC_OLLAMA_PROMPT_EVAL_TOKENS_PER_SECOND = 'ollama.prompt_eval.tokens_per_second' as const;
export const METRIC_OLLAMA_EVAL_TOKENS_PER_SECOND = 'ollama.eval.tokens_per_second' as const;
export const METRIC_OLLAMA_MODEL_COLD_STARTS = 'ollama.model.cold_starts' as const;
export const METRIC_OLLAMA_CLIENT_OPERATION_DURATION = 'ollama.client.operation.duration' as const;

/** Model loads span milliseconds (warm) to minutes (cold start from disk). */
export const OLLAMA_LOAD_DURATION_BUCKETS = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320,
];
/** Decode runs at ~1-300 tokens/s, prefill at up to tens of thousands. */
export const OLLAMA_TOKENS_PER_SECOND_BUCKETS = [
  1, 2, 5, 10, 20, 35, 50, 75, 100, 150, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000,
];

/** Model-management calls take milliseconds (list, show) to many minutes (pulling a large model). */
export const OLLAMA_OPERATION_DURATION_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 2400,
];

// --- HTTP server (stable semantic conventions), for `@ollama-otel/proxy` ---
export const ATTR_HTTP_REQUEST_METHOD = 'http.request.method' as const;
export const ATTR_HTTP_RESPONSE_STATUS_CODE = 'http.response.status_code' as const;
export const ATTR_HTTP_ROUTE = 'http.route' as const;
export const ATTR_HTTP_REQUEST_BODY_SIZE = 'http.request.body.size' as const;
export const ATTR_HTTP_RESPONSE_BODY_SIZE = 'http.response.body.size' as const;
export const ATTR_URL_PATH = 'url.path' as const;
export const ATTR_URL_SCHEME = 'url.scheme' as const;
export const ATTR_CLIENT_ADDRESS = 'client.address' as const;
export const ATTR_USER_AGENT_ORIGINAL = 'user_agent.original' as const;
export const ATTR_NETWORK_PROTOCOL_VERSION = 'network.protocol.version' as const;
export const METRIC_HTTP_SERVER_REQUEST_DURATION = 'http.server.request.duration' as const;
export const METRIC_HTTP_SERVER_ACTIVE_REQUESTS = 'http.server.active_requests' as const;
/** Bucket advice of `http.server.request.duration` (stable HTTP semantic conventions). */
export const HTTP_SERVER_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

// --- Ollama proxy (ours) ---
/** Requests the proxy is forwarding to Ollama right now, per operation and requested model (queue visibility). */
export const METRIC_OLLAMA_PROXY_REQUESTS_ACTIVE = 'ollama.proxy.requests.active' as const;

/** The proxy gave up parsing one oversized SSE event or NDJSON line of a response (its bytes were forwarded). */
export const EVENT_OLLAMA_PROXY_PARSE_SKIPPED = 'ollama.proxy.parse.skipped' as const;
export const ATTR_OLLAMA_PROXY_PARSE_SKIPPED_BYTES = 'ollama.proxy.parse.skipped_bytes' as const;
