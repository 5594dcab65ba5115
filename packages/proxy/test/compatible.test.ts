/*
 * The OpenAI- and Anthropic-compatible routes through the real `openai` and `@anthropic-ai/sdk` clients:
 * usage, finish reasons, response ids and models on the GenAI span; usage asked for on the way up and hidden
 * again on the way down; content only when opted in.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { histogramCount, onlyClientSpan, QUESTION, type Rig, rawRequest, settled, startRig } from './setup.js';

let rig: Rig;
let openai: OpenAI;
let anthropic: Anthropic;

beforeAll(async () => {
  rig = await startRig({ double: { chunks: 5 } });
  openai = new OpenAI({ baseURL: `${rig.proxy.url}/v1`, apiKey: 'sk-secret-openai-key', maxRetries: 0 });
  anthropic = new Anthropic({ baseURL: rig.proxy.url, apiKey: 'sk-ant-secret', maxRetries: 0 });
});
afterAll(() => rig.close());
beforeEach(() => {
  rig.telemetry.reset();
  rig.double.clearRequests();
});

async function span() {
  await settled(rig, 1);
  return onlyClientSpan(rig.telemetry);
}

describe('OpenAI chat completions', () => {
  it('records a whole completion', async () => {
    const completion = await openai.chat.completions.create({
      model: 'llama3.2',
      messages: [{ role: 'user', content: 'Why is the sky blue?' }],
      temperature: 0.3,
      max_tokens: 300,
      seed: 7,
    });
    const s = await span();
    expect(s.name).toBe('chat llama3.2');
    expect(s.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'ollama',
      'gen_ai.request.model': 'llama3.2',
      'gen_ai.request.temperature': 0.3,
      'gen_ai.request.max_tokens': 300,
      'gen_ai.request.seed': 7,
      'gen_ai.response.model': 'llama3.2',
      'gen_ai.response.id': completion.id,
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.usage.input_tokens': completion.usage!.prompt_tokens,
      'gen_ai.usage.output_tokens': completion.usage!.completion_tokens,
      'server.address': '127.0.0.1',
      'server.port': rig.double.port,
    });
    expect(s.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
    expect(s.attributes['gen_ai.input.messages']).toBeUndefined();
  });

  it('records usage of a stream the client did not ask usage for, and hides it from the client', async () => {
    const stream = await openai.chat.completions.create({ model: 'llama3.2', messages: QUESTION, stream: true });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.every((chunk) => chunk.usage === undefined && chunk.choices.length === 1)).toBe(true);
    expect(rig.double.requests[0]!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    const s = await span();
    expect(s.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    expect(s.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
    expect(s.attributes['gen_ai.response.finish_reasons']).toEqual(['stop']);
    expect(s.attributes['gen_ai.response.id']).toBe(chunks[0]!.id);
    expect(s.attributes['gen_ai.request.stream']).toBe(true);
    expect(s.attributes['gen_ai.response.time_to_first_chunk']).toBeGreaterThan(0);
  });

  it('passes the usage chunk through when the client asked for it', async () => {
    const stream = await openai.chat.completions.create({
      model: 'llama3.2',
      messages: QUESTION,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const usage = chunks.at(-1)!.usage!;
    expect(usage.completion_tokens).toBeGreaterThan(0);
    const s = await span();
    expect(s.attributes['gen_ai.usage.output_tokens']).toBe(usage.completion_tokens);
  });

  it('gives the client the bytes Ollama gives it, stream or not, usage asked or not', async () => {
    for (const body of [
      { model: 'llama3.2', messages: QUESTION, stream: true },
      { model: 'llama3.2', messages: QUESTION, stream: true, stream_options: { include_usage: false } },
      { model: 'llama3.2', messages: QUESTION, stream: true, stream_options: { include_usage: true } },
      { model: 'llama3.2', messages: QUESTION },
    ]) {
      const text = JSON.stringify(body);
      const direct = await rawRequest(rig.double.url, 'POST', '/v1/chat/completions', text);
      const proxied = await rawRequest(rig.proxy.url, 'POST', '/v1/chat/completions', text);
      expect(proxied.headers).toEqual(direct.headers);
      expect(normalize(proxied.body)).toBe(normalize(direct.body));
    }
  });

  it('maps tool calls and, when opted in, the conversation', async () => {
    const captured = await startRig({ proxy: { instrumentation: { captureMessageContent: true } } });
    try {
      const client = new OpenAI({ baseURL: `${captured.proxy.url}/v1`, apiKey: 'x', maxRetries: 0 });
      const tools = [
        {
          type: 'function' as const,
          function: {
            name: 'get_weather',
            description: 'Weather in a city',
            parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
          },
        },
      ];
      const stream = await client.chat.completions.create({
        model: 'llama3.2',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Weather in Tokyo?' },
        ],
        tools,
        stream: true,
      });
      for await (const _ of stream) {
        // read
      }
      await settled(captured, 1);
      const s = onlyClientSpan(captured.telemetry);
      expect(s.attributes['gen_ai.response.finish_reasons']).toEqual(['tool_calls']);
      expect(JSON.parse(s.attributes['gen_ai.input.messages'] as string)).toEqual([
        { role: 'system', parts: [{ type: 'text', content: 'Be brief.' }] },
        { role: 'user', parts: [{ type: 'text', content: 'Weather in Tokyo?' }] },
      ]);
      const output = JSON.parse(s.attributes['gen_ai.output.messages'] as string);
      expect(output[0].finish_reason).toBe('tool_calls');
      expect(output[0].parts[0]).toMatchObject({
        type: 'tool_call',
        name: 'get_weather',
        arguments: { city: 'Tokyo' },
      });
      expect(output[0].parts[0].id).toMatch(/^call_/);
      expect(JSON.parse(s.attributes['gen_ai.tool.definitions'] as string)[0]).toMatchObject({ name: 'get_weather' });
    } finally {
      await captured.close();
    }
  });

  it('records an error status with the OpenAI error message', async () => {
    await expect(openai.chat.completions.create({ model: 'no-such-model', messages: QUESTION })).rejects.toMatchObject({
      status: 404,
    });
    const s = await span();
    expect(s.attributes['error.type']).toBe('404');
    expect(s.status.message).toBe("model 'no-such-model' not found");
  });
});

describe('OpenAI completions, embeddings and models', () => {
  it('records a completion and a stream, hiding the per-chunk zero usage Ollama adds', async () => {
    const whole = await openai.completions.create({
      model: 'llama3.2',
      prompt: 'Why is the sky blue?',
      max_tokens: 50,
    });
    let s = await span();
    expect(s.name).toBe('text_completion llama3.2');
    expect(s.attributes['gen_ai.usage.output_tokens']).toBe(whole.usage!.completion_tokens);
    rig.telemetry.reset();
    const body = JSON.stringify({ model: 'llama3.2', prompt: 'hi', stream: true });
    const direct = await rawRequest(rig.double.url, 'POST', '/v1/completions', body);
    const proxied = await rawRequest(rig.proxy.url, 'POST', '/v1/completions', body);
    expect(normalize(proxied.body)).toBe(normalize(direct.body));
    expect(proxied.body.toString()).not.toContain('usage');
    s = await span();
    expect(s.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
    expect(s.attributes['gen_ai.response.finish_reasons']).toEqual(['stop']);
  });

  it('records embeddings (float and base64) with their dimension count, never the vectors', async () => {
    for (const encoding_format of ['float', 'base64'] as const) {
      rig.telemetry.reset();
      const result = await openai.embeddings.create({ model: 'all-minilm', input: ['sky', 'grass'], encoding_format });
      const s = await span();
      expect(s.name).toBe('embeddings all-minilm');
      expect(s.attributes['gen_ai.usage.input_tokens']).toBe(result.usage.prompt_tokens);
      expect(s.attributes['gen_ai.embeddings.dimension.count']).toBe(384);
      expect(JSON.stringify(s.attributes)).not.toMatch(/sky|grass/);
    }
  });

  it('records model listing and retrieval as management calls', async () => {
    const page = await openai.models.list();
    expect(page.data.length).toBeGreaterThan(1);
    const model = await openai.models.retrieve('llama3.2');
    expect(model.id).toBe('llama3.2');
    await settled(rig, 2);
    const spans = rig.telemetry.spans().filter((x) => x.name.startsWith('ollama.'));
    expect(spans.map((x) => x.name)).toEqual(['ollama.list', 'ollama.show llama3.2']);
    expect(spans[0]!.attributes['ollama.model.count']).toBe(page.data.length);
  });
});

describe('OpenAI responses', () => {
  it('records a whole response and a stream from its completed event', async () => {
    const response = await openai.responses.create({
      model: 'llama3.2',
      input: 'Why is the sky blue?',
      instructions: 'Be brief.',
    });
    let s = await span();
    expect(s.name).toBe('chat llama3.2');
    expect(s.attributes).toMatchObject({
      'gen_ai.response.id': response.id,
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.usage.input_tokens': response.usage!.input_tokens,
      'gen_ai.usage.output_tokens': response.usage!.output_tokens,
    });
    rig.telemetry.reset();
    const stream = await openai.responses.create({ model: 'llama3.2', input: 'hi', stream: true });
    let completed: string | undefined;
    for await (const event of stream) if (event.type === 'response.completed') completed = event.response.id;
    s = await span();
    expect(s.attributes['gen_ai.response.id']).toBe(completed);
    expect(s.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
    expect(s.attributes['gen_ai.response.time_to_first_chunk']).toBeGreaterThan(0);
  });
  it('records the reasoning of a thinking model, whole and streamed, and reasoning sent back, when opted in', async () => {
    const captured = await startRig({ proxy: { instrumentation: { captureMessageContent: true } } });
    try {
      const client = new OpenAI({ baseURL: `${captured.proxy.url}/v1`, apiKey: 'x', maxRetries: 0 });
      const input = [
        { role: 'user' as const, content: 'Why is the sky blue?' },
        { type: 'reasoning' as const, id: 'rs_1', summary: [{ type: 'summary_text' as const, text: 'Rayleigh.' }] },
        { role: 'assistant' as const, content: 'Scattering.' },
        { role: 'user' as const, content: 'And sunsets?' },
      ];
      const whole = await client.responses.create({ model: 'qwen3', input, reasoning: { effort: 'low' } });
      const thought = whole.output.find((item) => item.type === 'reasoning');
      expect(thought?.summary[0]?.text).toBeTruthy();
      await settled(captured, 1);
      let s = onlyClientSpan(captured.telemetry);
      expect(JSON.parse(s.attributes['gen_ai.input.messages'] as string)).toEqual([
        { role: 'user', parts: [{ type: 'text', content: 'Why is the sky blue?' }] },
        {
          role: 'assistant',
          parts: [
            { type: 'reasoning', content: 'Rayleigh.' },
            { type: 'text', content: 'Scattering.' },
          ],
        },
        { role: 'user', parts: [{ type: 'text', content: 'And sunsets?' }] },
      ]);
      expect(JSON.parse(s.attributes['gen_ai.output.messages'] as string)).toEqual([
        {
          role: 'assistant',
          parts: [
            { type: 'reasoning', content: thought!.summary[0]!.text },
            { type: 'text', content: whole.output_text },
          ],
          finish_reason: 'stop',
        },
      ]);
      captured.telemetry.reset();
      const stream = await client.responses.create({
        model: 'qwen3',
        input: 'Why is the sky blue?',
        reasoning: { effort: 'low' },
        stream: true,
      });
      let reasoning = '';
      let answer = '';
      for await (const event of stream) {
        if (event.type === 'response.reasoning_summary_text.delta') reasoning += event.delta;
        if (event.type === 'response.output_text.delta') answer += event.delta;
      }
      expect(reasoning).not.toBe('');
      await settled(captured, 1);
      s = onlyClientSpan(captured.telemetry);
      expect(JSON.parse(s.attributes['gen_ai.output.messages'] as string)[0].parts).toEqual([
        { type: 'reasoning', content: reasoning },
        { type: 'text', content: answer },
      ]);
    } finally {
      await captured.close();
    }
  });
});

describe('Anthropic messages', () => {
  it('records a whole message and a stream', async () => {
    const message = await anthropic.messages.create({
      model: 'llama3.2',
      max_tokens: 256,
      system: 'Be brief.',
      messages: [{ role: 'user', content: 'Why is the sky blue?' }],
    });
    let s = await span();
    expect(s.attributes).toMatchObject({
      'gen_ai.request.max_tokens': 256,
      'gen_ai.response.id': message.id,
      'gen_ai.response.finish_reasons': ['end_turn'],
      'gen_ai.usage.input_tokens': message.usage.input_tokens,
      'gen_ai.usage.output_tokens': message.usage.output_tokens,
    });
    rig.telemetry.reset();
    const stream = anthropic.messages.stream({
      model: 'llama3.2',
      max_tokens: 256,
      messages: [{ role: 'user', content: 'hi' }],
    });
    const final = await stream.finalMessage();
    s = await span();
    expect(s.attributes['gen_ai.response.id']).toBe(final.id);
    expect(s.attributes['gen_ai.usage.output_tokens']).toBe(final.usage.output_tokens);
    expect(s.attributes['gen_ai.response.finish_reasons']).toEqual(['end_turn']);
  });

  it('records an error in the Anthropic shape with its message', async () => {
    await expect(
      anthropic.messages.create({ model: 'no-such-model', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }),
    ).rejects.toMatchObject({ status: 404 });
    const s = await span();
    expect(s.attributes['error.type']).toBe('404');
    expect(s.status.message).toBe("model 'no-such-model' not found");
  });

  it('counts output chunks of every streamed format', async () => {
    const before = await rig.telemetry.collectMetrics();
    const stream = anthropic.messages.stream({
      model: 'llama3.2',
      max_tokens: 256,
      messages: [{ role: 'user', content: 'hi' }],
    });
    await stream.finalMessage();
    await settled(rig, 1);
    const after = await rig.telemetry.collectMetrics();
    const count = (m: typeof before) =>
      histogramCount(m, 'gen_ai.client.operation.time_per_output_chunk', { 'gen_ai.operation.name': 'chat' });
    // 5 text deltas: one time to first chunk, four gaps.
    expect(count(after) - count(before)).toBe(4);
  });
});

/** Ids, timestamps and durations differ between two calls; everything else must not. */
function normalize(body: Buffer): string {
  return body
    .toString()
    .replace(/"(id|created|created_at|completed_at)":("[^"]*"|\d+)/g, '"$1":X')
    .replace(/(chatcmpl|cmpl|resp|msg|call|fc)[-_][A-Za-z0-9_]+/g, '$1-X')
    .replace(/"(sequence_number)":\d+/g, '"$1":X');
}
