/*
 * Pieces the OpenAI- and Anthropic-compatible formats share: request parameters, usage, error bodies, tool-call
 * parts, images given as data URLs.
 */

import type { MessagePart } from '@ollama-otel/instrumentation';
import {
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
  GEN_AI_OUTPUT_TYPE_VALUE_JSON,
  imagePart,
  isObject,
  type Loose,
  nonEmptyString,
  scrub,
  setNumber,
  stopSequences,
} from '@ollama-otel/instrumentation/internal';
import type { Attributes } from '@opentelemetry/api';

export function requestModel(request: unknown): string | undefined {
  return isObject(request) ? nonEmptyString(request.model) : undefined;
}

/** Sampling parameters under their OpenAI/Anthropic names; `maxTokensField` is the API's own. */
export function samplingAttributes(request: unknown, maxTokensFields: readonly string[]): Attributes {
  const attributes: Attributes = {};
  if (!isObject(request)) return attributes;
  setNumber(attributes, ATTR_GEN_AI_REQUEST_TEMPERATURE, request.temperature);
  setNumber(attributes, ATTR_GEN_AI_REQUEST_TOP_P, request.top_p);
  setNumber(attributes, ATTR_GEN_AI_REQUEST_TOP_K, request.top_k);
  for (const field of maxTokensFields) setNumber(attributes, ATTR_GEN_AI_REQUEST_MAX_TOKENS, request[field]);
  setNumber(attributes, ATTR_GEN_AI_REQUEST_SEED, request.seed);
  setNumber(attributes, ATTR_GEN_AI_REQUEST_FREQUENCY_PENALTY, request.frequency_penalty);
  setNumber(attributes, ATTR_GEN_AI_REQUEST_PRESENCE_PENALTY, request.presence_penalty);
  const stop = stopSequences(request.stop ?? request.stop_sequences);
  if (stop !== undefined) attributes[ATTR_GEN_AI_REQUEST_STOP_SEQUENCES] = stop;
  if (request.stream === true) attributes[ATTR_GEN_AI_REQUEST_STREAM] = true;
  return attributes;
}

/** `gen_ai.output.type` `json` for JSON mode and structured outputs (`json_object`, `json_schema`). */
export function setJsonOutput(attributes: Attributes, formatType: unknown): void {
  if (formatType === 'json_object' || formatType === 'json_schema') {
    attributes[ATTR_GEN_AI_OUTPUT_TYPE] = GEN_AI_OUTPUT_TYPE_VALUE_JSON;
  }
}

/**
 * The message of an error body in any of Ollama's shapes: native `{"error": "..."}`, OpenAI
 * `{"error": {"message": "..."}}`, Anthropic `{"type": "error", "error": {"message": "..."}}`.
 */
export function errorBodyMessage(body: unknown): string | undefined {
  if (!isObject(body)) return undefined;
  const error = body.error;
  if (typeof error === 'string') return error;
  if (isObject(error) && typeof error.message === 'string') return error.message;
  return undefined;
}

/** An OpenAI tool call (`{id, function: {name, arguments: "<json>"}}`) as a semconv part; arguments parsed. */
export function toolCallPart(id: unknown, name: unknown, args: unknown): MessagePart {
  const part: MessagePart = { type: 'tool_call', name: typeof name === 'string' ? name : '' };
  if (typeof id === 'string' && id !== '') part.id = id;
  if (args !== undefined && args !== '') part.arguments = typeof args === 'string' ? parseArguments(args) : args;
  return part;
}

function parseArguments(args: string): unknown {
  try {
    return JSON.parse(args);
  } catch {
    return scrub(args);
  }
}

export function toolResponsePart(id: unknown, response: unknown): MessagePart {
  const part: MessagePart = {
    type: 'tool_call_response',
    response: typeof response === 'string' ? scrub(response) : response,
  };
  if (typeof id === 'string' && id !== '') part.id = id;
  return part;
}

/** An image given by URL: a `data:` URL is described (type, size); any other address is not kept at all. */
export function imageFromUrl(url: unknown): MessagePart {
  return imagePart(typeof url === 'string' && url.startsWith('data:') ? url : undefined);
}

export function numberOr(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

export type { Loose };
