/*
 * The listener: routes each request to an exchange, serves `/metrics` and `/healthz` itself (untraced), refuses
 * to be an open proxy (absolute-form targets and CONNECT), and drains on close.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { answerError, Exchange, type ExchangeSettings, pathOf } from './forward.js';
import { findRoute } from './routes.js';
import { ProxyTelemetry } from './telemetry.js';
import type { MetricsEndpoint, ProxyOptions, RunningProxy } from './types.js';
import { DEFAULT_UPSTREAM, parseUpstream, type Upstream } from './upstream.js';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 11435;
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;
export const DEFAULT_GRACE_PERIOD_MILLIS = 20_000;
const HEALTH_TIMEOUT_MILLIS = 2_000;

/** Starts the proxy; resolves once it listens. Telemetry goes to the global providers unless others are given. */
export async function startProxy(options: ProxyOptions = {}): Promise<RunningProxy> {
  const upstream = parseUpstream(options.upstream ?? DEFAULT_UPSTREAM);
  const telemetry = new ProxyTelemetry(options, options.instrumentation);
  const exchanges = new Set<Exchange>();
  let draining = false;
  const settings: ExchangeSettings = {
    upstream,
    telemetry,
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    injectUsage: options.injectUsage ?? true,
    draining: () => draining,
  };
  const onComplete = (exchange: Exchange) => {
    exchanges.delete(exchange);
    if (draining) server.closeIdleConnections();
  };

  const server = createServer({ noDelay: true, requestTimeout: 0 }, (req, res) => {
    const target = req.url ?? '';
    if (!target.startsWith('/')) {
      // Absolute-form (`GET http://elsewhere/`) and asterisk-form targets: this is not a forward proxy.
      answerError(
        res,
        400,
        'this proxy only forwards to its configured Ollama server (origin-form targets only)',
        true,
      );
      return;
    }
    const path = pathOf(target);
    if (req.method === 'GET' && path === '/metrics' && options.metrics !== undefined) {
      options.metrics.getMetricsRequestHandler(req, res);
      return;
    }
    if (req.method === 'GET' && path === '/healthz') {
      void answerHealth(upstream, res);
      return;
    }
    const route = findRoute(req.method ?? 'GET', path);
    const request = telemetry.startRequest(req, path, route.route);
    const exchange = new Exchange(settings, req, res, route, request, onComplete);
    exchanges.add(exchange);
    exchange.start();
  });
  server.on('connect', (_req: IncomingMessage, socket: Socket) => refuseTunnel(socket));
  server.on('clientError', (_error, socket: Socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULT_PORT, options.host ?? DEFAULT_HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
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
    close(gracePeriodMillis = options.gracePeriodMillis ?? DEFAULT_GRACE_PERIOD_MILLIS) {
      closing ??= drain(server, exchanges, gracePeriodMillis, () => {
        draining = true;
      }).finally(() => upstream.agent.destroy());
      return closing;
    },
  };
}

async function drain(server: Server, exchanges: Set<Exchange>, graceMillis: number, begin: () => void): Promise<void> {
  begin();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const deadline = Date.now() + graceMillis;
  while (exchanges.size > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(50, Math.max(1, deadline - Date.now()))));
  }
  for (const exchange of [...exchanges]) exchange.abort('the proxy shut down before the response was complete');
  server.closeAllConnections();
  await closed;
}

function refuseTunnel(socket: Socket): void {
  const body = JSON.stringify({ error: 'CONNECT is not supported: this proxy only forwards to its Ollama server' });
  socket.end(
    `HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** 200 when Ollama answers `GET /api/version`, 503 otherwise. */
async function answerHealth(upstream: Upstream, res: ServerResponse): Promise<void> {
  const error = await probe(upstream);
  const body = JSON.stringify(error === undefined ? { status: 'ok' } : { status: 'unavailable', error });
  res.writeHead(error === undefined ? 200 : 503, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

function probe(upstream: Upstream): Promise<string | undefined> {
  return new Promise((resolve) => {
    const request = upstream.request(
      {
        protocol: upstream.protocol,
        hostname: upstream.hostname,
        port: upstream.port,
        path: `${upstream.basePath}/api/version`,
        headers: { host: upstream.hostHeader },
        agent: upstream.agent,
        setHost: false,
        timeout: HEALTH_TIMEOUT_MILLIS,
      },
      (response) => {
        response.resume();
        const status = response.statusCode ?? 0;
        resolve(status >= 200 && status < 300 ? undefined : `Ollama answered ${status}`);
      },
    );
    request.once('timeout', () => request.destroy(new Error(`no answer within ${HEALTH_TIMEOUT_MILLIS} ms`)));
    request.once('error', (error) => resolve(error.message));
    request.end();
  });
}

/** A `/metrics` listener of its own (`--metrics HOST:PORT`). */
export async function startMetricsServer(endpoint: MetricsEndpoint, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && pathOf(req.url) === '/metrics') endpoint.getMetricsRequestHandler(req, res);
    else answerError(res, 404, 'not found: this listener serves GET /metrics');
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
