import { type HrTime, SamplingDecision, SpanKind } from '@opentelemetry/api';
import { type ReadableSpan, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it } from 'vitest';
import type { InstrumentOllamaConfig } from '../src/index.js';
import { drain, points, type Rig, startRig, USER_QUESTION } from './setup.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

async function phasesRig(config: InstrumentOllamaConfig = {}, double = {}) {
  rig = await startRig({ config, double: { promptEvalMs: 15, chunks: 4, chunkDelayMs: 3, ...double } });
  return rig;
}

const ns = (time: HrTime) => BigInt(time[0]) * 1_000_000_000n + BigInt(time[1]);
const start = (span: ReadableSpan) => ns(span.startTime);
const end = (span: ReadableSpan) => ns(span.endTime);

function family(r: Rig) {
  const spans = r.telemetry.spans();
  const parent = spans.find((span) => span.kind === SpanKind.CLIENT)!;
  const children = spans.filter((span) => span.kind === SpanKind.INTERNAL).sort((a, b) => Number(start(a) - start(b)));
  return { parent, children, byName: Object.fromEntries(children.map((span) => [span.name, span])) };
}

function expectLaidEndToEnd(parent: ReadableSpan, children: ReadableSpan[]) {
  for (const child of children) {
    expect(child.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(child.spanContext().traceId).toBe(parent.spanContext().traceId);
    expect(start(child)).toBeGreaterThanOrEqual(start(parent));
    expect(end(child)).toBeLessThanOrEqual(end(parent));
  }
  for (let i = 1; i < children.length; i++) expect(start(children[i]!)).toBe(end(children[i - 1]!));
  // Anchored at the moment the final response arrived, which is when the GenAI span ends.
  expect(end(children.at(-1)!)).toBe(end(parent));
}

describe('server phases as child spans', () => {
  it('adds load, prompt_eval and eval under a chat span, end to end, durations exact to the nanosecond', async () => {
    const r = await phasesRig();
    const response = await r.client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    const { parent, children, byName } = family(r);
    expect(children.map((span) => span.name)).toEqual(['ollama.load', 'ollama.prompt_eval', 'ollama.eval']);
    expectLaidEndToEnd(parent, children);
    expect(end(byName['ollama.load']!) - start(byName['ollama.load']!)).toBe(BigInt(response.load_duration));
    expect(end(byName['ollama.prompt_eval']!) - start(byName['ollama.prompt_eval']!)).toBe(
      BigInt(response.prompt_eval_duration),
    );
    expect(end(byName['ollama.eval']!) - start(byName['ollama.eval']!)).toBe(BigInt(response.eval_duration));
    expect(response.prompt_eval_duration).toBeGreaterThan(10e6);
  });

  it('puts token counts and speeds on the phase spans, and the unexplained time on the GenAI span', async () => {
    const r = await phasesRig();
    const response = await r.client.generate({ model: 'gemma4', prompt: 'Why is the sky blue?' });
    const { parent, byName } = family(r);
    expect(byName['ollama.load']!.attributes).toEqual({});
    expect(byName['ollama.prompt_eval']!.attributes).toEqual({
      'ollama.phase.token_count': response.prompt_eval_count,
      'ollama.phase.tokens_per_second': (response.prompt_eval_count * 1e9) / response.prompt_eval_duration,
    });
    expect(byName['ollama.eval']!.attributes).toEqual({
      'ollama.phase.token_count': response.eval_count,
      'ollama.phase.tokens_per_second': (response.eval_count * 1e9) / response.eval_duration,
    });
    const unexplained =
      (response.total_duration - response.load_duration - response.prompt_eval_duration - response.eval_duration) / 1e9;
    expect(parent.attributes['ollama.response.overhead_duration']).toBeCloseTo(unexplained, 9);
    expect(parent.attributes['ollama.response.overhead_duration']).toBeGreaterThanOrEqual(0);
    // The phase spans carry no GenAI attributes: backends summing gen_ai.usage.* would count them twice.
    for (const child of Object.values(byName)) expect(Object.keys(child.attributes).join()).not.toContain('gen_ai');
  });

  it('anchors a stream at its done chunk', async () => {
    const r = await phasesRig({}, { chunks: 6, chunkDelayMs: 5 });
    const stream = await r.client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true });
    const chunks = await drain(stream);
    const final = chunks.at(-1)!;
    const { parent, children, byName } = family(r);
    expect(children.map((span) => span.name)).toEqual(['ollama.load', 'ollama.prompt_eval', 'ollama.eval']);
    expectLaidEndToEnd(parent, children);
    expect(end(byName['ollama.eval']!) - start(byName['ollama.eval']!)).toBe(BigInt(final.eval_duration));
    // Generation of 6 chunks 5 ms apart is inside the eval span.
    expect(final.eval_duration).toBeGreaterThan(20e6);
  });

  it('leaves out a phase Ollama did not report (prompt-cache hit)', async () => {
    const r = await phasesRig();
    r.double.script({ path: '/api/chat', fault: { kind: 'cache-hit' } });
    const response = await r.client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    expect(response.prompt_eval_duration).toBeUndefined();
    const { parent, children } = family(r);
    expect(children.map((span) => span.name)).toEqual(['ollama.load', 'ollama.eval']);
    expectLaidEndToEnd(parent, children);
  });

  it('adds nothing for failed calls, embeddings, or with serverPhaseSpans: false', async () => {
    let r = await phasesRig();
    r.double.script({ path: '/api/chat', fault: { kind: 'http-error', status: 500 } });
    await expect(r.client.chat({ model: 'llama3.2', messages: USER_QUESTION })).rejects.toThrow();
    await r.client.embed({ model: 'all-minilm', input: 'hello' });
    expect(r.telemetry.spans().map((span) => span.name)).toEqual(['chat llama3.2', 'embeddings all-minilm']);
    await r.close();

    r = await phasesRig({ serverPhaseSpans: false });
    await r.client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    const [span, ...others] = r.telemetry.spans();
    expect(others).toHaveLength(0);
    expect(span!.attributes['ollama.response.overhead_duration']).toBeGreaterThanOrEqual(0);
  });

  it('creates no phase spans under a GenAI span that is not recording', async () => {
    // Samples everything except our CLIENT span: phase spans, if created, would be recorded.
    const tracerProvider = new TracerProvider({
      sampler: {
        shouldSample: (_context, _traceId, _name, kind) => ({
          decision: kind === SpanKind.CLIENT ? SamplingDecision.NOT_RECORD : SamplingDecision.RECORD_AND_SAMPLED,
        }),
      },
    });
    const recorded: string[] = [];
    const original = tracerProvider.getTracer.bind(tracerProvider);
    tracerProvider.getTracer = (...args) => {
      const tracer = original(...args);
      const startSpan = tracer.startSpan.bind(tracer);
      tracer.startSpan = (name, ...rest) => {
        const span = startSpan(name, ...rest);
        if (span.isRecording()) recorded.push(name);
        return span;
      };
      return tracer;
    };
    const r = await phasesRig({ tracerProvider });
    await r.client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    expect(recorded).toEqual([]);
    await tracerProvider.shutdown();
  });
});

