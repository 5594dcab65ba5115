/*
 * The proxy's own telemetry next to the recording core's: the HTTP SERVER span of each request (continuing the
 * caller's `traceparent`), `http.server.request.duration`, `http.server.active_requests`, and the in-flight
 * GenAI requests per model. The GenAI and management spans, metrics and content come from the shared core
 * (`createTelemetryHost`), exactly as the ollama-js instrumentation records them.
 */
import type { IncomingMessage } from 'node:http';
import type { OllamaInstrumentationConfig } from '@ollama-otel/instrumentation';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_HTTP_REQUEST_BODY_SIZE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_BODY_SIZE,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
  createTelemetryHost,
  HTTP_SERVER_DURATION_BUCKETS,
  METRIC_HTTP_SERVER_ACTIVE_REQUESTS,
  METRIC_HTTP_SERVER_REQUEST_DURATION,
  METRIC_OLLAMA_PROXY_REQUESTS_ACTIVE,
  scrub,
  scrubHeaderValue,
  type TelemetryHost,
} from '@ollama-otel/instrumentation/internal';
import {
  type Attributes,
  type Context,
  type DiagLogger,
  diag,
  type Histogram,
  type LoggerProvider,
  logs,
  type MeterProvider,
  metrics,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TracerProvider,
  trace,
  type UpDownCounter,
} from '@opentelemetry/api';
import { PACKAGE_NAME, PACKAGE_VERSION } from './version.js';

/** Where the proxy's telemetry goes: the global API (set up by `@ollama-otel/node`), or given providers. */
export interface TelemetryProviders {
  tracerProvider?: TracerProvider;
  meterProvider?: MeterProvider;
  loggerProvider?: LoggerProvider;
}

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE']);
const MAX_CACHED = 512;

/** One request's server span and what its metrics need. */
export interface ServerRequest {
  readonly span: Span;
  readonly context: Context;
  readonly startedAt: number;
  readonly method: string;
  readonly route: string | undefined;
}

export class ProxyTelemetry {
  readonly host: TelemetryHost;
  readonly diag: DiagLogger;
  private readonly tracer;
  private readonly duration: Histogram;
  private readonly active: UpDownCounter;
  private readonly activePerModel: UpDownCounter;
  private readonly attributeCache = new Map<string, Attributes>();

  constructor(providers: TelemetryProviders, config: OllamaInstrumentationConfig | undefined) {
    const tracerProvider = providers.tracerProvider ?? trace.getTracerProvider();
    const meterProvider = providers.meterProvider ?? metrics.getMeterProvider();
    const loggerProvider = providers.loggerProvider ?? logs.getLoggerProvider();
    this.tracer = tracerProvider.getTracer(PACKAGE_NAME, PACKAGE_VERSION);
    const meter = meterProvider.getMeter(PACKAGE_NAME, PACKAGE_VERSION);
    this.host = createTelemetryHost({
      tracer: this.tracer,
      meter,
      logger: loggerProvider.getLogger(PACKAGE_NAME, PACKAGE_VERSION),
      diag,
      config,
    });
    this.diag = this.host.diag;
    this.duration = meter.createHistogram(METRIC_HTTP_SERVER_REQUEST_DURATION, {
      description: 'Duration of HTTP server requests.',
      unit: 's',
      advice: { explicitBucketBoundaries: HTTP_SERVER_DURATION_BUCKETS },
    });
    this.active = meter.createUpDownCounter(METRIC_HTTP_SERVER_ACTIVE_REQUESTS, {
      description: 'Number of active HTTP server requests.',
      unit: '{request}',
    });
    this.activePerModel = meter.createUpDownCounter(METRIC_OLLAMA_PROXY_REQUESTS_ACTIVE, {
      description: 'GenAI requests the proxy is forwarding to Ollama right now (queued or generating), per model.',
      unit: '{request}',
    });
  }

