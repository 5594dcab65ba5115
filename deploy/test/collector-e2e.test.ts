/*
 * End to end through a real collector: the example service under `@ollama-otel/node/register`, exporting OTLP over
 * gRPC and over http/protobuf, → otelcorecol running the shipped deploy/collector/config.yaml (memory_limiter,
 * batch, the shipped pipelines and exporters; contrib components out, endpoints on loopback) → OTLP receivers in the
 * test standing in for Jaeger (otlp_grpc) and Prometheus (otlp_http).
 *
 * The same traffic also goes straight from the service to a receiver, without a collector: what arrives through
 * the collector must be what the service sent (every trace whole and shaped the same, every metric with the same
 * name, unit, type and attributes), and it must carry every metric name the Grafana dashboard queries.
 */
import { type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReceivedMetric, ReceivedSpan } from '../../packages/node/test/helpers/otlp.js';
import { startOtlpGrpcReceiver } from '../../packages/node/test/helpers/otlp-grpc-receiver.js';
import { startOtlpHttpReceiver } from '../../packages/node/test/helpers/otlp-http-receiver.js';
import { type CallResult, demoRounds, startExampleService } from './app.js';
import {
  collectorSkipReason,
  loopbackConfig,
  type RunningCollector,
  shippedConfig,
  startCollector,
} from './collector.js';
import { dashboardExpressions, PROXY_ROW } from './dashboard.js';
import { storedNames } from './otlp-names.js';
import { type RunningPrometheus, startPrometheus } from './prometheus.js';
import { lastTotalCount } from './received.js';
import { toolsSkipReason } from './tools.js';

const ROUNDS = 3;
const VIA_COLLECTOR = ['grpc', 'http/protobuf'] as const;
type Mode = 'direct' | (typeof VIA_COLLECTOR)[number];

interface Run {
  calls: CallResult[];
  spans: ReceivedSpan[];
  metrics: ReceivedMetric[];
  /** Telemetry that reached the wrong stand-in (spans at "Prometheus", metrics at "Jaeger"). */
  misrouted: number;
  selfMetrics?: Record<string, number>;
  serviceExit: Awaited<ReturnType<Awaited<ReturnType<typeof startExampleService>>['stop']>>;
}

describe.skipIf(collectorSkipReason ?? toolsSkipReason)('end to end through a real collector (otelcorecol)', () => {
  let double: OllamaDouble;
  const runs = {} as Record<Mode, Run>;

  beforeAll(async () => {
    double = await startOllamaDouble({ chunks: 12, chunkDelayMs: 3, coldLoadMs: 550, promptEvalMs: 10 });
    for (const mode of ['direct', ...VIA_COLLECTOR] as const) runs[mode] = await run(mode, double);
  }, 120_000);

  afterAll(async () => {
    await double?.close();
  });

  it('answers every call as it should, and the service exits on SIGTERM', () => {
    for (const mode of Object.keys(runs) as Mode[]) {
      for (const c of runs[mode].calls) expect(c.status, `${mode} ${c.kind}: ${c.body}`).toBe(c.expectedStatus);
      expect(runs[mode].serviceExit, mode).toMatchObject({ code: 0, killed: false });
    }
  });

  for (const mode of VIA_COLLECTOR) {
    describe(`service → collector over ${mode}`, () => {
      it('delivers every trace whole: one root (the HTTP server span, child of the caller), no orphans', () => {
        const { calls, spans } = runs[mode];
        for (const c of calls) {
          const trace = spans.filter((s) => s.traceId === c.traceId);
          const ids = new Set(trace.map((s) => s.spanId));
          expect(ids.size, `${c.kind}: duplicate spans`).toBe(trace.length);
          const roots = trace.filter((s) => !ids.has(s.parentSpanId));
          expect(
            roots.map((s) => [s.parentSpanId, s.kind, s.scope]),
            c.kind,
          ).toEqual([[c.parentSpanId, 2, '@opentelemetry/instrumentation-http']]);
          expect(trace.length, c.kind).toBeGreaterThanOrEqual(2);
        }
      });

      it('delivers the same trace trees as the service sends without a collector (names, kinds, attributes)', () => {
        const shapes = (m: Mode) => runs[m].calls.map((c) => `${c.kind}\n${traceShape(runs[m].spans, c.traceId)}`);
        expect(shapes(mode)).toEqual(shapes('direct'));
        expect(resourceKeys(runs[mode].spans)).toEqual(resourceKeys(runs.direct.spans));
      });

      it('delivers the same metrics as the service sends without a collector (name, unit, type, attributes)', () => {
        expect(descriptors(runs[mode].metrics)).toEqual(descriptors(runs.direct.metrics));
        expect(resourceKeys(runs[mode].metrics)).toEqual(resourceKeys(runs.direct.metrics));
        // Cumulative counts survive the hop: the last operation-duration count is every call made.
        expect(lastTotalCount(runs[mode].metrics, 'gen_ai.client.operation.duration')).toBe(runs[mode].calls.length);
      });

      it('routes as shipped (traces to the Jaeger exporter, metrics to the Prometheus one), refusing nothing', () => {
        expect(runs[mode].misrouted).toBe(0);
        const self = runs[mode].selfMetrics!;
        expect(self.otelcol_receiver_refused_spans ?? 0).toBe(0);
        expect(self.otelcol_receiver_refused_metric_points ?? 0).toBe(0);
        expect(self.otelcol_exporter_sent_spans).toBe(self.otelcol_receiver_accepted_spans);
        expect(self.otelcol_exporter_sent_metric_points).toBe(self.otelcol_receiver_accepted_metric_points);
      });
    });
  }

  describe('the dashboard', () => {
    let prom: RunningPrometheus;
    beforeAll(async () => {
      prom = await startPrometheus({ config: 'global: {}\n' });
    });
    afterAll(async () => {
      await prom?.stop();
    });

    for (const mode of VIA_COLLECTOR) {
      it(`finds every metric it queries among what arrives through the collector over ${mode}`, async () => {
        // Prometheus' OTLP receiver stores each metric under these names, and target_info from the resource.
        const stored = new Set(runs[mode].metrics.flatMap(storedNames));
        if (runs[mode].metrics.some((m) => m.resource['service.name'])) stored.add('target_info');
        const missing = new Set<string>();
        let checked = 0;
        for (const { expr } of dashboardExpressions({ service: 'express-chat' }, { skipRows: [PROXY_ROW] })) {
          for (const matcher of await prom.metricSelectors(expr)) {
            if (matcher.value.startsWith('DCGM_')) continue; // NVIDIA's exporter, scraped by Prometheus
            checked++;
            const matches =
              matcher.type === '=~'
                ? [...stored].some((name) => new RegExp(`^(?:${matcher.value})$`).test(name))
                : stored.has(matcher.value);
            if (!matches) missing.add(`${matcher.type}${matcher.value}`);
          }
        }
        expect(checked).toBeGreaterThan(30);
        expect([...missing]).toEqual([]);
      });
    }
  });
});

