/*
 * Ollama's native chat and generate bodies as GenAI semantic-convention messages (v1.41
 * `gen-ai-input-messages.json` / `gen-ai-output-messages.json`). Images become a described `blob` part without
 * bytes; generate's `context` tokens, embeddings and headers are never read here.
 */
import { imagePart, isObject, type Loose, pushText } from '../core/content-parts.js';
import type { ContentSource, ResponseSummary } from '../core/format.js';
import { scrubValue } from '../core/scrub.js';
import type { InputMessage, MessageContent, MessagePart, OutputMessage, ToolDefinition } from '../types.js';

const ROLE_ASSISTANT = 'assistant';
const ROLE_USER = 'user';
const ROLE_TOOL = 'tool';
const FINISH_REASON_STOP = 'stop';
const FINISH_REASON_ERROR = 'error';

/** The fields of an assistant turn, from a chat message, a generate response, or a stream's accumulation. */
export interface AssistantTurn {
  content?: unknown;
  thinking?: unknown;
  tool_calls?: unknown;
}

/** Concatenates what a streamed chat/generate response carried across its chunks (tool calls may come early). */
export class StreamedOutput implements AssistantTurn {
  content = '';
  thinking = '';
  tool_calls: unknown[] | undefined;

  add(chunk: Loose): void {
    const message = chunk.message;
    if (isObject(message)) {
      if (typeof message.content === 'string') this.content += message.content;
      if (typeof message.thinking === 'string') this.thinking += message.thinking;
      if (Array.isArray(message.tool_calls)) {
        if (this.tool_calls === undefined) this.tool_calls = [];
        for (const call of message.tool_calls) this.tool_calls.push(call);
      }
      return;
    }
    if (typeof chunk.response === 'string') this.content += chunk.response;
    if (typeof chunk.thinking === 'string') this.thinking += chunk.thinking;
  }
}

/** The content of one native chat (`method` = `chat`) or generate call. */
export class OllamaContentSource implements ContentSource {
  private streamed: StreamedOutput | undefined;

  constructor(
    private readonly method: 'chat' | 'generate',
    private readonly request: unknown,
  ) {}

  chunk(chunk: unknown): void {
    if (!isObject(chunk)) return;
    if (this.streamed === undefined) this.streamed = new StreamedOutput();
    this.streamed.add(chunk);
  }

  collect(
    response: unknown,
    summary: ResponseSummary | undefined,
    failed: boolean,
    maxLength?: number,
  ): MessageContent {
    const content = requestContent(this.method, this.request, maxLength);
    const turn = this.streamed ?? (isObject(response) ? responseTurn(response) : undefined);
    if (turn !== undefined) {
      const message = outputMessage(turn, summary?.finishReasons?.[0], failed);
      if (!failed || message.parts.length > 0) content.outputMessages = [message];
    }
    return content;
  }
}

/** The shortest JSON a message can take (`{"role":"a","parts":[]}` and its comma): bounds how many can fit. */
const MIN_MESSAGE_JSON_LENGTH = 24;

/**
 * What a chat or generate request sends, as semconv content. `request` is the caller's request object. With
 * `maxLength`, chat messages too old to fit are counted rather than converted.
 */
export function requestContent(method: string, request: unknown, maxLength?: number): MessageContent {
  if (!isObject(request)) return {};
  if (method === 'chat') {
    const content: MessageContent = {};
    if (Array.isArray(request.messages)) content.inputMessages = inputMessages(request.messages, maxLength);
    const tools = toolDefinitions(request.tools);
    if (tools !== undefined) content.toolDefinitions = tools;
    return content;
  }
  const content: MessageContent = {};
  const parts: MessagePart[] = [];
  pushText(parts, 'text', request.prompt);
  pushImages(parts, request.images);
  if (parts.length > 0) content.inputMessages = [{ role: ROLE_USER, parts }];
  const system: MessagePart[] = [];
  pushText(system, 'text', request.system);
  if (system.length > 0) content.systemInstructions = system;
  return content;
}