  /** The SERVER span of a request, continuing the caller's trace context. */
  startRequest(req: IncomingMessage, path: string, route: string | undefined): ServerRequest {
    const startedAt = performance.now();
    const method = normalizeMethod(req.method);
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const attributes: Attributes = {
      [ATTR_HTTP_REQUEST_METHOD]: method,
      [ATTR_URL_PATH]: scrub(path),
      [ATTR_URL_SCHEME]: 'http',
    };
    if (route !== undefined) attributes[ATTR_HTTP_ROUTE] = route;
    const span = this.tracer.startSpan(
      route === undefined ? method : `${method} ${route}`,
      { kind: SpanKind.SERVER, attributes },
      parent,
    );
    if (span.isRecording()) {
      const extra: Attributes = { [ATTR_NETWORK_PROTOCOL_VERSION]: req.httpVersion };
      if (req.socket.remoteAddress !== undefined) extra[ATTR_CLIENT_ADDRESS] = req.socket.remoteAddress;
      const agent = req.headers['user-agent'];
      if (agent !== undefined) extra[ATTR_USER_AGENT_ORIGINAL] = scrubHeaderValue(agent);
      span.setAttributes(extra);
    }
    this.active.add(1, this.cached(method, undefined, undefined, undefined));
    return { span, context: trace.setSpan(parent, span), startedAt, method, route };
  }

  /**
   * Ends the server span. `status` is what the client got (0 when no response started); `errorType` is set for
   * 5xx answers, cut connections and cancellations.
   */
  endRequest(request: ServerRequest, status: number, errorType: string | undefined, sizes: BodySizes): void {
    try {
      const { span, method, route } = request;
      if (span.isRecording()) {
        const attributes: Attributes = {};
        if (status > 0) attributes[ATTR_HTTP_RESPONSE_STATUS_CODE] = status;
        if (errorType !== undefined) attributes[ATTR_ERROR_TYPE] = errorType;
        if (sizes.request > 0) attributes[ATTR_HTTP_REQUEST_BODY_SIZE] = sizes.request;
        if (sizes.response > 0) attributes[ATTR_HTTP_RESPONSE_BODY_SIZE] = sizes.response;
        span.setAttributes(attributes);
        if (status >= 500 || (errorType !== undefined && status === 0)) span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
      const seconds = (performance.now() - request.startedAt) / 1000;
      this.duration.record(seconds, this.cached(method, route, status, errorType));
      this.active.add(-1, this.cached(method, undefined, undefined, undefined));
    } catch (error) {
      this.diag.error('failed to record the end of a proxied request', error);
    }
  }

  /** Counts a GenAI request in flight until the returned function is called. */
  inFlight(operationName: string, model: string | undefined): () => void {
    const attributes = this.modelAttributes(operationName, this.host.modelNames.metricValue(model));
    this.activePerModel.add(1, attributes);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.activePerModel.add(-1, attributes);
    };
  }

  private modelAttributes(operationName: string, model: string | undefined): Attributes {
    const key = `m\u0000${operationName}\u0000${model ?? ''}`;
    return this.cache(key, () => {
      const attributes: Attributes = { [ATTR_GEN_AI_OPERATION_NAME]: operationName };
      if (model !== undefined) attributes[ATTR_GEN_AI_REQUEST_MODEL] = model;
      return attributes;
    });
  }

  /** `http.server.*` attributes; the same frozen object for the same values. */
  private cached(
    method: string,
    route: string | undefined,
    status: number | undefined,
    errorType: string | undefined,
  ): Attributes {
    const key = `h\u0000${method}\u0000${route ?? ''}\u0000${status ?? ''}\u0000${errorType ?? ''}`;
    return this.cache(key, () => {
      const attributes: Attributes = { [ATTR_HTTP_REQUEST_METHOD]: method, [ATTR_URL_SCHEME]: 'http' };
      if (route !== undefined) attributes[ATTR_HTTP_ROUTE] = route;
      if (status !== undefined && status > 0) attributes[ATTR_HTTP_RESPONSE_STATUS_CODE] = status;
      if (errorType !== undefined) attributes[ATTR_ERROR_TYPE] = errorType;
      return attributes;
    });
  }

  private cache(key: string, create: () => Attributes): Attributes {
    let attributes = this.attributeCache.get(key);
    if (attributes === undefined) {
      attributes = Object.freeze(create());
      if (this.attributeCache.size >= MAX_CACHED) this.attributeCache.clear();
      this.attributeCache.set(key, attributes);
    }
    return attributes;
  }
}

export interface BodySizes {
  request: number;
  response: number;
}

/** Semconv: unknown methods are `_OTHER` (low cardinality). */
function normalizeMethod(method: string | undefined): string {
  return method !== undefined && KNOWN_METHODS.has(method) ? method : '_OTHER';
}
