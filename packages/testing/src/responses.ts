/**
 * Pure builders for the JSON bodies the Ollama server writes. Field order follows the Go structs in
 * `api/types.go`; zero-valued `omitempty` fields are left out, as Go's encoder does.
 */
import { rfc3339 } from './clock.js';
import type { DoubleModel } from './models.js';

export interface ToolCall {
  id: string;
  function: { index: number; name: string; arguments: Record<string, unknown> };
}

export interface AssistantMessage {
  role: 'assistant';
  content: string;
  thinking?: string;
  tool_calls?: ToolCall[];
}

/** The `Metrics` part of a final chunk, in nanoseconds and tokens. */
export interface GenerationMetrics {
  totalDurationNs?: number;
  loadDurationNs?: number;
  promptEvalCount?: number;
  promptEvalDurationNs?: number;
  evalCount?: number;
  evalDurationNs?: number;
}

/** Final-chunk fields: `done_reason` and metrics, each omitted when empty/zero. */
export interface FinalFields {
  doneReason?: string;
  metrics: GenerationMetrics;
}

function omitEmpty<T extends Record<string, unknown>>(fields: T): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined || value === 0 || value === '' || (Array.isArray(value) && value.length === 0)) continue;
    out[key] = value;
  }
  return out as Partial<T>;
}

export function metricsFields(metrics: GenerationMetrics): Record<string, number> {
  return omitEmpty({
    total_duration: metrics.totalDurationNs,
    load_duration: metrics.loadDurationNs,
    prompt_eval_count: metrics.promptEvalCount,
    prompt_eval_duration: metrics.promptEvalDurationNs,
    eval_count: metrics.evalCount,
    eval_duration: metrics.evalDurationNs,
  }) as Record<string, number>;
}

export function assistantMessage(content: string, thinking?: string, toolCalls?: ToolCall[]): AssistantMessage {
  return { role: 'assistant', content, ...omitEmpty({ thinking, tool_calls: toolCalls }) } as AssistantMessage;
}

/** A `done:false` chat chunk. */
export function chatChunk(model: string, message: AssistantMessage): Record<string, unknown> {
  return { model, created_at: rfc3339(), message, done: false };
}

/** The `done:true` chat chunk (streaming) or the whole non-streaming chat response. */
export function chatFinal(model: string, message: AssistantMessage, final: FinalFields): Record<string, unknown> {
  return {
    model,
    created_at: rfc3339(),
    message,
    done: true,
    ...omitEmpty({ done_reason: final.doneReason }),
    ...metricsFields(final.metrics),
  };
}

/** A `done:false` generate chunk. */
export function generateChunk(model: string, response: string, thinking?: string): Record<string, unknown> {
  return { model, created_at: rfc3339(), response, ...omitEmpty({ thinking }), done: false };
}

/** The `done:true` generate chunk (streaming) or the whole non-streaming generate response. */
export function generateFinal(
  model: string,
  response: string,
  final: FinalFields & { thinking?: string; context?: number[] },
): Record<string, unknown> {
  return {
    model,
    created_at: rfc3339(),
    response,
    ...omitEmpty({ thinking: final.thinking }),
    done: true,
    ...omitEmpty({ done_reason: final.doneReason, context: final.context }),
    ...metricsFields(final.metrics),
  };
}

export function embedResponse(
  model: string,
  embeddings: number[][],
  metrics: Pick<GenerationMetrics, 'totalDurationNs' | 'loadDurationNs' | 'promptEvalCount'>,
): Record<string, unknown> {
  return {
    model,
    embeddings,
    ...omitEmpty({
      total_duration: metrics.totalDurationNs,
      load_duration: metrics.loadDurationNs,
      prompt_eval_count: metrics.promptEvalCount,
    }),
  };
}

export function legacyEmbeddingResponse(embedding: number[]): Record<string, unknown> {
  return { embedding };
}

export function errorBody(message: string): { error: string } {
  return { error: message };
}

/** One entry of `/api/ps`. */
export function runningModelEntry(model: DoubleModel, expiresAt: Date): Record<string, unknown> {
  return {
    name: model.name,
    model: model.name,
    size: model.sizeVram,
    digest: model.digest,
    details: { ...model.details, families: [...model.details.families] },
    expires_at: rfc3339(expiresAt),
    size_vram: model.sizeVram,
    context_length: model.contextLength,
  };
}

