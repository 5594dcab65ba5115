import { type DiagLogger, DiagLogLevel, diag, SpanKind } from '@opentelemetry/api';
import { AlwaysOffSampler, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { InstrumentOllamaConfig } from '../src/index.js';
import { drain, type Rig, startRig } from './setup.js';

const ENV = 'OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT';
const PNG_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_current_weather',
    description: 'Get the current weather for a location',
    parameters: {
      type: 'object',
      properties: {
        location: { type: 'string', description: 'The location to get the weather for, e.g. San Francisco, CA' },
        format: {
          type: 'string',
          description: "The format to return the weather in, e.g. 'celsius'",
          enum: ['celsius', 'fahrenheit'],
        },
      },
      required: ['location', 'format'],
    },
  },
};
const CONTENT_ATTRIBUTES = [
  'gen_ai.input.messages',
  'gen_ai.output.messages',
  'gen_ai.system_instructions',
  'gen_ai.tool.definitions',
];

let rig: Rig | undefined;
const savedEnv = process.env[ENV];
afterEach(async () => {
  await rig?.close();
  rig = undefined;
  if (savedEnv === undefined) delete process.env[ENV];
  else process.env[ENV] = savedEnv;
  diag.disable();
});

async function capturing(config: InstrumentOllamaConfig, double = {}) {
  rig = await startRig({ config, double });
  return rig;
}

function clientSpan(r: Rig) {
  const spans = r.telemetry.spans().filter((span) => span.kind === SpanKind.CLIENT);
  expect(spans).toHaveLength(1);
  return spans[0]!;
}

function json(value: unknown): any {
  expect(typeof value).toBe('string');
  return JSON.parse(value as string);
}

describe('content capture is opt-in', () => {
  it('records no content, on the span or as an event, by default', async () => {
    const r = await capturing({});
    await r.client.chat({
      model: 'llama3.2',
      messages: [
        { role: 'system', content: 'You are a secret agent.' },
        { role: 'user', content: 'The password is swordfish.' },
      ],
      tools: [WEATHER_TOOL],
    });
    await r.client.generate({ model: 'gemma4', prompt: 'Why is the sky blue?', system: 'Be brief.' });
    for (const span of r.telemetry.spans()) {
      for (const key of CONTENT_ATTRIBUTES) expect(span.attributes).not.toHaveProperty(key);
      expect(JSON.stringify(span.attributes)).not.toMatch(/swordfish|secret agent|Be brief/);
    }
    expect(r.telemetry.logs()).toHaveLength(0);
  });

  it('never captures embeddings, even when capture is on', async () => {
    const r = await capturing({ captureMessageContent: 'SPAN_AND_EVENT' });
    await r.client.embed({ model: 'all-minilm', input: ['a private sentence'] });
    const span = clientSpan(r);
    for (const key of CONTENT_ATTRIBUTES) expect(span.attributes).not.toHaveProperty(key);
    expect(r.telemetry.logs()).toHaveLength(0);
  });
});

