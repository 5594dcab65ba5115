/**
 * OTLP/HTTP transport (protobuf or JSON bodies): one POST per export attempt, as the OpenTelemetry exporters send
 * it (their agent, headers, TLS and compression settings, from code or `OTEL_EXPORTER_OTLP_*`), except that its
 * sockets and its timer never keep the process alive: a finished app exits while an export is still waiting for
 * a collector. The shutdown flush keeps the process alive itself, for a bounded time.
 *
 * Outcomes, as the OTLP specification has them: 2xx success; 429, 502, 503, 504 and network errors retryable
 * (with the server's Retry-After); anything else a failure.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { Socket } from 'node:net';
import { gzip } from 'node:zlib';
import { type ExportResponse, type IExporterTransport, OTLPExporterError } from '@opentelemetry/otlp-exporter-base';
import type { convertLegacyHttpOptions } from '@opentelemetry/otlp-exporter-base/node-http';
import { USER_AGENT } from './version.js';

/** Answers larger than this are not read (the exporters' own limit). */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
const RETRYABLE_NETWORK_ERRORS = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ENETUNREACH',
  'EHOSTUNREACH',
]);

/** The exporters' resolved HTTP settings (code, then `OTEL_EXPORTER_OTLP_*`, then defaults). */
export type OtlpNodeHttpConfiguration = ReturnType<typeof convertLegacyHttpOptions>;

export class HttpTransport implements IExporterTransport {
  private readonly url: URL;
  private agent: Promise<http.Agent> | undefined;
  private readonly requests = new Set<http.ClientRequest>();

  constructor(private readonly config: OtlpNodeHttpConfiguration) {
    this.url = new URL(config.url);
  }

  async send(data: Uint8Array, timeoutMillis: number): Promise<ExportResponse> {
    try {
      this.agent ??= Promise.resolve(this.config.agentFactory(this.url.protocol));
      const agent = await this.agent;
      const headers = { ...(await this.config.headers()) };
      headers['User-Agent'] = this.config.userAgent ? `${this.config.userAgent} ${USER_AGENT}` : USER_AGENT;
      const body = this.config.compression === 'gzip' ? await gzipped(data) : data;
      if (body !== data) headers['Content-Encoding'] = 'gzip';
      return await this.post(body, headers, agent, timeoutMillis);
    } catch (err) {
      return { status: 'failure', error: err instanceof Error ? err : new Error(String(err)) };
    }
  }

  /** Ends every request in flight (they fail) and closes the pooled connections. */
  shutdown(): void {
    for (const request of this.requests) request.destroy();
    this.agent?.then(
      (agent) => agent.destroy(),
      () => {},
    );
  }

  private post(
    body: Uint8Array,
    headers: Record<string, string>,
    agent: http.Agent,
    timeoutMillis: number,
  ): Promise<ExportResponse> {
    return new Promise((resolve) => {
      let settled = false;
      const request = (this.url.protocol === 'https:' ? https : http).request(
        this.url,
        { method: 'POST', headers, agent },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) {
              response.destroy();
              finish({ status: 'failure', error: new Error(`response larger than ${MAX_RESPONSE_BYTES} bytes`) });
            } else {
              chunks.push(chunk);
            }
          });
          response.on('end', () => finish(outcome(response, Buffer.concat(chunks))));
          response.on('error', (error) => finish(failed(error)));
        },
      );
      const finish = (result: ExportResponse): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.requests.delete(request);
        resolve(result);
      };
      const timer = setTimeout(() => {
        request.destroy();
        finish({ status: 'retryable', error: new Error(`no answer within ${timeoutMillis} ms`) });
      }, timeoutMillis);
      timer.unref();
      this.requests.add(request);
      // The agent refs a pooled socket again each time it hands it out.
      request.on('socket', (socket: Socket) => socket.unref());
      request.on('error', (error) => finish(failed(error)));
      request.end(body);
    });
  }
}

function outcome(response: http.IncomingMessage, body: Buffer): ExportResponse {
  const status = response.statusCode ?? 0;
  if (status >= 200 && status <= 299) return { status: 'success', data: body };
  if (RETRYABLE_STATUS.has(status)) {
    return {
      status: 'retryable',
      error: new OTLPExporterError(response.statusMessage, status, body.toString()),
      retryInMillis: retryAfterMillis(response.headers['retry-after']),
    };
  }
  return { status: 'failure', error: new OTLPExporterError(response.statusMessage, status, body.toString()) };
}

function failed(error: Error): ExportResponse {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && RETRYABLE_NETWORK_ERRORS.has(code)
    ? { status: 'retryable', error }
    : { status: 'failure', error };
}

/** `Retry-After`: seconds, or an HTTP date. */
export function retryAfterMillis(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value.trim());
  if (Number.isFinite(seconds)) return Math.max(seconds, 0) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(at - Date.now(), 0);
}

function gzipped(data: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => gzip(data, (err, result) => (err ? reject(err) : resolve(result))));
}
