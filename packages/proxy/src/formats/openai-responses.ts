/*
 * `POST /v1/responses` (OpenAI Responses API, stateless, as Ollama implements it). A stream's
 * `response.completed` event carries the whole response, so a stream is summarised from that one event; the
 * `*.delta` events are the output chunks.
 */
import type {
  InputMessage,
  MessageContent,
  MessagePart,
  OutputMessage,
  ToolDefinition,
} from '@ollama-otel/instrumentation';
import {
  ATTR_OLLAMA_REQUEST_THINK,
  type ContentSource,
  isObject,
  type Loose,
  pushText,
  type ResponseSummary,
  scrub,
  tokenCount,
} from '@ollama-otel/instrumentation/internal';
import type { Attributes } from '@opentelemetry/api';
import type { SseEvent } from '../sse.js';
import {
  errorBodyMessage,
  imageFromUrl,
  requestModel,
  samplingAttributes,
  setJsonOutput,
  toolCallPart,
  toolResponsePart,
} from './common.js';
import type { StreamEventKind, StreamReader, WireFormat } from './format.js';
import { parseObject } from './openai-stream.js';

function requestAttributes(request: unknown): Attributes {
  const attributes = samplingAttributes(request, ['max_output_tokens']);
  if (!isObject(request)) return attributes;
  const format = isObject(request.text) && isObject(request.text.format) ? request.text.format : undefined;
  if (format !== undefined) setJsonOutput(attributes, format.type);
  const effort = isObject(request.reasoning) ? request.reasoning.effort : undefined;
  if (typeof effort === 'string' && effort !== '') attributes[ATTR_OLLAMA_REQUEST_THINK] = effort;
  return attributes;
}

/**
 * The Responses API has no finish reason: `completed` is reported as `stop` (`tool_calls` when the output calls
 * a function), `incomplete` as its reason (`max_output_tokens`...), as the Chat Completions API would.
 */
function summarize(response: unknown): ResponseSummary {
  const summary: ResponseSummary = {};
  if (!isObject(response)) return summary;
  if (typeof response.id === 'string' && response.id !== '') summary.id = response.id;
  if (typeof response.model === 'string' && response.model !== '') summary.model = response.model;
  const reason = finishReason(response);
  if (reason !== undefined) summary.finishReasons = [reason];
  if (isObject(response.usage)) {
    const input = tokenCount(response.usage.input_tokens);
    const output = tokenCount(response.usage.output_tokens);
    if (input !== undefined) summary.inputTokens = input;
    if (output !== undefined) summary.outputTokens = output;
  }
  return summary;
}

function finishReason(response: Loose): string | undefined {
  if (response.status === 'completed') {
    const output = Array.isArray(response.output) ? response.output : [];
    return output.some((item) => isObject(item) && item.type === 'function_call') ? 'tool_calls' : 'stop';
  }
  if (response.status === 'incomplete') {
    const reason = isObject(response.incomplete_details) ? response.incomplete_details.reason : undefined;
    return typeof reason === 'string' && reason !== '' ? reason : 'incomplete';
  }
  return typeof response.status === 'string' && response.status !== '' ? response.status : undefined;
}

class ResponsesContent implements ContentSource {
  constructor(private readonly request: unknown) {}

  chunk(): void {}

  collect(response: unknown, summary: ResponseSummary | undefined, failed: boolean): MessageContent {
    const content: MessageContent = {};
    const request = isObject(this.request) ? this.request : {};
    const system: MessagePart[] = [];
    pushText(system, 'text', request.instructions);
    if (system.length > 0) content.systemInstructions = system;
    const input = inputMessages(request.input);
    if (input.length > 0) content.inputMessages = input;
    const tools = toolDefinitions(request.tools);
    if (tools !== undefined) content.toolDefinitions = tools;
    if (isObject(response) || failed) {
      const output = outputMessage(isObject(response) ? response.output : undefined, summary, failed);
      if (!failed || output.parts.length > 0) content.outputMessages = [output];
    }
    return content;
  }
}