describe('content on the span (SPAN_ONLY, or true)', () => {
  it('records a whole tool-calling conversation in order, with the tool definitions and the answer', async () => {
    const r = await capturing({ captureMessageContent: true });
    const response = await r.client.chat({
      model: 'llama3.2',
      messages: [
        { role: 'system', content: 'You are a weather bot.' },
        { role: 'user', content: 'What is the weather today in Paris?' },
        {
          role: 'assistant',
          content: '',
          tool_calls: [
            { function: { name: 'get_current_weather', arguments: { location: 'Paris, FR', format: 'celsius' } } },
          ],
        },
        { role: 'tool', content: '22 degrees celsius', tool_name: 'get_current_weather' },
      ],
      tools: [WEATHER_TOOL],
    });
    const span = clientSpan(r);
    expect(json(span.attributes['gen_ai.input.messages'])).toEqual([
      { role: 'system', parts: [{ type: 'text', content: 'You are a weather bot.' }] },
      { role: 'user', parts: [{ type: 'text', content: 'What is the weather today in Paris?' }] },
      {
        role: 'assistant',
        parts: [
          { type: 'tool_call', name: 'get_current_weather', arguments: { location: 'Paris, FR', format: 'celsius' } },
        ],
      },
      {
        role: 'tool',
        parts: [{ type: 'tool_call_response', name: 'get_current_weather', response: '22 degrees celsius' }],
      },
    ]);
    expect(json(span.attributes['gen_ai.tool.definitions'])).toEqual([
      {
        type: 'function',
        name: 'get_current_weather',
        description: 'Get the current weather for a location',
        parameters: WEATHER_TOOL.function.parameters,
      },
    ]);
    expect(json(span.attributes['gen_ai.output.messages'])).toEqual([
      { role: 'assistant', parts: [{ type: 'text', content: response.message.content }], finish_reason: 'stop' },
    ]);
    expect(span.attributes).not.toHaveProperty('gen_ai.system_instructions');
    expect(r.telemetry.logs()).toHaveLength(0);
  });

  it('accumulates a stream: thinking, content, and a tool call arriving before the final chunk', async () => {
    const r = await capturing({ captureMessageContent: 'SPAN_ONLY' }, { chunks: 5 });
    const stream = await r.client.chat({
      model: 'qwen3',
      think: true,
      messages: [{ role: 'user', content: 'What is the weather in Toronto?' }],
      tools: [WEATHER_TOOL],
      stream: true,
    });
    const chunks = await drain(stream);
    const callChunk = chunks.find((chunk) => chunk.message.tool_calls?.length);
    expect(callChunk?.done).toBe(false);
    const call = callChunk!.message.tool_calls![0] as { id?: string; function: { name: string; arguments: unknown } };
    const thinking = chunks.map((chunk) => chunk.message.thinking ?? '').join('');
    expect(thinking.length).toBeGreaterThan(20);

    const [output] = json(clientSpan(r).attributes['gen_ai.output.messages']);
    expect(output).toEqual({
      role: 'assistant',
      parts: [
        { type: 'reasoning', content: thinking },
        { type: 'tool_call', id: call.id, name: 'get_current_weather', arguments: call.function.arguments },
      ],
      finish_reason: 'stop',
    });
    expect(call.id).toMatch(/^call_/);
  });

  it('records generate: prompt, images as blobs without bytes, system instructions, never `context`', async () => {
    const r = await capturing({ captureMessageContent: true });
    const response = await r.client.generate({
      model: 'gemma4',
      prompt: 'What is in this picture?',
      system: 'Answer in one sentence.',
      images: [Buffer.from(PNG_BASE64, 'base64')],
    });
    expect(response.context?.length).toBeGreaterThan(0);
    const span = clientSpan(r);
    expect(json(span.attributes['gen_ai.input.messages'])).toEqual([
      {
        role: 'user',
        parts: [
          { type: 'text', content: 'What is in this picture?' },
          { type: 'blob', modality: 'image', mime_type: 'image/png', size: Buffer.from(PNG_BASE64, 'base64').length },
        ],
      },
    ]);
    expect(json(span.attributes['gen_ai.system_instructions'])).toEqual([
      { type: 'text', content: 'Answer in one sentence.' },
    ]);
    expect(json(span.attributes['gen_ai.output.messages'])[0].parts).toEqual([
      { type: 'text', content: response.response },
    ]);
    const everything = JSON.stringify(span.attributes);
    expect(everything).not.toContain(PNG_BASE64.slice(0, 20));
    expect(everything).not.toContain(JSON.stringify(response.context!.slice(0, 5)).slice(1, -1));
  });

  it('keeps the partial answer of a stream that failed, with finish_reason error', async () => {
    const r = await capturing({ captureMessageContent: true }, { chunks: 8 });
    r.double.script({ path: '/api/chat', fault: { kind: 'stream-error', afterChunks: 3, error: 'model crashed' } });
    const stream = await r.client.chat({
      model: 'llama3.2',
      messages: [{ role: 'user', content: 'Tell me about llamas.' }],
      stream: true,
    });
    const received: string[] = [];
    await expect(async () => {
      for await (const chunk of stream) received.push(chunk.message.content);
    }).rejects.toThrow('model crashed');
    const span = clientSpan(r);
    expect(span.attributes['error.type']).toBe('Error');
    expect(json(span.attributes['gen_ai.output.messages'])).toEqual([
      { role: 'assistant', parts: [{ type: 'text', content: received.join('') }], finish_reason: 'error' },
    ]);
    expect(json(span.attributes['gen_ai.input.messages'])).toHaveLength(1);
  });

  it('bounds each attribute to maxContentLength with valid, marked JSON', async () => {
    const r = await capturing({ captureMessageContent: true, maxContentLength: 400 });
    const long = 'All work and no play makes Jack a dull boy. '.repeat(100);
    await r.client.chat({ model: 'llama3.2', messages: [{ role: 'user', content: long }] });
    const value = clientSpan(r).attributes['gen_ai.input.messages'] as string;
    expect(value.length).toBeLessThanOrEqual(400);
    const [message] = json(value);
    expect(message.parts[0].truncated).toBe(true);
    expect(long.startsWith(message.parts[0].content)).toBe(true);
  });
});

