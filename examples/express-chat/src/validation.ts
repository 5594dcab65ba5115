/** Request-body validation: each function returns the typed input or throws a 400 with a clear message. */
import { HttpError } from './errors.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool']);
const MAX_TEXT = 32_000;
const MAX_MESSAGES = 100;
const MAX_INPUTS = 64;

export function parseAsk(body: unknown): { question: string } {
  const question = objectBody(body).question;
  return { question: text(question, 'question') };
}

export function parseChat(body: unknown): { messages: ChatMessage[]; stream: boolean; model?: string } {
  const { messages, stream, model } = objectBody(body);
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new HttpError(400, '"messages" must be a non-empty array of {role, content}');
  }
  if (messages.length > MAX_MESSAGES) throw new HttpError(400, `"messages" may hold at most ${MAX_MESSAGES} messages`);
  if (stream !== undefined && typeof stream !== 'boolean') throw new HttpError(400, '"stream" must be a boolean');
  if (model !== undefined) text(model, 'model');
  return {
    messages: messages.map(message),
    stream: stream === true,
    ...(model === undefined ? {} : { model: model as string }),
  };
}

export function parseEmbed(body: unknown): { input: string | string[] } {
  const { input } = objectBody(body);
  if (Array.isArray(input)) {
    if (input.length === 0 || input.length > MAX_INPUTS) {
      throw new HttpError(400, `"input" must hold between 1 and ${MAX_INPUTS} strings`);
    }
    return { input: input.map((item, index) => text(item, `input[${index}]`)) };
  }
  return { input: text(input, 'input') };
}

function message(value: unknown, index: number): ChatMessage {
  if (typeof value !== 'object' || value === null) throw new HttpError(400, `messages[${index}] must be an object`);
  const { role, content } = value as { role?: unknown; content?: unknown };
  if (typeof role !== 'string' || !ROLES.has(role)) {
    throw new HttpError(400, `messages[${index}].role must be one of system, user, assistant, tool`);
  }
  return { role: role as ChatMessage['role'], content: text(content, `messages[${index}].content`, true) };
}

function objectBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, 'the request body must be a JSON object (Content-Type: application/json)');
  }
  return body as Record<string, unknown>;
}

function text(value: unknown, field: string, allowEmpty = false): string {
  if (typeof value !== 'string') throw new HttpError(400, `"${field}" must be a string`);
  if (!allowEmpty && value.trim() === '') throw new HttpError(400, `"${field}" must not be empty`);
  if (value.length > MAX_TEXT) throw new HttpError(400, `"${field}" is longer than ${MAX_TEXT} characters`);
  return value;
}
