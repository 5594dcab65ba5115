import type { CollectedMetric } from '@ollama-otel/testing';
import { findMetric } from '@ollama-otel/testing';
import { diag } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { genAiLatestExperimental, resolveSettings } from '../src/core/settings.js';
import {
  drain,
  durationMs,
  histogramCount,
  histogramSum,
  onlySpan,
  points,
  type Rig,
  startRig,
  USER_QUESTION,
} from './setup.js';

/*
 * OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental swaps the v1.41 GenAI client metrics for the latest
 * experimental (semantic-conventions-genai) ones; without it nothing changes. Our own `ollama.*` metrics and the
 * span attributes are the same either way.
 */

const OPT_IN = 'OTEL_SEMCONV_STABILITY_OPT_IN';
const LATEST = 'gen_ai_latest_experimental';

const DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];

const V141_METRICS = [
  'gen_ai.client.operation.duration',
  'gen_ai.client.operation.time_per_output_chunk',
  'gen_ai.client.operation.time_to_first_chunk',
  'gen_ai.client.token.usage',
];

let saved: string | undefined;
let rig: Rig | undefined;
beforeEach(() => {
  saved = process.env[OPT_IN];
});
afterEach(async () => {
  await rig?.close();
  rig = undefined;
  if (saved === undefined) delete process.env[OPT_IN];
  else process.env[OPT_IN] = saved;
});

/** Starts a rig with the variable set to `optIn` (unset for `undefined`) when the instrumentation is created. */
async function rigWith(optIn: string | undefined, double = {}) {
  if (optIn === undefined) delete process.env[OPT_IN];
  else process.env[OPT_IN] = optIn;
  rig = await startRig({ double });
  return rig;
}

const common = (r: Rig, operation: string, model: string) => ({
  'gen_ai.operation.name': operation,
  'gen_ai.provider.name': 'ollama',
  'gen_ai.request.model': model,
  'server.address': '127.0.0.1',
  'server.port': r.double.port,
});

/** The names of the GenAI metrics that have data points, sorted. */
function genAiMetricNames(metrics: CollectedMetric[]): string[] {
  return metrics
    .filter((metric) => metric.name.startsWith('gen_ai.') && metric.dataPoints.length > 0)
    .map((metric) => metric.name)
    .sort();
}

function metric(metrics: CollectedMetric[], name: string): CollectedMetric {
  const found = findMetric(metrics, name);
  if (found === undefined) throw new Error(`no metric ${name}`);
  return found;
}

/** The points of a counter, as `{ attributes, value }`. */
function sums(metrics: CollectedMetric[], name: string) {
  const found = metric(metrics, name);
  expect(found).toMatchObject({ type: 'sum', isMonotonic: true, unit: '{token}' });
  return found.dataPoints.map((point) => ({ attributes: point.attributes, value: point.value as number }));
}

function expectHistogram(metrics: CollectedMetric[], name: string, unit: string, buckets: number[]): void {
  const found = metric(metrics, name);
  expect(found.type).toBe('histogram');
  expect(found.unit).toBe(unit);
  for (const point of found.dataPoints) expect(point.value.buckets.boundaries).toEqual(buckets);
}

describe('parsing OTEL_SEMCONV_STABILITY_OPT_IN', () => {
  it.each([
    [undefined, false],
    ['', false],
    ['gen_ai_latest_experimental', true],
    ['http, gen_ai_latest_experimental ,database', true],
    ['GEN_AI_LATEST_EXPERIMENTAL', true],
    ['http/dup,database', false],
    ['gen_ai', false],
    ['gen_ai_latest_experimental_v2', false],
    ['xgen_ai_latest_experimental', false],
    ['gen_ai_latest_experimental/dup', false],
  ])('%j opts in: %s', (value, expected) => {
    expect(genAiLatestExperimental(value)).toBe(expected);
  });

  it('is read when the settings are resolved', () => {
    delete process.env[OPT_IN];
    expect(resolveSettings({}, diag).genAiLatestExperimental).toBe(false);
    process.env[OPT_IN] = `http,${LATEST}`;
    expect(resolveSettings({}, diag).genAiLatestExperimental).toBe(true);
  });
});

