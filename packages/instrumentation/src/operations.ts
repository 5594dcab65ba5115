/*
 * The ollama-js methods we observe, and how: a GenAI call read in Ollama's native format, or a model-management
 * call. Methods missing from an older client are skipped.
 */
import type { GenAiFormat } from './core/format.js';
import {
  GEN_AI_OPERATION_NAME_VALUE_CHAT,
  GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS,
  GEN_AI_OPERATION_NAME_VALUE_TEXT_COMPLETION,
} from './core/semconv.js';
import { OLLAMA_CHAT_FORMAT, OLLAMA_EMBEDDINGS_FORMAT, OLLAMA_GENERATE_FORMAT } from './formats/ollama.js';

export interface GenAiOperation {
  kind: 'genai';
  /** The method name on the ollama-js client prototype. */
  method: string;
  /** `gen_ai.operation.name`; also the first word of the span name. */
  operationName: string;
  format: GenAiFormat;
}

export interface ManagementOperation {
  kind: 'management';
  method: string;
  /** `ollama.operation.name`; the span is `ollama.{operationName}`. */
  operationName: string;
  /** The request field naming the model the operation acts on (`ollama.model.name`). */
  modelField?: 'model' | 'source';
  /** Where the call goes regardless of the client's host (webSearch/webFetch always call ollama.com). */
  fixedHost?: string;
}

export type Operation = GenAiOperation | ManagementOperation;

/** The GenAI operations: one span and the GenAI metrics per call. */
export const GENAI_OPERATIONS: readonly GenAiOperation[] = [
  { kind: 'genai', method: 'chat', operationName: GEN_AI_OPERATION_NAME_VALUE_CHAT, format: OLLAMA_CHAT_FORMAT },
  {
    kind: 'genai',
    method: 'generate',
    operationName: GEN_AI_OPERATION_NAME_VALUE_TEXT_COMPLETION,
    format: OLLAMA_GENERATE_FORMAT,
  },
  {
    kind: 'genai',
    method: 'embed',
    operationName: GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS,
    format: OLLAMA_EMBEDDINGS_FORMAT,
  },
  {
    kind: 'genai',
    method: 'embeddings',
    operationName: GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS,
    format: OLLAMA_EMBEDDINGS_FORMAT,
  },
];

const OLLAMA_COM = 'https://ollama.com:443';

function management(spec: Omit<ManagementOperation, 'kind'>): ManagementOperation {
  return { kind: 'management', ...spec };
}

/**
 * Model-management operations. `create` is patched on the base prototype only: the Node subclass's own
 * `create` calls `super.create`, so that one call yields one span.
 */
export const MANAGEMENT_OPERATIONS: readonly ManagementOperation[] = [
  management({ method: 'pull', operationName: 'pull', modelField: 'model' }),
  management({ method: 'push', operationName: 'push', modelField: 'model' }),
  management({ method: 'create', operationName: 'create', modelField: 'model' }),
  management({ method: 'delete', operationName: 'delete', modelField: 'model' }),
  management({ method: 'copy', operationName: 'copy', modelField: 'source' }),
  management({ method: 'show', operationName: 'show', modelField: 'model' }),
  management({ method: 'list', operationName: 'list' }),
  management({ method: 'ps', operationName: 'ps' }),
  management({ method: 'version', operationName: 'version' }),
  management({ method: 'webSearch', operationName: 'web_search', fixedHost: OLLAMA_COM }),
  management({ method: 'webFetch', operationName: 'web_fetch', fixedHost: OLLAMA_COM }),
];

/** Every method the instrumentation wraps. */
export const OBSERVED_OPERATIONS: readonly Operation[] = [...GENAI_OPERATIONS, ...MANAGEMENT_OPERATIONS];
