/*
 * Every native route through the real `ollama` client: the proxy records the GenAI and management telemetry
 * the instrumentation records for the same call (compared attribute by attribute against `instrumentOllama` on
 * the same double), under an HTTP SERVER span; other routes only get the server span.
 */
import { instrumentOllama } from '@ollama-otel/instrumentation';
import { createTelemetryHarness, type ReadableSpan } from '@ollama-otel/testing';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  clientSpans,
  histogramCount,
  onlyClientSpan,
  QUESTION,
  type Rig,
  serverSpans,
  settled,
  startRig,
} from './setup.js';

let rig: Rig;
let client: Ollama;

beforeAll(async () => {
  rig = await startRig({ double: { chunks: 6 } });
  client = new Ollama({ host: rig.proxy.url });
});
afterAll(() => rig.close());
beforeEach(() => rig.telemetry.reset());

/** Attributes that differ by nature between two calls (timings, ports, ids). */
const VARYING = /duration|time_to_first_chunk|tokens_per_second|server\.port|response\.id/;

function comparable(span: ReadableSpan): Record<string, unknown> {
  return Object.fromEntries(Object.entries(span.attributes).filter(([key]) => !VARYING.test(key)));
}

/** The same call made by an instrumented ollama-js straight to the double. */
async function instrumented(call: (client: Ollama) => Promise<unknown>): Promise<ReadableSpan[]> {
  const telemetry = createTelemetryHarness();
  const handle = instrumentOllama(Ollama, {
    tracerProvider: telemetry.tracerProvider,
    meterProvider: telemetry.meterProvider,
    loggerProvider: telemetry.loggerProvider,
  });
  try {
    await call(new Ollama({ host: rig.double.url }));
  } finally {
    handle.uninstrument();
    await telemetry.shutdown();
  }
  return telemetry.spans();
}

async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of stream) {
    // read to the end
  }
}

const CALLS: [string, (client: Ollama) => Promise<unknown>][] = [
  ['chat', (c) => c.chat({ model: 'llama3.2', messages: QUESTION, options: { temperature: 0.2, num_predict: 400 } })],
  ['chat stream', async (c) => drain(await c.chat({ model: 'llama3.2', messages: QUESTION, stream: true }))],
  ['generate', (c) => c.generate({ model: 'llama3.2', prompt: 'Why is the sky blue?', keep_alive: '5m' })],
  ['generate stream', async (c) => drain(await c.generate({ model: 'llama3.2', prompt: 'hi', stream: true }))],
  ['embed', (c) => c.embed({ model: 'all-minilm', input: ['sky', 'grass'] })],
  ['embeddings', (c) => c.embeddings({ model: 'all-minilm', prompt: 'sky' })],
  ['pull', async (c) => drain(await c.pull({ model: 'llama3.2', stream: true }))],
  ['list', (c) => c.list()],
  ['show', (c) => c.show({ model: 'llama3.2' })],
  ['ps', (c) => c.ps()],
  ['version', (c) => c.version()],
];

