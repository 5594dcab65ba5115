/*
 * `POST /v1/chat/completions` (OpenAI Chat Completions, as Ollama implements it): request parameters, the
 * `chat.completion` response (or the chunks of a stream folded into one), and the conversation for content
 * capture. Ollama sends `reasoning` next to `content` for thinking models.
 */
import type { InputMessage, MessageContent, MessagePart, OutputMessage } from '@ollama-otel/instrumentation';
import {
  ATTR_OLLAMA_REQUEST_THINK,
  type ContentSource,
  isObject,
  type Loose,
  pushText,
  type ResponseSummary,
  tokenCount,
  toolDefinitions,
} from '@ollama-otel/instrumentation/internal';
import type { Attributes } from '@opentelemetry/api';
import {
  imageFromUrl,
  requestModel,
  samplingAttributes,
  setJsonOutput,
  toolCallPart,
  toolResponsePart,
} from './common.js';
import type { WireFormat } from './format.js';
import { type ChoiceOutput, ChoicesStreamReader } from './openai-stream.js';

function requestAttributes(request: unknown): Attributes {
  const attributes = samplingAttributes(request, ['max_tokens', 'max_completion_tokens']);
  if (!isObject(request)) return attributes;
  if (isObject(request.response_format)) setJsonOutput(attributes, request.response_format.type);
  const effort = isObject(request.reasoning) ? request.reasoning.effort : request.reasoning_effort;
  if (typeof effort === 'string' && effort !== '') attributes[ATTR_OLLAMA_REQUEST_THINK] = effort;
  return attributes;
}

/** A `chat.completion` (or a folded stream): id, model, finish reasons and usage. */
export function summarizeChatCompletion(response: unknown): ResponseSummary {
  const summary: ResponseSummary = {};
  if (!isObject(response)) return summary;
  if (typeof response.id === 'string' && response.id !== '') summary.id = response.id;
  if (typeof response.model === 'string' && response.model !== '') summary.model = response.model;
  const reasons = finishReasons(response.choices);
  if (reasons !== undefined) summary.finishReasons = reasons;
  if (isObject(response.usage)) {
    const input = tokenCount(response.usage.prompt_tokens);
    const output = tokenCount(response.usage.completion_tokens);
    if (input !== undefined) summary.inputTokens = input;
    if (output !== undefined) summary.outputTokens = output;
  }
  return summary;
}

export function finishReasons(choices: unknown): string[] | undefined {
  if (!Array.isArray(choices)) return undefined;
  const reasons: string[] = [];
  for (const choice of choices) {
    if (isObject(choice) && typeof choice.finish_reason === 'string') reasons.push(choice.finish_reason);
  }
  return reasons.length > 0 ? reasons : undefined;
}

class ChatContent implements ContentSource {
  constructor(private readonly request: unknown) {}

  chunk(): void {}

  collect(response: unknown, summary: ResponseSummary | undefined, failed: boolean): MessageContent {
    const content: MessageContent = {};
    const request = isObject(this.request) ? this.request : {};
    if (Array.isArray(request.messages)) content.inputMessages = request.messages.filter(isObject).map(inputMessage);
    const tools = toolDefinitions(request.tools);
    if (tools !== undefined) content.toolDefinitions = tools;
    const choice = isObject(response) && Array.isArray(response.choices) ? response.choices[0] : undefined;
    const message = isObject(choice) && isObject(choice.message) ? choice.message : undefined;
    if (message !== undefined || failed) {
      const output = outputMessage(message ?? {}, summary?.finishReasons?.[0], failed);
      if (!failed || output.parts.length > 0) content.outputMessages = [output];
    }
    return content;
  }
}

function inputMessage(message: Loose): InputMessage {
  const role = typeof message.role === 'string' && message.role !== '' ? message.role : 'user';
  if (role === 'tool') return { role, parts: [toolResponsePart(message.tool_call_id, message.content)] };
  const parts: MessagePart[] = [];
  pushText(parts, 'reasoning', message.reasoning);
  pushContent(parts, message.content);
  pushToolCalls(parts, message.tool_calls);
  return { role, parts };
}

/** `content` as a string, or as parts (`text`, `image_url`). */
export function pushContent(parts: MessagePart[], content: unknown): void {
  if (!Array.isArray(content)) {
    pushText(parts, 'text', content);
    return;
  }
  for (const part of content) {
    if (!isObject(part)) continue;
    if (part.type === 'text') pushText(parts, 'text', part.text);
    else if (part.type === 'image_url') {
      parts.push(imageFromUrl(isObject(part.image_url) ? part.image_url.url : part.image_url));
    }
  }
}

function pushToolCalls(parts: MessagePart[], calls: unknown): void {
  if (!Array.isArray(calls)) return;
  for (const call of calls) {
    if (!isObject(call)) continue;
    const fn = isObject(call.function) ? call.function : {};
    parts.push(toolCallPart(call.id, fn.name, fn.arguments));
  }
}

function outputMessage(message: Loose, finishReason: string | undefined, failed: boolean): OutputMessage {
  const parts: MessagePart[] = [];
  pushText(parts, 'reasoning', message.reasoning);
  pushText(parts, 'text', message.content);
  pushToolCalls(parts, message.tool_calls);
  return { role: 'assistant', parts, finish_reason: failed ? 'error' : (finishReason ?? 'stop') };
}

/** The assistant message of a chat stream, from its deltas (content capture only). */
class ChatOutput implements ChoiceOutput {
  private readonly message = { role: 'assistant', content: '', reasoning: '', tool_calls: [] as Loose[] };

  add(choice: Loose): void {
    const delta = isObject(choice.delta) ? choice.delta : {};
    const message = this.message;
    if (typeof delta.content === 'string') message.content += delta.content;
    if (typeof delta.reasoning === 'string') message.reasoning += delta.reasoning;
    if (Array.isArray(delta.tool_calls)) {
      for (const call of delta.tool_calls) if (isObject(call)) message.tool_calls.push(call);
    }
  }

  choice(finishReason: string | null): Loose {
    return { index: 0, message: this.message, finish_reason: finishReason };
  }
}

export const OPENAI_CHAT_FORMAT: WireFormat = {
  requestModel,
  requestAttributes,
  generationPhases: false,
  isFinal: () => false,
  summarize: summarizeChatCompletion,
  content: (request) => new ChatContent(request),
  streamReader: (content) => new ChoicesStreamReader(content ? new ChatOutput() : undefined),
};
