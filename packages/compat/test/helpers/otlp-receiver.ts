/**
 * An OTLP/HTTP JSON trace receiver on 127.0.0.1 (child processes export with `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`).
 * Keeps what the timestamp checks need: ids, times in nanoseconds (bigint), events, attributes, service name.
 */
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ReceivedEvent {
  name: string;
  time: bigint;
}

export interface ReceivedSpan {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  start: bigint;
  end: bigint;
  attributes: Record<string, unknown>;
  events: ReceivedEvent[];
  statusCode: number;
  scope: string;
  service: string;
}

export interface OtlpReceiver {
  /** For `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  readonly endpoint: string;
  /** Spans of one service (`OTEL_SERVICE_NAME` of one child). */
  spansOf(service: string): ReceivedSpan[];
  /** Every span received since the last `clear()`. */
  all(): ReceivedSpan[];
  clear(): void;
  close(): Promise<void>;
}

export const SPAN_KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3 } as const;

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      try {
        if (request.url === '/v1/traces') spans.push(...flatten(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } catch (error) {
        response.writeHead(400).end(String(error));
      }
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spansOf: (service) => spans.filter((span) => span.service === service),
    all: () => [...spans],
    clear: () => {
      spans.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

type Json = Record<string, any>;

function flatten(payload: Json): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const resourceSpans of payload.resourceSpans ?? []) {
    const service = String(attributes(resourceSpans.resource?.attributes)['service.name'] ?? '');
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        out.push({
          name: span.name,
          kind: Number(span.kind ?? 0),
          traceId: span.traceId ?? '',
          spanId: span.spanId ?? '',
          parentSpanId: span.parentSpanId ?? '',
          start: BigInt(span.startTimeUnixNano),
          end: BigInt(span.endTimeUnixNano),
          attributes: attributes(span.attributes),
          events: (span.events ?? []).map((event: Json) => ({ name: event.name, time: BigInt(event.timeUnixNano) })),
          statusCode: Number(span.status?.code ?? 0),
          scope: String(scopeSpans.scope?.name ?? ''),
          service,
        });
      }
    }
  }
  return out;
}

function attributes(list: Json[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of list ?? []) out[key] = anyValue(value);
  return out;
}

function anyValue(value: Json | undefined): unknown {
  if (value === undefined) return undefined;
  if ('stringValue' in value) return value.stringValue;
  if ('boolValue' in value) return value.boolValue;
  if ('intValue' in value) return Number(value.intValue);
  if ('doubleValue' in value) return Number(value.doubleValue);
  if ('arrayValue' in value) return (value.arrayValue.values ?? []).map(anyValue);
  return undefined;
}
