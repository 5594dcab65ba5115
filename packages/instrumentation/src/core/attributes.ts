/*
 * Attribute objects shared by every span and metric point of a call. Metric attributes are built once per
 * combination (operation, model, server, response model, error type) and reused, frozen: recording a point
 * then allocates nothing of ours, and the SDK sees the same object again and again.
 */
import type { Attributes } from '@opentelemetry/api';
import type { ResponseSummary } from './format.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_EMBEDDINGS_DIMENSION_COUNT,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_RESPONSE_ID,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_OLLAMA_RESPONSE_EVAL_DURATION,
  ATTR_OLLAMA_RESPONSE_LOAD_DURATION,
  ATTR_OLLAMA_RESPONSE_PROMPT_EVAL_DURATION,
  ATTR_OLLAMA_RESPONSE_TOTAL_DURATION,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  GEN_AI_PROVIDER_NAME_VALUE_OLLAMA,
} from './semconv.js';

const NANOSECONDS_PER_SECOND = 1e9;
/** Bounds every cache here: a process talks to a handful of servers and models. */
const MAX_CACHED = 256;
const EMPTY: Attributes = Object.freeze({});

/** A two-level cache (no key strings built on lookup), each level emptied when full: the working set is small. */
class Cache2<V> {
  private readonly entries = new Map<string, Map<string, V>>();

  get(first: string, second: string): V | undefined {
    return this.entries.get(first)?.get(second);
  }

  set(first: string, second: string, value: V): V {
    let inner = this.entries.get(first);
    if (inner === undefined) {
      if (this.entries.size >= MAX_CACHED) this.entries.clear();
      inner = new Map();
      this.entries.set(first, inner);
    }
    if (inner.size >= MAX_CACHED) inner.clear();
    inner.set(second, value);
    return value;
  }
}

const serverAttributesByHost = new Map<string, Attributes>();

/**
 * `server.address`/`server.port` from a base URL (ollama-js normalises its host to `scheme://host:port`). Only
 * the hostname and port are kept, so credentials in the URL never leak.
 */
export function serverAttributes(host: unknown): Attributes {
  if (typeof host !== 'string' || host === '') return EMPTY;
  let attributes = serverAttributesByHost.get(host);
  if (attributes === undefined) {
    if (serverAttributesByHost.size >= MAX_CACHED) serverAttributesByHost.clear();
    attributes = parseServerAttributes(host);
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
    return EMPTY;
  }
}

function defaultPort(protocol: string): number | undefined {
  if (protocol === 'https:') return 443;
  if (protocol === 'http:') return 80;
  return undefined;
}

/** Per server attributes object: the common attributes of each (operation, model). */
const commonByServer = new WeakMap<Attributes, Cache2<Attributes>>();

/**
 * The attributes every span and metric point of a GenAI call shares: operation, provider, server and requested
 * model. The same frozen object for the same inputs.
 */
export function commonAttributes(operationName: string, model: string | undefined, server: Attributes): Attributes {
  let byOperation = commonByServer.get(server);
  if (byOperation === undefined) {
    byOperation = new Cache2();
    commonByServer.set(server, byOperation);
  }
  const cached = byOperation.get(operationName, model ?? '');
  if (cached !== undefined) return cached;
  const attributes: Attributes = {
    [ATTR_GEN_AI_OPERATION_NAME]: operationName,
    [ATTR_GEN_AI_PROVIDER_NAME]: GEN_AI_PROVIDER_NAME_VALUE_OLLAMA,
    ...server,
  };
  if (model !== undefined) attributes[ATTR_GEN_AI_REQUEST_MODEL] = model;
  return byOperation.set(operationName, model ?? '', Object.freeze(attributes));
}

/** Per base attributes object: variants with more attributes (response model, error type, token type...). */
const variantsByBase = new WeakMap<Attributes, Cache2<Attributes>>();

