/** `/api/embed` and the legacy `/api/embeddings`. */
import { elapsedNs, keepAliveMs } from './clock.js';
import type { Exchange } from './exchange.js';
import type { ModelRegistry } from './registry.js';
import { embedResponse, errorBody, legacyEmbeddingResponse } from './responses.js';
import { countTokens, embeddingVector } from './text.js';

type Body = Record<string, any>;

/** Tokens the embedding models add around each input (BOS/CLS and EOS/SEP). */
const SPECIAL_TOKENS_PER_INPUT = 2;

export async function handleEmbed(exchange: Exchange, registry: ModelRegistry, body: Body): Promise<void> {
  const model = findModel(exchange, registry, body.model);
  if (!model) return;
  const inputs = embedInputs(body.input);
  if (!inputs) {
    exchange.json(400, errorBody('invalid input type'));
    return;
  }
  const dimensions =
    typeof body.dimensions === 'number' && body.dimensions > 0 ? Math.floor(body.dimensions) : model.embeddingLength;
  const loadDurationNs = await registry.load(model, exchange.signal);
  registry.keepLoaded(model.name, keepAliveMs(body.keep_alive));
  const embeddings = inputs.map((input) => embeddingVector(input, dimensions));
  const promptEvalCount = inputs.reduce((sum, input) => sum + countTokens(input) + SPECIAL_TOKENS_PER_INPUT, 0);
  exchange.json(
    200,
    embedResponse(body.model, embeddings, {
      totalDurationNs: elapsedNs(exchange.startNs),
      loadDurationNs,
      promptEvalCount,
    }),
  );
}

export async function handleLegacyEmbeddings(exchange: Exchange, registry: ModelRegistry, body: Body): Promise<void> {
  const model = findModel(exchange, registry, body.model);
  if (!model) return;
  await registry.load(model, exchange.signal);
  registry.keepLoaded(model.name, keepAliveMs(body.keep_alive));
  const prompt = typeof body.prompt === 'string' ? body.prompt : '';
  exchange.json(200, legacyEmbeddingResponse(prompt ? embeddingVector(prompt, model.embeddingLength) : []));
}

function findModel(exchange: Exchange, registry: ModelRegistry, name: unknown) {
  if (typeof name !== 'string' || name.trim() === '') {
    exchange.json(400, errorBody('model is required'));
    return undefined;
  }
  const model = registry.find(name);
  if (!model) exchange.json(404, errorBody(`model '${name}' not found`));
  return model;
}

/** `input` is a string or an array of strings; absent or empty means "just load the model". */
function embedInputs(input: unknown): string[] | undefined {
  if (input === undefined || input === null || input === '') return [];
  if (typeof input === 'string') return [input];
  if (Array.isArray(input) && input.every((item) => typeof item === 'string')) return input;
  return undefined;
}
