/*
 * The stream shape Ollama's `/v1/chat/completions` and `/v1/completions` share: `data: {chunk}` events with
 * `choices`, an optional usage-only chunk (`"choices":[]`, when `stream_options.include_usage`), `data: [DONE]`,
 * and `data: {"error": ...}` when generation fails mid-stream. Folded into the shape of the whole response.
 */
import { isObject, type Loose } from '@ollama-otel/instrumentation/internal';
import type { SseEvent } from '../sse.js';
import { errorBodyMessage } from './common.js';
import { isDone, type StreamEventKind, type StreamReader } from './format.js';

/** Accumulates the output of choice 0 (content capture only). */
export interface ChoiceOutput {
  add(choice: Loose): void;
  choice(finishReason: string | null): Loose;
}

const FINISH_REASON = Buffer.from('"finish_reason":"');
const NO_CHOICES = Buffer.from('"choices":[]');
const ERROR = Buffer.from('{"error"');

/**
 * Without content capture only the first chunk (id, model), the chunk with a finish reason and the usage-only
 * chunk are parsed; the others are only counted.
 */
export class ChoicesStreamReader implements StreamReader {
  errorMessage: string | undefined;
  private started = false;
  private id: unknown;
  private model: unknown;
  private finishReason: string | null = null;
  private usage: unknown;

  constructor(private readonly output: ChoiceOutput | undefined) {}

  event({ data }: SseEvent): StreamEventKind {
    if (isDone(data)) return 'final';
    if (data.indexOf(ERROR) === 0) {
      this.errorMessage = streamError(data);
      return 'error';
    }
    const usageOnly = data.indexOf(NO_CHOICES) >= 0;
    if (this.started && this.output === undefined && !usageOnly && data.indexOf(FINISH_REASON) < 0) return 'output';
    const chunk = parseObject(data);
    if (chunk === undefined) return 'output';
    this.started = true;
    this.id ??= chunk.id;
    this.model ??= chunk.model;
    const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
    if (usageOnly || !isObject(choice)) {
      if (isObject(chunk.usage)) this.usage = chunk.usage;
      return 'other';
    }
    if (typeof choice.finish_reason === 'string') this.finishReason = choice.finish_reason;
    this.output?.add(choice);
    return 'output';
  }

  result(): unknown {
    const choice = this.output?.choice(this.finishReason) ?? { index: 0, finish_reason: this.finishReason };
    return { id: this.id, model: this.model, choices: [choice], usage: this.usage };
  }
}

export function parseObject(data: Buffer): Loose | undefined {
  try {
    const value: unknown = JSON.parse(data.toString('utf8'));
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The message of an error event: OpenAI's `{"error": {"message"}}`, Anthropic's, or Ollama's plain string. */
export function streamError(data: Buffer): string {
  return errorBodyMessage(parseObject(data)) ?? 'error event in the stream';
}
