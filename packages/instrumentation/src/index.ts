export { instrumentOllama } from './instrument-ollama.js';
export { OllamaInstrumentation } from './instrumentation.js';
export type { InstrumentedOllama, InstrumentOllamaConfig, OllamaInstrumentationConfig } from './types.js';
