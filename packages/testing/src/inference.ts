/** `/api/chat` and `/api/generate`: validation, the simulated load → prompt eval → eval timeline, and output. */
import { elapsedNs, keepAliveMs, nowNs, sleep } from './clock.js';
import { DEFAULT_STREAM_ERROR, type Exchange } from './exchange.js';
import { type Fault, isStreamFault } from './faults.js';
import { type DoubleModel, hasCapability } from './models.js';
import type { ModelRegistry } from './registry.js';
import {
  type AssistantMessage,
  assistantMessage,
  chatChunk,
  chatFinal,
  errorBody,
  type FinalFields,
  generateChunk,
  generateFinal,
  type ToolCall,
} from './responses.js';
import {
  cannedAnswer,
  contextTokens,
  countTokens,
  randomAlphanumeric,
  splitIntoChunks,
  thinkingText,
  tokenize,
  toolResultAnswer,
} from './text.js';

/** Timing and shape settings of one request (double options, possibly overridden by a `stream` fault). */
export interface GenerationSettings {
  chunks: number;
  chunkDelayMs: number;
  promptEvalMs: number;
}

export interface InferenceContext {
  exchange: Exchange;
  registry: ModelRegistry;
  settings: GenerationSettings;
  fault: Fault | undefined;
}

type Body = Record<string, any>;

/** A validation failure: the status and message the server answers with. */
class RequestRejected extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** What one generation will produce, decided before any time passes. */
interface GenerationPlan {
  route: 'chat' | 'generate';
  requestedModel: string;
  model: DoubleModel;
  stream: boolean;
  keepAliveMs: number;
  promptEvalCount: number;
  thinkingTokens: string[];
  contentTokens: string[];
  toolCalls: ToolCall[] | undefined;
  truncated: boolean;
  /** Seed for generate's `context`; undefined when there is none (chat, raw mode). */
  contextSeed: string | undefined;
}

/** One streamed piece of output. */
interface Piece {
  content: string;
  thinking?: string;
  toolCalls?: ToolCall[];
}

const THINKING_VALUES = new Set(['high', 'medium', 'low', 'max']);

export async function handleChat(ctx: InferenceContext, body: Body): Promise<void> {
  await handleInference(ctx, body, 'chat');
}

export async function handleGenerate(ctx: InferenceContext, body: Body): Promise<void> {
  await handleInference(ctx, body, 'generate');
}

async function handleInference(ctx: InferenceContext, body: Body, route: 'chat' | 'generate'): Promise<void> {
  let model: DoubleModel;
  try {
    model = validate(ctx.registry, body, route);
  } catch (error) {
    if (!(error instanceof RequestRejected)) throw error;
    ctx.exchange.json(error.status, errorBody(error.message));
    return;
  }
  if (isLoadOnly(body, route)) {
    await answerLoadOrUnload(ctx, body, model, route);
    return;
  }
  await generate(ctx, planGeneration(body, model, route, ctx.settings.chunks));
}

function validate(registry: ModelRegistry, body: Body, route: 'chat' | 'generate'): DoubleModel {
  const name = body.model;
  if (typeof name !== 'string' || name.trim() === '') throw new RequestRejected(400, 'model is required');
  const model = registry.find(name);
  if (!model) throw new RequestRejected(404, `model '${name}' not found`);
  if (!hasCapability(model, 'completion')) {
    throw new RequestRejected(400, `${JSON.stringify(name)} does not support ${route}`);
  }
  const think = body.think;
  if (typeof think === 'string' && !THINKING_VALUES.has(think)) {
    throw new RequestRejected(400, `invalid think value: ${JSON.stringify(think)}`);
  }
  if (wantsThinking(think) && !hasCapability(model, 'thinking')) {
    throw new RequestRejected(400, `${JSON.stringify(name)} does not support thinking`);
  }
  if (route === 'chat' && hasTools(body) && !hasCapability(model, 'tools')) {
    throw new RequestRejected(400, `${JSON.stringify(name)} does not support tools`);
  }
  if (route === 'generate' && typeof body.suffix === 'string' && body.suffix && !hasCapability(model, 'insert')) {
    throw new RequestRejected(400, `${JSON.stringify(name)} does not support insert`);
  }
  return model;
}

