/*
 * One proxied exchange, on undici's connection pool (see the README's design notes for why undici). Bytes go to
 * the client as they arrive from Ollama; a slow client pauses the upstream read (backpressure); telemetry reads
 * each chunk only after it was handed to the client and never decides what the client gets. A client that goes
 * away aborts the upstream request, so Ollama stops generating. Whatever Ollama sends, only this client is
 * affected: an answer that is not valid HTTP, or one that does not start in time, is a 502/504 in the shape of
 * the API the client called; one that breaks off mid-body cuts the client's response the same way.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline, type Readable, Transform } from 'node:stream';
import { CallObservation, isObject, nonEmptyString } from '@ollama-otel/instrumentation/internal';
import { type Context, propagation } from '@opentelemetry/api';
import type { Dispatcher } from 'undici';
import { answerError, type ErrorShape } from './answers.js';
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
  readonly pool: Dispatcher;
  readonly telemetry: ProxyTelemetry;
  readonly maxBodyBytes: number;
  readonly injectUsage: boolean;
  /** Longest pause between two pieces of the client's request body; 0 for none. */
  readonly bodyIdleTimeoutMillis: number;
  /** True once the proxy is shutting down: responses then close their connection. */
  readonly draining: () => boolean;
}

/** The client's request, as the listener accepted it. */
export interface ClientRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The canonical path and query, as Ollama gets them. */
  readonly path: string;
  readonly query: string;
  readonly shape: ErrorShape;
}

/** The observation of a call, the way its response is read, and what the upstream request must carry. */
interface CallTelemetry {
  observation: CallObservation;
  observer(status: number, contentType: string): ResponseObserver;
  release?: () => void;
}

/** `error.type` of upstream failures: undici's codes mapped onto the system codes a socket would give. */
const UPSTREAM_ERROR_CODES: Record<string, string> = {
  UND_ERR_SOCKET: 'ECONNRESET',
  UND_ERR_HEADERS_TIMEOUT: 'ETIMEDOUT',
  UND_ERR_BODY_TIMEOUT: 'ETIMEDOUT',
  UND_ERR_CONNECT_TIMEOUT: 'ETIMEDOUT',
};

type UpstreamError = Error & { code?: string };

export class Exchange implements Dispatcher.DispatchHandler {
  private status = 0;
  private errorType: string | undefined;
  private requestBytes = 0;
  private responseBytes = 0;
  private controller: Dispatcher.DispatchController | undefined;
  private responded = false;
  /** Ollama's status and headers were passed on: its body follows. */
  private forwarding = false;
  private waitingForDrain = false;
  private call: CallTelemetry | undefined;
  private observer: ResponseObserver | undefined;
  private stripper: UsageStripper | undefined;
  private bodyTimer: ReturnType<typeof setTimeout> | undefined;
  private completed = false;
  private readonly req: IncomingMessage;
  private readonly res: ServerResponse;

  constructor(
    private readonly settings: ExchangeSettings,
    private readonly client: ClientRequest,
    private readonly route: Route,
    private readonly server: ServerRequest,
    private readonly whenComplete: (exchange: Exchange) => void,
  ) {
    this.req = client.req;
    this.res = client.res;
    this.res.once('close', () => this.complete());
  }

