/*
 * Model names are client input: 10,000 made-up ones (each a 404 from Ollama) must not blow up the metrics. The
 * model values on /metrics are Ollama's own models, at most 20 others, and `_OTHER`; /metrics stays small and
 * fast; the heap after GC does not grow with the names.
 */

import { Agent, request } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { canonicalModelName, MODELS, type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy } from '../../src/index.js';
import type { RunningProxy } from '../../src/types.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const NAMES = 10_000;
/** Made-up names sent before the heap is measured (they fill every bounded cache), and while it is. */
const WARM_NAMES = 5_000;
const MEASURED_NAMES = 20_000;
const CONCURRENCY = 50;
const MAX_UNLISTED = 20;

function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

function chat(agent: Agent, base: string, model: string): Promise<number> {
  const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], stream: false });
  return new Promise((resolve, reject) => {
    const url = new URL('/api/chat', base);
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path: '/api/chat',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('10,000 distinct model names', () => {
  let double: OllamaDouble;
  let exporter: PrometheusExporter;
  let meterProvider: InstanceType<typeof MeterProvider>;
  let proxy: RunningProxy;
  const statuses = new Map<number, number>();
  let heapGrowth = 0;

  beforeAll(async () => {
    double = await startOllamaDouble({ recordRequests: false });
    exporter = new PrometheusExporter({ preventServerStart: true });
    meterProvider = new MeterProvider({ readers: [exporter as never] });
    proxy = await startProxy({
      upstream: double.url,
      port: 0,
      metrics: exporter,
      meterProvider,
      maxUnlistedModels: MAX_UNLISTED,
      // Listed by the operator: always a value of its own, though Ollama does not know it.
      models: ['m-9999'],
    });
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const send = async (models: string[]) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < models.length) {
            const status = await chat(agent, proxy.url, models[next++]!);
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
          }
        }),
      );
    };
    // Known models first, then 5,000 other names: every bounded cache (attribute sets, span names) is full by
    // then, so what the 20,000 measured names add is what names cost: about 1.65 MiB without the bound, about
    // 0.65 MiB with it (the in-process double and the test itself; the proxy alone stays flat, see bench/proxy-soak.mjs).
    await send(Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? 'llama3.2' : `warm-${i}`)));
    await send(Array.from({ length: WARM_NAMES }, (_, i) => `w-${i}`));
    const before = heapAfterGc();
    await send(Array.from({ length: NAMES }, (_, i) => `m-${i}`));
    await send(Array.from({ length: MEASURED_NAMES - NAMES }, (_, i) => `x-${i}`));
    await send(['llama3.2', 'qwen3:latest', 'gemma4']);
    heapGrowth = heapAfterGc() - before;
    agent.destroy();
  }, 120_000);

  afterAll(async () => {
    await proxy?.close(0);
    await meterProvider?.shutdown();
    await double?.close();
  });

  it('keeps /metrics under 1 MiB and its scrape under 1 s, with the known models, <= 20 others and _OTHER', async () => {
    // Every request was forwarded: Ollama answered 404 to each made-up name.
    expect(statuses.get(404)).toBe(100 + WARM_NAMES + MEASURED_NAMES);
    expect(statuses.get(200)).toBe(103);
    const started = performance.now();
    const response = await fetch(`${proxy.url}/metrics`);
    const text = await response.text();
    const seconds = (performance.now() - started) / 1000;
    expect(response.status).toBe(200);
    expect(Buffer.byteLength(text)).toBeLessThan(1024 * 1024);
    expect(seconds).toBeLessThan(1);
    const values = new Set([...text.matchAll(/gen_ai_request_model="([^"]*)"/g)].map((match) => match[1]!));
    const known = new Set(MODELS.map((model) => model.name));
    const others = [...values].filter((value) => value !== '_OTHER' && !known.has(canonicalModelName(value)));
    expect(values.has('_OTHER')).toBe(true);
    expect(values.has('llama3.2')).toBe(true);
    expect(values.has('m-9999')).toBe(true);
    expect(others.filter((value) => value !== 'm-9999').length, others.join(', ')).toBeLessThanOrEqual(MAX_UNLISTED);
  });

  it('does not grow the heap with the names: 20,000 more, after GC, < 1.1 MiB', () => {
    expect(heapGrowth, `${(heapGrowth / 1024 / 1024).toFixed(2)} MiB`).toBeLessThan(1.1 * 1024 * 1024);
  });
});
