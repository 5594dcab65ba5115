/** The Ollama test double: HTTP plumbing, routing, request recording, scripted faults and shutdown. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { sleep } from './clock.js';
import { CompatRejected, type CompatRoute, compatErrorBody, findCompatRoute, translatingResponse } from './compat.js';
import { handleEmbed, handleLegacyEmbeddings } from './embeddings.js';
import { DEFAULT_STREAM_ERROR, Exchange, StreamEnded } from './exchange.js';
import { type Fault, FaultQueue, type ScriptedFault } from './faults.js';
import { type GenerationSettings, handleChat, handleGenerate } from './inference.js';
import {
  handleCopy,
  handleCreate,
  handleDelete,
  handlePs,
  handlePull,
  handlePush,
  handleShow,
  handleTags,
  handleVersion,
  type ManagementContext,
} from './management.js';
import { ModelRegistry } from './registry.js';
import { errorBody } from './responses.js';

export interface RecordedRequest {
  method: string;
  /** Path without the query string, e.g. `/api/chat`. */
  path: string;
  /** Lower-cased header names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  /** Parsed JSON when the body is JSON, the raw text otherwise, `undefined` when empty. */
  body: unknown;
  /** `Date.now()` when the request arrived. */
  receivedAt: number;
}

export interface OllamaDoubleOptions {
  /** Content chunks per streamed chat/generate (default 8). */
  chunks?: number;
  /** Delay between chunks in ms (default 0). */
  chunkDelayMs?: number;
  /** Real delay the first time a model is used (not loaded yet); default 0. */
  coldLoadMs?: number;
  /** Real delay before the first output token; default 0. */
  promptEvalMs?: number;
  /** What `/api/version` reports, default `0.13.5`. */
  version?: string;
  /** Bind address, default `127.0.0.1`. */
  host?: string;
  /** Port, default 0 (ephemeral). */
  port?: number;
  /** Record requests in `requests` (default true); benchmarks can turn it off to keep memory flat. */
  recordRequests?: boolean;
}

export interface OllamaDouble {
  /** Base URL, e.g. `http://127.0.0.1:43125`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  clearRequests(): void;
  /** Queues faults, consumed FIFO by matching requests (each entry serves `times` requests, default 1). */
  script(...faults: ScriptedFault[]): void;
  /** Names of the models `/api/ps` would list now, e.g. `['llama3.2:latest']`. */
  loadedModels(): string[];
  /** Clears requests, scripted faults and loaded models, and restores the catalog. */
  reset(): void;
  /** Closes the server and destroys open sockets; never hangs. */
  close(): Promise<void>;
}

interface RequestContext {
  exchange: Exchange;
  registry: ModelRegistry;
  fault: Fault | undefined;
  settings: GenerationSettings;
  version: string;
  body: unknown;
  rawBody: string;
}

type RouteHandler = (ctx: RequestContext) => void | Promise<void>;

/** Routes whose response is an NDJSON stream unless the request says `stream: false`. */
const STREAMING_PATHS = new Set(['/api/chat', '/api/generate', '/api/pull', '/api/push', '/api/create']);

const INFERENCE_PATHS = new Set(['/api/chat', '/api/generate']);

const ROUTES: Record<string, RouteHandler> = {
  'GET /': ({ exchange }) => exchange.text(200, 'Ollama is running'),
  'HEAD /': ({ exchange }) => exchange.text(200, 'Ollama is running'),
  'GET /api/version': (ctx) => handleVersion(ctx, ctx.version),
  'HEAD /api/version': (ctx) => handleVersion(ctx, ctx.version),
  'GET /api/tags': (ctx) => handleTags(ctx),
  'HEAD /api/tags': (ctx) => handleTags(ctx),
  'GET /api/ps': (ctx) => handlePs(ctx),
  'POST /api/show': withJsonBody((ctx, body) => handleShow(ctx, body)),
  'POST /api/chat': withJsonBody((ctx, body) => handleChat(ctx, body)),
  'POST /api/generate': withJsonBody((ctx, body) => handleGenerate(ctx, body)),
  'POST /api/embed': withJsonBody((ctx, body) => handleEmbed(ctx.exchange, ctx.registry, body)),
  'POST /api/embeddings': withJsonBody((ctx, body) => handleLegacyEmbeddings(ctx.exchange, ctx.registry, body)),
  'POST /api/pull': withJsonBody((ctx, body) => handlePull(ctx, body)),
  'POST /api/push': withJsonBody((ctx, body) => handlePush(ctx, body)),
  'POST /api/create': withJsonBody((ctx, body) => handleCreate(ctx, body)),
  'POST /api/copy': withJsonBody((ctx, body) => handleCopy(ctx, body)),
  'DELETE /api/delete': withJsonBody((ctx, body) => handleDelete(ctx, body)),
};

