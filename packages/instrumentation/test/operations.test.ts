import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  clientSpans,
  histogramCount,
  histogramSum,
  onlySpan,
  points,
  type Rig,
  startRig,
  USER_QUESTION,
} from './setup.js';

let rig: Rig;
beforeEach(async () => {
  rig = await startRig();
});
afterEach(async () => {
  await rig.close();
});

const common = () => ({
  'gen_ai.provider.name': 'ollama',
  'server.address': '127.0.0.1',
  'server.port': rig.double.port,
});

describe('chat', () => {
  it('emits one CLIENT span with request, response, usage and server timings', async () => {
    const response = await rig.client.chat({
      model: 'llama3.2',
      messages: USER_QUESTION,
      keep_alive: '10m',
      options: { temperature: 0.2, top_p: 0.9, num_predict: 512, seed: 7, num_ctx: 4096 },
    });
    const span = onlySpan(rig.telemetry);
    expect(span.name).toBe('chat llama3.2');
    expect(span.kind).toBe(SpanKind.CLIENT);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes).toMatchObject({
      ...common(),
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'llama3.2',
      'gen_ai.request.temperature': 0.2,
      'gen_ai.request.top_p': 0.9,
      'gen_ai.request.max_tokens': 512,
      'gen_ai.request.seed': 7,
      'ollama.request.num_ctx': 4096,
      'ollama.request.keep_alive': '10m',
      'gen_ai.response.model': response.model,
      'gen_ai.response.finish_reasons': [response.done_reason],
      'gen_ai.usage.input_tokens': response.prompt_eval_count,
      'gen_ai.usage.output_tokens': response.eval_count,
      'ollama.response.total_duration': response.total_duration / 1e9,
      'ollama.response.eval_duration': response.eval_duration / 1e9,
    });
    expect(span.attributes).not.toHaveProperty('gen_ai.request.stream');
    expect(span.attributes).not.toHaveProperty('error.type');
  });

  it('records duration, token usage and Ollama server histograms with low-cardinality attributes', async () => {
    const response = await rig.client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    const metrics = await rig.telemetry.collectMetrics();
    const expected = {
      ...common(),
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'llama3.2',
      'gen_ai.response.model': response.model,
    };
    const [duration] = points(metrics, 'gen_ai.client.operation.duration');
    expect(duration?.attributes).toEqual(expected);
    expect(duration?.value.count).toBe(1);
    expect(histogramSum(metrics, 'gen_ai.client.token.usage', { 'gen_ai.token.type': 'input' })).toBe(
      response.prompt_eval_count,
    );
    expect(histogramSum(metrics, 'gen_ai.client.token.usage', { 'gen_ai.token.type': 'output' })).toBe(
      response.eval_count,
    );
    expect(points(metrics, 'gen_ai.client.token.usage')[0]?.attributes).toEqual({
      ...expected,
      'gen_ai.token.type': 'input',
    });
    expect(histogramSum(metrics, 'ollama.eval.duration')).toBeCloseTo(response.eval_duration / 1e9, 9);
    expect(histogramSum(metrics, 'ollama.eval.tokens_per_second')).toBeCloseTo(
      response.eval_count / (response.eval_duration / 1e9),
      6,
    );
    // Not a stream: no chunk metrics.
    expect(histogramCount(metrics, 'gen_ai.client.operation.time_to_first_chunk')).toBe(0);
  });

  it('uses the spec bucket boundaries', async () => {
    await rig.client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    const metrics = await rig.telemetry.collectMetrics();
    expect(points(metrics, 'gen_ai.client.operation.duration')[0]?.value.buckets.boundaries).toEqual([
      0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
    ]);
    expect(points(metrics, 'gen_ai.client.token.usage')[0]?.value.buckets.boundaries).toEqual([
      1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
    ]);
  });

  it('runs the HTTP request inside the span context', async () => {
    let activeDuringFetch: string | undefined;
    const { Ollama } = await import('ollama');
    const client = new Ollama({
      host: rig.double.url,
      fetch: (input, init) => {
        activeDuringFetch = trace.getActiveSpan()?.spanContext().spanId;
        return fetch(input, init);
      },
    });
    await client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    expect(activeDuringFetch).toBe(onlySpan(rig.telemetry).spanContext().spanId);
  });

  it('nests under the caller span', async () => {
    const tracer = rig.telemetry.tracerProvider.getTracer('app');
    await tracer.startActiveSpan('handle request', async (parent) => {
      await rig.client.chat({ model: 'llama3.2', messages: USER_QUESTION });
      parent.end();
    });
    const chat = rig.telemetry.spans().find((span) => span.name === 'chat llama3.2');
    const parent = rig.telemetry.spans().find((span) => span.name === 'handle request');
    expect(chat?.parentSpanContext?.spanId).toBe(parent?.spanContext().spanId);
  });

  it('marks structured output and records think and finish reason length', async () => {
    await rig.client.chat({
      model: 'qwen3',
      messages: USER_QUESTION,
      format: 'json',
      think: true,
      options: { num_predict: 3 },
    });
    const span = onlySpan(rig.telemetry);
    expect(span.attributes['gen_ai.output.type']).toBe('json');
    expect(span.attributes['ollama.request.think']).toBe('true');
    expect(span.attributes['gen_ai.response.finish_reasons']).toEqual(['length']);
    expect(span.attributes['gen_ai.usage.output_tokens']).toBe(3);
  });

  it('does not invent an input token count on a prompt-cache hit', async () => {
    rig.double.script({ path: '/api/chat', fault: { kind: 'cache-hit' } });
    const response = await rig.client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    expect(response).not.toHaveProperty('prompt_eval_count');
    const span = onlySpan(rig.telemetry);
    expect(span.attributes).not.toHaveProperty('gen_ai.usage.input_tokens');
    expect(span.attributes['gen_ai.usage.output_tokens']).toBe(response.eval_count);
    const metrics = await rig.telemetry.collectMetrics();
    expect(histogramCount(metrics, 'gen_ai.client.token.usage', { 'gen_ai.token.type': 'input' })).toBe(0);
    expect(histogramCount(metrics, 'gen_ai.client.token.usage', { 'gen_ai.token.type': 'output' })).toBe(1);
    expect(histogramCount(metrics, 'ollama.prompt_eval.tokens_per_second')).toBe(0);
  });

  it('records load and unload calls with their done_reason and no usage', async () => {
    await rig.client.chat({ model: 'llama3.2', messages: [] });
    await rig.client.chat({ model: 'llama3.2', messages: [], keep_alive: 0 });
    const [load, unload] = clientSpans(rig.telemetry);
    expect(load?.attributes['gen_ai.response.finish_reasons']).toEqual(['load']);
    expect(unload?.attributes['gen_ai.response.finish_reasons']).toEqual(['unload']);
    expect(unload?.attributes['ollama.request.keep_alive']).toBe('0');
    expect(load?.attributes).not.toHaveProperty('gen_ai.usage.output_tokens');
  });
});

