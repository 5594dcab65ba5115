import { createTelemetryHarness, type Fault, type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instrumentOllama } from '../src/index.js';

/*
 * The app must see exactly what it would see without us. Every scenario of the double's corpus runs twice on
 * the same server, bare then instrumented, and the outcomes (responses, every streamed chunk, or the error's
 * class, message and status) must be deep-equal. Only wall-clock fields and the server's random tool-call ids
 * differ between two real runs, so `created_at`, `*_duration` and `call_*` ids are compared by shape.
 */

type Outcome = { ok: unknown } | { error: { class: string; name: string; message: string; status?: unknown } };
interface Scenario {
  name: string;
  fault?: Fault;
  call(client: Ollama): Promise<unknown>;
}

const question = [{ role: 'user', content: 'Why is the sky blue?' }];
const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Get the weather in a given city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};
const collect = async (stream: AsyncIterable<unknown>) => {
  const chunks: unknown[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
};

const SCENARIOS: Scenario[] = [
  { name: 'chat', call: (c) => c.chat({ model: 'llama3.2', messages: question }) },
  {
    name: 'chat, streamed',
    call: async (c) => collect(await c.chat({ model: 'llama3.2', messages: question, stream: true })),
  },
  { name: 'chat with thinking', call: (c) => c.chat({ model: 'qwen3', messages: question, think: true }) },
  {
    name: 'chat with thinking, streamed',
    call: async (c) => collect(await c.chat({ model: 'qwen3', messages: question, think: 'high', stream: true })),
  },
  { name: 'chat with tools', call: (c) => c.chat({ model: 'llama3.2', messages: question, tools: [weatherTool] }) },
  {
    name: 'chat with tools, streamed',
    call: async (c) =>
      collect(await c.chat({ model: 'llama3.2', messages: question, tools: [weatherTool], stream: true })),
  },
  {
    name: 'chat, tool result turn',
    call: (c) =>
      c.chat({
        model: 'llama3.2',
        messages: [
          { role: 'user', content: 'what is the weather in Toronto?' },
          {
            role: 'assistant',
            content: '',
            tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Toronto' } } }],
          },
          { role: 'tool', content: '11 degrees celsius', tool_name: 'get_weather' },
        ],
        tools: [weatherTool],
      }),
  },
  { name: 'chat, json format', call: (c) => c.chat({ model: 'llama3.2', messages: question, format: 'json' }) },
  {
    name: 'chat, length limit',
    call: (c) => c.chat({ model: 'llama3.2', messages: question, options: { num_predict: 2 } }),
  },
  { name: 'chat, load', call: (c) => c.chat({ model: 'gemma4', messages: [] }) },
  { name: 'chat, unload', call: (c) => c.chat({ model: 'gemma4', messages: [], keep_alive: 0 }) },
  {
    name: 'chat, cache hit',
    fault: { kind: 'cache-hit' },
    call: (c) => c.chat({ model: 'llama3.2', messages: question }),
  },
  {
    name: 'generate',
    call: (c) => c.generate({ model: 'gemma4', prompt: 'Why is the sky blue?', system: 'Be brief.' }),
  },
  {
    name: 'generate, streamed',
    call: async (c) => collect(await c.generate({ model: 'gemma4', prompt: 'Why is the sky blue?', stream: true })),
  },
  { name: 'generate, raw', call: (c) => c.generate({ model: 'gemma4', prompt: '[INST] hi [/INST]', raw: true }) },
  {
    name: 'generate with images',
    call: (c) => c.generate({ model: 'gemma4', prompt: 'what is this?', images: ['iVBORw0KGgo='] }),
  },
  { name: 'embed, one input', call: (c) => c.embed({ model: 'all-minilm', input: 'Why is the sky blue?' }) },
  { name: 'embed, batch', call: (c) => c.embed({ model: 'nomic-embed-text', input: ['a', 'b', 'c'], dimensions: 64 }) },
  { name: 'embeddings (legacy)', call: (c) => c.embeddings({ model: 'all-minilm', prompt: 'Why is the sky blue?' }) },
  { name: 'unknown model', call: (c) => c.chat({ model: 'does-not-exist', messages: question }) },
  {
    name: 'HTTP 500',
    fault: { kind: 'http-error', status: 500, error: 'the model failed to generate a response' },
    call: (c) => c.generate({ model: 'gemma4', prompt: 'hi' }),
  },
  {
    name: 'HTTP 503',
    fault: {
      kind: 'http-error',
      status: 503,
      error: 'server busy, please try again.  maximum pending requests exceeded',
    },
    call: (c) => c.chat({ model: 'llama3.2', messages: question }),
  },
  {
    name: 'error line mid-stream',
    fault: { kind: 'stream-error', afterChunks: 2, error: 'an error was encountered while running the model' },
    call: async (c) => collect(await c.generate({ model: 'gemma4', prompt: 'hi', stream: true })),
  },
  {
    name: 'stream without done',
    fault: { kind: 'no-done', afterChunks: 2 },
    call: async (c) => collect(await c.chat({ model: 'llama3.2', messages: question, stream: true })),
  },
  {
    name: 'non-JSON error body',
    fault: { kind: 'non-json-error', status: 502, text: 'Bad Gateway' },
    call: (c) => c.embed({ model: 'all-minilm', input: 'x' }),
  },
  { name: 'chat on an embedding model', call: (c) => c.chat({ model: 'all-minilm', messages: question }) },
];

let double: OllamaDouble;
beforeAll(async () => {
  double = await startOllamaDouble({ chunks: 5 });
});
afterAll(async () => {
  await double.close();
});

async function outcomeOf(scenario: Scenario, instrumented: boolean): Promise<Outcome> {
  double.reset();
  if (scenario.fault) double.script({ fault: scenario.fault });
  const telemetry = createTelemetryHarness();
  const handle = instrumented
    ? instrumentOllama(Ollama, { tracerProvider: telemetry.tracerProvider, meterProvider: telemetry.meterProvider })
    : undefined;
  try {
    // Fresh objects per run: ollama-js mutates requests (stream default, encoded images).
    return { ok: normalise(await scenario.call(new Ollama({ host: double.url }))) };
  } catch (error) {
    const { name, message, status_code: status } = error as Error & { status_code?: unknown };
    return { error: { class: (error as object).constructor.name, name, message, status } };
  } finally {
    handle?.uninstrument();
    if (instrumented) expect(telemetry.spans().length).toBeGreaterThan(0);
    await telemetry.shutdown();
  }
}

function normalise(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalise);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, field]) => {
      if (key === 'created_at') return [key, typeof field];
      if (key.endsWith('_duration')) return [key, typeof field === 'number' && field > 0 ? 'positive ns' : field];
      if (key === 'id' && typeof field === 'string' && /^call_[a-z0-9]{8}$/.test(field)) return [key, 'call_<random>'];
      return [key, normalise(field)];
    }),
  );
}

describe('results are unchanged by the instrumentation', () => {
  it.each(SCENARIOS)('$name', async (scenario) => {
    const bare = await outcomeOf(scenario, false);
    const observed = await outcomeOf(scenario, true);
    expect(observed).toEqual(bare);
  });

  it('the corpus exercises both successes and failures', async () => {
    const outcomes: Outcome[] = [];
    for (const scenario of SCENARIOS) outcomes.push(await outcomeOf(scenario, false));
    expect(outcomes.filter((outcome) => 'error' in outcome).length).toBeGreaterThanOrEqual(6);
    expect(outcomes.filter((outcome) => 'ok' in outcome).length).toBeGreaterThanOrEqual(18);
  });
});
