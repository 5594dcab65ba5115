import { type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { drain, postJson, RFC3339_NANO, readNdjson, WEATHER_TOOL } from './helpers.js';

const METRIC_FIELDS = [
  'total_duration',
  'load_duration',
  'prompt_eval_count',
  'prompt_eval_duration',
  'eval_count',
  'eval_duration',
];
const user = (content: string) => [{ role: 'user', content }];

let double: OllamaDouble;
let ollama: Ollama;

beforeAll(async () => {
  double = await startOllamaDouble();
  ollama = new Ollama({ host: double.url });
});
afterAll(() => double.close());
beforeEach(() => double.reset());

describe('streaming chat', () => {
  it('streams NDJSON content chunks, then one final chunk carrying done_reason and metrics', async () => {
    const response = await postJson(double, '/api/chat', { model: 'llama3.2', messages: user('why is the sky blue?') });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/x-ndjson');
    const chunks = await readNdjson(response);
    expect(chunks).toHaveLength(9);
    const [final] = chunks.splice(-1);
    for (const chunk of chunks) {
      expect(Object.keys(chunk)).toEqual(['model', 'created_at', 'message', 'done']);
      expect(chunk).toMatchObject({ model: 'llama3.2', done: false, message: { role: 'assistant' } });
      expect(Object.keys(chunk.message)).toEqual(['role', 'content']);
      expect(chunk.message.content).not.toBe('');
      expect(chunk.created_at).toMatch(RFC3339_NANO);
    }
    expect(final).toMatchObject({ done: true, done_reason: 'stop', message: { role: 'assistant', content: '' } });
    expect(Object.keys(final)).toEqual(['model', 'created_at', 'message', 'done', 'done_reason', ...METRIC_FIELDS]);
    for (const field of METRIC_FIELDS) expect(Number.isInteger(final[field]) && final[field] > 0).toBe(true);
    const text = chunks.map((c) => c.message.content).join('');
    expect(text.length).toBeGreaterThan(20);
  });

  it('is deterministic for the same prompt', async () => {
    const a = await ollama.chat({ model: 'llama3.2', messages: user('same question') });
    const b = await ollama.chat({ model: 'llama3.2', messages: user('same question') });
    expect(a.message.content).toBe(b.message.content);
    expect(a.eval_count).toBe(b.eval_count);
    expect(a.prompt_eval_count).toBe(b.prompt_eval_count);
  });

  it('streams through ollama-js, whose iterator ends at done', async () => {
    const stream = await ollama.chat({ model: 'gemma4', messages: user('hello'), stream: true });
    const { items, error } = await drain(stream);
    expect(error).toBeUndefined();
    expect(items.at(-1)?.done).toBe(true);
    expect(items.filter((c) => c.done)).toHaveLength(1);
  });

  it('aggregates content and metrics when stream is false', async () => {
    const streamed = await readNdjson(
      await postJson(double, '/api/chat', { model: 'llama3.2', messages: user('aggregate me') }),
    );
    const whole = await ollama.chat({ model: 'llama3.2', messages: user('aggregate me') });
    expect(whole.message.content).toBe(
      streamed
        .slice(0, -1)
        .map((c) => c.message.content)
        .join(''),
    );
    expect(whole).toMatchObject({ done: true, done_reason: 'stop', model: 'llama3.2' });
    expect(Object.keys(whole)).toEqual(['model', 'created_at', 'message', 'done', 'done_reason', ...METRIC_FIELDS]);
    expect(whole.eval_count).toBe(streamed.at(-1).eval_count);
  });

  it('honours the chunks option and per-request stream override', async () => {
    const small = await startOllamaDouble({ chunks: 3 });
    try {
      const chunks = await readNdjson(await postJson(small, '/api/chat', { model: 'llama3.2', messages: user('a') }));
      expect(chunks).toHaveLength(4);
      small.script({ fault: { kind: 'stream', chunks: 5 } });
      const more = await readNdjson(await postJson(small, '/api/chat', { model: 'llama3.2', messages: user('a') }));
      expect(more).toHaveLength(6);
    } finally {
      await small.close();
    }
  });
});

describe('streaming generate', () => {
  it('streams `response` chunks and a final chunk with context', async () => {
    const chunks = await readNdjson(await postJson(double, '/api/generate', { model: 'gemma4', prompt: 'Why?' }));
    const final = chunks.pop();
    for (const chunk of chunks) expect(Object.keys(chunk)).toEqual(['model', 'created_at', 'response', 'done']);
    expect(Object.keys(final)).toEqual([
      'model',
      'created_at',
      'response',
      'done',
      'done_reason',
      'context',
      ...METRIC_FIELDS,
    ]);
    expect(final.response).toBe('');
    expect(final.context.every((n: unknown) => Number.isInteger(n))).toBe(true);
    expect(final.context).toHaveLength(final.prompt_eval_count + final.eval_count);
  });

  it('non-streaming generate aggregates; raw mode has no context', async () => {
    const whole = await ollama.generate({ model: 'llama3.2', prompt: 'Why is the sky blue?' });
    expect(whole.response?.length).toBeGreaterThan(20);
    expect(whole.context.length).toBeGreaterThan(0);
    const raw = await ollama.generate({ model: 'llama3.2', prompt: 'Why is the sky blue?', raw: true });
    expect('context' in raw).toBe(false);
    expect(raw.prompt_eval_count).toBeLessThan(whole.prompt_eval_count);
  });
});

describe('thinking', () => {
  it('chat: streams message.thinking chunks before the content', async () => {
    const stream = await ollama.chat({ model: 'qwen3', messages: user('count the rs'), think: true, stream: true });
    const { items } = await drain(stream);
    const thinking = items.filter((c) => c.message.thinking);
    const content = items.filter((c) => c.message.content);
    expect(thinking.length).toBeGreaterThanOrEqual(2);
    expect(content.length).toBeGreaterThan(0);
    expect(items.indexOf(thinking.at(-1)!)).toBeLessThan(items.indexOf(content[0]!));
    for (const chunk of thinking) expect(chunk.message.content).toBe('');
    expect(items.at(-1)?.message.thinking).toBeUndefined();
  });

  it('generate: top-level thinking; non-streaming aggregates it', async () => {
    const chunks = await readNdjson(
      await postJson(double, '/api/generate', { model: 'qwen3', prompt: 'hi', think: 'high' }),
    );
    expect(chunks[0]).toMatchObject({ response: '', thinking: expect.any(String), done: false });
    const whole = await ollama.generate({ model: 'qwen3', prompt: 'hi', think: true });
    expect(whole.thinking).toBe(
      chunks
        .filter((c) => c.thinking)
        .map((c) => c.thinking)
        .join(''),
    );
    const chat = await ollama.chat({ model: 'qwen3', messages: user('hi'), think: 'low' });
    expect(chat.message.thinking?.length).toBeGreaterThan(10);
    expect(chat.message.content.length).toBeGreaterThan(10);
  });

  it('think:false on a model without thinking is fine', async () => {
    const response = await ollama.chat({ model: 'llama3.2', messages: user('hi'), think: false });
    expect(response.message.thinking).toBeUndefined();
  });
});

describe('tool calls', () => {
  it('streams the tool call in a non-final chunk with id and index', async () => {
    const chunks = await readNdjson(
      await postJson(double, '/api/chat', {
        model: 'llama3.2',
        messages: user('what is the weather in tokyo?'),
        tools: [WEATHER_TOOL],
      }),
    );
    expect(chunks).toHaveLength(2);
    const [call, final] = chunks;
    expect(call.done).toBe(false);
    expect(call.message.content).toBe('');
    expect(call.message.tool_calls).toEqual([
      {
        id: expect.stringMatching(/^call_[a-z0-9]{8}$/),
        function: { index: 0, name: 'get_weather', arguments: { city: 'Tokyo' } },
      },
    ]);
    expect(final).toMatchObject({ done: true, done_reason: 'stop', message: { role: 'assistant', content: '' } });
    expect(final.message.tool_calls).toBeUndefined();
    expect(final.eval_count).toBeGreaterThan(0);
  });

  it('returns tool_calls in the message when not streaming; derives arguments from the schema', async () => {
    const response = await ollama.chat({
      model: 'llama3.2',
      messages: user('What is the weather today in Paris?'),
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_current_weather',
            description: 'Get the current weather',
            parameters: {
              type: 'object',
              properties: {
                location: { type: 'string', description: 'The location' },
                format: { type: 'string', description: 'unit', enum: ['celsius', 'fahrenheit'] },
                days: { type: 'integer', description: 'days' },
              },
              required: ['location', 'format'],
            },
          },
        },
      ],
    });
    expect(response.done_reason).toBe('stop');
    expect(response.message.tool_calls?.[0]?.function).toEqual({
      index: 0,
      name: 'get_current_weather',
      arguments: { location: 'Tokyo', format: 'celsius' },
    });
  });

  it('answers with text after a tool result', async () => {
    const response = await ollama.chat({
      model: 'llama3.2',
      messages: [
        { role: 'user', content: 'what is the weather in Toronto?' },
        {
          role: 'assistant',
          content: '',
          tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Toronto' } } }],
        },
        { role: 'tool', content: '11 degrees celsius', tool_name: 'get_weather' } as any,
      ],
      tools: [WEATHER_TOOL as any],
    });
    expect(response.message.tool_calls).toBeUndefined();
    expect(response.message.content.length).toBeGreaterThan(10);
  });
});

