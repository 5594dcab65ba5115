import {
  GEN_AI_OPERATION_NAME_VALUE_CHAT,
  GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS,
  GEN_AI_OPERATION_NAME_VALUE_TEXT_COMPLETION,
} from './semconv.js';

/** How one client method is observed. */
export interface OperationSpec {
  /** The method name on the ollama-js client prototype. */
  method: string;
  /** `gen_ai.operation.name`; also the first word of the span name. */
  operationName: string;
  /** Whether the response carries Ollama's server timings (chat/generate) rather than only usage (embed). */
  hasServerTimings: boolean;
  /** `management`: an `ollama.{operation}` span and `ollama.client.operation.duration`, no GenAI telemetry. */
  kind?: 'management';
  /** The request field naming the model the operation acts on (`ollama.model.name`). */
  modelField?: 'model' | 'source';
  /** Where the call goes regardless of the client's host (webSearch/webFetch always call ollama.com). */
  fixedHost?: string;
}

/** The GenAI operations: one span and the GenAI metrics per call. */
export const GENAI_OPERATIONS: readonly OperationSpec[] = [
  { method: 'chat', operationName: GEN_AI_OPERATION_NAME_VALUE_CHAT, hasServerTimings: true },
  { method: 'generate', operationName: GEN_AI_OPERATION_NAME_VALUE_TEXT_COMPLETION, hasServerTimings: true },
  { method: 'embed', operationName: GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS, hasServerTimings: false },
  { method: 'embeddings', operationName: GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS, hasServerTimings: false },
];

const OLLAMA_COM = 'https://ollama.com:443';

function management(spec: Pick<OperationSpec, 'method' | 'operationName' | 'modelField' | 'fixedHost'>): OperationSpec {
  return { ...spec, kind: 'management', hasServerTimings: false };
}

/**
 * Model-management operations. `create` is patched on the base prototype only: the Node subclass's own
 * `create` calls `super.create`, so that one call yields one span.
 */
export const MANAGEMENT_OPERATIONS: readonly OperationSpec[] = [
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

/** Every method the instrumentation wraps (those missing from an older client are skipped). */
export const OBSERVED_OPERATIONS: readonly OperationSpec[] = [...GENAI_OPERATIONS, ...MANAGEMENT_OPERATIONS];