function inputMessages(input: unknown): InputMessage[] {
  if (typeof input === 'string') {
    const parts: MessagePart[] = [];
    pushText(parts, 'text', input);
    return parts.length > 0 ? [{ role: 'user', parts }] : [];
  }
  if (!Array.isArray(input)) return [];
  const messages: InputMessage[] = [];
  // A reasoning item sent back belongs to the assistant turn that follows it (as Ollama reads it).
  let reasoning: MessagePart[] = [];
  const assistant = (parts: MessagePart[]) => {
    messages.push({ role: 'assistant', parts: [...reasoning, ...parts] });
    reasoning = [];
  };
  for (const item of input) {
    if (!isObject(item)) continue;
    const type = item.type ?? (item.role !== undefined ? 'message' : undefined);
    if (type === 'reasoning') reasoning.push(...reasoningParts(item));
    else if (type === 'message' && item.role === 'assistant') assistant(messageParts(item.content));
    else if (type === 'message')
      messages.push({ role: typeof item.role === 'string' ? item.role : 'user', parts: messageParts(item.content) });
    else if (type === 'function_call') assistant([toolCallPart(item.call_id, item.name, item.arguments)]);
    else if (type === 'function_call_output')
      messages.push({ role: 'tool', parts: [toolResponsePart(item.call_id, item.output)] });
  }
  if (reasoning.length > 0) assistant([]);
  return messages;
}

/** The summary texts only: `encrypted_content` is opaque to OpenAI's clients (Ollama's is the same text again). */
function reasoningParts(item: Loose): MessagePart[] {
  const parts: MessagePart[] = [];
  if (Array.isArray(item.summary))
    for (const part of item.summary) if (isObject(part)) pushText(parts, 'reasoning', part.text);
  return parts;
}

function messageParts(content: unknown): MessagePart[] {
  const parts: MessagePart[] = [];
  if (!Array.isArray(content)) {
    pushText(parts, 'text', content);
    return parts;
  }
  for (const part of content) {
    if (!isObject(part)) continue;
    if (part.type === 'input_text' || part.type === 'output_text') pushText(parts, 'text', part.text);
    else if (part.type === 'input_image') parts.push(imageFromUrl(part.image_url));
  }
  return parts;
}

function outputMessage(output: unknown, summary: ResponseSummary | undefined, failed: boolean): OutputMessage {
  const parts: MessagePart[] = [];
  for (const item of Array.isArray(output) ? output : []) {
    if (!isObject(item)) continue;
    if (item.type === 'reasoning') {
      parts.push(...reasoningParts(item));
    } else if (item.type === 'message') {
      parts.push(...messageParts(item.content));
    } else if (item.type === 'function_call') {
      parts.push(toolCallPart(item.call_id, item.name, item.arguments));
    }
  }
  return { role: 'assistant', parts, finish_reason: failed ? 'error' : (summary?.finishReasons?.[0] ?? 'stop') };
}

/** Responses tools are flat: `{type, name, description, parameters}`. */
function toolDefinitions(tools: unknown): ToolDefinition[] | undefined {
  if (!Array.isArray(tools)) return undefined;
  const definitions: ToolDefinition[] = [];
  for (const tool of tools) {
    if (!isObject(tool)) continue;
    const definition: ToolDefinition = {
      type: typeof tool.type === 'string' ? tool.type : 'function',
      name: typeof tool.name === 'string' ? tool.name : '',
    };
    if (typeof tool.description === 'string') definition.description = scrub(tool.description);
    if (tool.parameters !== undefined && tool.parameters !== null) definition.parameters = tool.parameters;
    definitions.push(definition);
  }
  return definitions.length > 0 ? definitions : undefined;
}

const TERMINAL = new Set(['response.completed', 'response.incomplete', 'response.failed']);

class ResponsesStreamReader implements StreamReader {
  errorMessage: string | undefined;
  private response: unknown;

  event({ name, data }: SseEvent): StreamEventKind {
    if (name === undefined) return 'other';
    if (name.endsWith('.delta')) return 'output';
    if (name === 'error') {
      this.errorMessage = errorBodyMessage({ error: parseObject(data) }) ?? 'error event in the stream';
      return 'error';
    }
    if (!TERMINAL.has(name)) return 'other';
    const event = parseObject(data);
    this.response = event?.response;
    if (name === 'response.failed') {
      const error = isObject(this.response) ? this.response.error : undefined;
      this.errorMessage = errorBodyMessage({ error }) ?? 'response failed';
      return 'error';
    }
    return 'final';
  }

  result(): unknown {
    return this.response;
  }
}

export const OPENAI_RESPONSES_FORMAT: WireFormat = {
  requestModel,
  requestAttributes,
  generationPhases: false,
  isFinal: () => false,
  summarize,
  content: (request) => new ResponsesContent(request),
  streamReader: () => new ResponsesStreamReader(),
};