function wantsThinking(think: unknown): boolean {
  return think === true || (typeof think === 'string' && THINKING_VALUES.has(think));
}

function hasTools(body: Body): boolean {
  return Array.isArray(body.tools) && body.tools.length > 0;
}

function messagesOf(body: Body): Body[] {
  return Array.isArray(body.messages) ? body.messages.filter((m: unknown) => m && typeof m === 'object') : [];
}

function isLoadOnly(body: Body, route: 'chat' | 'generate'): boolean {
  if (route === 'chat') return messagesOf(body).length === 0;
  const hasImages = Array.isArray(body.images) && body.images.length > 0;
  return (typeof body.prompt !== 'string' || body.prompt === '') && !hasImages;
}

/** Empty prompt/messages: load the model (`done_reason: "load"`), or unload it with `keep_alive: 0`. */
async function answerLoadOrUnload(
  ctx: InferenceContext,
  body: Body,
  model: DoubleModel,
  route: 'chat' | 'generate',
): Promise<void> {
  const keepAlive = keepAliveMs(body.keep_alive);
  let doneReason: 'load' | 'unload';
  if (keepAlive === 0) {
    ctx.registry.unload(model.name);
    doneReason = 'unload';
  } else {
    await ctx.registry.load(model, ctx.exchange.signal);
    ctx.registry.keepLoaded(model.name, keepAlive);
    doneReason = 'load';
  }
  const final: FinalFields = { doneReason, metrics: {} };
  const response =
    route === 'chat' ? chatFinal(body.model, assistantMessage(''), final) : generateFinal(body.model, '', final);
  ctx.exchange.json(200, response);
}

function planGeneration(body: Body, model: DoubleModel, route: 'chat' | 'generate', chunks: number): GenerationPlan {
  const prompt = route === 'chat' ? chatPromptText(body) : String(body.prompt ?? '');
  const toolCalls = route === 'chat' ? plannedToolCalls(body) : undefined;
  const answer = toolCalls ? '' : longEnough(answerText(body, route, prompt), chunks);
  const thinking = wantsThinking(body.think) ? tokenize(thinkingText()) : [];
  const budget = tokenBudget(body.options?.num_predict);
  const content = toolCalls ? [] : tokenize(answer);
  const keptThinking = thinking.slice(0, budget);
  const keptContent = content.slice(0, Math.max(0, budget - keptThinking.length));
  return {
    route,
    requestedModel: body.model,
    model,
    stream: body.stream !== false,
    keepAliveMs: keepAliveMs(body.keep_alive),
    promptEvalCount: route === 'chat' ? chatPromptTokens(body) : generatePromptTokens(body),
    thinkingTokens: keptThinking,
    contentTokens: keptContent,
    toolCalls,
    truncated: keptThinking.length + keptContent.length < thinking.length + content.length,
    contextSeed: route === 'generate' && body.raw !== true ? prompt : undefined,
  };
}

/** A stream asked for more chunks than the answer has tokens: the model "keeps talking" by repeating it. */
function longEnough(answer: string, chunks: number): string {
  const tokens = tokenize(answer).length;
  if (tokens === 0 || tokens >= chunks) return answer;
  return Array.from({ length: Math.ceil(chunks / tokens) }, () => answer).join(' ');
}

function tokenBudget(numPredict: unknown): number {
  return typeof numPredict === 'number' && numPredict > 0 ? Math.floor(numPredict) : Number.POSITIVE_INFINITY;
}

function lastMessage(body: Body): Body | undefined {
  const messages = messagesOf(body);
  return messages[messages.length - 1];
}