describe('default (variable unset or without the token): the v1.41 metrics only', () => {
  it.each([undefined, 'http,database', 'gen_ai_latest_experimental/dup'])('%j: chat', async (optIn) => {
    const r = await rigWith(optIn);
    const response = await r.client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    const metrics = await r.telemetry.collectMetrics();
    expect(genAiMetricNames(metrics)).toEqual(['gen_ai.client.operation.duration', 'gen_ai.client.token.usage']);
    const expected = { ...common(r, 'chat', 'llama3.2'), 'gen_ai.response.model': response.model };
    expect(points(metrics, 'gen_ai.client.operation.duration').map((p) => p.attributes)).toEqual([expected]);
    expect(histogramSum(metrics, 'gen_ai.client.token.usage', { 'gen_ai.token.type': 'input' })).toBe(
      response.prompt_eval_count,
    );
    expect(histogramSum(metrics, 'gen_ai.client.token.usage', { 'gen_ai.token.type': 'output' })).toBe(
      response.eval_count,
    );
  });

  it('streamed chat: the operation.* chunk histograms', async () => {
    const r = await rigWith(undefined, { chunks: 5 });
    const chunks = await drain(await r.client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true }));
    const metrics = await r.telemetry.collectMetrics();
    expect(genAiMetricNames(metrics)).toEqual(V141_METRICS);
    expect(histogramCount(metrics, 'gen_ai.client.operation.time_to_first_chunk')).toBe(1);
    expect(histogramCount(metrics, 'gen_ai.client.operation.time_per_output_chunk')).toBe(chunks.length - 1);
  });

  it('cache hit: no input token point', async () => {
    const r = await rigWith(undefined);
    r.double.script({ path: '/api/chat', fault: { kind: 'cache-hit' } });
    await r.client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    const metrics = await r.telemetry.collectMetrics();
    expect(genAiMetricNames(metrics)).toEqual(['gen_ai.client.operation.duration', 'gen_ai.client.token.usage']);
    expect(histogramCount(metrics, 'gen_ai.client.token.usage', { 'gen_ai.token.type': 'input' })).toBe(0);
  });

  it('failure: only the duration, with error.type', async () => {
    const r = await rigWith(undefined);
    r.double.script({ path: '/api/chat', fault: { kind: 'http-error', status: 500, error: 'boom' } });
    await expect(r.client.chat({ model: 'llama3.2', messages: USER_QUESTION })).rejects.toThrow('boom');
    const metrics = await r.telemetry.collectMetrics();
    expect(genAiMetricNames(metrics)).toEqual(['gen_ai.client.operation.duration']);
    expect(histogramCount(metrics, 'gen_ai.client.operation.duration', { 'error.type': '500' })).toBe(1);
  });

  it('embed: operation.duration and token.usage', async () => {
    const r = await rigWith(undefined);
    const response = await r.client.embed({ model: 'all-minilm', input: ['a', 'b'] });
    const metrics = await r.telemetry.collectMetrics();
    expect(genAiMetricNames(metrics)).toEqual(['gen_ai.client.operation.duration', 'gen_ai.client.token.usage']);
    expect(histogramSum(metrics, 'gen_ai.client.token.usage', { 'gen_ai.token.type': 'input' })).toBe(
      response.prompt_eval_count,
    );
  });
});

