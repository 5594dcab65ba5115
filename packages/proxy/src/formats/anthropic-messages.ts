/*
 * `POST /v1/messages` (Anthropic Messages API, as Ollama implements it): `max_tokens`, `system`, content blocks
 * (`text`, `image`, `tool_use`, `tool_result`, `thinking`), `stop_reason` and `usage`. A stream is folded from
 * `message_start` (id, model, input tokens), the `content_block_*` events and `message_delta` (stop reason,
 * usage) into the shape of a whole message.
 */
import type {
  InputMessage,
  MessageContent,
  MessagePart,
  OutputMessage,
  ToolDefinition,
} from '@ollama-otel/instrumentation';
import {
  type ContentSource,
  imagePart,
  isObject,
  type Loose,
  pushText,
  type ResponseSummary,
  scrub,
  tokenCount,
} from '@ollama-otel/instrumentation/internal';
import type { SseEvent } from '../sse.js';
import { errorBodyMessage, requestModel, samplingAttributes, toolCallPart, toolResponsePart } from './common.js';
import type { StreamEventKind, StreamReader, WireFormat } from './format.js';
import { parseObject } from './openai-stream.js';

function summarize(response: unknown): ResponseSummary {
  const summary: ResponseSummary = {};
  if (!isObject(response)) return summary;
  if (typeof response.id === 'string' && response.id !== '') summary.id = response.id;
  if (typeof response.model === 'string' && response.model !== '') summary.model = response.model;
  if (typeof response.stop_reason === 'string' && response.stop_reason !== '') {
    summary.finishReasons = [response.stop_reason];
  }
  if (isObject(response.usage)) {
    const input = tokenCount(response.usage.input_tokens);
    const output = tokenCount(response.usage.output_tokens);
    if (input !== undefined) summary.inputTokens = input;
    if (output !== undefined) summary.outputTokens = output;
  }
  return summary;
}

class MessagesContent implements ContentSource {
  constructor(private readonly request: unknown) {}

  chunk(): void {}

  collect(response: unknown, summary: ResponseSummary | undefined, failed: boolean): MessageContent {
    const content: MessageContent = {};
    const request = isObject(this.request) ? this.request : {};
    const system = blockParts(request.system);
    if (system.length > 0) content.systemInstructions = system;
    if (Array.isArray(request.messages))
      content.inputMessages = request.messages.filter(isObject).flatMap(inputMessages);
    const tools = toolDefinitions(request.tools);
    if (tools !== undefined) content.toolDefinitions = tools;
    if (isObject(response) || failed) {
      const parts = blockParts(isObject(response) ? response.content : undefined);
      const reason = failed ? 'error' : (summary?.finishReasons?.[0] ?? 'end_turn');
      const output: OutputMessage = { role: 'assistant', parts, finish_reason: reason };
      if (!failed || parts.length > 0) content.outputMessages = [output];
    }
    return content;
  }
}

/** A user message's `tool_result` blocks become `tool` messages of their own, as in the other formats. */
function inputMessages(message: Loose): InputMessage[] {
  const role = typeof message.role === 'string' && message.role !== '' ? message.role : 'user';
  const blocks = Array.isArray(message.content) ? message.content : undefined;
  const results = blocks?.filter((block) => isObject(block) && block.type === 'tool_result') ?? [];
  const messages: InputMessage[] = results.map((block) => ({
    role: 'tool',
    parts: [toolResponsePart(block.tool_use_id, toolResultContent(block.content))],
  }));
  const parts = blockParts(message.content);
  if (parts.length > 0 || messages.length === 0) messages.push({ role, parts });
  return messages;
}

function toolResultContent(content: unknown): unknown {
  if (!Array.isArray(content)) return content ?? '';
  return content
    .filter((block) => isObject(block) && block.type === 'text' && typeof block.text === 'string')
    .map((block) => block.text)
    .join('');
}

/** `content` as a string or as blocks; `tool_result` blocks are left to {@link inputMessages}. */
function blockParts(content: unknown): MessagePart[] {
  const parts: MessagePart[] = [];
  if (!Array.isArray(content)) {
    pushText(parts, 'text', content);
    return parts;
  }
  for (const block of content) {
    if (!isObject(block)) continue;
    if (block.type === 'text') pushText(parts, 'text', block.text);
    else if (block.type === 'thinking') pushText(parts, 'reasoning', block.thinking);
    else if (block.type === 'tool_use' || block.type === 'server_tool_use') {
      parts.push(toolCallPart(block.id, block.name, block.input));
    } else if (block.type === 'image') parts.push(imageBlock(block.source));
  }
  return parts;
}

