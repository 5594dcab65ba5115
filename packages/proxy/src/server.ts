/*
 * The listener. Each connection is admitted under the connection bound, each request checked for what a proxy
 * must not pass on (ambiguous framing, two `Host`s, absolute-form targets, CONNECT), its path made canonical,
 * then routed to an exchange; `/metrics` and `/healthz` are served here (untraced). Every wait a client can
 * cause is bounded: the request head, the body's pauses, idle kept-alive connections. Closing drains: `/healthz`
 * turns 503 at once, connections are still accepted for the drain delay, in-flight requests get the grace period.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { Pool } from 'undici';
import { answerError, errorShapeOf } from './answers.js';
import { Connections, defaultMaxConnections } from './connections.js';
import { Exchange, type ExchangeSettings } from './forward.js';
import { KnownModels } from './known-models.js';
import { canonicalTarget } from './paths.js';
import { findRoute } from './routes.js';
import { ProxyTelemetry } from './telemetry.js';
import type { MetricsEndpoint, ProxyOptions, RunningProxy } from './types.js';
import { DEFAULT_UPSTREAM, parseUpstream, type Upstream } from './upstream.js';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 11435;
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;
export const DEFAULT_GRACE_PERIOD_MILLIS = 20_000;
export const DEFAULT_DRAIN_DELAY_MILLIS = 0;
export const DEFAULT_HEADERS_TIMEOUT_MILLIS = 30_000;
export const DEFAULT_BODY_IDLE_TIMEOUT_MILLIS = 60_000;
/** Longer than the 60 s idle timeout of common load balancers, so that they, not we, close idle connections. */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MILLIS = 65_000;
/** A cold load may take Ollama's own OLLAMA_LOAD_TIMEOUT (5 min), and a non-streamed answer starts when done. */
export const DEFAULT_UPSTREAM_HEADERS_TIMEOUT_MILLIS = 15 * 60_000;
export const DEFAULT_UPSTREAM_BODY_IDLE_TIMEOUT_MILLIS = 5 * 60_000;
export const DEFAULT_MAX_UNLISTED_MODELS = 20;
const HEALTH_TIMEOUT_MILLIS = 2_000;

