import { createRequire } from 'node:module';
import {
  createTelemetryHarness,
  type OllamaDouble,
  startOllamaDouble,
  type TelemetryHarness,
} from '@ollama-otel/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { instrumentOllama } from '../src/index.js';
import { clientSpans, drain, USER_QUESTION } from './setup.js';

const requireCjs = createRequire(import.meta.url);

// `ollama-05` is an npm alias of ollama@0.5.18, the last 0.5.x; `ollama` is 0.6.x.
const VERSIONS = [
  { label: 'ollama 0.6 (ESM)', load: async () => (await import('ollama')) as Record<string, any>, version: '0.6' },
  { label: 'ollama 0.6 (CJS)', load: async () => requireCjs('ollama') as Record<string, any>, version: '0.6' },
  { label: 'ollama 0.5 (ESM)', load: async () => (await import('ollama-05')) as Record<string, any>, version: '0.5' },
  { label: 'ollama 0.5 (CJS)', load: async () => requireCjs('ollama-05') as Record<string, any>, version: '0.5' },
];

let double: OllamaDouble;
let telemetry: TelemetryHarness;
beforeAll(async () => {
  double = await startOllamaDouble({ chunks: 4 });
});
afterAll(async () => {
  await double.close();
});
beforeEach(() => {
  telemetry = createTelemetryHarness();
});
afterEach(async () => {
  await telemetry.shutdown();
});

describe.each(VERSIONS)('$label', ({ load, version }) => {
  it('loads the version under test', () => {
    const manifest = requireCjs(version === '0.6' ? 'ollama/package.json' : 'ollama-05/package.json') as {
      version: string;
    };
    expect(manifest.version.startsWith(version)).toBe(true);
  });

  it('chat, streamed chat, generate, embed and embeddings produce their spans', async () => {
    const module = await load();
    const handle = instrumentOllama(module, {
      tracerProvider: telemetry.tracerProvider,
      meterProvider: telemetry.meterProvider,
    });
    try {
      const client = new module.Ollama({ host: double.url });
      await client.chat({ model: 'llama3.2', messages: USER_QUESTION });
      const stream = await client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true });
      await drain(stream);
      await client.generate({ model: 'gemma4', prompt: 'hi' });
      await client.embed({ model: 'all-minilm', input: 'hi' });
      await client.embeddings({ model: 'all-minilm', prompt: 'hi' });
      // break path on this version's iterator
      for await (const _chunk of await client.generate({ model: 'gemma4', prompt: 'hi', stream: true })) break;
    } finally {
      handle.uninstrument();
    }
    const spans = clientSpans(telemetry);
    expect(spans.map((span) => span.name)).toEqual([
      'chat llama3.2',
      'chat llama3.2',
      'text_completion gemma4',
      'embeddings all-minilm',
      'embeddings all-minilm',
      'text_completion gemma4',
    ]);
    expect(spans[1]?.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
    expect(spans[5]?.attributes['error.type']).toBe('cancelled');
  });
});