async function run(mode: Mode, double: OllamaDouble): Promise<Run> {
  const jaeger = await startOtlpGrpcReceiver();
  const prometheus = await startOtlpHttpReceiver();
  const collector =
    mode === 'direct'
      ? undefined
      : await startCollector(
          await loopbackConfig(shippedConfig(), { traces: jaeger.port, metrics: prometheus.endpoint }),
        );
  const endpoint = collector ? (mode === 'grpc' ? collector.grpcEndpoint : collector.httpEndpoint) : jaeger.endpoint;
  try {
    const service = await startExampleService({
      OLLAMA_HOST: double.url,
      OTEL_SERVICE_NAME: 'express-chat',
      OTEL_RESOURCE_ATTRIBUTES: 'service.namespace=ollama-otel',
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: mode === 'direct' ? 'grpc' : mode,
      OTEL_METRIC_EXPORT_INTERVAL: '500',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OLLAMA_OTEL_SERVER_METRICS_MIN_INTERVAL: '500',
    });
    const calls = await demoRounds(service.base, double.url, ROUNDS);
    // Exiting flushes the service's spans and a last metric export; stopping the collector then drains its batches.
    const serviceExit = await service.stop();
    const selfMetrics = collector ? await drained(collector) : undefined;
    await collector?.stop();
    return {
      calls,
      spans: [...jaeger.store.spans],
      metrics: [...(collector ? prometheus : jaeger).store.metrics],
      misrouted: collector ? jaeger.store.metrics.length + prometheus.store.spans.length : 0,
      selfMetrics,
      serviceExit,
    };
  } finally {
    await collector?.close();
    await jaeger.close();
    await prometheus.close();
  }
}

/** The collector's own counters once its exporters sent all it accepted (or after 5 s). */
async function drained(collector: RunningCollector): Promise<Record<string, number>> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const self = await collector.selfMetrics();
    const done =
      self.otelcol_exporter_sent_spans === self.otelcol_receiver_accepted_spans &&
      self.otelcol_exporter_sent_metric_points === self.otelcol_receiver_accepted_metric_points;
    if (done || Date.now() > deadline) return self;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A trace as indented lines: name, scope, kind, status and attribute names of each span, children sorted. */
function traceShape(spans: ReceivedSpan[], traceId: string): string {
  const trace = spans.filter((s) => s.traceId === traceId);
  const ids = new Set(trace.map((s) => s.spanId));
  const render = (span: ReceivedSpan, depth: number): string[] => [
    `${'  '.repeat(depth)}${span.name} (${span.scope}, kind ${span.kind}, status ${span.statusCode}) ` +
      `[${Object.keys(span.attributes).sort().join(' ')}]`,
    ...trace
      .filter((child) => child.parentSpanId === span.spanId)
      .map((child) => render(child, depth + 1).join('\n'))
      .sort(),
  ];
  return trace
    .filter((s) => !ids.has(s.parentSpanId))
    .map((root) => render(root, 0).join('\n'))
    .sort()
    .join('\n');
}

/** Each metric as `name unit type monotonic scope [attribute names over all its points]`, sorted. */
function descriptors(metrics: ReceivedMetric[]): string[] {
  const byName = new Map<string, Set<string>>();
  for (const m of metrics) {
    const key = `${m.name} "${m.unit}" ${m.type} ${m.monotonic ? 'monotonic' : ''} ${m.scope} "${m.description}"`;
    const attributes = byName.get(key) ?? new Set<string>();
    for (const p of m.points) for (const name of Object.keys(p.attributes)) attributes.add(name);
    byName.set(key, attributes);
  }
  return [...byName].map(([key, attributes]) => `${key} [${[...attributes].sort().join(' ')}]`).sort();
}

function resourceKeys(items: { resource: Record<string, unknown> }[]): string[] {
  return [...new Set(items.flatMap((item) => Object.keys(item.resource)))].sort();
}
