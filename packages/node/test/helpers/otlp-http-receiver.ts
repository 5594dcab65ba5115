/** A real OTLP/HTTP receiver (`/v1/traces`, `/v1/metrics`, `/v1/logs`; protobuf or JSON bodies) on 127.0.0.1. */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { decodeRequest, SERVICES, type Signal, TelemetryStore } from './otlp.js';

export interface OtlpHttpReceiver {
  /** `http://127.0.0.1:<port>`, for `OTEL_EXPORTER_OTLP_ENDPOINT` (the exporters append `/v1/<signal>`). */
  readonly endpoint: string;
  readonly port: number;
  readonly store: TelemetryStore;
  /** Request paths received, in order (including unknown ones). */
  readonly paths: string[];
  close(): Promise<void>;
}

/** Any path ending in `/v1/<signal>` (so base paths such as `/api/v1/otlp/v1/metrics` work too). */
function signalOf(path: string): Signal | undefined {
  const match = /\/v1\/(traces|metrics|logs)$/.exec(path);
  return match ? (match[1] as Signal) : undefined;
}

export async function startOtlpHttpReceiver(store = new TelemetryStore()): Promise<OtlpHttpReceiver> {
  const paths: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    paths.push(path);
    const signal = signalOf(path);
    if (req.method !== 'POST' || signal === undefined) {
      res.writeHead(404).end();
      return;
    }
    readBody(req).then(
      (body) => {
        try {
          const json = (req.headers['content-type'] ?? '').includes('json');
          const payload = json
            ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>)
            : decodeRequest(signal, body);
          const headers: Record<string, string> = {};
          for (const [key, value] of Object.entries(req.headers)) headers[key] = String(value);
          store.add(signal, json ? 'http/json' : 'http/protobuf', payload, headers);
        } catch (err) {
          res.writeHead(400, { 'content-type': 'text/plain' }).end(String(err));
          return;
        }
        if ((req.headers['content-type'] ?? '').includes('json')) {
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        } else {
          const { response } = SERVICES[signal];
          res
            .writeHead(200, { 'content-type': 'application/x-protobuf' })
            .end(Buffer.from(response.encode(response.create({})).finish()));
        }
      },
      () => res.writeHead(400).end(),
    );
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    store,
    paths,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  return req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
}
