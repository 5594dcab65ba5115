/*
 * Pure conversions from ollama-js requests and responses to the GenAI semantic-convention message shapes
 * (v1.41 `gen-ai-input-messages.json` / `gen-ai-output-messages.json`). Images become a described `blob` part
 * without bytes; generate's `context` tokens, embeddings and headers are never read here.
 */
import type { OllamaResponse } from './internal-types.js';
import type { ImagePart, InputMessage, MessageContent, MessagePart, OutputMessage, ToolDefinition } from './types.js';

const ROLE_ASSISTANT = 'assistant';
const ROLE_USER = 'user';
const ROLE_TOOL = 'tool';
const FINISH_REASON_STOP = 'stop';
const FINISH_REASON_ERROR = 'error';

type Loose = Record<string, unknown>;

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

  add(chunk: OllamaResponse): void {
    const message = chunk.message;
    if (typeof message === 'object' && message !== null) {
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

/** What a chat or generate request sends, as semconv content. `request` is the caller's request object. */
export function requestContent(method: string, request: unknown): MessageContent {
  if (!isObject(request)) return {};
  if (method === 'chat') {
    const content: MessageContent = {};
    if (Array.isArray(request.messages)) content.inputMessages = request.messages.filter(isObject).map(inputMessage);
    const tools = toolDefinitions(request.tools);
    if (tools !== undefined) content.toolDefinitions = tools;
    return content;
  }
  const content: MessageContent = {};
  const parts: MessagePart[] = [];
  pushText(parts, 'text', request.prompt);
  pushImages(parts, request.images);
  if (parts.length > 0) content.inputMessages = [{ role: ROLE_USER, parts }];
  if (typeof request.system === 'string' && request.system !== '') {
    content.systemInstructions = [{ type: 'text', content: request.system }];
  }
  return content;
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
export function responseTurn(response: OllamaResponse): AssistantTurn {
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
    if (typeof fn.description === 'string') definition.description = fn.description;
    if (fn.parameters !== undefined) definition.parameters = fn.parameters;
    definitions.push(definition);
  }
  return definitions.length > 0 ? definitions : undefined;
}

function toolResponsePart(message: Loose): MessagePart {
  const part: MessagePart = { type: 'tool_call_response', response: message.content ?? '' };
  if (typeof message.tool_call_id === 'string' && message.tool_call_id !== '') part.id = message.tool_call_id;
  if (typeof message.tool_name === 'string' && message.tool_name !== '') part.name = message.tool_name;
  return part;
}

function pushText(parts: MessagePart[], type: 'text' | 'reasoning', value: unknown): void {
  if (typeof value === 'string' && value !== '') parts.push({ type, content: value });
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

/** Modality, size and MIME type of an image; its bytes are never kept. */
export function imagePart(image: unknown): ImagePart {
  const part: ImagePart = { type: 'blob', modality: 'image' };
  if (image instanceof Uint8Array) {
    const mimeType = sniffBytes(image);
    if (mimeType !== undefined) part.mime_type = mimeType;
    part.size = image.byteLength;
  } else if (typeof image === 'string') {
    describeBase64(part, image);
  }
  return part;
}

const DATA_URL = /^data:([\w.+-]+\/[\w.+-]+)?(;[^,]*)?;base64,/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** Long strings are surely base64 image data (file paths are short); only their head is checked. */
const BASE64_CHECKED_PREFIX = 1024;

function describeBase64(part: ImagePart, image: string): void {
  let data = image;
  const dataUrl = DATA_URL.exec(image);
  if (dataUrl !== null) {
    if (dataUrl[1] !== undefined) part.mime_type = dataUrl[1];
    data = image.slice(dataUrl[0].length);
  }
  if (data.length === 0 || data.length % 4 !== 0) return;
  if (!BASE64.test(data.length > BASE64_CHECKED_PREFIX ? data.slice(0, BASE64_CHECKED_PREFIX) : data)) return;
  const padding = data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0;
  part.size = (data.length / 4) * 3 - padding;
  if (part.mime_type === undefined) {
    const mimeType = sniffBase64(data);
    if (mimeType !== undefined) part.mime_type = mimeType;
  }
}

function sniffBytes(bytes: Uint8Array): string | undefined {
  const at = (i: number) => bytes[i];
  if (at(0) === 0xff && at(1) === 0xd8 && at(2) === 0xff) return 'image/jpeg';
  if (at(0) === 0x89 && at(1) === 0x50 && at(2) === 0x4e && at(3) === 0x47) return 'image/png';
  if (at(0) === 0x47 && at(1) === 0x49 && at(2) === 0x46) return 'image/gif';
  if (at(0) === 0x52 && at(1) === 0x49 && at(2) === 0x46 && at(3) === 0x46 && at(8) === 0x57 && at(9) === 0x45) {
    return 'image/webp';
  }
  return undefined;
}

function sniffBase64(data: string): string | undefined {
  if (data.startsWith('/9j/')) return 'image/jpeg';
  if (data.startsWith('iVBORw0KGgo')) return 'image/png';
  if (data.startsWith('R0lGOD')) return 'image/gif';
  if (data.startsWith('UklGR') && data.slice(12, 16) === 'RUJQ') return 'image/webp';
  return undefined;
}

function isObject(value: unknown): value is Loose {
  return typeof value === 'object' && value !== null;
}