function chatPromptText(body: Body): string {
  const lastUser = [...messagesOf(body)].reverse().find((m) => m.role === 'user');
  return typeof lastUser?.content === 'string' ? lastUser.content : '';
}

function answerText(body: Body, route: 'chat' | 'generate', prompt: string): string {
  const text = route === 'chat' && lastMessage(body)?.role === 'tool' ? toolResultAnswer() : cannedAnswer(prompt);
  if (body.format === undefined || body.format === null || body.format === '') return text;
  return JSON.stringify(sampleForSchema(body.format, text));
}

/** Prompt tokens of a chat: each message's content plus per-message and template overhead, plus tools. */
function chatPromptTokens(body: Body): number {
  let count = 5;
  for (const message of messagesOf(body)) {
    count += 4 + countTokens(typeof message.content === 'string' ? message.content : '');
  }
  if (hasTools(body)) count += Math.ceil(JSON.stringify(body.tools).length / 4);
  return count;
}

function generatePromptTokens(body: Body): number {
  const system = typeof body.system === 'string' ? body.system : '';
  return countTokens(String(body.prompt ?? '')) + countTokens(system) + (body.raw === true ? 0 : 10);
}

/** The model "calls" the first tool, unless the conversation just got a tool result. */
function plannedToolCalls(body: Body): ToolCall[] | undefined {
  if (!hasTools(body) || lastMessage(body)?.role === 'tool') return undefined;
  const tool = body.tools[0]?.function ?? {};
  return [
    {
      id: `call_${randomAlphanumeric(8)}`,
      function: {
        index: 0,
        name: typeof tool.name === 'string' ? tool.name : 'tool',
        arguments: argumentsFor(tool.parameters),
      },
    },
  ];
}

/** Arguments for a tool call: a value for each required parameter (or the first one when none is required). */
function argumentsFor(parameters: any): Record<string, unknown> {
  const properties: Record<string, any> = parameters?.properties ?? {};
  const names = Object.keys(properties);
  const required: string[] = Array.isArray(parameters?.required) ? parameters.required : names.slice(0, 1);
  const args: Record<string, unknown> = {};
  for (const name of required) args[name] = sampleValue(properties[name]);
  return args;
}

function sampleValue(schema: any): unknown {
  if (Array.isArray(schema?.enum) && schema.enum.length > 0) return schema.enum[0];
  const type = Array.isArray(schema?.type) ? schema.type[0] : schema?.type;
  switch (type) {
    case 'number':
      return 21.5;
    case 'integer':
      return 42;
    case 'boolean':
      return true;
    case 'array':
      return [];
    case 'object':
      return argumentsFor(schema);
    default:
      return 'Tokyo';
  }
}

/** Structured output: an object following the schema, or `{"answer": text}` for `format: "json"`. */
function sampleForSchema(format: unknown, text: string): unknown {
  const schema = format as any;
  if (schema && typeof schema === 'object' && schema.properties && typeof schema.properties === 'object') {
    const out: Record<string, unknown> = {};
    for (const [name, property] of Object.entries<any>(schema.properties)) {
      out[name] = property?.type === 'string' && !property.enum ? text : sampleValue(property);
    }
    return out;
  }
  return { answer: text };
}

