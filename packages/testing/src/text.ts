/** Deterministic "model output": canned answers, a toy tokenizer, token counts and embedding vectors. */

const CANNED_ANSWERS: readonly string[] = [
  'The sky is blue because molecules in the air scatter blue light from the sun more than they scatter red light.',
  'Hello! I am a helpful assistant running locally. How can I help you today?',
  'Large language models predict the next token from the previous ones, one step at a time, until they reach a stop.',
  'Llamas are domesticated South American camelids, widely used as meat and pack animals by Andean cultures.',
  'OpenTelemetry gives you traces, metrics and logs with one vocabulary, so every backend understands your service.',
  'Tokyo is the capital of Japan, and its greater area is the most populous metropolitan region in the world.',
];

const TOOL_RESULT_ANSWER =
  'Based on the tool result, here is the answer you asked for: it is 11 degrees celsius and sunny.';

const THINKING_TEXT =
  'Okay, the user is asking a question. Let me think about what they need and answer it clearly and concisely.';

/** FNV-1a, 32 bit: a stable hash for choosing answers and seeding vectors. */
export function hashText(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** A toy tokenizer: words (with their leading space) and single punctuation marks are tokens. */
export function tokenize(text: string): string[] {
  return text.match(/\s*[\p{L}\p{N}_'’]+|\s*[^\s\p{L}\p{N}_'’]|\s+$/gu) ?? [];
}

export function countTokens(text: string): number {
  return tokenize(text).length;
}

export function cannedAnswer(prompt: string): string {
  return CANNED_ANSWERS[hashText(prompt) % CANNED_ANSWERS.length]!;
}

export function toolResultAnswer(): string {
  return TOOL_RESULT_ANSWER;
}

export function thinkingText(): string {
  return THINKING_TEXT;
}

/** Splits tokens into `count` contiguous, nearly equal pieces (fewer when there are fewer tokens). */
export function splitIntoChunks(tokens: readonly string[], count: number): string[] {
  const pieces = Math.max(1, Math.min(Math.floor(count), tokens.length));
  if (tokens.length === 0) return [];
  const chunks: string[] = [];
  for (let i = 0; i < pieces; i++) {
    const start = Math.floor((i * tokens.length) / pieces);
    const end = Math.floor(((i + 1) * tokens.length) / pieces);
    chunks.push(tokens.slice(start, end).join(''));
  }
  return chunks;
}

/** Deterministic token ids standing in for generate's `context`. */
export function contextTokens(text: string, count: number): number[] {
  let state = hashText(text) || 1;
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    state = xorshift32(state);
    ids.push(state % 128000);
  }
  return ids;
}

function xorshift32(state: number): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return state >>> 0;
}

/** A unit-length vector derived from the text, rounded to float32 as the server's `[]float32` is. */
export function embeddingVector(text: string, dimensions: number): number[] {
  let state = hashText(text) || 1;
  const raw: number[] = [];
  for (let i = 0; i < dimensions; i++) {
    state = xorshift32(state);
    raw.push(state / 0xffffffff - 0.5);
  }
  const norm = Math.sqrt(raw.reduce((sum, value) => sum + value * value, 0)) || 1;
  return raw.map((value) => shortestFloat32(value / norm));
}

/** The shortest decimal that round-trips through float32, as Go prints a float32. */
function shortestFloat32(value: number): number {
  const single = Math.fround(value);
  for (let precision = 1; precision < 9; precision++) {
    const candidate = Number(single.toPrecision(precision));
    if (Math.fround(candidate) === single) return candidate;
  }
  return Number(single.toPrecision(9));
}

/** Lower-case [a-z0-9] string of the given length, random like the server's tool call ids. */
export function randomAlphanumeric(length: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[Math.floor(Math.random() * alphabet.length)];
  return out;
}