describe('cold starts', () => {
  it('marks the span and counts a cold start when loading took longer than the threshold', async () => {
    const r = await phasesRig({ coldStartThresholdMs: 60 }, { coldLoadMs: 120 });
    const cold = await r.client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    const warm = await r.client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    expect(cold.load_duration).toBeGreaterThan(100e6);
    expect(warm.load_duration).toBeLessThan(60e6);
    const [first, second] = r.telemetry.spans().filter((span) => span.kind === SpanKind.CLIENT);
    expect(first!.attributes['ollama.model.cold_start']).toBe(true);
    expect(second!.attributes['ollama.model.cold_start']).toBe(false);
    const loadSpan = r.telemetry.spans().find((span) => span.name === 'ollama.load')!;
    expect(end(loadSpan) - start(loadSpan)).toBe(BigInt(cold.load_duration));

    const metrics = await r.telemetry.collectMetrics();
    const counted = points(metrics, 'ollama.model.cold_starts');
    expect(counted).toHaveLength(1);
    expect(counted[0]!.value).toBe(1);
    expect(counted[0]!.attributes).toEqual({
      'gen_ai.request.model': 'llama3.2',
      'gen_ai.provider.name': 'ollama',
      'server.address': '127.0.0.1',
      'server.port': r.double.port,
    });
    expect(metrics.find((metric) => metric.name === 'ollama.model.cold_starts')).toMatchObject({
      unit: '{event}',
      type: 'sum',
      isMonotonic: true,
    });
  });

  it('uses a 500 ms threshold by default and also sees embedding models load', async () => {
    const r = await phasesRig({}, { coldLoadMs: 150 });
    await r.client.embed({ model: 'all-minilm', input: 'hello' });
    const [span] = r.telemetry.spans();
    expect(span!.attributes['ollama.model.cold_start']).toBe(false);
    const metrics = await r.telemetry.collectMetrics();
    expect(points(metrics, 'ollama.model.cold_starts')).toHaveLength(0);
  });
});