  start(): void {
    if (this.route.kind === 'pass-through') {
      this.sendStreamed();
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
    this.abortUpstream(reason);
    this.res.destroy();
  }

  private async readBody(): Promise<Buffer | undefined> {
    const { req } = this;
    const limit = this.settings.maxBodyBytes;
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      this.tooLarge();
      return undefined;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    this.watchBody();
    try {
      for await (const chunk of req as AsyncIterable<Buffer>) {
        this.bodyTimer?.refresh();
        size += chunk.length;
        if (size > limit) {
          this.tooLarge();
          return undefined;
        }
        chunks.push(chunk);
      }
    } catch {
      // The client went away while sending (or was too slow): `close` ends the exchange.
      return undefined;
    } finally {
      this.stopWatchingBody();
    }
    if (this.res.destroyed) return undefined;
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  }

  /** The body idle timeout, reset by each piece of the body, until it ends. */
  private watchBody(): void {
    const idle = this.settings.bodyIdleTimeoutMillis;
    if (idle <= 0 || this.req.complete) return;
    this.bodyTimer = setTimeout(() => this.bodyTimedOut(idle), idle);
    this.req.once('end', () => this.stopWatchingBody());
  }

  private stopWatchingBody(): void {
    if (this.bodyTimer !== undefined) clearTimeout(this.bodyTimer);
    this.bodyTimer = undefined;
  }

  private bodyTimedOut(idle: number): void {
    this.bodyTimer = undefined;
    this.refuse(408, `request body timeout: nothing received for ${idle} ms (--body-timeout)`, 'timeout');
  }

  /**
   * The proxy answers the client itself (a body that stalls or cannot be parsed): the answer goes out first, then
   * the upstream request is aborted (its error then finds the answer sent), then the connection closes.
   */
  refuse(status: number, message: string, errorType?: string): void {
    this.stopWatchingBody();
    this.status = status;
    if (errorType !== undefined) this.errorType = errorType;
    answerError(this.res, status, message, { shape: this.client.shape, close: true });
    this.abortUpstream(message);
    this.req.destroy();
  }

  private tooLarge(): void {
    this.status = 413;
    answerError(
      this.res,
      413,
      `request body too large: the proxy accepts at most ${this.settings.maxBodyBytes} bytes (--max-body-size)`,
      { shape: this.client.shape, close: true },
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
    this.dispatch(sent, { length: sent.length }, this.call?.observation.context ?? this.server.context);
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
      ? decodeSegment(this.client.path.slice('/v1/models/'.length))
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

  /** Pass-through: the request body (on any method) streams up as it arrives, framed as the client framed it. */
  private sendStreamed(): void {
    const { req } = this;
    const length = req.headers['content-length'];
    const framing =
      req.headers['transfer-encoding'] !== undefined
        ? ('chunked' as const)
        : length !== undefined && Number(length) > 0
          ? { length: Number(length) }
          : undefined;
    if (framing === undefined) {
      req.resume();
      this.dispatch(null, undefined, this.server.context);
      return;
    }
    // Counted (and the idle timer reset) on the way through; undici reads the body when its socket is ready.
    const counted = new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        this.requestBytes += chunk.length;
        this.bodyTimer?.refresh();
        done(null, chunk);
      },
    });
    pipeline(req, counted, () => {});
    this.watchBody();
    this.dispatch(counted, framing, this.server.context);
  }

