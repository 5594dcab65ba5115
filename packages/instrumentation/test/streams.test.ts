import { SpanStatusCode } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import {
  clientSpans,
  drain,
  durationMs,
  histogramCount,
  onlySpan,
  points,
  type Rig,
  startRig,
  USER_QUESTION,
} from './setup.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

async function streamingRig(double = { chunks: 6, chunkDelayMs: 2 }, config = {}) {
  rig = await startRig({ double, config });
  return rig;
}

const waitFor = async (predicate: () => boolean, timeoutMs = 2000) => {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

describe('streams that finish', () => {
  it('records one time_per_output_chunk point per chunk after the first, across batches (150 chunks)', async () => {
    const { client, telemetry } = await streamingRig({ chunks: 150, chunkDelayMs: 0 });
    const stream = await client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true });
    const iterator = stream[Symbol.asyncIterator]();
    for (let i = 0; i < 70; i++) await iterator.next();
    // Mid-stream: the points of the first full batch are recorded already.
    const midway = await telemetry.collectMetrics();
    expect(histogramCount(midway, 'gen_ai.client.operation.time_per_output_chunk')).toBeGreaterThanOrEqual(64);
    let chunks = 70;
    while (!(await iterator.next()).done) chunks++;
    const metrics = await telemetry.collectMetrics();
    expect(histogramCount(metrics, 'gen_ai.client.operation.time_per_output_chunk')).toBe(chunks - 1);
    const [point] = points(metrics, 'gen_ai.client.operation.time_per_output_chunk');
    expect(point!.value.sum).toBeGreaterThan(0);
    expect(point!.value.sum).toBeLessThanOrEqual(durationMs(onlySpan(telemetry)) / 1000);
  });

  it('ends the span when the done chunk arrives, with usage from it and chunk timings', async () => {
    const { client, telemetry } = await streamingRig();
    const stream = await client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true });
    expect(clientSpans(telemetry)).toHaveLength(0);
    const chunks = await drain(stream);
    const final = chunks.at(-1)!;
    expect(final.done).toBe(true);
    const span = onlySpan(telemetry);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes).toMatchObject({
      'gen_ai.request.stream': true,
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.usage.input_tokens': final.prompt_eval_count,
      'gen_ai.usage.output_tokens': final.eval_count,
    });
    const ttfc = span.attributes['gen_ai.response.time_to_first_chunk'] as number;
    expect(ttfc).toBeGreaterThan(0);
    expect(ttfc * 1000).toBeLessThanOrEqual(durationMs(span) + 0.001);

    const metrics = await telemetry.collectMetrics();
    expect(histogramCount(metrics, 'gen_ai.client.operation.time_to_first_chunk')).toBe(1);
    // One point per chunk after the first.
    expect(histogramCount(metrics, 'gen_ai.client.operation.time_per_output_chunk')).toBe(chunks.length - 1);
    const gaps = points(metrics, 'gen_ai.client.operation.time_per_output_chunk')[0]!.value;
    expect(gaps.min).toBeGreaterThan(0);
    expect(histogramCount(metrics, 'gen_ai.client.operation.duration')).toBe(1);
  });

  it('covers the whole stream, not just the time to the first chunk', async () => {
    const { client, telemetry } = await streamingRig({ chunks: 5, chunkDelayMs: 20 });
    const started = performance.now();
    await drain(await client.generate({ model: 'gemma4', prompt: 'Why is the sky blue?', stream: true }));
    const elapsed = performance.now() - started;
    const span = onlySpan(telemetry);
    expect(span.name).toBe('text_completion gemma4');
    expect(durationMs(span)).toBeGreaterThanOrEqual(80);
    expect(durationMs(span)).toBeLessThanOrEqual(elapsed + 1);
  });

  it('keeps the stream object: identity, abort() and the client bookkeeping', async () => {
    const { client } = await streamingRig();
    const stream = await client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true });
    expect(stream.constructor.name).toBe('AbortableAsyncIterator');
    expect((client as unknown as { ongoingStreamedRequests: unknown[] }).ongoingStreamedRequests).toContain(stream);
    expect(Object.keys(stream)).toEqual(['abortController', 'itr', 'doneCallback']);
    expect(typeof stream.abort).toBe('function');
    await drain(stream);
    expect((client as unknown as { ongoingStreamedRequests: unknown[] }).ongoingStreamedRequests).not.toContain(stream);
  });

  it('accumulates nothing unexpected: thinking and tool-call chunks pass through untouched', async () => {
    const { client, telemetry } = await streamingRig();
    const thinking = await drain(
      await client.chat({ model: 'qwen3', messages: USER_QUESTION, think: true, stream: true }),
    );
    expect(thinking.some((chunk) => chunk.message.thinking)).toBe(true);
    const tools = await drain(
      await client.chat({
        model: 'llama3.2',
        messages: [{ role: 'user', content: 'what is the weather in tokyo?' }],
        tools: [
          {
            type: 'function',
            function: {
              name: 'get_weather',
              description: 'Get the weather in a given city',
              parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
            },
          },
        ],
        stream: true,
      }),
    );
    expect(tools.find((chunk) => !chunk.done && chunk.message.tool_calls)).toBeDefined();
    expect(clientSpans(telemetry)).toHaveLength(2);
    expect(clientSpans(telemetry).every((span) => span.status.code === SpanStatusCode.UNSET)).toBe(true);
  });
});