/** Runs the load → prompt eval → eval timeline with real delays, streaming or aggregating the output. */
async function generate(ctx: InferenceContext, plan: GenerationPlan): Promise<void> {
  const { exchange, registry, settings, fault } = ctx;
  const stream = plan.stream ? exchange.ndjson(isStreamFault(fault) ? fault : undefined) : undefined;

  const loadDurationNs = await registry.load(plan.model, exchange.signal);
  const promptEvalStart = nowNs();
  await sleep(settings.promptEvalMs, exchange.signal);
  const promptEvalDurationNs = elapsedNs(promptEvalStart);

  const evalStart = nowNs();
  const total: Piece = { content: '' };
  let first = true;
  for (const piece of piecesOf(plan, settings.chunks)) {
    if (!first) await sleep(settings.chunkDelayMs, exchange.signal);
    first = false;
    if (stream) await stream.write(chunkBody(plan, piece));
    accumulate(total, piece);
  }
  const evalDurationNs = elapsedNs(evalStart);
  registry.keepLoaded(plan.model.name, plan.keepAliveMs);

  const final: FinalFields = {
    doneReason: finalDoneReason(plan, fault),
    metrics: {
      loadDurationNs,
      promptEvalCount: fault?.kind === 'cache-hit' ? undefined : plan.promptEvalCount,
      promptEvalDurationNs: fault?.kind === 'cache-hit' ? undefined : promptEvalDurationNs,
      evalCount: evalCountOf(plan),
      evalDurationNs,
    },
  };
  if (stream) {
    final.metrics.totalDurationNs = elapsedNs(exchange.startNs);
    await stream.end(finalBody(plan, { content: '' }, final));
    return;
  }
  answerWhole(ctx, plan, total, final);
}

function answerWhole(ctx: InferenceContext, plan: GenerationPlan, total: Piece, final: FinalFields): void {
  const { exchange, fault } = ctx;
  if (fault?.kind === 'stream-error') {
    exchange.json(500, errorBody(fault.error ?? DEFAULT_STREAM_ERROR));
    return;
  }
  if (fault?.kind === 'no-done') {
    exchange.json(200, { ...chunkBody(plan, total) });
    return;
  }
  final.metrics.totalDurationNs = elapsedNs(exchange.startNs);
  exchange.json(200, finalBody(plan, total, final));
}

function finalDoneReason(plan: GenerationPlan, fault: Fault | undefined): string {
  if (fault?.kind === 'done-reason') return fault.reason;
  return plan.truncated ? 'length' : 'stop';
}

function evalCountOf(plan: GenerationPlan): number {
  const toolTokens = plan.toolCalls ? countTokens(JSON.stringify(plan.toolCalls.map((c) => c.function))) : 0;
  return plan.thinkingTokens.length + plan.contentTokens.length + toolTokens;
}

/** Thinking pieces first, then content (or the tool call). */
function* piecesOf(plan: GenerationPlan, chunks: number): Generator<Piece> {
  const thinkingChunks = Math.max(2, Math.ceil(chunks / 2));
  for (const thinking of splitIntoChunks(plan.thinkingTokens, thinkingChunks)) yield { content: '', thinking };
  if (plan.toolCalls) {
    yield { content: '', toolCalls: plan.toolCalls };
    return;
  }
  for (const content of splitIntoChunks(plan.contentTokens, chunks)) yield { content };
}

function accumulate(total: Piece, piece: Piece): void {
  total.content += piece.content;
  if (piece.thinking) total.thinking = (total.thinking ?? '') + piece.thinking;
  if (piece.toolCalls) total.toolCalls = [...(total.toolCalls ?? []), ...piece.toolCalls];
}

function messageOf(piece: Piece): AssistantMessage {
  return assistantMessage(piece.content, piece.thinking, piece.toolCalls);
}

function chunkBody(plan: GenerationPlan, piece: Piece): Record<string, unknown> {
  if (plan.route === 'chat') return chatChunk(plan.requestedModel, messageOf(piece));
  return generateChunk(plan.requestedModel, piece.content, piece.thinking);
}

function finalBody(plan: GenerationPlan, total: Piece, final: FinalFields): Record<string, unknown> {
  if (plan.route === 'chat') return chatFinal(plan.requestedModel, messageOf(total), final);
  const contextLength = (final.metrics.promptEvalCount ?? plan.promptEvalCount) + evalCountOf(plan);
  const context = plan.contextSeed === undefined ? undefined : contextTokens(plan.contextSeed, contextLength);
  return generateFinal(plan.requestedModel, total.content, { ...final, thinking: total.thinking, context });
}