/** Starts the proxy; resolves once it listens. Telemetry goes to the global providers unless others are given. */
export async function startProxy(options: ProxyOptions = {}): Promise<RunningProxy> {
  const upstream = parseUpstream(options.upstream ?? DEFAULT_UPSTREAM);
  const telemetry = new ProxyTelemetry(options, {
    maxUnlistedModelNames: options.maxUnlistedModels ?? DEFAULT_MAX_UNLISTED_MODELS,
    ...options.instrumentation,
    metricModelNames: [...(options.models ?? []), ...(options.instrumentation?.metricModelNames ?? [])],
  });
  const pool = new Pool(upstream.origin, {
    pipelining: 1,
    headersTimeout: options.upstreamHeadersTimeoutMillis ?? DEFAULT_UPSTREAM_HEADERS_TIMEOUT_MILLIS,
    bodyTimeout: options.upstreamBodyIdleTimeoutMillis ?? DEFAULT_UPSTREAM_BODY_IDLE_TIMEOUT_MILLIS,
  });
  const knownModels = new KnownModels(pool, upstream, telemetry.host.modelNames, telemetry.diag);
  const exchanges = new Set<Exchange>();
  const receivingExchanges = new WeakMap<IncomingMessage, Exchange>();
  const connections = new Connections(options.maxConnections ?? defaultMaxConnections(readProcLimits));
  let draining = false;
  const settings: ExchangeSettings = {
    upstream,
    pool,
    telemetry,
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    injectUsage: options.injectUsage ?? true,
    bodyIdleTimeoutMillis: options.bodyIdleTimeoutMillis ?? DEFAULT_BODY_IDLE_TIMEOUT_MILLIS,
    draining: () => draining,
  };
  const onComplete = (exchange: Exchange) => exchanges.delete(exchange);

  const answerClientError = (error: Error & { code?: string }, socket: Socket) => {
    const status = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    // The body of the request being received cannot be parsed (a bad chunk size): that request gets the 400.
    const receiving = connections.receiving(socket);
    const exchange = receiving === undefined ? undefined : receivingExchanges.get(receiving);
    if (exchange !== undefined && error.code !== 'ECONNRESET') {
      exchange.refuse(400, 'malformed request body (invalid chunked encoding)');
      return;
    }
    // A pipelined request that cannot be parsed: the answers to the requests before it go out first.
    connections.whenIdle(socket, () => {
      if (!socket.writable || error.code === 'ECONNRESET') {
        socket.destroy();
        return;
      }
      const body = JSON.stringify({ error: clientErrorMessage(status) });
      socket.end(
        `HTTP/1.1 ${status} ${status === 408 ? 'Request Timeout' : status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
          `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    });
  };

  const headersTimeout = options.headersTimeoutMillis ?? DEFAULT_HEADERS_TIMEOUT_MILLIS;
  const server = createServer(
    {
      noDelay: true,
      requestTimeout: 0,
      headersTimeout,
      keepAliveTimeout: options.keepAliveTimeoutMillis ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MILLIS,
      // How often the head timeout is checked: often enough that short timeouts hold.
      connectionsCheckingInterval:
        headersTimeout > 0 ? Math.min(1000, Math.max(50, Math.floor(headersTimeout / 4))) : 30_000,
    },
    (req, res) => {
      connections.started(req, res);
      if (draining) res.shouldKeepAlive = false;
      const refusal = refusalOf(req);
      if (refusal !== undefined) {
        answerError(res, 400, refusal, { close: true });
        return;
      }
      const target = canonicalTarget(req.url as string);
      if ('error' in target) {
        answerError(res, 400, target.error, { close: true });
        return;
      }
      const { path, query } = target;
      if (req.method === 'GET' && path === '/metrics' && options.metrics !== undefined) {
        options.metrics.getMetricsRequestHandler(req, res);
        return;
      }
      if (req.method === 'GET' && path === '/healthz') {
        void answerHealth(pool, upstream, res, draining);
        return;
      }
      const route = findRoute(req.method ?? 'GET', path);
      const request = telemetry.startRequest(req, path, route.route);
      const shape = errorShapeOf(path);
      const exchange = new Exchange(settings, { req, res, path, query, shape }, route, request, onComplete);
      exchanges.add(exchange);
      receivingExchanges.set(req, exchange);
      exchange.start();
    },
  );
  server.on('connect', (_req: IncomingMessage, socket: Socket) => refuseTunnel(socket));
  server.on('clientError', (error: Error & { code?: string }, socket: Socket) => answerClientError(error, socket));

  const listener = createNetServer({ noDelay: true }, (socket) => {
    if (connections.admit(socket)) server.emit('connection', socket);
  });
  // A full descriptor table makes accept() fail: the connection is dropped, the listener goes on.
  listener.on('error', (error) => telemetry.diag.warn('proxy: could not accept a connection', error));
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(options.port ?? DEFAULT_PORT, options.host ?? DEFAULT_HOST, () => {
      listener.off('error', reject);
      resolve();
    });
  });
  // The HTTP server gets its connections from `listener` and never listens itself; its head-timeout checks start
  // on 'listening' (and stop on close()), so it is told it listens.
  server.emit('listening');
  knownModels.start();
  const address = listener.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    host: address.address,
    port: address.port,
    upstream: upstream.baseUrl,
    get inFlight() {
      return exchanges.size;
    },
    get draining() {
      return draining;
    },
    close(gracePeriodMillis = options.gracePeriodMillis ?? DEFAULT_GRACE_PERIOD_MILLIS) {
      draining = true;
      closing ??= drain({
        listener,
        server,
        connections,
        exchanges,
        drainDelayMillis: options.drainDelayMillis ?? DEFAULT_DRAIN_DELAY_MILLIS,
        gracePeriodMillis,
      }).finally(() => {
        knownModels.stop();
        return pool.destroy().catch(() => undefined);
      });
      return closing;
    },
  };
}

