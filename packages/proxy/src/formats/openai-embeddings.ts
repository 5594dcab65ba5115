/* `POST /v1/embeddings`: the model, the input tokens and the vectors' length; never the vectors or the input. */
import {
  ATTR_GEN_AI_EMBEDDINGS_DIMENSION_COUNT,
  isObject,
  type ResponseSummary,
  setNumber,
  tokenCount,
} from '@ollama-otel/instrumentation/internal';
import type { Attributes } from '@opentelemetry/api';
import { requestModel } from './common.js';
import type { WireFormat } from './format.js';

function requestAttributes(request: unknown): Attributes {
  const attributes: Attributes = {};
  if (isObject(request)) setNumber(attributes, ATTR_GEN_AI_EMBEDDINGS_DIMENSION_COUNT, request.dimensions);
  return attributes;
}

function summarize(response: unknown): ResponseSummary {
  const summary: ResponseSummary = {};
  if (!isObject(response)) return summary;
  if (typeof response.model === 'string' && response.model !== '') summary.model = response.model;
  if (isObject(response.usage)) {
    const input = tokenCount(response.usage.prompt_tokens);
    if (input !== undefined) summary.inputTokens = input;
  }
  const first = Array.isArray(response.data) ? response.data[0] : undefined;
  const dimensions = isObject(first) ? dimensionCount(first.embedding) : undefined;
  if (dimensions !== undefined) summary.embeddingDimensions = dimensions;
  return summary;
}

/** A float array, or `encoding_format: "base64"`: little-endian float32s. */
function dimensionCount(embedding: unknown): number | undefined {
  if (Array.isArray(embedding)) return embedding.length > 0 ? embedding.length : undefined;
  if (typeof embedding !== 'string' || embedding.length === 0) return undefined;
  const padding = embedding.endsWith('==') ? 2 : embedding.endsWith('=') ? 1 : 0;
  const bytes = (embedding.length / 4) * 3 - padding;
  return Number.isInteger(bytes / 4) ? bytes / 4 : undefined;
}

/** Embeddings are never streamed. */
export const OPENAI_EMBEDDINGS_FORMAT: WireFormat = {
  requestModel,
  requestAttributes,
  generationPhases: false,
  isFinal: () => false,
  summarize,
};