/** `base` plus `key: value` (nothing added for `undefined`); cached, frozen. */
export function withAttribute(base: Attributes, key: string, value: string | undefined): Attributes {
  if (value === undefined) return base;
  let variants = variantsByBase.get(base);
  if (variants === undefined) {
    variants = new Cache2();
    variantsByBase.set(base, variants);
  }
  return variants.get(key, value) ?? variants.set(key, value, Object.freeze({ ...base, [key]: value }));
}

/** The metric attributes of a finished call: the common ones, the response model and the error type. */
export function outcomeAttributes(
  common: Attributes,
  responseModel: string | undefined,
  errorType?: string,
): Attributes {
  return withAttribute(withAttribute(common, ATTR_GEN_AI_RESPONSE_MODEL, responseModel), ATTR_ERROR_TYPE, errorType);
}

const coldStartByCommon = new WeakMap<Attributes, Attributes>();

/** `ollama.model.cold_starts` is counted per model and server, whatever the operation. */
export function coldStartAttributes(common: Attributes): Attributes {
  let attributes = coldStartByCommon.get(common);
  if (attributes === undefined) {
    const { [ATTR_GEN_AI_OPERATION_NAME]: _operation, ...rest } = common;
    attributes = Object.freeze(rest);
    coldStartByCommon.set(common, attributes);
  }
  return attributes;
}

/** Response fields recorded on the span: model, id, finish reasons, usage and Ollama's server timings. */
export function responseAttributes(summary: ResponseSummary): Attributes {
  const attributes: Attributes = {};
  if (summary.model !== undefined) attributes[ATTR_GEN_AI_RESPONSE_MODEL] = summary.model;
  if (summary.id !== undefined) attributes[ATTR_GEN_AI_RESPONSE_ID] = summary.id;
  if (summary.finishReasons !== undefined) attributes[ATTR_GEN_AI_RESPONSE_FINISH_REASONS] = summary.finishReasons;
  if (summary.inputTokens !== undefined) attributes[ATTR_GEN_AI_USAGE_INPUT_TOKENS] = summary.inputTokens;
  if (summary.outputTokens !== undefined) attributes[ATTR_GEN_AI_USAGE_OUTPUT_TOKENS] = summary.outputTokens;
  if (summary.embeddingDimensions !== undefined) {
    attributes[ATTR_GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = summary.embeddingDimensions;
  }
  const timings = summary.timings;
  if (timings !== undefined) {
    setSeconds(attributes, ATTR_OLLAMA_RESPONSE_TOTAL_DURATION, timings.totalNs);
    setSeconds(attributes, ATTR_OLLAMA_RESPONSE_LOAD_DURATION, timings.loadNs);
    setSeconds(attributes, ATTR_OLLAMA_RESPONSE_PROMPT_EVAL_DURATION, timings.promptEvalNs);
    setSeconds(attributes, ATTR_OLLAMA_RESPONSE_EVAL_DURATION, timings.evalNs);
  }
  return attributes;
}

function setSeconds(attributes: Attributes, key: string, nanoseconds: number | undefined): void {
  if (nanoseconds !== undefined) attributes[key] = nanoseconds / NANOSECONDS_PER_SECOND;
}

/** A token count as reported; `undefined` for anything that is not a non-negative integer. */
export function tokenCount(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
}

/** A duration in integer nanoseconds; `undefined` when absent or zero (Ollama omits zero durations). */
export function durationNs(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.round(value) : undefined;
}

export function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Sets `key` when `value` is a finite number. */
export function setNumber(attributes: Attributes, key: string, value: unknown): void {
  if (typeof value === 'number' && Number.isFinite(value)) attributes[key] = value;
}

/** Sets `key` to the string form of a scalar (string, number, boolean). */
export function setScalarAsString(attributes: Attributes, key: string, value: unknown): void {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    attributes[key] = String(value);
  }
}

/** `gen_ai.request.stop_sequences` from a string or an array of strings. */
export function stopSequences(stop: unknown): string[] | undefined {
  if (typeof stop === 'string') return [stop];
  if (!Array.isArray(stop)) return undefined;
  const sequences = stop.filter((item): item is string => typeof item === 'string');
  return sequences.length > 0 ? sequences : undefined;
}