interface Draining {
  listener: NetServer;
  server: Server;
  connections: Connections;
  exchanges: Set<Exchange>;
  drainDelayMillis: number;
  gracePeriodMillis: number;
}

async function drain(state: Draining): Promise<void> {
  const { listener, server, connections, exchanges } = state;
  // Orchestrators take a moment to stop sending new connections: serve them meanwhile (each answer closes).
  if (state.drainDelayMillis > 0) await sleep(state.drainDelayMillis);
  // Connections the kernel has accepted are taken before the listener closes (it would reset them).
  await new Promise((resolve) => setImmediate(resolve));
  const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
  connections.drain();
  const deadline = Date.now() + state.gracePeriodMillis;
  while ((exchanges.size > 0 || connections.size > 0) && Date.now() < deadline) {
    await sleep(Math.min(50, Math.max(1, deadline - Date.now())));
  }
  for (const exchange of [...exchanges]) exchange.abort('the proxy shut down before the response was complete');
  connections.destroyAll();
  server.close();
  await closed;
}

function sleep(millis: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, millis));
}

/** Why a request that Node's parser accepted must still not be forwarded; `undefined` when it may. */
function refusalOf(req: IncomingMessage): string | undefined {
  const target = req.url ?? '';
  // Absolute-form (`GET http://elsewhere/`) and asterisk-form targets: this is not a forward proxy.
  if (!target.startsWith('/')) {
    return 'this proxy only forwards to its configured Ollama server (origin-form targets only)';
  }
  let hosts = 0;
  let lengths = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = (req.rawHeaders[i] as string).toLowerCase();
    if (name === 'host') hosts++;
    else if (name === 'content-length') lengths++;
  }
  if (hosts > 1) return 'more than one Host header';
  if (lengths > 1) return 'more than one Content-Length header';
  const encoding = req.headers['transfer-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'chunked') {
    return `unsupported Transfer-Encoding ${JSON.stringify(encoding)} (only chunked)`;
  }
  return undefined;
}

function clientErrorMessage(status: number): string {
  if (status === 408) return 'request header timeout: the request head did not arrive in time (--header-timeout)';
  if (status === 431) return 'request header fields too large';
  return 'malformed HTTP request';
}

function refuseTunnel(socket: Socket): void {
  const body = JSON.stringify({ error: 'CONNECT is not supported: this proxy only forwards to its Ollama server' });
  socket.end(
    `HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** 200 when Ollama answers `GET /api/version`; 503 otherwise, and from the moment the proxy starts draining. */
async function answerHealth(pool: Pool, upstream: Upstream, res: ServerResponse, draining: boolean): Promise<void> {
  const error = draining ? 'the proxy is shutting down' : await probe(pool, upstream);
  const body = JSON.stringify(error === undefined ? { status: 'ok' } : { status: 'unavailable', error });
  if (res.destroyed) return;
  res.writeHead(error === undefined ? 200 : 503, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

async function probe(pool: Pool, upstream: Upstream): Promise<string | undefined> {
  try {
    const response = await pool.request({
      path: `${upstream.basePath}/api/version`,
      method: 'GET',
      headers: { host: upstream.hostHeader },
      headersTimeout: HEALTH_TIMEOUT_MILLIS,
      bodyTimeout: HEALTH_TIMEOUT_MILLIS,
    });
    await response.body.dump();
    const status = response.statusCode;
    return status >= 200 && status < 300 ? undefined : `Ollama answered ${status}`;
  } catch (error) {
    return (error as Error).message;
  }
}

function readProcLimits(): string {
  return readFileSync('/proc/self/limits', 'utf8');
}

/** A `/metrics` listener of its own (`--metrics HOST:PORT`). */
export async function startMetricsServer(endpoint: MetricsEndpoint, host: string, port: number): Promise<Server> {
  const server = createServer({ headersTimeout: DEFAULT_HEADERS_TIMEOUT_MILLIS }, (req, res) => {
    if (req.method === 'GET' && (req.url ?? '').split('?')[0] === '/metrics') {
      endpoint.getMetricsRequestHandler(req, res);
    } else {
      answerError(res, 404, 'not found: this listener serves GET /metrics');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