describe('streams that end abnormally: exactly one span end, with error.type', () => {
  it('an error line mid-stream (HTTP 200): the consumer gets the Error, the span ends with error.type Error', async () => {
    const { client, telemetry, double } = await streamingRig();
    double.script({
      path: '/api/chat',
      fault: { kind: 'stream-error', afterChunks: 2, error: 'an error was encountered while running the model' },
    });
    const stream = await client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true });
    const error = await drain(stream).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe('an error was encountered while running the model');
    const span = onlySpan(telemetry);
    expect(span.status).toEqual({
      code: SpanStatusCode.ERROR,
      message: 'an error was encountered while running the model',
    });
    expect(span.attributes['error.type']).toBe('Error');
    const metrics = await telemetry.collectMetrics();
    expect(histogramCount(metrics, 'gen_ai.client.operation.duration', { 'error.type': 'Error' })).toBe(1);
  });

  it('a stream that ends without done', async () => {
    const { client, telemetry, double } = await streamingRig();
    double.script({ path: '/api/generate', fault: { kind: 'no-done', afterChunks: 3 } });
    const stream = await client.generate({ model: 'gemma4', prompt: 'hi', stream: true });
    await expect(drain(stream)).rejects.toThrow('Did not receive done or success response in stream.');
    const span = onlySpan(telemetry);
    expect(span.attributes['error.type']).toBe('Error');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('a connection reset mid-stream', async () => {
    const { client, telemetry, double } = await streamingRig();
    double.script({ path: '/api/chat', fault: { kind: 'reset', afterChunks: 2 } });
    const stream = await client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true });
    const error = await drain(stream).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    const span = onlySpan(telemetry);
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes['error.type']).toBe((error as Error).constructor.name);
  });

  it('an HTTP error on a streaming call rejects the call itself', async () => {
    const { client, telemetry, double } = await streamingRig();
    double.script({ path: '/api/chat', fault: { kind: 'http-error', status: 404, error: "model 'x' not found" } });
    await expect(client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true })).rejects.toMatchObject({
      status_code: 404,
    });
    expect(onlySpan(telemetry).attributes['error.type']).toBe('404');
  });

  it('the consumer breaks early: cancelled, not a failure; breaking again is harmless', async () => {
    const { client, telemetry } = await streamingRig();
    const stream = await client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true });
    let seen = 0;
    for await (const _chunk of stream) {
      if (++seen === 2) break;
    }
    const span = onlySpan(telemetry);
    expect(span.attributes['error.type']).toBe('cancelled');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes['gen_ai.response.time_to_first_chunk']).toBeGreaterThan(0);
    expect(span.attributes).not.toHaveProperty('gen_ai.usage.output_tokens');
    stream.abort();
    expect(clientSpans(telemetry)).toHaveLength(1);
    const metrics = await telemetry.collectMetrics();
    expect(histogramCount(metrics, 'gen_ai.client.operation.duration', { 'error.type': 'cancelled' })).toBe(1);
  });

  it('stream.abort() while reading: the reader gets the AbortError, the span ends cancelled once', async () => {
    const { client, telemetry } = await streamingRig({ chunks: 20, chunkDelayMs: 5 });
    const stream = await client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true });
    const error = await (async () => {
      let seen = 0;
      for await (const _chunk of stream) if (++seen === 3) stream.abort();
    })().catch((e: unknown) => e);
    expect((error as Error).name).toBe('AbortError');
    const span = onlySpan(telemetry);
    expect(span.attributes['error.type']).toBe('cancelled');
    expect(span.status.message).toBe('the stream was aborted');
  });

  it('stream.abort() on a stream nobody read', async () => {
    const { client, telemetry } = await streamingRig();
    const stream = await client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true });
    stream.abort();
    expect(onlySpan(telemetry).attributes['error.type']).toBe('cancelled');
    await expect(drain(stream)).rejects.toMatchObject({ name: 'AbortError' });
    expect(clientSpans(telemetry)).toHaveLength(1);
  });

  it('client.abort() ends every open stream of that client, read or unread', async () => {
    const { client, telemetry } = await streamingRig({ chunks: 50, chunkDelayMs: 5 });
    const unread = await client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true });
    const reading = await client.generate({ model: 'gemma4', prompt: 'hi', stream: true });
    const consumer = drain(reading).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 20));
    client.abort();
    expect(((await consumer) as Error).name).toBe('AbortError');
    expect(clientSpans(telemetry)).toHaveLength(2);
    expect(clientSpans(telemetry).map((span) => span.attributes['error.type'])).toEqual(['cancelled', 'cancelled']);
    void unread;
  });

  it('a stream nobody reads or aborts is ended after streamIdleTimeoutMs, at its last activity', async () => {
    const { client, telemetry } = await streamingRig({ chunks: 6, chunkDelayMs: 0 }, { streamIdleTimeoutMs: 60 });
    const before = performance.now();
    const stream = await client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true });
    await waitFor(() => clientSpans(telemetry).length === 1);
    const span = onlySpan(telemetry);
    expect(span.attributes['error.type']).toBe('abandoned');
    // End time is the last activity (when the stream was handed over), not when the timer fired.
    expect(durationMs(span)).toBeLessThan(performance.now() - before - 30);
    stream.abort();
  });

  it('a consumer waiting on a slow server is not abandoned', async () => {
    const { client, telemetry } = await streamingRig({ chunks: 4, chunkDelayMs: 80 }, { streamIdleTimeoutMs: 40 });
    const chunks = await drain(await client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true }));
    expect(chunks.at(-1)?.done).toBe(true);
    expect(onlySpan(telemetry).attributes).not.toHaveProperty('error.type');
  });
});
