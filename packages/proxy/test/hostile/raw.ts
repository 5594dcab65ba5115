/*
 * Tools of the hostile suite: a raw HTTP/1.1 client over node:net (the bytes it sends are exactly the bytes
 * written, answers parsed by hand, pipelined ones included), a raw upstream that records what reached it and
 * answers with scripted bytes, and the built CLI in a child process.
 */
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import type { TelemetryHarness } from '@ollama-otel/testing';
import type { ProxyOptions, RunningProxy } from '../../src/types.js';
import { CLI, type CliProcess, childEnv, startProxyCli, startRecordingProxy } from '../setup.js';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 10 ms; throws with `what` when it is still false after `timeoutMs`. */
export async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

export interface ParsedResponse {
  status: number;
  reason: string;
  /** Lower-cased names; repeated fields joined with `, `. */
  headers: Record<string, string>;
  body: Buffer;
  /** The whole message as it arrived. */
  raw: Buffer;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/**
 * Cuts complete HTTP/1.1 responses out of `data`, in order. `methods` are the methods of the requests they answer
 * (a HEAD answer has no body). A response without framing extends to the end of `data` when `ended`.
 */
export function parseResponses(data: Buffer, methods: string[] = [], ended = false): ParsedResponse[] {
  const responses: ParsedResponse[] = [];
  let at = 0;
  while (at < data.length) {
    const headEnd = data.indexOf(CRLFCRLF, at);
    if (headEnd < 0) break;
    const lines = data.toString('latin1', at, headEnd).split('\r\n');
    const match = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
    if (match === null) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0])}`);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const status = Number(match[1]);
    const bodyStart = headEnd + 4;
    const method = methods[responses.length] ?? 'GET';
    let body: Buffer;
    let end: number;
    if (method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)) {
      body = Buffer.alloc(0);
      end = bodyStart;
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const chunks: Buffer[] = [];
      let pos = bodyStart;
      let done = false;
      for (;;) {
        const lineEnd = data.indexOf('\r\n', pos);
        if (lineEnd < 0) break;
        const size = Number.parseInt(data.toString('latin1', pos, lineEnd), 16);
        if (size === 0) {
          const trailerEnd = data.indexOf(CRLFCRLF, lineEnd);
          if (trailerEnd === lineEnd) {
            pos = lineEnd + 4;
            done = true;
          } else if (data.indexOf('\r\n', lineEnd + 2) === lineEnd + 2) {
            pos = lineEnd + 4;
            done = true;
          }
          break;
        }
        if (lineEnd + 2 + size + 2 > data.length) break;
        chunks.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
        pos = lineEnd + 2 + size + 2;
      }
      if (!done) break;
      body = Buffer.concat(chunks);
      end = pos;
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (bodyStart + length > data.length) break;
      body = data.subarray(bodyStart, bodyStart + length);
      end = bodyStart + length;
    } else {
      if (!ended) break;
      body = data.subarray(bodyStart);
      end = data.length;
    }
    responses.push({ status, reason: match[2] ?? '', headers, body, raw: data.subarray(at, end) });
    at = end;
  }
  return responses;
}

/** One raw client connection: what it received, and when (and whether) the peer closed or reset it. */
export class RawClient {
  private readonly chunks: Buffer[] = [];
  closedAt: number | undefined;
  error: (Error & { code?: string }) | undefined;
  private readonly closedPromise: Promise<void>;

  /**
   * @param openedAt `Date.now()` taken before connecting: no server-side timer of this connection started earlier,
   * so "closed after at least T" measured from it holds however busy the machine is.
   */
  private constructor(
    readonly socket: Socket,
    readonly openedAt: number,
  ) {
    socket.on('data', (chunk: Buffer) => this.chunks.push(chunk));
    socket.on('error', (error) => {
      this.error = error;
    });
    this.closedPromise = new Promise((resolve) =>
      socket.once('close', () => {
        this.closedAt = Date.now();
        resolve();
      }),
    );
  }

  static open(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const openedAt = Date.now();
      const socket = connect({ port, host, noDelay: true });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawClient(socket, openedAt));
      });
      socket.once('error', reject);
    });
  }

  get data(): Buffer {
    return Buffer.concat(this.chunks);
  }

  get text(): string {
    return this.data.toString('latin1');
  }

  get closed(): boolean {
    return this.closedAt !== undefined;
  }

  write(bytes: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  responses(methods: string[] = []): ParsedResponse[] {
    return parseResponses(this.data, methods, this.closed);
  }

  async waitForResponses(count: number, timeoutMs: number, methods: string[] = []): Promise<ParsedResponse[]> {
    await until(
      () => this.responses(methods).length >= count || this.closed,
      timeoutMs,
      `${count} response(s); got ${JSON.stringify(this.text.slice(0, 400))}`,
    );
    if (this.closed) await sleep(0);
    return this.responses(methods);
  }

  /** Resolves with the milliseconds from opening to the peer's close; throws after `timeoutMs`. */
  async waitClosed(timeoutMs: number): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new Error(`still open after ${timeoutMs} ms; received ${JSON.stringify(this.text.slice(0, 300))}`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([this.closedPromise, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return this.closedAt! - this.openedAt;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Sends `bytes` on a fresh connection, half-closes nothing, and waits for `count` responses or the close. */
export async function exchange(
  port: number,
  bytes: string | Buffer,
  count = 1,
  methods: string[] = [],
  timeoutMs = 10_000,
): Promise<{ client: RawClient; responses: ParsedResponse[] }> {
  const client = await RawClient.open(port);
  client.write(bytes);
  const responses = await client.waitForResponses(count, timeoutMs, methods);
  return { client, responses };
}

/** A request as the raw upstream read it off its socket (framed by Content-Length or chunked). */
export interface UpstreamRequest {
  method: string;
  target: string;
  /** Raw `[name, value]` pairs in arrival order, spelling kept. */
  headerPairs: [string, string][];
  headers: Record<string, string>;
  /** The head as it arrived, request line included. */
  head: string;
  body: Buffer;
  /** Which upstream connection it came on (0, 1, ...). */
  connection: number;
}

export type UpstreamScript = (request: UpstreamRequest, socket: Socket) => void | Promise<void>;

export interface RawUpstream {
  readonly url: string;
  readonly port: number;
  /** Every request parsed off any connection, in arrival order, but the proxy's own `GET /api/tags`. */
  readonly requests: UpstreamRequest[];
  /** The proxy's own `GET /api/tags` (its list of known models), answered `{"models":[]}` here. */
  readonly probes: UpstreamRequest[];
  /** Every byte received, per connection. */
  readonly received: Buffer[];
  /** Connections accepted so far / closed so far. */
  readonly connections: { opened: number; closed: number };
  /** Bytes that could not be parsed as a request (framing the upstream did not understand). */
  readonly garbage: string[];
  close(): Promise<void>;
}

/**
 * An upstream on node:net. Requests are parsed off each connection in order (so bytes smuggled as a second
 * request show up as one) and handed to `script`, which writes whatever bytes it likes; requests on one
 * connection are answered one after the other (the next is parsed once the script's promise resolved).
 */
export async function startRawUpstream(script: UpstreamScript): Promise<RawUpstream> {
  const requests: UpstreamRequest[] = [];
  const probes: UpstreamRequest[] = [];
  const received: Buffer[] = [];
  const garbage: string[] = [];
  const connections = { opened: 0, closed: 0 };
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    const index = connections.opened++;
    sockets.add(socket);
    received[index] = Buffer.alloc(0);
    let pending = Buffer.alloc(0);
    let busy = false;
    socket.on('error', () => {});
    socket.once('close', () => {
      connections.closed++;
      sockets.delete(socket);
    });
    const pump = async () => {
      if (busy) return;
      busy = true;
      try {
        for (;;) {
          const parsed = parseRequest(pending);
          if (parsed === undefined) break;
          if (parsed === 'garbage') {
            garbage.push(pending.toString('latin1'));
            pending = Buffer.alloc(0);
            break;
          }
          pending = pending.subarray(parsed.length);
          const request = { ...parsed.request, connection: index };
          if (request.method === 'GET' && request.target === '/api/tags') {
            probes.push(request);
            socket.write(
              'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{"models":[]}',
            );
            continue;
          }
          requests.push(request);
          await script(request, socket);
          if (socket.destroyed) break;
        }
      } finally {
        busy = false;
      }
      if (parseRequest(pending) !== undefined && !socket.destroyed) void pump();
    };
    socket.on('data', (chunk: Buffer) => {
      received[index] = Buffer.concat([received[index]!, chunk]);
      pending = Buffer.concat([pending, chunk]);
      void pump();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    probes,
    received,
    connections,
    garbage,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function parseRequest(
  data: Buffer,
): { request: Omit<UpstreamRequest, 'connection'>; length: number } | 'garbage' | undefined {
  const headEnd = data.indexOf(CRLFCRLF);
  if (headEnd < 0) return data.length > 64 * 1024 ? 'garbage' : undefined;
  const head = data.toString('latin1', 0, headEnd);
  const lines = head.split('\r\n');
  const match = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(lines[0] ?? '');
  if (match === null) return 'garbage';
  const headerPairs: [string, string][] = [];
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return 'garbage';
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    headerPairs.push([name, value]);
    const lower = name.toLowerCase();
    headers[lower] = headers[lower] === undefined ? value : `${headers[lower]}, ${value}`;
  }
  const start = headEnd + 4;
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const chunks: Buffer[] = [];
    let pos = start;
    for (;;) {
      const lineEnd = data.indexOf('\r\n', pos);
      if (lineEnd < 0) return undefined;
      const size = Number.parseInt(data.toString('latin1', pos, lineEnd), 16);
      if (Number.isNaN(size)) return 'garbage';
      if (size === 0) {
        const trailerEnd = data.indexOf(CRLFCRLF, lineEnd);
        if (trailerEnd < 0) return undefined;
        return {
          request: { method: match[1]!, target: match[2]!, headerPairs, headers, head, body: Buffer.concat(chunks) },
          length: trailerEnd + 4,
        };
      }
      if (lineEnd + 2 + size + 2 > data.length) return undefined;
      chunks.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
      pos = lineEnd + 2 + size + 2;
    }
  }
  const length = Number(headers['content-length'] ?? 0);
  if (start + length > data.length) return undefined;
  return {
    request: {
      method: match[1]!,
      target: match[2]!,
      headerPairs,
      headers,
      head,
      body: Buffer.from(data.subarray(start, start + length)),
    },
    length: start + length,
  };
}

export interface TracedProxy {
  proxy: RunningProxy;
  telemetry: TelemetryHarness;
  /** Closes the proxy, its telemetry and the upstream. */
  close(): Promise<void>;
}

/** The proxy in front of a raw upstream, recording into an in-memory SDK. */
export async function startTracedProxy(upstream: RawUpstream, options: ProxyOptions = {}): Promise<TracedProxy> {
  const { proxy, telemetry } = await startRecordingProxy(upstream.url, options);
  return {
    proxy,
    telemetry,
    async close() {
      await proxy.close(0);
      await telemetry.shutdown();
      await upstream.close();
    },
  };
}

/** What clients sent through the proxy, without the proxy's own `GET /api/tags` (its list of known models). */
export function fromClients<T extends { method: string; path: string }>(requests: T[]): T[] {
  return requests.filter((r) => !(r.method === 'GET' && r.path === '/api/tags'));
}

/** A well-formed answer with a Content-Length. */
export function answer(status: number, body: string, contentType = 'application/json; charset=utf-8'): string {
  return `HTTP/1.1 ${status} ${status === 200 ? 'OK' : 'Status'}\r\nContent-Type: ${contentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** The environment of a CLI child: no inherited OTEL_/OLLAMA_/NODE_ settings, no host or runtime metrics. */
export function cliEnv(extra: Record<string, string> = {}): Record<string, string> {
  return childEnv({
    OLLAMA_OTEL_HOST_METRICS: 'false',
    OLLAMA_OTEL_RUNTIME_METRICS: 'false',
    OLLAMA_OTEL_SERVER_METRICS: 'false',
    OTEL_TRACES_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    OTEL_METRICS_EXPORTER: 'none',
    ...extra,
  });
}

/** The API shape of an error body: OpenAI, Anthropic or Ollama's own. */
export function errorShape(body: string): 'openai' | 'anthropic' | 'ollama' | 'other' {
  let parsed: any;
  try {
    parsed = JSON.parse(body);
  } catch {
    return 'other';
  }
  if (parsed?.type === 'error' && typeof parsed.error?.type === 'string' && typeof parsed.error?.message === 'string')
    return 'anthropic';
  if (
    typeof parsed?.error?.message === 'string' &&
    typeof parsed.error.type === 'string' &&
    'param' in parsed.error &&
    'code' in parsed.error
  )
    return 'openai';
  if (typeof parsed?.error === 'string') return 'ollama';
  return 'other';
}

/** The built CLI with {@link cliEnv} (optionally behind a wrapper such as `prlimit ...`). */
export function startCli(
  args: string[],
  options: { env?: Record<string, string>; wrapper?: string[] } = {},
): Promise<CliProcess> {
  return startProxyCli(args, { env: cliEnv(options.env), wrapper: options.wrapper });
}

export { CLI, type CliProcess };
