/*
 * What the proxy knows about each Ollama route: the GenAI calls (native and OpenAI/Anthropic-compatible), the
 * model-management calls, and everything else, which passes through with only the HTTP server span.
 */
import {
  GEN_AI_OPERATION_NAME_VALUE_CHAT,
  GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS,
  GEN_AI_OPERATION_NAME_VALUE_TEXT_COMPLETION,
  type GenAiFormat,
  OLLAMA_CHAT_FORMAT,
  OLLAMA_EMBEDDINGS_FORMAT,
  OLLAMA_GENERATE_FORMAT,
} from '@ollama-otel/instrumentation/internal';
import { ANTHROPIC_MESSAGES_FORMAT } from './formats/anthropic-messages.js';
import type { WireFormat } from './formats/format.js';
import { OPENAI_CHAT_FORMAT } from './formats/openai-chat.js';
import { OPENAI_COMPLETIONS_FORMAT } from './formats/openai-completions.js';
import { OPENAI_EMBEDDINGS_FORMAT } from './formats/openai-embeddings.js';
import { OPENAI_RESPONSES_FORMAT } from './formats/openai-responses.js';

export interface GenAiRoute {
  kind: 'genai';
  /** `http.route`. */
  route: string;
  operationName: string;
  format: GenAiFormat | WireFormat;
  /** OpenAI-compatible streams that report usage only when asked (`stream_options.include_usage`). */
  usageOption?: 'chat' | 'completions';
}

export interface ManagementRoute {
  kind: 'management';
  route: string;
  /** `ollama.operation.name`, the span is `ollama.{operationName}`. */
  operationName: string;
  /** The request-body field naming the model (`ollama.model.name`). */
  modelField?: 'model' | 'source';
  /** The path segment naming the model (`/v1/models/{model}`). */
  modelFromPath?: boolean;
  /** The OpenAI model list (`{data: [...]}`) is read like `/api/tags` (`{models: [...]}`). */
  openAiList?: boolean;
}

export interface PassThroughRoute {
  kind: 'pass-through';
  /** Known routes keep their template; unknown paths have none (their span is named by the method only). */
  route: string | undefined;
}

export type Route = GenAiRoute | ManagementRoute | PassThroughRoute;

const genai = (route: string, operationName: string, format: GenAiFormat, usageOption?: GenAiRoute['usageOption']) =>
  ({ kind: 'genai', route, operationName, format, usageOption }) as const satisfies GenAiRoute;
const management = (route: string, operationName: string, extra: Partial<ManagementRoute> = {}): ManagementRoute => ({
  kind: 'management',
  route,
  operationName,
  ...extra,
});

const EXACT: ReadonlyMap<string, Route> = new Map<string, Route>([
  ['POST /api/chat', genai('/api/chat', GEN_AI_OPERATION_NAME_VALUE_CHAT, OLLAMA_CHAT_FORMAT)],
  ['POST /api/generate', genai('/api/generate', GEN_AI_OPERATION_NAME_VALUE_TEXT_COMPLETION, OLLAMA_GENERATE_FORMAT)],
  ['POST /api/embed', genai('/api/embed', GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS, OLLAMA_EMBEDDINGS_FORMAT)],
  ['POST /api/embeddings', genai('/api/embeddings', GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS, OLLAMA_EMBEDDINGS_FORMAT)],
  [
    'POST /v1/chat/completions',
    genai('/v1/chat/completions', GEN_AI_OPERATION_NAME_VALUE_CHAT, OPENAI_CHAT_FORMAT, 'chat'),
  ],
  [
    'POST /v1/completions',
    genai('/v1/completions', GEN_AI_OPERATION_NAME_VALUE_TEXT_COMPLETION, OPENAI_COMPLETIONS_FORMAT, 'completions'),
  ],
  ['POST /v1/embeddings', genai('/v1/embeddings', GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS, OPENAI_EMBEDDINGS_FORMAT)],
  ['POST /v1/responses', genai('/v1/responses', GEN_AI_OPERATION_NAME_VALUE_CHAT, OPENAI_RESPONSES_FORMAT)],
  ['POST /v1/messages', genai('/v1/messages', GEN_AI_OPERATION_NAME_VALUE_CHAT, ANTHROPIC_MESSAGES_FORMAT)],
  ['POST /api/pull', management('/api/pull', 'pull', { modelField: 'model' })],
  ['POST /api/push', management('/api/push', 'push', { modelField: 'model' })],
  ['POST /api/create', management('/api/create', 'create', { modelField: 'model' })],
  ['DELETE /api/delete', management('/api/delete', 'delete', { modelField: 'model' })],
  ['POST /api/copy', management('/api/copy', 'copy', { modelField: 'source' })],
  ['POST /api/show', management('/api/show', 'show', { modelField: 'model' })],
  ['GET /api/tags', management('/api/tags', 'list')],
  ['GET /api/ps', management('/api/ps', 'ps')],
  ['GET /api/version', management('/api/version', 'version')],
  ['GET /v1/models', management('/v1/models', 'list', { openAiList: true })],
]);

/** Ollama's other routes, for span names and `http.route` (`server/routes.go`). */
const KNOWN_PATHS = new Set(['/', '/api/version', '/api/tags', '/api/ps', '/api/status', '/api/me', '/api/signout']);
const MODELS_PREFIX = '/v1/models/';
const BLOBS_PREFIX = '/api/blobs/';

export function findRoute(method: string, path: string): Route {
  const exact = EXACT.get(`${method} ${path}`);
  if (exact !== undefined) return exact;
  if (path.startsWith(MODELS_PREFIX) && path.length > MODELS_PREFIX.length) {
    if (method === 'GET') return SHOW_OPENAI_MODEL;
    return { kind: 'pass-through', route: '/v1/models/{model}' };
  }
  if (path.startsWith(BLOBS_PREFIX) && path.length > BLOBS_PREFIX.length) {
    return { kind: 'pass-through', route: '/api/blobs/{digest}' };
  }
  for (const route of EXACT.values()) if (route.route === path) return { kind: 'pass-through', route: path };
  return { kind: 'pass-through', route: KNOWN_PATHS.has(path) ? path : undefined };
}

const SHOW_OPENAI_MODEL = management('/v1/models/{model}', 'show', { modelFromPath: true });
