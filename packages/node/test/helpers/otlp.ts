/**
 * What the test OTLP receivers collect, decoded with the official OTLP protobuf definitions (the static protobufjs
 * module that `@opentelemetry/otlp-transformer` 0.213 generated from opentelemetry-proto and shipped on npm, here
 * under the alias `otlp-proto-root`), and flattened into plain objects that are easy to assert on.
 */
import { createRequire } from 'node:module';

export type Signal = 'traces' | 'metrics' | 'logs';
export type Transport = 'grpc' | 'http/protobuf' | 'http/json';

interface ProtoType {
  decode(buffer: Uint8Array): unknown;
  encode(message: unknown): { finish(): Uint8Array };
  create(properties?: Record<string, unknown>): unknown;
  toObject(message: unknown, options: Record<string, unknown>): Record<string, unknown>;
}

interface ProtoRoot {
  opentelemetry: {
    proto: {
      collector: {
        trace: { v1: Record<'ExportTraceServiceRequest' | 'ExportTraceServiceResponse', ProtoType> };
        metrics: { v1: Record<'ExportMetricsServiceRequest' | 'ExportMetricsServiceResponse', ProtoType> };
        logs: { v1: Record<'ExportLogsServiceRequest' | 'ExportLogsServiceResponse', ProtoType> };
      };
    };
  };
}

const require = createRequire(import.meta.url);
const root = require('otlp-proto-root/build/src/generated/root.js') as ProtoRoot;
const collector = root.opentelemetry.proto.collector;

export const SERVICES: Record<Signal, { path: string; request: ProtoType; response: ProtoType }> = {
  traces: {
    path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    request: collector.trace.v1.ExportTraceServiceRequest,
    response: collector.trace.v1.ExportTraceServiceResponse,
  },
  metrics: {
    path: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
    request: collector.metrics.v1.ExportMetricsServiceRequest,
    response: collector.metrics.v1.ExportMetricsServiceResponse,
  },
  logs: {
    path: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
    request: collector.logs.v1.ExportLogsServiceRequest,
    response: collector.logs.v1.ExportLogsServiceResponse,
  },
};

/** Decodes an OTLP protobuf request body into a plain object (camelCase fields, numbers for 64-bit ints). */
export function decodeRequest(signal: Signal, body: Uint8Array): Record<string, unknown> {
  const type = SERVICES[signal].request;
  return type.toObject(type.decode(body), { longs: Number, enums: Number, defaults: false, arrays: true });
}

export type Attrs = Record<string, unknown>;

export interface ReceivedSpan {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  attributes: Attrs;
  resource: Attrs;
  scope: string;
  statusCode: number;
}

export interface ReceivedPoint {
  attributes: Attrs;
  /** Gauge / sum value. */
  value?: number;
  /** Histogram count and sum. */
  count?: number;
  sum?: number;
  timeUnixNano: number;
}

export interface ReceivedMetric {
  name: string;
  unit: string;
  description: string;
  type: 'gauge' | 'sum' | 'histogram' | 'exponentialHistogram' | 'summary';
  monotonic: boolean;
  scope: string;
  resource: Attrs;
  points: ReceivedPoint[];
}

export interface ReceivedLog {
  eventName: string;
  body: unknown;
  attributes: Attrs;
  resource: Attrs;
  scope: string;
}

export interface ReceivedRequest {
  signal: Signal;
  transport: Transport;
  /** Lower-cased header / gRPC metadata names. */
  headers: Record<string, string>;
}

/** Everything the receivers got, flattened; shared by the gRPC and the HTTP receiver. */
export class TelemetryStore {
  readonly spans: ReceivedSpan[] = [];
  readonly metrics: ReceivedMetric[] = [];
  readonly logs: ReceivedLog[] = [];
  readonly requests: ReceivedRequest[] = [];

  add(signal: Signal, transport: Transport, payload: Record<string, unknown>, headers: Record<string, string>): void {
    this.requests.push({ signal, transport, headers });
    if (signal === 'traces') this.spans.push(...flattenSpans(payload));
    else if (signal === 'metrics') this.metrics.push(...flattenMetrics(payload));
    else this.logs.push(...flattenLogs(payload));
  }

  clear(): void {
    this.spans.length = 0;
    this.metrics.length = 0;
    this.logs.length = 0;
    this.requests.length = 0;
  }

  /** Every data point received for metric `name` (across exports), optionally filtered by attributes. */
  points(name: string, where: Attrs = {}): ReceivedPoint[] {
    return this.metrics
      .filter((m) => m.name === name)
      .flatMap((m) => m.points)
      .filter((p) => Object.entries(where).every(([k, v]) => p.attributes[k] === v));
  }

