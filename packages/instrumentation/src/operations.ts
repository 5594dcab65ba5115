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
}

/** The GenAI operations: one span and the GenAI metrics per call. */
export const GENAI_OPERATIONS: readonly OperationSpec[] = [
  { method: 'chat', operationName: GEN_AI_OPERATION_NAME_VALUE_CHAT, hasServerTimings: true },
  { method: 'generate', operationName: GEN_AI_OPERATION_NAME_VALUE_TEXT_COMPLETION, hasServerTimings: true },
  { method: 'embed', operationName: GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS, hasServerTimings: false },
  { method: 'embeddings', operationName: GEN_AI_OPERATION_NAME_VALUE_EMBEDDINGS, hasServerTimings: false },
];