describe('generate', () => {
  it('emits a text_completion span and never records the context array', async () => {
    const response = await rig.client.generate({
      model: 'gemma4',
      prompt: 'Why is the sky blue?',
      options: { stop: ['\n\n'], top_k: 40 },
    });
    expect(Array.isArray(response.context)).toBe(true);
    const span = onlySpan(rig.telemetry);
    expect(span.name).toBe('text_completion gemma4');
    expect(span.attributes).toMatchObject({
      ...common(),
      'gen_ai.operation.name': 'text_completion',
      'gen_ai.request.model': 'gemma4',
      'gen_ai.request.stop_sequences': ['\n\n'],
      'gen_ai.request.top_k': 40,
      'gen_ai.usage.output_tokens': response.eval_count,
    });
    const serialized = JSON.stringify(span.attributes);
    expect(serialized).not.toContain(JSON.stringify(response.context));
    expect(serialized).not.toContain('sky');
  });
});

describe('embeddings', () => {
  it('embed: embeddings span with dimension and input tokens, no vectors', async () => {
    const response = await rig.client.embed({
      model: 'all-minilm',
      input: ['Why is the sky blue?', 'Why is grass green?'],
    });
    const span = onlySpan(rig.telemetry);
    expect(span.name).toBe('embeddings all-minilm');
    expect(span.kind).toBe(SpanKind.CLIENT);
    expect(span.attributes).toMatchObject({
      ...common(),
      'gen_ai.operation.name': 'embeddings',
      'gen_ai.request.model': 'all-minilm',
      'gen_ai.embeddings.dimension.count': response.embeddings[0]!.length,
      'gen_ai.usage.input_tokens': response.prompt_eval_count,
    });
    expect(JSON.stringify(span.attributes)).not.toContain(String(response.embeddings[0]![0]));
    const metrics = await rig.telemetry.collectMetrics();
    expect(histogramCount(metrics, 'gen_ai.client.operation.duration', { 'gen_ai.operation.name': 'embeddings' })).toBe(
      1,
    );
    expect(histogramCount(metrics, 'gen_ai.client.token.usage', { 'gen_ai.token.type': 'output' })).toBe(0);
  });

  it('embed honours requested dimensions', async () => {
    await rig.client.embed({ model: 'nomic-embed-text', input: 'hello', dimensions: 256 });
    expect(onlySpan(rig.telemetry).attributes['gen_ai.embeddings.dimension.count']).toBe(256);
  });

  it('legacy embeddings: dimension from the single vector, no usage (Ollama reports none)', async () => {
    const response = await rig.client.embeddings({ model: 'all-minilm', prompt: 'Why is the sky blue?' });
    const span = onlySpan(rig.telemetry);
    expect(span.name).toBe('embeddings all-minilm');
    expect(span.attributes['gen_ai.embeddings.dimension.count']).toBe(response.embedding.length);
    expect(span.attributes).not.toHaveProperty('gen_ai.usage.input_tokens');
  });
});