describe('done reasons', () => {
  it('stops after num_predict tokens with done_reason length', async () => {
    const response = await ollama.generate({ model: 'llama3.2', prompt: 'tell me', options: { num_predict: 3 } });
    expect(response.done_reason).toBe('length');
    expect(response.eval_count).toBe(3);
    const chunks = await readNdjson(
      await postJson(double, '/api/chat', { model: 'llama3.2', messages: user('x'), options: { num_predict: 2 } }),
    );
    expect(chunks.at(-1)).toMatchObject({ done_reason: 'length', eval_count: 2 });
    const plenty = await ollama.generate({ model: 'llama3.2', prompt: 'tell me', options: { num_predict: 1000 } });
    expect(plenty.done_reason).toBe('stop');
  });

  it('loads with an empty prompt/messages (done_reason load) and unloads with keep_alive 0', async () => {
    const loaded = await ollama.generate({ model: 'llama3.2', prompt: '' });
    expect(loaded).toEqual({
      model: 'llama3.2',
      created_at: expect.stringMatching(RFC3339_NANO),
      response: '',
      done: true,
      done_reason: 'load',
    });
    expect(double.loadedModels()).toEqual(['llama3.2:latest']);
    const chatLoad = await ollama.chat({ model: 'gemma4', messages: [] });
    expect(chatLoad).toMatchObject({ done_reason: 'load', message: { role: 'assistant', content: '' } });
    expect(double.loadedModels()).toContain('gemma4:latest');

    const unloaded = await ollama.generate({ model: 'llama3.2', prompt: '', keep_alive: 0 });
    expect(unloaded.done_reason).toBe('unload');
    const chatUnload = await ollama.chat({ model: 'gemma4', messages: [], keep_alive: 0 });
    expect(chatUnload.done_reason).toBe('unload');
    expect(double.loadedModels()).toEqual([]);
  });

  it('a streaming load request still gets the single JSON object ollama-js can iterate', async () => {
    const { items, error } = await drain(await ollama.chat({ model: 'gemma4', messages: [], stream: true }));
    expect(error).toBeUndefined();
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ done: true, done_reason: 'load' });
  });

  it('keep_alive 0 on a real request unloads after answering', async () => {
    await ollama.chat({ model: 'llama3.2', messages: user('hi'), keep_alive: 0 });
    expect(double.loadedModels()).toEqual([]);
  });

  it('structured output follows the format', async () => {
    const json = await ollama.chat({ model: 'llama3.2', messages: user('hi'), format: 'json' });
    expect(JSON.parse(json.message.content)).toHaveProperty('answer');
    const schema = await ollama.chat({
      model: 'llama3.2',
      messages: user('hi'),
      format: { type: 'object', properties: { age: { type: 'integer' }, available: { type: 'boolean' } } },
    });
    expect(JSON.parse(schema.message.content)).toEqual({ age: 42, available: true });
  });
});