/** One entry of `/api/tags`. */
export function listedModelEntry(model: DoubleModel): Record<string, unknown> {
  return {
    name: model.name,
    model: model.name,
    modified_at: model.modifiedAt,
    size: model.size,
    digest: model.digest,
    details: { ...model.details, families: [...model.details.families] },
  };
}

const LLAMA_TEMPLATE =
  '<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n';

/** `/api/show` body. */
export function showResponse(model: DoubleModel): Record<string, unknown> {
  const arch = model.architecture;
  const isEmbedding = model.capabilities.includes('embedding');
  const parameters = isEmbedding ? 'num_ctx                        256' : 'stop                           "<|eot_id|>"';
  const template = isEmbedding ? '{{ .Prompt }}' : LLAMA_TEMPLATE;
  return {
    license: 'LICENSE AGREEMENT\nThis is a stand-in license text served by the Ollama test double.',
    modelfile: `# Modelfile generated by "ollama show"\n# To build a new Modelfile based on this, replace FROM with:\n# FROM ${model.name}\n\nFROM /root/.ollama/models/blobs/sha256-${model.digest}\nTEMPLATE """${template}"""\nPARAMETER ${parameters}\n`,
    parameters,
    template,
    details: { ...model.details, families: [...model.details.families] },
    model_info: {
      'general.architecture': arch,
      'general.basename': model.name.split(':')[0],
      'general.file_type': 15,
      'general.parameter_count': model.parameterCount,
      'general.quantization_version': 2,
      [`${arch}.block_count`]: 28,
      [`${arch}.context_length`]: model.contextLength * 32,
      [`${arch}.embedding_length`]: model.embeddingLength,
      [`${arch}.attention.head_count`]: 24,
      'tokenizer.ggml.model': isEmbedding ? 'bert' : 'gpt2',
    },
    tensors: [],
    capabilities: [...model.capabilities],
    modified_at: model.modifiedAt,
  };
}

export interface ProgressLine {
  status: string;
  digest?: string;
  total?: number;
  completed?: number;
}

function layerDigests(model: DoubleModel): string[] {
  const base = model.digest;
  return [base, rotate(base, 16), rotate(base, 40)];
}

function rotate(hex: string, by: number): string {
  return hex.slice(by) + hex.slice(0, by);
}

const LAYER_SIZES = [0.985, 0.0122, 0.0028];

function layerProgress(verb: 'pulling' | 'pushing', model: DoubleModel): ProgressLine[] {
  const lines: ProgressLine[] = [];
  layerDigests(model).forEach((digest, i) => {
    const total = Math.max(96, Math.round(model.size * LAYER_SIZES[i]!));
    for (const fraction of [0, 0.25, 0.5, 1]) {
      lines.push({
        status: `${verb} ${digest.slice(0, 12)}`,
        digest: `sha256:${digest}`,
        total,
        ...(fraction > 0 ? { completed: Math.round(total * fraction) } : {}),
      });
    }
  });
  return lines;
}

/** `/api/pull` progress lines, ending in `success`. */
export function pullProgress(model: DoubleModel): ProgressLine[] {
  return [
    { status: 'pulling manifest' },
    ...layerProgress('pulling', model),
    { status: 'verifying sha256 digest' },
    { status: 'writing manifest' },
    { status: 'removing any unused layers' },
    { status: 'success' },
  ];
}

/** `/api/push` progress lines, ending in `success`. */
export function pushProgress(model: DoubleModel): ProgressLine[] {
  return [
    { status: 'retrieving manifest' },
    ...layerProgress('pushing', model),
    { status: 'pushing manifest' },
    { status: 'success' },
  ];
}

/** `/api/create` progress lines, ending in `success`. */
export function createProgress(base: DoubleModel, created: DoubleModel): ProgressLine[] {
  return [
    { status: 'reading model metadata' },
    ...layerDigests(base).map((digest) => ({ status: `using existing layer sha256:${digest}` })),
    { status: `creating new layer sha256:${created.digest}` },
    { status: 'writing manifest' },
    { status: 'success' },
  ];
}
