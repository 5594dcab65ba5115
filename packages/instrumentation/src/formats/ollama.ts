/*
 * Ollama's native API (`/api/chat`, `/api/generate`, `/api/embed`, `/api/embeddings`), as ollama-js returns it
 * and as the proxy sees it on the wire: request parameters as span attributes, and the final response as a
 * {@link ResponseSummary}. Pure functions over plain objects.
 */
import type { Attributes } from '@opentelemetry/api';
import {
  durationNs,
  nonEmptyString,
  setNumber,
  setScalarAsString,
  stopSequences,
  tokenCount,
} from '../core/attributes.js';
import { isObject, type Loose } from '../core/content-parts.js';
import type { GenAiFormat, ResponseSummary, ServerTimings } from '../core/format.js';
import {
  ATTR_GEN_AI_EMBEDDINGS_DIMENSION_COUNT,
  ATTR_GEN_AI_OUTPUT_TYPE,
  ATTR_GEN_AI_REQUEST_FREQUENCY_PENALTY,
  ATTR_GEN_AI_REQUEST_MAX_TOKENS,
  ATTR_GEN_AI_REQUEST_PRESENCE_PENALTY,
  ATTR_GEN_AI_REQUEST_SEED,
  ATTR_GEN_AI_REQUEST_STOP_SEQUENCES,
  ATTR_GEN_AI_REQUEST_STREAM,
  ATTR_GEN_AI_REQUEST_TEMPERATURE,
  ATTR_GEN_AI_REQUEST_TOP_K,
  ATTR_GEN_AI_REQUEST_TOP_P,
  ATTR_OLLAMA_REQUEST_KEEP_ALIVE,
  ATTR_OLLAMA_REQUEST_NUM_CTX,
  ATTR_OLLAMA_REQUEST_THINK,
  GEN_AI_OUTPUT_TYPE_VALUE_JSON,
} from '../core/semconv.js';
import { OllamaContentSource } from './ollama-content.js';

/** The `model` of a native request, when it names one. */
export function ollamaRequestModel(request: unknown): string | undefined {
  return isObject(request) ? nonEmptyString(request.model) : undefined;
}

/** Request parameters recorded on the span, each only when the caller set it. */
export function ollamaRequestAttributes(request: unknown): Attributes {
  const attributes: Attributes = {};
  if (!isObject(request)) return attributes;
  const options = isObject(request.options) ? request.options : undefined;
  if (options !== undefined) {
    setNumber(attributes, ATTR_GEN_AI_REQUEST_TEMPERATURE, options.temperature);
    setNumber(attributes, ATTR_GEN_AI_REQUEST_TOP_P, options.top_p);
    setNumber(attributes, ATTR_GEN_AI_REQUEST_TOP_K, options.top_k);
    setNumber(attributes, ATTR_GEN_AI_REQUEST_MAX_TOKENS, options.num_predict);
    setNumber(attributes, ATTR_GEN_AI_REQUEST_SEED, options.seed);
    setNumber(attributes, ATTR_GEN_AI_REQUEST_FREQUENCY_PENALTY, options.frequency_penalty);
    setNumber(attributes, ATTR_GEN_AI_REQUEST_PRESENCE_PENALTY, options.presence_penalty);
    setNumber(attributes, ATTR_OLLAMA_REQUEST_NUM_CTX, options.num_ctx);
    const stop = stopSequences(options.stop);
    if (stop !== undefined) attributes[ATTR_GEN_AI_REQUEST_STOP_SEQUENCES] = stop;
  }
  if (request.stream === true) attributes[ATTR_GEN_AI_REQUEST_STREAM] = true;
  if (request.format !== undefined && request.format !== null && request.format !== '') {
    attributes[ATTR_GEN_AI_OUTPUT_TYPE] = GEN_AI_OUTPUT_TYPE_VALUE_JSON;
  }
  setScalarAsString(attributes, ATTR_OLLAMA_REQUEST_KEEP_ALIVE, request.keep_alive);
  setScalarAsString(attributes, ATTR_OLLAMA_REQUEST_THINK, request.think);
  setNumber(attributes, ATTR_GEN_AI_EMBEDDINGS_DIMENSION_COUNT, request.dimensions);
  return attributes;
}

/** A native chat/generate response (or final chunk), or an embed/embeddings response, as a summary. */
export function summarizeOllamaResponse(response: unknown): ResponseSummary {
  const summary: ResponseSummary = {};
  if (!isObject(response)) return summary;
  const model = nonEmptyString(response.model);
  if (model !== undefined) summary.model = model;
  const doneReason = nonEmptyString(response.done_reason);
  if (doneReason !== undefined) summary.finishReasons = [doneReason];
  const input = tokenCount(response.prompt_eval_count);
  if (input !== undefined) summary.inputTokens = input;
  const output = tokenCount(response.eval_count);
  if (output !== undefined) summary.outputTokens = output;
  const dimensions = embeddingDimensions(response);
  if (dimensions !== undefined) summary.embeddingDimensions = dimensions;
  const timings = serverTimings(response);
  if (timings !== undefined) summary.timings = timings;
  return summary;
}

function serverTimings(response: Loose): ServerTimings | undefined {
  const totalNs = durationNs(response.total_duration);
  const loadNs = durationNs(response.load_duration);
  const promptEvalNs = durationNs(response.prompt_eval_duration);
  const evalNs = durationNs(response.eval_duration);
  if (totalNs === undefined && loadNs === undefined && promptEvalNs === undefined && evalNs === undefined) {
    return undefined;
  }
  return { totalNs, loadNs, promptEvalNs, evalNs };
}

/** The length of the returned vectors; the vectors themselves are never recorded. */
function embeddingDimensions(response: Loose): number | undefined {
  const { embeddings, embedding } = response;
  if (Array.isArray(embeddings) && Array.isArray(embeddings[0])) return embeddings[0].length;
  if (Array.isArray(embedding) && embedding.length > 0) return embedding.length;
  return undefined;
}

/** Chat and generate streams end with the chunk that has `done: true`. */
function isDone(chunk: unknown): boolean {
  return (chunk as { done?: unknown } | null | undefined)?.done === true;
}

export const OLLAMA_CHAT_FORMAT: GenAiFormat = {
  requestModel: ollamaRequestModel,
  requestAttributes: ollamaRequestAttributes,
  generationPhases: true,
  isFinal: isDone,
  summarize: summarizeOllamaResponse,
  content: (request) => new OllamaContentSource('chat', request),
};

export const OLLAMA_GENERATE_FORMAT: GenAiFormat = {
  requestModel: ollamaRequestModel,
  requestAttributes: ollamaRequestAttributes,
  generationPhases: true,
  isFinal: isDone,
  summarize: summarizeOllamaResponse,
  content: (request) => new OllamaContentSource('generate', request),
};

/** Embeddings are never streamed and carry no conversation. */
export const OLLAMA_EMBEDDINGS_FORMAT: GenAiFormat = {
  requestModel: ollamaRequestModel,
  requestAttributes: ollamaRequestAttributes,
  generationPhases: false,
  isFinal: isDone,
  summarize: summarizeOllamaResponse,
};
