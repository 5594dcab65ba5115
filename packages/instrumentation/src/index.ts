export { instrumentOllama } from './instrument-ollama.js';
export { OllamaInstrumentation } from './instrumentation.js';
export type {
  ContentCaptureMode,
  ContentHook,
  ImagePart,
  InputMessage,
  InstrumentedOllama,
  InstrumentOllamaConfig,
  MessageContent,
  MessagePart,
  OllamaInstrumentationConfig,
  OllamaRequestHook,
  OllamaRequestHookInfo,
  OllamaResponseHook,
  OllamaResponseHookInfo,
  OutputMessage,
  ReasoningPart,
  TextPart,
  ToolCallPart,
  ToolCallResponsePart,
  ToolDefinition,
} from './types.js';