describe('gen_ai_latest_experimental: the latest experimental metrics instead', () => {
  it('chat: inference duration, usage counters with modality, per-operation token histograms', async () => {
    const r = await rigWith(`http,${LATEST}`);
    const response = await r.client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    const span = onlySpan(r.telemetry);
    const metrics = await r.telemetry.collectMetrics();
    expect(genAiMetricNames(metrics)).toEqual([
      'gen_ai.client.inference.duration',
      'gen_ai.client.inference.operation.input_tokens',
      'gen_ai.client.inference.operation.output_tokens',
      'gen_ai.client.inference.usage.input_tokens',
      'gen_ai.client.inference.usage.output_tokens',
    ]);
    const expected = { ...common(r, 'chat', 'llama3.2'), 'gen_ai.response.model': response.model };

    expectHistogram(metrics, 'gen_ai.client.inference.duration', 's', DURATION_BUCKETS);
    const [duration, ...more] = points(metrics, 'gen_ai.client.inference.duration');
    expect(more).toHaveLength(0);
    expect(duration?.attributes).toEqual(expected);
    expect(duration?.value.count).toBe(1);
    expect(duration?.value.sum).toBeCloseTo(durationMs(span) / 1000, 4);

    expect(sums(metrics, 'gen_ai.client.inference.usage.input_tokens')).toEqual([
      { attributes: { ...expected, 'gen_ai.token.modality': 'text' }, value: response.prompt_eval_count },
    ]);
    expect(sums(metrics, 'gen_ai.client.inference.usage.output_tokens')).toEqual([
      { attributes: { ...expected, 'gen_ai.token.modality': 'text' }, value: response.eval_count },
    ]);

    for (const [name, count] of [
      ['gen_ai.client.inference.operation.input_tokens', response.prompt_eval_count],
      ['gen_ai.client.inference.operation.output_tokens', response.eval_count],
    ] as const) {
      expectHistogram(metrics, name, '{token}', TOKEN_BUCKETS);
      const tokens = points(metrics, name);
      expect(tokens.map((p) => p.attributes)).toEqual([expected]);
      expect(tokens[0]?.value).toMatchObject({ count: 1, sum: count });
    }

    // Unaffected: our own metrics and the span attributes.
    expect(histogramSum(metrics, 'ollama.eval.duration')).toBeCloseTo(response.eval_duration / 1e9, 9);
    expect(span.attributes).toMatchObject({
      'gen_ai.usage.input_tokens': response.prompt_eval_count,
      'gen_ai.usage.output_tokens': response.eval_count,
      'gen_ai.response.model': response.model,
    });
    expect(JSON.stringify(metrics)).not.toContain('gen_ai.token.type');
  });

  it('generate: text_completion is inference too', async () => {
    const r = await rigWith(LATEST);
    const response = await r.client.generate({ model: 'gemma4', prompt: 'Why is the sky blue?' });
    const metrics = await r.telemetry.collectMetrics();
    const match = { 'gen_ai.operation.name': 'text_completion' };
    expect(histogramCount(metrics, 'gen_ai.client.inference.duration', match)).toBe(1);
    expect(histogramSum(metrics, 'gen_ai.client.inference.operation.output_tokens', match)).toBe(response.eval_count);
    expect(histogramCount(metrics, 'gen_ai.client.operation.duration')).toBe(0);
  });

  it('streamed chat: inference.* chunk timings, usage from the final chunk', async () => {
    const r = await rigWith(LATEST, { chunks: 5 });
    const chunks = await drain(await r.client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true }));
    const final = chunks.at(-1)!;
    expect(final.done).toBe(true);
    const span = onlySpan(r.telemetry);
    const metrics = await r.telemetry.collectMetrics();
    expect(genAiMetricNames(metrics)).toEqual([
      'gen_ai.client.inference.duration',
      'gen_ai.client.inference.operation.input_tokens',
      'gen_ai.client.inference.operation.output_tokens',
      'gen_ai.client.inference.time_per_output_chunk',
      'gen_ai.client.inference.time_to_first_chunk',
      'gen_ai.client.inference.usage.input_tokens',
      'gen_ai.client.inference.usage.output_tokens',
    ]);
    for (const name of [
      'gen_ai.client.inference.time_to_first_chunk',
      'gen_ai.client.inference.time_per_output_chunk',
    ]) {
      expectHistogram(metrics, name, 's', DURATION_BUCKETS);
      // Chunk points carry the attributes known at the start (no response model yet).
      expect(points(metrics, name).map((p) => p.attributes)).toEqual([common(r, 'chat', 'llama3.2')]);
    }
    const ttfc = points(metrics, 'gen_ai.client.inference.time_to_first_chunk')[0]!.value;
    expect(ttfc.count).toBe(1);
    expect(ttfc.sum).toBe(span.attributes['gen_ai.response.time_to_first_chunk']);
    expect(histogramCount(metrics, 'gen_ai.client.inference.time_per_output_chunk')).toBe(chunks.length - 1);
    const duration = points(metrics, 'gen_ai.client.inference.duration')[0]!.value;
    expect(duration.count).toBe(1);
    expect(duration.sum).toBeCloseTo(durationMs(span) / 1000, 4);
    expect(duration.sum).toBeGreaterThanOrEqual(ttfc.sum);
    expect(sums(metrics, 'gen_ai.client.inference.usage.input_tokens').map((p) => p.value)).toEqual([
      final.prompt_eval_count,
    ]);
    expect(sums(metrics, 'gen_ai.client.inference.usage.output_tokens').map((p) => p.value)).toEqual([
      final.eval_count,
    ]);
  });

  it('cache hit: input counter gets 0 with modality unknown, no input histogram point', async () => {
    const r = await rigWith(LATEST);
    r.double.script({ path: '/api/chat', fault: { kind: 'cache-hit' } });
    const response = await r.client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    expect(response).not.toHaveProperty('prompt_eval_count');
    const metrics = await r.telemetry.collectMetrics();
    const expected = { ...common(r, 'chat', 'llama3.2'), 'gen_ai.response.model': response.model };
    expect(sums(metrics, 'gen_ai.client.inference.usage.input_tokens')).toEqual([
      { attributes: { ...expected, 'gen_ai.token.modality': 'unknown' }, value: 0 },
    ]);
    expect(sums(metrics, 'gen_ai.client.inference.usage.output_tokens')).toEqual([
      { attributes: { ...expected, 'gen_ai.token.modality': 'text' }, value: response.eval_count },
    ]);
    expect(histogramCount(metrics, 'gen_ai.client.inference.operation.input_tokens')).toBe(0);
    expect(histogramSum(metrics, 'gen_ai.client.inference.operation.output_tokens')).toBe(response.eval_count);
    expect(histogramCount(metrics, 'gen_ai.client.inference.duration')).toBe(1);
    expect(histogramCount(metrics, 'gen_ai.client.token.usage')).toBe(0);
  });

  it('failure: duration with error.type, counters at 0 with modality unknown, no token histograms', async () => {
    const r = await rigWith(LATEST);
    r.double.script({ path: '/api/chat', fault: { kind: 'http-error', status: 500, error: 'boom' } });
    await expect(r.client.chat({ model: 'llama3.2', messages: USER_QUESTION })).rejects.toThrow('boom');
    const metrics = await r.telemetry.collectMetrics();
    expect(genAiMetricNames(metrics)).toEqual([
      'gen_ai.client.inference.duration',
      'gen_ai.client.inference.usage.input_tokens',
      'gen_ai.client.inference.usage.output_tokens',
    ]);
    const attributes = common(r, 'chat', 'llama3.2');
    expect(points(metrics, 'gen_ai.client.inference.duration').map((p) => p.attributes)).toEqual([
      { ...attributes, 'error.type': '500' },
    ]);
    for (const name of ['gen_ai.client.inference.usage.input_tokens', 'gen_ai.client.inference.usage.output_tokens']) {
      expect(sums(metrics, name)).toEqual([
        { attributes: { ...attributes, 'gen_ai.token.modality': 'unknown' }, value: 0 },
      ]);
    }
    expect(onlySpan(r.telemetry).attributes['error.type']).toBe('500');
  });

  it('failure mid-stream: chunk timings so far, then the duration with error.type', async () => {
    const r = await rigWith(LATEST, { chunks: 6 });
    r.double.script({ path: '/api/chat', fault: { kind: 'stream-error', afterChunks: 3, error: 'model crashed' } });
    const stream = await r.client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true });
    await expect(drain(stream)).rejects.toThrow('model crashed');
    const metrics = await r.telemetry.collectMetrics();
    expect(histogramCount(metrics, 'gen_ai.client.inference.time_to_first_chunk')).toBe(1);
    expect(histogramCount(metrics, 'gen_ai.client.inference.time_per_output_chunk')).toBe(2);
    const errorType = onlySpan(r.telemetry).attributes['error.type'];
    expect(errorType).toBeDefined();
    expect(histogramCount(metrics, 'gen_ai.client.inference.duration', { 'error.type': errorType })).toBe(1);
    expect(sums(metrics, 'gen_ai.client.inference.usage.output_tokens').map((p) => p.value)).toEqual([0]);
    expect(histogramCount(metrics, 'gen_ai.client.inference.operation.output_tokens')).toBe(0);
    for (const name of V141_METRICS) expect(histogramCount(metrics, name)).toBe(0);
  });

  it('embed: embeddings.duration and embeddings.operation.input_tokens', async () => {
    const r = await rigWith(LATEST);
    const response = await r.client.embed({ model: 'all-minilm', input: ['Why is the sky blue?', 'Why?'] });
    const span = onlySpan(r.telemetry);
    const metrics = await r.telemetry.collectMetrics();
    expect(genAiMetricNames(metrics)).toEqual([
      'gen_ai.client.embeddings.duration',
      'gen_ai.client.embeddings.operation.input_tokens',
    ]);
    const expected = { ...common(r, 'embeddings', 'all-minilm'), 'gen_ai.response.model': response.model };
    expectHistogram(metrics, 'gen_ai.client.embeddings.duration', 's', DURATION_BUCKETS);
    const [duration] = points(metrics, 'gen_ai.client.embeddings.duration');
    expect(duration?.attributes).toEqual(expected);
    expect(duration?.value.count).toBe(1);
    expect(duration?.value.sum).toBeCloseTo(durationMs(span) / 1000, 4);
    expectHistogram(metrics, 'gen_ai.client.embeddings.operation.input_tokens', '{token}', TOKEN_BUCKETS);
    const tokens = points(metrics, 'gen_ai.client.embeddings.operation.input_tokens');
    expect(tokens.map((p) => p.attributes)).toEqual([expected]);
    expect(tokens[0]?.value).toMatchObject({ count: 1, sum: response.prompt_eval_count });
    expect(span.attributes['gen_ai.usage.input_tokens']).toBe(response.prompt_eval_count);
  });

  it('legacy embeddings(): only the duration (Ollama reports no usage)', async () => {
    const r = await rigWith(LATEST);
    await r.client.embeddings({ model: 'all-minilm', prompt: 'Why is the sky blue?' });
    const metrics = await r.telemetry.collectMetrics();
    expect(genAiMetricNames(metrics)).toEqual(['gen_ai.client.embeddings.duration']);
  });

  it('embed failure: embeddings.duration with error.type', async () => {
    const r = await rigWith(LATEST);
    r.double.script({ path: '/api/embed', fault: { kind: 'http-error', status: 503, error: 'busy' } });
    await expect(r.client.embed({ model: 'all-minilm', input: 'x' })).rejects.toThrow('busy');
    const metrics = await r.telemetry.collectMetrics();
    expect(genAiMetricNames(metrics)).toEqual(['gen_ai.client.embeddings.duration']);
    expect(histogramCount(metrics, 'gen_ai.client.embeddings.duration', { 'error.type': '503' })).toBe(1);
  });

  it('model-management calls are unaffected', async () => {
    const r = await rigWith(LATEST);
    await r.client.list();
    const metrics = await r.telemetry.collectMetrics();
    expect(genAiMetricNames(metrics)).toEqual([]);
    expect(histogramCount(metrics, 'ollama.client.operation.duration', { 'ollama.operation.name': 'list' })).toBe(1);
  });
});
