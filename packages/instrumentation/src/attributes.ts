/*
 * Pure mappings from ollama-js requests and responses to span attributes. No I/O, no OpenTelemetry state:
 * everything here takes plain objects and returns plain objects.
 */
import type { Attributes } from '@opentelemetry/api';
import type { OllamaRequest, OllamaResponse } from './internal-types.js';
import type { OperationSpec } from './operations.js';
import {
  ATTR_GEN_AI_EMBEDDINGS_DIMENSION_COUNT,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_OUTPUT_TYPE,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_FREQUENCY_PENALTY,
  ATTR_GEN_AI_REQUEST_MAX_TOKENS,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_REQUEST_PRESENCE_PENALTY,
  ATTR_GEN_AI_REQUEST_SEED,
  ATTR_GEN_AI_REQUEST_STOP_SEQUENCES,
  ATTR_GEN_AI_REQUEST_STREAM,
  ATTR_GEN_AI_REQUEST_TEMPERATURE,
  ATTR_GEN_AI_REQUEST_TOP_K,
  ATTR_GEN_AI_REQUEST_TOP_P,
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_OLLAMA_REQUEST_KEEP_ALIVE,
  ATTR_OLLAMA_REQUEST_NUM_CTX,
  ATTR_OLLAMA_REQUEST_THINK,
  ATTR_OLLAMA_RESPONSE_EVAL_DURATION,
  ATTR_OLLAMA_RESPONSE_LOAD_DURATION,
  ATTR_OLLAMA_RESPONSE_PROMPT_EVAL_DURATION,
  ATTR_OLLAMA_RESPONSE_TOTAL_DURATION,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  GEN_AI_OUTPUT_TYPE_VALUE_JSON,
  GEN_AI_PROVIDER_NAME_VALUE_OLLAMA,
} from './semconv.js';

const NANOSECONDS_PER_SECOND = 1e9;
const MAX_CACHED_HOSTS = 64;
const serverAttributesByHost = new Map<string, Attributes>();

/**
 * `server.address`/`server.port` from the client's configured host (ollama-js always normalises it to
 * `scheme://host:port`). Only the hostname and port are kept, so credentials in the URL never leak.
 */
export function serverAttributes(host: unknown): Attributes {
  if (typeof host !== 'string' || host === '') return {};
  let attributes = serverAttributesByHost.get(host);
  if (attributes === undefined) {
    attributes = parseServerAttributes(host);
    if (serverAttributesByHost.size >= MAX_CACHED_HOSTS) serverAttributesByHost.clear();
    serverAttributesByHost.set(host, attributes);
  }
  return attributes;
}

function parseServerAttributes(host: string): Attributes {
  try {
    const url = new URL(host);
    const address = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = url.port === '' ? defaultPort(url.protocol) : Number(url.port);
    const attributes: Attributes = { [ATTR_SERVER_ADDRESS]: address };
    if (port !== undefined) attributes[ATTR_SERVER_PORT] = port;
    return Object.freeze(attributes);
  } catch {
    return {};
  }
}

function defaultPort(protocol: string): number | undefined {
  if (protocol === 'https:') return 443;
  if (protocol === 'http:') return 80;
  return undefined;
}

export function requestModel(request: OllamaRequest | undefined): string | undefined {
  const model = request?.model;
  return typeof model === 'string' && model !== '' ? model : undefined;
}

/** The attributes every span and metric point of an operation shares. */
export function commonAttributes(spec: OperationSpec, model: string | undefined, server: Attributes): Attributes {
  const attributes: Attributes = {
    [ATTR_GEN_AI_OPERATION_NAME]: spec.operationName,
    [ATTR_GEN_AI_PROVIDER_NAME]: GEN_AI_PROVIDER_NAME_VALUE_OLLAMA,
    ...server,
  };
  if (model !== undefined) attributes[ATTR_GEN_AI_REQUEST_MODEL] = model;
  return attributes;
}

