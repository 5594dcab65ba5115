/*
 * The FastAPI setup beside ours on the same pipeline: OpenLLMetry's `opentelemetry-instrumentation-ollama` on a
 * FastAPI app (bench/peers/python/openllmetry_app.py, pinned in openllmetry.txt) and our Express example, the same
 * requests to each, both exporting OTLP/HTTP to a real Collector running the shipped config. What the Collector's
 * Prometheus exporter delivers (to an OTLP receiver standing in for Prometheus: Debian's Prometheus has no OTLP
 * receiver) gives the table of metric names and attributes each one produces, printed for bench/peers/README.md and
 * the proxy README, with the name Prometheus stores (deploy/test/otlp-names.ts). It checks what that table states.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReceivedMetric } from '../../packages/node/test/helpers/otlp.js';
import { type OtlpGrpcReceiver, startOtlpGrpcReceiver } from '../../packages/node/test/helpers/otlp-grpc-receiver.js';
import { type OtlpHttpReceiver, startOtlpHttpReceiver } from '../../packages/node/test/helpers/otlp-http-receiver.js';
import { call, type ExampleService, REQUEST_KINDS, startExampleService, waitForHealthy } from './app.js';
import {
  collectorSkipReason,
  loopbackConfig,
  type RunningCollector,
  shippedConfig,
  startCollector,
} from './collector.js';
import { exporterPrometheusName, OTLP_NAME } from './otlp-names.js';
import { freePort } from './prometheus.js';
import { pythonEnv } from './python.js';
import { repoRoot, toolsSkipReason } from './tools.js';

const env = pythonEnv('bench/peers/python/openllmetry.txt');
const OURS = 'express-chat';
const THEIRS = 'fastapi-openllmetry';

/** GenAI/LLM/Ollama metric name -> "unit, type" and the attribute keys its points carry, for one service. */
function families(metrics: ReceivedMetric[], service: string) {
  const out = new Map<string, { shape: string; stored: string; keys: Set<string> }>();
  for (const m of metrics.filter(
    (x) => x.resource['service.name'] === service && /^(gen_ai|llm|ollama)\./.test(x.name),
  )) {
    const known = OTLP_NAME[exporterPrometheusName(m)];
    const entry = out.get(m.name) ?? {
      shape: `${m.unit || '(none)'}, ${m.type}`,
      stored: known ?? '',
      keys: new Set(),
    };
    for (const point of m.points) for (const key of Object.keys(point.attributes)) entry.keys.add(key);
    out.set(m.name, entry);
  }
  return out;
}

describe.skipIf(env.skip ?? collectorSkipReason ?? toolsSkipReason)(
  'OpenLLMetry (FastAPI) beside ours through the shipped Collector',
  () => {
    let double: OllamaDouble;
    let prometheus: OtlpHttpReceiver;
    let jaeger: OtlpGrpcReceiver;
    let collector: RunningCollector;
    let service: ExampleService;
    let fastapi: ChildProcess;
    let ours: ReturnType<typeof families>;
    let theirs: ReturnType<typeof families>;

    beforeAll(async () => {
      double = await startOllamaDouble({ chunks: 5, coldLoadMs: 200 });
      prometheus = await startOtlpHttpReceiver();
      jaeger = await startOtlpGrpcReceiver();
      collector = await startCollector(
        await loopbackConfig(shippedConfig(), { traces: jaeger.port, metrics: prometheus.endpoint }),
      );
      const otlp = {
        OLLAMA_HOST: double.url,
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.httpEndpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_METRIC_EXPORT_INTERVAL: '1000',
        OTEL_LOGS_EXPORTER: 'none',
        OTEL_RESOURCE_ATTRIBUTES: 'service.namespace=peers',
      };
      service = await startExampleService({ ...otlp, OTEL_SERVICE_NAME: OURS });
      const port = await freePort();
      let output = '';
      fastapi = spawn(env.python!, [join(repoRoot, 'bench/peers/python/openllmetry_app.py'), String(port)], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...otlp, OTEL_SERVICE_NAME: THEIRS },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      fastapi.stdout!.on('data', (c) => (output += c));
      fastapi.stderr!.on('data', (c) => (output += c));
      const fastapiBase = `http://127.0.0.1:${port}`;
      await waitForHealthy(`${fastapiBase}/healthz`, fastapi, () => output);
      for (const kind of REQUEST_KINDS) {
        expect({ kind, status: (await call(fastapiBase, kind)).status }).toEqual({
          kind,
          status: (await call(service.base, kind)).status,
        });
      }
      await fetch(`${fastapiBase}/flush`, { method: 'POST' });
      await service.stop();
      const deadline = Date.now() + 30_000;
      while (
        families(prometheus.store.metrics, THEIRS).size === 0 ||
        families(prometheus.store.metrics, OURS).size === 0
      ) {
        if (Date.now() > deadline) throw new Error(`no GenAI metrics arrived:\n${output}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      await new Promise((r) => setTimeout(r, 1500));
      ours = families(prometheus.store.metrics, OURS);
      theirs = families(prometheus.store.metrics, THEIRS);
      const names = [...new Set([...ours.keys(), ...theirs.keys()])].sort();
      const cell = (m: typeof ours, name: string) =>
        m.has(name)
          ? [...m.get(name)!.keys]
              .sort()
              .map((k) => `\`${k}\``)
              .join(', ') || '(none)'
          : '–';
      const stored = (name: string) => ours.get(name)?.stored || theirs.get(name)?.stored || '';
      console.log(
        [
          '| OTel metric (unit, type) | stored in Prometheus as | ours (Express example): attributes | OpenLLMetry (FastAPI): attributes |',
          '|---|---|---|---|',
          ...names.map(
            (n) =>
              `| \`${n}\` (${(ours.get(n) ?? theirs.get(n))!.shape}) | ${stored(n) ? `\`${stored(n)}\`` : ''} | ${cell(ours, n)} | ${cell(theirs, n)} |`,
          ),
        ].join('\n'),
      );
    }, 180_000);

    afterAll(async () => {
      fastapi?.kill('SIGTERM');
      await service?.stop();
      await collector?.close();
      await jaeger?.close();
      await prometheus?.close();
      await double?.close();
    });

    it('both produce the GenAI duration and token histograms', () => {
      for (const name of ['gen_ai.client.operation.duration', 'gen_ai.client.token.usage']) {
        expect(ours.has(name), `ours: ${name}`).toBe(true);
        expect(theirs.has(name), `OpenLLMetry: ${name}`).toBe(true);
      }
    });

    it('OpenLLMetry names no operation, request model or error type, and the provider as gen_ai.system', () => {
      const keys = [...theirs.get('gen_ai.client.operation.duration')!.keys];
      for (const missing of ['gen_ai.operation.name', 'gen_ai.request.model', 'error.type', 'gen_ai.provider.name']) {
        expect(keys).not.toContain(missing);
      }
      expect(keys).toContain('gen_ai.system');
      expect([...ours.get('gen_ai.client.operation.duration')!.keys]).toEqual(
        expect.arrayContaining(['error.type', 'gen_ai.request.model', 'gen_ai.operation.name']),
      );
      expect(theirs.has('gen_ai.client.operation.time_to_first_chunk')).toBe(false);
      expect(ours.has('gen_ai.client.operation.time_to_first_chunk')).toBe(true);
    });
  },
);