describe('errors', () => {
  it.each([
    [404, "model 'missing' not found"],
    [400, 'invalid options'],
    [500, 'the model failed to generate a response'],
    [503, 'server busy, please try again.  maximum pending requests exceeded'],
  ])('HTTP %i: the caller gets the ResponseError, the span and metric get error.type', async (status, message) => {
    rig.double.script({ path: '/api/chat', fault: { kind: 'http-error', status, error: message } });
    const error = await rig.client.chat({ model: 'llama3.2', messages: USER_QUESTION }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'ResponseError', status_code: status, message });
    const span = onlySpan(rig.telemetry);
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message });
    expect(span.attributes['error.type']).toBe(String(status));
    expect(span.events.map((event) => event.name)).toContain('exception');
    const metrics = await rig.telemetry.collectMetrics();
    expect(histogramCount(metrics, 'gen_ai.client.operation.duration', { 'error.type': String(status) })).toBe(1);
    expect(histogramCount(metrics, 'gen_ai.client.token.usage')).toBe(0);
  });

  it('an unknown model is the real 404 from the server', async () => {
    const error = await rig.client.generate({ model: 'no-such-model', prompt: 'hi' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status_code: 404 });
    expect(onlySpan(rig.telemetry).attributes['error.type']).toBe('404');
  });

  it('a refused connection: TypeError reaches the caller, error.type is its class', async () => {
    const { Ollama } = await import('ollama');
    const closed = new Ollama({ host: 'http://127.0.0.1:9' });
    const error = await closed.embed({ model: 'all-minilm', input: 'x' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    const span = onlySpan(rig.telemetry);
    expect(span.attributes).toMatchObject({ 'error.type': 'TypeError', 'server.port': 9 });
  });

  it('rethrows the very error object the client produced', async () => {
    const { Ollama } = await import('ollama');
    const thrown = new RangeError('from a custom fetch');
    const client = new Ollama({ host: rig.double.url, fetch: () => Promise.reject(thrown) });
    await expect(client.chat({ model: 'llama3.2', messages: USER_QUESTION })).rejects.toBe(thrown);
    expect(onlySpan(rig.telemetry).attributes['error.type']).toBe('RangeError');
  });
});