function inputMessages(messages: unknown[], maxLength: number | undefined): InputMessage[] {
  const fitting = maxLength === undefined ? messages.length : Math.floor(maxLength / MIN_MESSAGE_JSON_LENGTH) + 1;
  const converted: InputMessage[] = [];
  let skipped = 0;
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i];
    if (!isObject(message)) continue;
    if (converted.length < fitting) converted.push(inputMessage(message));
    else skipped++;
  }
  converted.reverse();
  if (skipped > 0 && converted[0] !== undefined) converted[0].truncated_messages = skipped;
  return converted;
}

/** One chat history message. System messages stay in the history: they were not passed apart from it. */
export function inputMessage(message: Loose): InputMessage {
  const role = typeof message.role === 'string' && message.role !== '' ? message.role : ROLE_USER;
  if (role === ROLE_TOOL) return { role, parts: [toolResponsePart(message)] };
  const parts: MessagePart[] = [];
  pushText(parts, 'reasoning', message.thinking);
  pushText(parts, 'text', message.content);
  pushImages(parts, message.images);
  pushToolCalls(parts, message.tool_calls);
  return { role, parts };
}

/** The assistant's turn; `finishReason` is Ollama's `done_reason`, or `error` for a call that did not finish. */
export function outputMessage(turn: AssistantTurn, finishReason: string | undefined, failed: boolean): OutputMessage {
  const parts: MessagePart[] = [];
  pushText(parts, 'reasoning', turn.thinking);
  pushText(parts, 'text', turn.content);
  pushToolCalls(parts, turn.tool_calls);
  const reason = failed ? FINISH_REASON_ERROR : (finishReason ?? FINISH_REASON_STOP);
  return { role: ROLE_ASSISTANT, parts, finish_reason: reason };
}

/** A chat response's message, or a generate response's `response`/`thinking`. */
export function responseTurn(response: Loose): AssistantTurn {
  if (isObject(response.message)) return response.message;
  return { content: response.response, thinking: response.thinking };
}

/** Ollama's `{type, function: {name, description, parameters}}` tools, flattened as semconv tool definitions. */
export function toolDefinitions(tools: unknown): ToolDefinition[] | undefined {
  if (!Array.isArray(tools)) return undefined;
  const definitions: ToolDefinition[] = [];
  for (const tool of tools) {
    if (!isObject(tool)) continue;
    const fn = isObject(tool.function) ? tool.function : {};
    const definition: ToolDefinition = {
      type: typeof tool.type === 'string' ? tool.type : 'function',
      name: typeof fn.name === 'string' ? fn.name : '',
    };
    if (typeof fn.description === 'string') definition.description = scrubValue(fn.description);
    if (fn.parameters !== undefined) definition.parameters = fn.parameters;
    definitions.push(definition);
  }
  return definitions.length > 0 ? definitions : undefined;
}

function toolResponsePart(message: Loose): MessagePart {
  const part: MessagePart = { type: 'tool_call_response', response: scrubValue(message.content ?? '') };
  if (typeof message.tool_call_id === 'string' && message.tool_call_id !== '') part.id = message.tool_call_id;
  if (typeof message.tool_name === 'string' && message.tool_name !== '') part.name = message.tool_name;
  return part;
}

function pushToolCalls(parts: MessagePart[], calls: unknown): void {
  if (!Array.isArray(calls)) return;
  for (const call of calls) {
    if (!isObject(call)) continue;
    const fn = isObject(call.function) ? call.function : {};
    const part: MessagePart = { type: 'tool_call', name: typeof fn.name === 'string' ? fn.name : '' };
    if (typeof call.id === 'string' && call.id !== '') part.id = call.id;
    if (fn.arguments !== undefined) part.arguments = fn.arguments;
    parts.push(part);
  }
}

function pushImages(parts: MessagePart[], images: unknown): void {
  if (!Array.isArray(images)) return;
  for (const image of images) parts.push(imagePart(image));
}
