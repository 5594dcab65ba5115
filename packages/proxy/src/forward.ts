/*
 * One proxied exchange. Bytes go to the client as they arrive from Ollama; a slow client pauses the upstream
 * read (backpressure); telemetry reads each chunk only after it was handed to the client. A client that goes away
 * aborts the upstream request, so Ollama stops generating. A connection Ollama cuts reaches the client cut the
 * same way; an upstream that cannot be reached is a 502 in Ollama's `{"error": "..."}` shape.
 */
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import { CallObservation, type GenAiFormat, isObject, nonEmptyString } from '@ollama-otel/instrumentation/internal';
import { type Context, propagation } from '@opentelemetry/api';
import type { WireFormat } from './formats/format.js';
import { downstreamResponseHeaders, upstreamRequestHeaders } from './headers.js';
import { parseJson } from './ndjson.js';
import { JsonObserver, NdjsonObserver, type ResponseObserver, SseObserver } from './observe.js';
import type { GenAiRoute, ManagementRoute, Route } from './routes.js';
import type { ProxyTelemetry, ServerRequest } from './telemetry.js';
import type { Upstream } from './upstream.js';
import { UsageStripper, withIncludeUsage } from './usage.js';

export interface ExchangeSettings {
  readonly upstream: Upstream;
  readonly telemetry: ProxyTelemetry;
  readonly maxBodyBytes: number;
  readonly injectUsage: boolean;
  /** True once the proxy is shutting down: responses then close their connection. */
  readonly draining: () => boolean;
}

const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** What only the proxy answers; the same shape as Ollama's errors. */
export function answerError(res: ServerResponse, status: number, message: string, close = false): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: message });
  const headers: Record<string, string | number> = {
    'content-type': JSON_CONTENT_TYPE,
    'content-length': Buffer.byteLength(body),
  };
  if (close) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end(body);
}

/** The observation of a call, the way its response is read, and what the upstream request must carry. */
interface CallTelemetry {
  observation: CallObservation;
  observer(status: number, contentType: string): ResponseObserver;
  release?: () => void;
}

export class Exchange {
  private status = 0;
  private errorType: string | undefined;
  private requestBytes = 0;
  private responseBytes = 0;
  private upstreamRequest: ClientRequest | undefined;
  private upstreamResponse: IncomingMessage | undefined;
  private call: CallTelemetry | undefined;
  private observer: ResponseObserver | undefined;
  private stripper: UsageStripper | undefined;
  private body: Buffer | undefined;
  private retried = false;
  private completed = false;

  constructor(
    private readonly settings: ExchangeSettings,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly route: Route,
    private readonly server: ServerRequest,
    private readonly onComplete: (exchange: Exchange) => void,
  ) {
    res.once('close', () => this.complete());
  }

  start(): void {
    if (this.route.kind === 'pass-through') {
      this.send(undefined, this.server.context, undefined);
      return;
    }
    void this.readBody().then((body) => {
      if (body !== undefined) this.startCall(body);
    });
  }

  /** Ends the exchange now (the proxy's grace period is over): the client connection and the upstream request. */
  abort(reason: string): void {
    this.errorType ??= 'cancelled';
    this.guard(() => this.call?.observation.cancel(reason));
    this.upstreamRequest?.destroy();
    this.res.destroy();
  }