  private dispatch(
    body: Buffer | Readable | null,
    framing: { length: number } | 'chunked' | undefined,
    traceContext: Context,
  ): void {
    const { upstream, pool } = this.settings;
    const { req } = this;
    const headers = upstreamRequestHeaders(
      req.rawHeaders,
      req.headers.connection,
      upstream.hostHeader,
      framing,
      propagationFields(),
    );
    this.guard(() => {
      const carrier: Record<string, string> = Object.create(null);
      propagation.inject(traceContext, carrier);
      for (const name of Object.keys(carrier)) headers.push(name, carrier[name] as string);
    });
    try {
      pool.dispatch(
        {
          path: upstream.basePath + this.client.path + this.client.query,
          method: req.method as Dispatcher.HttpMethod,
          headers,
          body,
          upgrade: null,
          blocking: true,
        },
        this,
      );
    } catch (error) {
      this.onResponseError(undefined, error as UpstreamError);
    }
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.completed) controller.abort(new Error('the client went away'));
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    status: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    if (status >= 100 && status < 200 && status !== 101) return; // 100 Continue, 103 Early Hints: not forwarded.
    this.responded = true;
    const { res } = this;
    if (res.destroyed) {
      controller.abort(new Error('the client went away'));
      return;
    }
    if (status < 200 || status > 599) {
      this.badResponse(controller, `Ollama answered with an invalid status ${status}`);
      return;
    }
    const type = headers['content-type'];
    const contentType = Array.isArray(type) ? type.join(', ') : (type ?? '');
    const stripper = this.stripper !== undefined && status === 200 && contentType.includes('text/event-stream');
    if (!stripper) this.stripper = undefined;
    if (this.settings.draining()) res.shouldKeepAlive = false;
    try {
      const raw = (controller.rawHeaders ?? []) as (string | Buffer)[];
      res.writeHead(status, downstreamResponseHeaders(raw, headers.connection, !stripper));
    } catch (error) {
      this.badResponse(controller, `Ollama answered with headers that are not valid HTTP: ${(error as Error).message}`);
      return;
    }
    this.status = status;
    this.forwarding = true;
    this.observer = this.guard(() => this.call?.observer(status, contentType));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.forwarding) return;
    this.responseBytes += chunk.length;
    const { res } = this;
    const out = this.stripper === undefined ? chunk : this.stripper.push(chunk);
    if (out !== undefined && !res.write(out) && !this.waitingForDrain) {
      this.waitingForDrain = true;
      controller.pause();
      res.once('drain', () => {
        this.waitingForDrain = false;
        controller.resume();
      });
    }
    const observer = this.observer;
    if (observer !== undefined) this.guard(() => observer.data(chunk));
  }

  onResponseEnd(): void {
    if (!this.forwarding) return;
    const rest = this.stripper?.end();
    this.res.end(rest);
    const observer = this.observer;
    if (observer !== undefined) this.guard(() => observer.end());
  }

  /** Before the response started: 502 (504 when Ollama did not answer in time); after: the client is cut. */
  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: UpstreamError): void {
    if (this.completed) return;
    const code = UPSTREAM_ERROR_CODES[error.code ?? ''] ?? error.code;
    const failure = code === error.code ? error : Object.assign(new Error(error.message), { code });
    if (this.forwarding) {
      this.errorType ??= code ?? 'Error';
      this.guard(() => this.call?.observation.fail(failure));
      this.res.destroy();
      return;
    }
    // Already answered by the proxy (an invalid answer, a body timeout), or the client is gone.
    if (this.res.destroyed || this.res.headersSent) return;
    const timedOut = error.code === 'UND_ERR_HEADERS_TIMEOUT';
    this.status = timedOut ? 504 : 502;
    this.errorType = String(this.status);
    this.guard(() => this.call?.observation.fail(failure));
    const at = this.settings.upstream.baseUrl;
    const message = timedOut
      ? `Ollama at ${at} did not start answering in time (--upstream-header-timeout)`
      : error.name === 'HTTPParserError' || error.message === 'bad upgrade'
        ? `Ollama at ${at} sent an answer that is not valid HTTP: ${error.message}`
        : `could not reach Ollama at ${at}: ${error.message}`;
    answerError(this.res, this.status, message, { shape: this.client.shape });
  }

  /** Ollama's answer is not one we can pass on: this client gets a 502, the upstream connection is dropped. */
  private badResponse(controller: Dispatcher.DispatchController, message: string): void {
    this.settings.telemetry.diag.warn(`proxy: ${message}`);
    const error = Object.assign(new Error(message), { code: 'EPROTO' });
    this.status = 502;
    this.errorType = '502';
    this.guard(() => this.call?.observation.fail(error));
    answerError(this.res, 502, message, { shape: this.client.shape });
    controller.abort(error);
  }

  private abortUpstream(reason: string): void {
    const controller = this.controller;
    if (controller !== undefined && !controller.aborted) controller.abort(new Error(reason));
  }

  /** Once, when the client's response is closed: finished, cut by us, or abandoned by the client. */
  private complete(): void {
    if (this.completed) return;
    this.completed = true;
    this.stopWatchingBody();
    const { res } = this;
    if (!res.writableFinished) {
      // The client went away (or we cut it): stop Ollama's work.
      this.errorType ??= 'cancelled';
      this.guard(() => this.call?.observation.cancel('the client closed the connection'));
      this.abortUpstream('the client closed the connection');
    } else if (!this.responded) {
      // Answered by the proxy itself (413, 408) before Ollama was asked, or while it was.
      this.abortUpstream('answered by the proxy');
    }
    this.call?.release?.();
    const errorType = this.errorType ?? (this.status >= 500 ? String(this.status) : undefined);
    this.settings.telemetry.endRequest(this.server, this.status, errorType, {
      request: this.requestBytes,
      response: this.responseBytes,
    });
    this.whenComplete(this);
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

let propagationFieldsCache: { key: string; names: ReadonlySet<string> } = { key: '', names: new Set() };

/**
 * The header names the global propagator writes (`traceparent`, `tracestate`, `baggage`): the caller's are
 * replaced by ours. None with the no-op propagator (telemetry off): the caller's then pass through untouched.
 */
function propagationFields(): ReadonlySet<string> {
  const fields = propagation.fields();
  const key = fields.join(',');
  if (key !== propagationFieldsCache.key) {
    propagationFieldsCache = { key, names: new Set(fields.map((field) => field.toLowerCase())) };
  }
  return propagationFieldsCache.names;
}

function openAiModelList(body: unknown): unknown {
  return isObject(body) && Array.isArray(body.data) ? { models: body.data } : body;
}

function decodeSegment(segment: string): string | undefined {
  try {
    return nonEmptyString(decodeURIComponent(segment));
  } catch {
    return nonEmptyString(segment);
  }
}