function findRoute(method: string, path: string): RouteHandler | undefined {
  const key = `${method} ${path}`;
  return Object.hasOwn(ROUTES, key) ? ROUTES[key] : undefined;
}

/** Binds the body like gin's `ShouldBindJSON`: 400 `missing request body` / `invalid character ...`. */
function withJsonBody(
  handler: (ctx: RequestContext & ManagementContext, body: Record<string, any>) => void | Promise<void>,
): RouteHandler {
  return (ctx) => {
    if (ctx.rawBody.trim() === '') return ctx.exchange.json(400, errorBody('missing request body'));
    if (typeof ctx.body === 'string') return ctx.exchange.json(400, errorBody(jsonSyntaxMessage(ctx.rawBody)));
    if (ctx.body === null || typeof ctx.body !== 'object' || Array.isArray(ctx.body)) {
      const kind = Array.isArray(ctx.body) ? 'array' : ctx.body === null ? 'null' : typeof ctx.body;
      return ctx.exchange.json(400, errorBody(`json: cannot unmarshal ${kind} into Go value of type api.Request`));
    }
    return handler(ctx, ctx.body as Record<string, any>);
  };
}

/** Approximates Go's `encoding/json` syntax error text. */
function jsonSyntaxMessage(raw: string): string {
  const text = raw.trim();
  if (!/^[{["\-0-9tfn]/.test(text)) return `invalid character '${text[0]}' looking for beginning of value`;
  return 'unexpected EOF';
}

function parseBody(raw: string): unknown {
  if (raw.trim() === '') return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function lowerCaseHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
    req.once('close', () => {
      if (!req.complete) reject(new StreamEnded('request aborted'));
    });
  });
}

function modelOf(body: unknown): unknown {
  if (!body || typeof body !== 'object') return undefined;
  const { model, name } = body as Record<string, unknown>;
  return model ?? name;
}

function isStreamingRequest(path: string, body: unknown): boolean {
  return STREAMING_PATHS.has(path) && (body as Record<string, unknown> | undefined)?.stream !== false;
}

function withoutTrailingSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

class OllamaDoubleServer implements OllamaDouble {
  readonly requests: RecordedRequest[] = [];
  private readonly faults = new FaultQueue();
  private readonly registry: ModelRegistry;
  private readonly sockets = new Set<Socket>();
  private readonly exchanges = new Set<Exchange>();
  private readonly settings: GenerationSettings;
  private readonly version: string;
  private readonly recordRequests: boolean;
  private readonly server: Server;
  private closing: Promise<void> | undefined;
  host = '';
  port = 0;

  constructor(options: OllamaDoubleOptions) {
    this.registry = new ModelRegistry(options.coldLoadMs ?? 0);
    this.settings = {
      chunks: Math.max(1, options.chunks ?? 8),
      chunkDelayMs: options.chunkDelayMs ?? 0,
      promptEvalMs: options.promptEvalMs ?? 0,
    };
    this.version = options.version ?? '0.13.5';
    this.recordRequests = options.recordRequests ?? true;
    this.server = createServer({ noDelay: true }, (req, res) => void this.handle(req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.server.on('clientError', (_error, socket) => socket.destroy());
  }

  get url(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${host}:${this.port}`;
  }

  async listen(host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as AddressInfo;
    this.host = host;
    this.port = address.port;
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  script(...faults: ScriptedFault[]): void {
    this.faults.add(faults);
  }

  loadedModels(): string[] {
    return this.registry.running().map(({ model }) => model.name);
  }

  reset(): void {
    this.clearRequests();
    this.faults.clear();
    this.registry.reset();
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.registry.dispose();
    for (const exchange of this.exchanges) exchange.abort();
    this.server.closeAllConnections();
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const exchange = new Exchange(req, res);
    this.exchanges.add(exchange);
    res.once('close', () => this.exchanges.delete(exchange));
    try {
      await this.dispatch(exchange);
    } catch (error) {
      this.answerUnexpected(exchange, error);
    }
  }

  private async dispatch(exchange: Exchange): Promise<void> {
    const { req } = exchange;
    const receivedAt = Date.now();
    const rawBody = await readBody(req);
    const path = withoutTrailingSlash(new URL(req.url ?? '/', 'http://double').pathname);
    const body = parseBody(rawBody);
    if (this.recordRequests) {
      this.requests.push({ method: req.method ?? 'GET', path, headers: lowerCaseHeaders(req), body, receivedAt });
    }
    const compat = findCompatRoute(req.method ?? 'GET', path);
    if (compat !== undefined) return this.dispatchCompat(exchange, compat, path, body, rawBody);
    const route = findRoute(req.method ?? 'GET', path);
    const fault = route ? this.faults.take(path, modelOf(body)) : undefined;
    if (!route) return exchange.text(404, '404 page not found');
    if (await this.answeredByFault(exchange, fault, path, body)) return;
    const settings = fault?.kind === 'stream' ? { ...this.settings, ...definedOnly(fault) } : this.settings;
    await route({ exchange, registry: this.registry, fault, settings, version: this.version, body, rawBody });
  }

  /**
   * An OpenAI- or Anthropic-compatible route: the request translated to a native one, the native handler run
   * through a response that translates what it writes (as Ollama's middleware does). Faults match the
   * compatible path.
   */
  private async dispatchCompat(
    exchange: Exchange,
    compat: CompatRoute,
    path: string,
    body: unknown,
    rawBody: string,
  ): Promise<void> {
    const reject = (message: string) => {
      const text = compatErrorBody(path, 400, message);
      exchange.res.writeHead(400, { 'Content-Type': 'application/json; charset=utf-8' });
      exchange.res.end(text);
    };
    const needsBody =
      compat.nativePath !== '/api/tags' && !(compat.nativePath === '/api/show' && exchange.req.method === 'GET');
    const request =
      body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, any>) : {};
    if (needsBody && (rawBody.trim() === '' || typeof body !== 'object' || body === null)) {
      return reject(rawBody.trim() === '' ? 'EOF' : jsonSyntaxMessage(rawBody));
    }
    let native: Record<string, any>;
    try {
      native = compat.translate(request, path);
    } catch (error) {
      if (error instanceof CompatRejected || error instanceof SyntaxError) return reject(error.message);
      throw error;
    }
    const translated = new Exchange(exchange.req, translatingResponse(exchange.res, compat.translator(request, path)));
    this.exchanges.add(translated);
    exchange.res.once('close', () => this.exchanges.delete(translated));
    const route = findRoute(compat.nativePath === '/api/tags' ? 'GET' : 'POST', compat.nativePath) as RouteHandler;
    const fault = this.faults.take(path, modelOf(native));
    if (await this.answeredByFault(translated, fault, compat.nativePath, native)) return;
    const settings = fault?.kind === 'stream' ? { ...this.settings, ...definedOnly(fault) } : this.settings;
    await route({
      exchange: translated,
      registry: this.registry,
      fault,
      settings,
      version: this.version,
      body: native,
      rawBody: JSON.stringify(native),
    });
  }

  /** Applies the faults that replace the normal answer; true when the request has been answered. */
  private async answeredByFault(
    exchange: Exchange,
    fault: Fault | undefined,
    path: string,
    body: unknown,
  ): Promise<boolean> {
    const streaming = isStreamingRequest(path, body);
    switch (fault?.kind) {
      case 'http-error':
        exchange.json(fault.status, errorBody(fault.error ?? defaultErrorMessage(fault.status, modelOf(body))));
        return true;
      case 'non-json-error':
        exchange.text(fault.status, fault.text);
        return true;
      case 'slow-headers':
        await sleep(fault.delayMs, exchange.signal);
        return false;
      case 'reset':
        if (streaming) return false;
        exchange.destroySocket();
        return true;
      case 'stream-error':
        // Non-streaming chat/generate answer a 500 after generating (see inference.ts).
        if (streaming || INFERENCE_PATHS.has(path)) return false;
        exchange.json(500, errorBody(fault.error ?? DEFAULT_STREAM_ERROR));
        return true;
      default:
        return false;
    }
  }

  private answerUnexpected(exchange: Exchange, error: unknown): void {
    if (error instanceof StreamEnded || exchange.signal.aborted || isAbortError(error)) {
      if (!exchange.res.writableEnded) exchange.res.destroy();
      return;
    }
    if (!exchange.res.headersSent) {
      exchange.json(500, errorBody(error instanceof Error ? error.message : String(error)));
    } else {
      exchange.res.destroy();
    }
  }
}

function definedOnly(fault: { chunks?: number; chunkDelayMs?: number }): Partial<GenerationSettings> {
  const out: Partial<GenerationSettings> = {};
  if (fault.chunks !== undefined) out.chunks = Math.max(1, fault.chunks);
  if (fault.chunkDelayMs !== undefined) out.chunkDelayMs = fault.chunkDelayMs;
  return out;
}

function isAbortError(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}

const DEFAULT_ERROR_MESSAGES: Record<number, string> = {
  400: 'invalid request',
  404: 'model not found',
  429: 'too many requests',
  500: 'the model failed to generate a response',
  502: 'bad gateway',
  503: 'server busy, please try again.  maximum pending requests exceeded',
};

function defaultErrorMessage(status: number, model: unknown): string {
  if (status === 404 && typeof model === 'string') return `model '${model}' not found`;
  return DEFAULT_ERROR_MESSAGES[status] ?? `error ${status}`;
}

/** Starts an Ollama test double on loopback (an ephemeral port unless `port` is given). */
export async function startOllamaDouble(options: OllamaDoubleOptions = {}): Promise<OllamaDouble> {
  const double = new OllamaDoubleServer(options);
  await double.listen(options.host ?? '127.0.0.1', options.port ?? 0);
  return double;
}