function imageBlock(source: unknown): MessagePart {
  const part = imagePart(isObject(source) && source.type === 'base64' ? source.data : undefined);
  if (isObject(source) && typeof source.media_type === 'string' && part.type === 'blob')
    part.mime_type = source.media_type;
  return part;
}

function toolDefinitions(tools: unknown): ToolDefinition[] | undefined {
  if (!Array.isArray(tools)) return undefined;
  const definitions: ToolDefinition[] = [];
  for (const tool of tools) {
    if (!isObject(tool)) continue;
    const definition: ToolDefinition = {
      type: typeof tool.type === 'string' && tool.type !== 'custom' ? tool.type : 'function',
      name: typeof tool.name === 'string' ? tool.name : '',
    };
    if (typeof tool.description === 'string') definition.description = scrub(tool.description);
    if (tool.input_schema !== undefined) definition.parameters = tool.input_schema;
    definitions.push(definition);
  }
  return definitions.length > 0 ? definitions : undefined;
}

/** Events that need parsing even without content capture. */
const SUMMARY_EVENTS = new Set(['message_start', 'message_delta']);

class MessagesStreamReader implements StreamReader {
  errorMessage: string | undefined;
  private readonly message: Loose = { type: 'message', role: 'assistant', content: [] };
  private readonly blocks: Loose[] = [];

  constructor(private readonly content: boolean) {}

  event({ name, data }: SseEvent): StreamEventKind {
    if (name === 'message_stop') return 'final';
    if (name === 'content_block_delta') {
      if (this.content) this.delta(parseObject(data));
      return 'output';
    }
    if (name === 'error') {
      this.errorMessage = errorBodyMessage(parseObject(data)) ?? 'error event in the stream';
      return 'error';
    }
    if (name === 'content_block_start' && this.content) {
      const event = parseObject(data);
      if (isObject(event?.content_block)) this.blocks[Number(event.index) || 0] = { ...event.content_block };
    } else if (name !== undefined && SUMMARY_EVENTS.has(name)) {
      this.summary(name, parseObject(data));
    }
    return 'other';
  }

  result(): unknown {
    return { ...this.message, content: this.blocks.filter(isObject) };
  }

  private summary(name: string, event: Loose | undefined): void {
    if (event === undefined) return;
    if (name === 'message_start' && isObject(event.message)) {
      const { id, model, usage } = event.message;
      Object.assign(this.message, { id, model, usage });
      return;
    }
    if (isObject(event.delta) && typeof event.delta.stop_reason === 'string') {
      this.message.stop_reason = event.delta.stop_reason;
    }
    if (isObject(event.usage))
      this.message.usage = { ...(isObject(this.message.usage) ? this.message.usage : {}), ...event.usage };
  }

  private delta(event: Loose | undefined): void {
    if (event === undefined || !isObject(event.delta)) return;
    const block = this.blocks[Number(event.index) || 0];
    if (block === undefined) return;
    const { delta } = event;
    if (delta.type === 'text_delta' && typeof delta.text === 'string') block.text = `${block.text ?? ''}${delta.text}`;
    else if (delta.type === 'thinking_delta' && typeof delta.thinking === 'string') {
      block.thinking = `${block.thinking ?? ''}${delta.thinking}`;
    } else if (delta.type === 'input_json_delta' && typeof delta.partial_json === 'string') {
      block.partial_json = `${block.partial_json ?? ''}${delta.partial_json}`;
      try {
        block.input = JSON.parse(block.partial_json as string);
      } catch {
        // incomplete so far
      }
    }
  }
}

export const ANTHROPIC_MESSAGES_FORMAT: WireFormat = {
  requestModel,
  requestAttributes: (request) => samplingAttributes(request, ['max_tokens']),
  generationPhases: false,
  isFinal: () => false,
  summarize,
  content: (request) => new MessagesContent(request),
  streamReader: (content) => new MessagesStreamReader(content),
};