describe('real durations', () => {
  it('reports real phase durations that fit inside the client-measured wall time', async () => {
    const slow = await startOllamaDouble({ coldLoadMs: 60, promptEvalMs: 30, chunks: 4, chunkDelayMs: 15 });
    try {
      const client = new Ollama({ host: slow.url });
      const started = performance.now();
      const { items } = await drain(await client.chat({ model: 'llama3.2', messages: user('time me'), stream: true }));
      const elapsedNs = (performance.now() - started) * 1e6;
      const final = items.at(-1)! as any;
      expect(final.load_duration).toBeGreaterThanOrEqual(55e6);
      expect(final.prompt_eval_duration).toBeGreaterThanOrEqual(25e6);
      expect(final.eval_duration).toBeGreaterThanOrEqual(3 * 15e6 * 0.9);
      expect(final.total_duration).toBeGreaterThanOrEqual(
        final.load_duration + final.prompt_eval_duration + final.eval_duration,
      );
      expect(final.total_duration).toBeLessThanOrEqual(elapsedNs);

      const warmStarted = performance.now();
      const warm = await client.chat({ model: 'llama3.2', messages: user('time me') });
      const warmElapsedNs = (performance.now() - warmStarted) * 1e6;
      expect(warm.load_duration).toBeGreaterThan(0);
      expect(warm.load_duration).toBeLessThan(30e6);
      expect(warm.total_duration).toBeLessThanOrEqual(warmElapsedNs);
      expect(warm.total_duration).toBeGreaterThanOrEqual(
        warm.load_duration + warm.prompt_eval_duration + warm.eval_duration,
      );
    } finally {
      await slow.close();
    }
  });

  it('spaces streamed chunks by chunkDelayMs as the client sees them', async () => {
    const paced = await startOllamaDouble({ chunks: 4, chunkDelayMs: 25 });
    try {
      const stream = await new Ollama({ host: paced.url }).generate({ model: 'gemma4', prompt: 'x', stream: true });
      const arrivals: number[] = [];
      for await (const _chunk of stream) arrivals.push(performance.now());
      // Chunks 1..4 are content chunks 25 ms apart: the client must see them spread out, not in one burst.
      expect(arrivals[3]! - arrivals[0]!).toBeGreaterThanOrEqual(60);
    } finally {
      await paced.close();
    }
  });

  it('shares one cold load between concurrent requests', async () => {
    const cold = await startOllamaDouble({ coldLoadMs: 50 });
    try {
      const client = new Ollama({ host: cold.url });
      const [a, b] = await Promise.all([
        client.generate({ model: 'gemma4', prompt: 'a' }),
        client.generate({ model: 'gemma4', prompt: 'b' }),
      ]);
      expect(a.load_duration).toBeGreaterThanOrEqual(40e6);
      expect(b.load_duration).toBeGreaterThanOrEqual(40e6);
      const c = await client.generate({ model: 'gemma4', prompt: 'c' });
      expect(c.load_duration).toBeLessThan(30e6);
    } finally {
      await cold.close();
    }
  });
});