/** Request parameters recorded on the span, each only when the caller set it. */
export function requestAttributes(request: OllamaRequest | undefined): Attributes {
  const attributes: Attributes = {};
  if (request === undefined || request === null || typeof request !== 'object') return attributes;
  const options = typeof request.options === 'object' && request.options !== null ? request.options : {};
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
  if (request.stream === true) attributes[ATTR_GEN_AI_REQUEST_STREAM] = true;
  if (request.format !== undefined && request.format !== null && request.format !== '') {
    attributes[ATTR_GEN_AI_OUTPUT_TYPE] = GEN_AI_OUTPUT_TYPE_VALUE_JSON;
  }
  setScalarAsString(attributes, ATTR_OLLAMA_REQUEST_KEEP_ALIVE, request.keep_alive);
  setScalarAsString(attributes, ATTR_OLLAMA_REQUEST_THINK, request.think);
  setNumber(attributes, ATTR_GEN_AI_EMBEDDINGS_DIMENSION_COUNT, request.dimensions);
  return attributes;
}

/** Response fields recorded on the span: model, finish reason, usage and Ollama's server timings. */
export function responseAttributes(response: OllamaResponse): Attributes {
  const attributes: Attributes = {};
  if (typeof response.model === 'string' && response.model !== '') {
    attributes[ATTR_GEN_AI_RESPONSE_MODEL] = response.model;
  }
  if (typeof response.done_reason === 'string' && response.done_reason !== '') {
    attributes[ATTR_GEN_AI_RESPONSE_FINISH_REASONS] = [response.done_reason];
  }
  setNumber(attributes, ATTR_GEN_AI_USAGE_INPUT_TOKENS, tokenCount(response.prompt_eval_count));
  setNumber(attributes, ATTR_GEN_AI_USAGE_OUTPUT_TOKENS, tokenCount(response.eval_count));
  setNumber(attributes, ATTR_OLLAMA_RESPONSE_TOTAL_DURATION, nanosToSeconds(response.total_duration));
  setNumber(attributes, ATTR_OLLAMA_RESPONSE_LOAD_DURATION, nanosToSeconds(response.load_duration));
  setNumber(attributes, ATTR_OLLAMA_RESPONSE_PROMPT_EVAL_DURATION, nanosToSeconds(response.prompt_eval_duration));
  setNumber(attributes, ATTR_OLLAMA_RESPONSE_EVAL_DURATION, nanosToSeconds(response.eval_duration));
  setNumber(attributes, ATTR_GEN_AI_EMBEDDINGS_DIMENSION_COUNT, embeddingDimension(response));
  return attributes;
}

/** The length of the returned vectors; the vectors themselves are never recorded. */
export function embeddingDimension(response: OllamaResponse): number | undefined {
  const { embeddings, embedding } = response;
  if (Array.isArray(embeddings) && Array.isArray(embeddings[0])) return embeddings[0].length;
  if (Array.isArray(embedding) && embedding.length > 0) return embedding.length;
  return undefined;
}

/** A token count Ollama reported; `undefined` when it omitted it (e.g. a prompt-cache hit), never a made-up 0. */
export function tokenCount(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
}

/** Ollama reports durations in integer nanoseconds and omits them when zero. */
export function nanosToSeconds(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value / NANOSECONDS_PER_SECOND : undefined;
}

function stopSequences(stop: unknown): string[] | undefined {
  if (typeof stop === 'string') return [stop];
  if (!Array.isArray(stop)) return undefined;
  const sequences = stop.filter((item): item is string => typeof item === 'string');
  return sequences.length > 0 ? sequences : undefined;
}

function setNumber(attributes: Attributes, key: string, value: unknown): void {
  if (typeof value === 'number' && Number.isFinite(value)) attributes[key] = value;
}

function setScalarAsString(attributes: Attributes, key: string, value: unknown): void {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    attributes[key] = String(value);
  }
}