  private async readBody(): Promise<Buffer | undefined> {
    const { req, res } = this;
    const limit = this.settings.maxBodyBytes;
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      this.tooLarge();
      return undefined;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of req as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > limit) {
          this.tooLarge();
          return undefined;
        }
        chunks.push(chunk);
      }
    } catch {
      // The client went away while sending; `close` ends the exchange.
      return undefined;
    }
    if (res.destroyed) return undefined;
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  }

  private tooLarge(): void {
    this.status = 413;
    answerError(
      this.res,
      413,
      `request body too large: the proxy accepts at most ${this.settings.maxBodyBytes} bytes (--max-body-size)`,
      true,
    );
    this.req.resume();
  }

  private startCall(body: Buffer): void {
    this.requestBytes = body.length;
    const encoded = (this.req.headers['content-encoding'] ?? 'identity') !== 'identity';
    const request = encoded ? undefined : parseJson(body);
    let sent = body;
    let stripZeroUsage: boolean | undefined;
    const route = this.route as GenAiRoute | ManagementRoute;
    if (route.kind === 'genai' && route.usageOption !== undefined && this.settings.injectUsage && !encoded) {
      const injected = withIncludeUsage(body, request);
      if (injected !== undefined) {
        sent = injected;
        stripZeroUsage = route.usageOption === 'completions';
      }
    }
    this.call = this.guard(() =>
      route.kind === 'genai' ? this.startGenAi(route, request) : this.startManagement(route, request),
    );
    if (stripZeroUsage !== undefined) this.stripper = new UsageStripper(stripZeroUsage);
    this.body = sent;
    this.send(sent, this.call?.observation.context ?? this.server.context, sent.length);
  }

  private startGenAi(route: GenAiRoute, request: unknown): CallTelemetry {
    const { host } = this.settings.telemetry;
    const observation = CallObservation.startGenAi(
      host,
      {
        operationName: route.operationName,
        format: route.format,
        request,
        server: this.settings.upstream.serverAttributes,
      },
      this.server.context,
    );
    const release = this.settings.telemetry.inFlight(route.operationName, route.format.requestModel(request));
    const content = host.settings.content !== undefined;
    const format = route.format as Partial<WireFormat>;
    return {
      observation,
      release,
      observer: (status, contentType) => {
        if (status >= 200 && status < 300 && contentType.includes('application/x-ndjson')) {
          return new NdjsonObserver(observation, content);
        }
        if (status >= 200 && status < 300 && contentType.includes('text/event-stream')) {
          return new SseObserver(observation, format.streamReader?.(content));
        }
        return new JsonObserver(observation, status);
      },
    };
  }

  private startManagement(route: ManagementRoute, request: unknown): CallTelemetry | undefined {
    const { host } = this.settings.telemetry;
    if (!host.settings.managementSpans) return undefined;
    const body = isObject(request) ? request : {};
    const model = route.modelFromPath
      ? decodeSegment(pathOf(this.req.url).slice('/v1/models/'.length))
      : route.modelField === undefined
        ? undefined
        : (nonEmptyString(body[route.modelField]) ?? nonEmptyString(body.name));
    const observation = CallObservation.startManagement(
      host,
      {
        operationName: route.operationName,
        server: this.settings.upstream.serverAttributes,
        model,
        destination: route.operationName === 'copy' ? nonEmptyString(body.destination) : undefined,
      },
      request,
      this.server.context,
    );
    const adapt = route.openAiList ? openAiModelList : undefined;
    return {
      observation,
      observer: (status, contentType) =>
        status >= 200 && status < 300 && contentType.includes('application/x-ndjson')
          ? new NdjsonObserver(observation, true)
          : new JsonObserver(observation, status, adapt),
    };
  }

  private send(body: Buffer | undefined, traceContext: Context, length: number | undefined): void {
    const { upstream } = this.settings;
    const { req } = this;
    const headers = upstreamRequestHeaders(
      req.rawHeaders,
      req.headers,
      upstream.hostHeader,
      length,
      PROPAGATION_FIELDS(),
    );
    this.guard(() => propagation.inject(traceContext, headers));
    const upstreamRequest = upstream.request({
      protocol: upstream.protocol,
      hostname: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: upstream.basePath + (req.url ?? '/'),
      headers,
      agent: upstream.agent,
      setHost: false,
    });
    this.upstreamRequest = upstreamRequest;
    upstreamRequest.once('response', (response) => this.respond(response));
    upstreamRequest.once('error', (error) => this.upstreamFailed(upstreamRequest, error));
    if (body !== undefined) {
      upstreamRequest.end(body);
      return;
    }
    // Pass-through: the request body streams up as it arrives, with backpressure.
    req.on('data', (chunk: Buffer) => {
      this.requestBytes += chunk.length;
      if (!upstreamRequest.write(chunk)) {
        req.pause();
        upstreamRequest.once('drain', () => req.resume());
      }
    });
    req.once('end', () => upstreamRequest.end());
  }

  private respond(response: IncomingMessage): void {
    const { res } = this;
    this.upstreamResponse = response;
    if (res.destroyed) {
      response.destroy();
      return;
    }
    const status = response.statusCode ?? 502;
    this.status = status;
    const contentType = String(response.headers['content-type'] ?? '');
    const stripper = this.stripper !== undefined && status === 200 && contentType.includes('text/event-stream');
    if (!stripper) this.stripper = undefined;
    this.observer = this.guard(() => this.call?.observer(status, contentType));
    if (this.settings.draining()) res.shouldKeepAlive = false;
    res.writeHead(
      status,
      response.statusMessage,
      downstreamResponseHeaders(response.rawHeaders, response.headers, !stripper),
    );
    response.on('data', (chunk: Buffer) => this.forward(response, chunk));
    response.once('end', () => {
      const rest = this.stripper?.end();
      res.end(rest);
      const observer = this.observer;
      if (observer !== undefined) this.guard(() => observer.end());
    });
    response.once('error', (error) => this.upstreamCut(error));
    response.once('close', () => {
      if (!response.complete) this.upstreamCut(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    });
  }

  private forward(response: IncomingMessage, chunk: Buffer): void {
    this.responseBytes += chunk.length;
    const { res } = this;
    const out = this.stripper === undefined ? chunk : this.stripper.push(chunk);
    if (out !== undefined && !res.write(out)) {
      response.pause();
      res.once('drain', () => response.resume());
    }
    const observer = this.observer;
    if (observer !== undefined) this.guard(() => observer.data(chunk));
  }

  /** Before any response: 502, unless a reused keep-alive socket was closed under us (then once more). */
  private upstreamFailed(request: ClientRequest, error: Error & { code?: string }): void {
    if (this.upstreamResponse !== undefined) return;
    if (this.res.destroyed) return;
    if (request.reusedSocket && error.code === 'ECONNRESET' && !this.retried && this.body !== undefined) {
      this.retried = true;
      this.send(this.body, this.call?.observation.context ?? this.server.context, this.body.length);
      return;
    }
    this.status = 502;
    this.errorType = '502';
    this.guard(() => this.call?.observation.fail(error));
    answerError(this.res, 502, `could not reach Ollama at ${this.settings.upstream.baseUrl}: ${error.message}`);
  }

  /** Ollama cut the connection mid-response: so does the proxy (without the terminating chunk). */
  private upstreamCut(error: Error & { code?: string }): void {
    if (this.completed || this.res.writableFinished) return;
    this.errorType ??= error.code ?? 'Error';
    this.guard(() => this.call?.observation.fail(error));
    this.res.destroy();
  }

  /** Once, when the client's response is closed: finished, cut by us, or abandoned by the client. */
  private complete(): void {
    if (this.completed) return;
    this.completed = true;
    const { res } = this;
    if (!res.writableFinished) {
      // The client went away (or we cut it): stop Ollama's work.
      this.errorType ??= 'cancelled';
      this.guard(() => this.call?.observation.cancel('the client closed the connection'));
      this.upstreamRequest?.destroy();
      this.upstreamResponse?.destroy();
    }
    this.call?.release?.();
    const errorType = this.errorType ?? (this.status >= 500 ? String(this.status) : undefined);
    this.settings.telemetry.endRequest(this.server, this.status, errorType, {
      request: this.requestBytes,
      response: this.responseBytes,
    });
    this.onComplete(this);
  }

  private guard<T>(work: () => T): T | undefined {
    try {
      return work();
    } catch (error) {
      this.settings.telemetry.diag.error('proxy telemetry failed; the request goes on', error);
      return undefined;
    }
  }
}

let propagationFields: { key: string; names: ReadonlySet<string> } = { key: '', names: new Set() };

/**
 * The header names the global propagator writes (`traceparent`, `tracestate`, `baggage`): the caller's are
 * replaced by ours. None with the no-op propagator (telemetry off): the caller's then pass through untouched.
 */
function PROPAGATION_FIELDS(): ReadonlySet<string> {
  const fields = propagation.fields();
  const key = fields.join(',');
  if (key !== propagationFields.key) {
    propagationFields = { key, names: new Set(fields.map((field) => field.toLowerCase())) };
  }
  return propagationFields.names;
}

function openAiModelList(body: unknown): unknown {
  return isObject(body) && Array.isArray(body.data) ? { models: body.data } : body;
}

export function pathOf(url: string | undefined): string {
  const raw = url ?? '/';
  const query = raw.indexOf('?');
  return query < 0 ? raw : raw.slice(0, query);
}

function decodeSegment(segment: string): string | undefined {
  try {
    return nonEmptyString(decodeURIComponent(segment));
  } catch {
    return nonEmptyString(segment);
  }
}

export type { GenAiFormat };