describe('content as a log event (EVENT_ONLY, SPAN_AND_EVENT)', () => {
  it('emits one structured gen_ai.client.inference.operation.details record in the span context', async () => {
    const r = await capturing({ captureMessageContent: 'EVENT_ONLY' });
    const response = await r.client.chat({
      model: 'llama3.2',
      messages: [{ role: 'user', content: 'Why is the sky blue?' }],
    });
    const span = clientSpan(r);
    for (const key of CONTENT_ATTRIBUTES) expect(span.attributes).not.toHaveProperty(key);
    const logs = r.telemetry.logs();
    expect(logs).toHaveLength(1);
    const [record] = logs;
    expect(record!.eventName).toBe('gen_ai.client.inference.operation.details');
    expect(record!.spanContext?.traceId).toBe(span.spanContext().traceId);
    expect(record!.spanContext?.spanId).toBe(span.spanContext().spanId);
    expect(record!.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'ollama',
      'gen_ai.request.model': 'llama3.2',
      'gen_ai.response.model': response.model,
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.usage.input_tokens': response.prompt_eval_count,
      'gen_ai.usage.output_tokens': response.eval_count,
      'server.port': r.double.port,
    });
    // Structured (AnyValue), not JSON strings.
    expect(record!.attributes['gen_ai.input.messages']).toEqual([
      { role: 'user', parts: [{ type: 'text', content: 'Why is the sky blue?' }] },
    ]);
    expect(record!.attributes['gen_ai.output.messages']).toEqual([
      { role: 'assistant', parts: [{ type: 'text', content: response.message.content }], finish_reason: 'stop' },
    ]);
  });

  it('emits the event even when the span is sampled out', async () => {
    const unsampled = new TracerProvider({ sampler: new AlwaysOffSampler() });
    const r = await capturing({ captureMessageContent: 'EVENT_ONLY', tracerProvider: unsampled });
    await r.client.generate({ model: 'gemma4', prompt: 'Why is the sky blue?' });
    expect(r.telemetry.spans()).toHaveLength(0);
    const [record] = r.telemetry.logs();
    expect(record?.attributes['gen_ai.input.messages']).toEqual([
      { role: 'user', parts: [{ type: 'text', content: 'Why is the sky blue?' }] },
    ]);
    await unsampled.shutdown();
  });

  it('records both with SPAN_AND_EVENT, the same content', async () => {
    const r = await capturing({ captureMessageContent: 'SPAN_AND_EVENT' });
    await r.client.generate({ model: 'gemma4', prompt: 'Hello', system: 'Be kind.' });
    const span = clientSpan(r);
    const [record] = r.telemetry.logs();
    for (const key of ['gen_ai.input.messages', 'gen_ai.output.messages', 'gen_ai.system_instructions']) {
      expect(json(span.attributes[key])).toEqual(record!.attributes[key]);
    }
  });
});