  /** The most recent data point of metric `name` matching `where`. */
  lastPoint(name: string, where: Attrs = {}): ReceivedPoint | undefined {
    const points = this.points(name, where);
    return points.reduce<ReceivedPoint | undefined>(
      (latest, p) => (latest === undefined || p.timeUnixNano >= latest.timeUnixNano ? p : latest),
      undefined,
    );
  }

  /** `gen_ai.operation.name` of every GenAI span received, sorted (phase and other spans left out). */
  operations(): string[] {
    return this.spans
      .map((s) => s.attributes['gen_ai.operation.name'])
      .filter((op): op is string => typeof op === 'string')
      .sort();
  }

  metric(name: string): ReceivedMetric | undefined {
    return this.metrics.find((m) => m.name === name);
  }

  /** Polls `check` until it returns a truthy value; rejects with `what` after `timeoutMs`. */
  async waitFor<T>(what: string, check: () => T | undefined | false | null, timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = check();
      if (value) return value;
      if (Date.now() > deadline) {
        throw new Error(
          `timed out waiting for ${what}; have spans [${this.spans.map((s) => s.name).join(', ')}], metrics [${[
            ...new Set(this.metrics.map((m) => m.name)),
          ].join(', ')}]`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

function flattenSpans(payload: Record<string, unknown>): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const rs of list(payload.resourceSpans)) {
    const resource = attributesOf(obj(rs.resource).attributes);
    for (const ss of list(rs.scopeSpans)) {
      const scope = String(obj(ss.scope).name ?? '');
      for (const span of list(ss.spans)) {
        spans.push({
          name: String(span.name ?? ''),
          kind: Number(span.kind ?? 0),
          traceId: hex(span.traceId),
          spanId: hex(span.spanId),
          parentSpanId: hex(span.parentSpanId),
          attributes: attributesOf(span.attributes),
          resource,
          scope,
          statusCode: Number(obj(span.status).code ?? 0),
        });
      }
    }
  }
  return spans;
}

function flattenMetrics(payload: Record<string, unknown>): ReceivedMetric[] {
  const metrics: ReceivedMetric[] = [];
  for (const rm of list(payload.resourceMetrics)) {
    const resource = attributesOf(obj(rm.resource).attributes);
    for (const sm of list(rm.scopeMetrics)) {
      const scope = String(obj(sm.scope).name ?? '');
      for (const metric of list(sm.metrics)) {
        const type = (['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'] as const).find(
          (t) => metric[t] !== undefined,
        );
        if (type === undefined) continue;
        const data = obj(metric[type]);
        metrics.push({
          name: String(metric.name ?? ''),
          unit: String(metric.unit ?? ''),
          description: String(metric.description ?? ''),
          type,
          monotonic: data.isMonotonic === true,
          scope,
          resource,
          points: list(data.dataPoints).map((p) => ({
            attributes: attributesOf(p.attributes),
            value: p.asDouble !== undefined ? Number(p.asDouble) : p.asInt !== undefined ? Number(p.asInt) : undefined,
            count: p.count !== undefined ? Number(p.count) : undefined,
            sum: p.sum !== undefined ? Number(p.sum) : undefined,
            timeUnixNano: Number(p.timeUnixNano ?? 0),
          })),
        });
      }
    }
  }
  return metrics;
}

function flattenLogs(payload: Record<string, unknown>): ReceivedLog[] {
  const logs: ReceivedLog[] = [];
  for (const rl of list(payload.resourceLogs)) {
    const resource = attributesOf(obj(rl.resource).attributes);
    for (const sl of list(rl.scopeLogs)) {
      const scope = String(obj(sl.scope).name ?? '');
      for (const record of list(sl.logRecords)) {
        logs.push({
          eventName: String(record.eventName ?? ''),
          body: record.body === undefined ? undefined : anyValue(record.body),
          attributes: attributesOf(record.attributes),
          resource,
          scope,
        });
      }
    }
  }
  return logs;
}

function attributesOf(value: unknown): Attrs {
  const attributes: Attrs = {};
  for (const kv of list(value)) attributes[String(kv.key)] = anyValue(kv.value);
  return attributes;
}

function anyValue(value: unknown): unknown {
  const v = obj(value);
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return Number(v.doubleValue);
  if (v.arrayValue !== undefined) return list(obj(v.arrayValue).values).map(anyValue);
  if (v.kvlistValue !== undefined) return attributesOf(obj(v.kvlistValue).values);
  if (v.bytesValue !== undefined) return hex(v.bytesValue);
  return undefined;
}

function hex(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value.toLowerCase();
  return Buffer.from(value as Uint8Array).toString('hex');
}

function list(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? (value as Record<string, unknown>[]) : [];
}

function obj(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
}