describe('native routes record what the instrumentation records', () => {
  it.each(CALLS)('%s', async (_name, call) => {
    await call(client);
    await settled(rig, 1);
    const proxied = rig.telemetry.spans();
    const direct = await instrumented(call);
    const names = (spans: ReadableSpan[]) =>
      spans
        .filter((s) => s.kind !== SpanKind.SERVER)
        .map((s) => s.name)
        .sort();
    expect(names(proxied)).toEqual(names(direct));
    const proxiedClient = onlyClientSpan(rig.telemetry);
    const directClient = direct.find((s) => s.kind === SpanKind.CLIENT)!;
    expect(comparable(proxiedClient)).toEqual(comparable(directClient));
    expect(proxiedClient.attributes['server.port']).toBe(rig.double.port);
    expect(proxiedClient.status.code).toBe(directClient.status.code);
    // The GenAI span is the server span's child; phase spans are the GenAI span's.
    const [server] = serverSpans(rig.telemetry);
    expect(proxiedClient.parentSpanContext?.spanId).toBe(server!.spanContext().spanId);
    for (const phase of proxied.filter((s) => s.kind === SpanKind.INTERNAL)) {
      expect(phase.parentSpanContext?.spanId).toBe(proxiedClient.spanContext().spanId);
    }
  });

  it('records the same metric streams as the instrumentation', async () => {
    const before = await rig.telemetry.collectMetrics();
    const count = (metrics: typeof before) =>
      histogramCount(metrics, 'gen_ai.client.operation.duration', { 'gen_ai.operation.name': 'chat' });
    await client.chat({ model: 'llama3.2', messages: QUESTION });
    await settled(rig, 1);
    const after = await rig.telemetry.collectMetrics();
    expect(count(after) - count(before)).toBe(1);
    for (const name of [
      'gen_ai.client.token.usage',
      'ollama.eval.duration',
      'ollama.prompt_eval.duration',
      'ollama.eval.tokens_per_second',
      'http.server.request.duration',
      'http.server.active_requests',
      'ollama.proxy.requests.active',
    ]) {
      expect(
        after.map((metric) => metric.name),
        name,
      ).toContain(name);
    }
    const active = after.find((metric) => metric.name === 'ollama.proxy.requests.active')!;
    expect(active.dataPoints.every((point) => point.value === 0)).toBe(true);
  });
});

describe('the HTTP server span', () => {
  it('names the route and records method, status, sizes and the client', async () => {
    await client.chat({ model: 'llama3.2', messages: QUESTION });
    await settled(rig, 1);
    const [server] = serverSpans(rig.telemetry);
    expect(server!.name).toBe('POST /api/chat');
    expect(server!.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/api/chat',
      'url.path': '/api/chat',
      'url.scheme': 'http',
      'http.response.status_code': 200,
      'client.address': '127.0.0.1',
      'network.protocol.version': '1.1',
    });
    expect(server!.attributes['http.request.body.size']).toBeGreaterThan(10);
    expect(server!.attributes['http.response.body.size']).toBeGreaterThan(10);
    expect(server!.attributes['user_agent.original']).toMatch(/ollama-js/);
  });

  it('passes other routes through with only the server span', async () => {
    const root = await fetch(`${rig.proxy.url}/`);
    expect(await root.text()).toBe('Ollama is running');
    const head = await fetch(`${rig.proxy.url}/api/version`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    const unknown = await fetch(`${rig.proxy.url}/api/nope?x=1`);
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toBe('404 page not found');
    await settled(rig, 3);
    expect(clientSpans(rig.telemetry)).toEqual([]);
    expect(serverSpans(rig.telemetry).map((s) => s.name)).toEqual(['GET /', 'HEAD /api/version', 'GET']);
    expect(serverSpans(rig.telemetry)[2]!.attributes['http.route']).toBeUndefined();
  });

  it('records an Ollama error as ollama-js would see it', async () => {
    await expect(client.chat({ model: 'no-such-model', messages: QUESTION })).rejects.toThrow(/not found/);
    await settled(rig, 1);
    const span = onlyClientSpan(rig.telemetry);
    expect(span.attributes['error.type']).toBe('404');
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: "model 'no-such-model' not found" });
    expect(span.events.find((e) => e.name === 'exception')?.attributes?.['exception.type']).toBe('ResponseError');
    const [server] = serverSpans(rig.telemetry);
    expect(server!.attributes['http.response.status_code']).toBe(404);
    expect(server!.status.code).toBe(SpanStatusCode.UNSET);
    expect(server!.attributes['error.type']).toBeUndefined();
  });

  it('copies, deletes and creates through management spans with their model names', async () => {
    await client.copy({ source: 'llama3.2', destination: 'llama-copy' });
    await client.delete({ model: 'llama-copy' });
    await settled(rig, 2);
    const names = clientSpans(rig.telemetry).map((s) => [s.name, s.attributes['ollama.copy.destination']]);
    expect(names).toEqual([
      ['ollama.copy llama3.2', 'llama-copy'],
      ['ollama.delete llama-copy', undefined],
    ]);
  });
});