describe('OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT', () => {
  it('overrides the config: false turns capture off', async () => {
    process.env[ENV] = 'false';
    const r = await capturing({ captureMessageContent: 'SPAN_AND_EVENT' });
    await r.client.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
    expect(clientSpan(r).attributes).not.toHaveProperty('gen_ai.input.messages');
    expect(r.telemetry.logs()).toHaveLength(0);
  });

  it('overrides the config: a mode, in any case, turns capture on', async () => {
    process.env[ENV] = 'span_and_event';
    const r = await capturing({ captureMessageContent: false });
    await r.client.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
    expect(json(clientSpan(r).attributes['gen_ai.input.messages'])).toHaveLength(1);
    expect(r.telemetry.logs()).toHaveLength(1);
  });

  it('is ignored with a warning when invalid', async () => {
    const warnings: string[] = [];
    diag.setLogger(
      { ...silentLogger(), warn: (...args: unknown[]) => warnings.push(args.join(' ')) },
      DiagLogLevel.WARN,
    );
    process.env[ENV] = 'maybe';
    const r = await capturing({ captureMessageContent: true });
    await r.client.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
    expect(json(clientSpan(r).attributes['gen_ai.input.messages'])).toHaveLength(1);
    expect(warnings.some((warning) => warning.includes(ENV))).toBe(true);
  });
});

describe('contentHook', () => {
  it('redacts a copy: the span shows the rewrite, the caller objects are untouched', async () => {
    const hook = vi.fn((content: any, _span: unknown) => {
      for (const message of content.inputMessages ?? []) {
        for (const part of message.parts) {
          if (part.type === 'text') part.content = part.content.replace(/\S+@\S+/g, '[email]');
        }
      }
    });
    const r = await capturing({ captureMessageContent: 'SPAN_AND_EVENT', contentHook: hook });
    const messages = [{ role: 'user', content: 'Mail alice@example.com the report.' }];
    await r.client.chat({ model: 'llama3.2', messages });
    expect(hook).toHaveBeenCalledTimes(1);
    expect(hook.mock.calls[0]![1]).toBeDefined();
    const span = clientSpan(r);
    expect(json(span.attributes['gen_ai.input.messages'])[0].parts[0].content).toBe('Mail [email] the report.');
    expect((r.telemetry.logs()[0]!.attributes['gen_ai.input.messages'] as any)[0].parts[0].content).toBe(
      'Mail [email] the report.',
    );
    expect(messages[0]!.content).toBe('Mail alice@example.com the report.');
  });

  it('may return replacement content', async () => {
    const r = await capturing({
      captureMessageContent: true,
      contentHook: () => ({ inputMessages: [{ role: 'user', parts: [{ type: 'text', content: 'replaced' }] }] }),
    });
    await r.client.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'original' }] });
    const span = clientSpan(r);
    expect(json(span.attributes['gen_ai.input.messages'])[0].parts[0].content).toBe('replaced');
    expect(span.attributes).not.toHaveProperty('gen_ai.output.messages');
  });

  it('fails closed: a throwing hook records no content and does not disturb the call', async () => {
    const errors: unknown[] = [];
    diag.setLogger({ ...silentLogger(), error: (...args: unknown[]) => errors.push(args) }, DiagLogLevel.ERROR);
    const r = await capturing({
      captureMessageContent: 'SPAN_AND_EVENT',
      contentHook: () => {
        throw new Error('redaction service down');
      },
    });
    const response = await r.client.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'secret' }] });
    expect(response.message.content.length).toBeGreaterThan(0);
    const span = clientSpan(r);
    for (const key of CONTENT_ATTRIBUTES) expect(span.attributes).not.toHaveProperty(key);
    expect(span.attributes['gen_ai.usage.output_tokens']).toBe(response.eval_count);
    expect(r.telemetry.logs()).toHaveLength(0);
    expect(JSON.stringify(errors)).toContain('contentHook');
  });
});

function silentLogger(): DiagLogger {
  const noop = () => {};
  return { error: noop, warn: noop, info: noop, debug: noop, verbose: noop };
}
