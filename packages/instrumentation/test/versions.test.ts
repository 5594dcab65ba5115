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

// `ollama` is 0.6.x; `ollama-05` is an npm alias of ollama@0.5.18, the last 0.5.x; `ollama-050` is 0.5.0, the
// oldest supported version, whose streams are plain async generators (no AbortableAsyncIterator).
const VERSIONS = [
  { label: 'ollama 0.6 (ESM)', load: async () => (await import('ollama')) as Record<string, any>, version: '0.6' },
  { label: 'ollama 0.6 (CJS)', load: async () => requireCjs('ollama') as Record<string, any>, version: '0.6' },
  { label: 'ollama 0.5 (ESM)', load: async () => (await import('ollama-05')) as Record<string, any>, version: '0.5' },
  { label: 'ollama 0.5 (CJS)', load: async () => requireCjs('ollama-05') as Record<string, any>, version: '0.5' },
  {
    label: 'ollama 0.5.0 (ESM)',
    load: async () => (await import('ollama-050')) as Record<string, any>,
    version: '0.5.0',
  },
  { label: 'ollama 0.5.0 (CJS)', load: async () => requireCjs('ollama-050') as Record<string, any>, version: '0.5.0' },
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
    const alias = { '0.6': 'ollama', '0.5': 'ollama-05', '0.5.0': 'ollama-050' }[version];
    const manifest = requireCjs(`${alias}/package.json`) as {
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
      // embed() arrived in ollama 0.5.6.
      if (typeof client.embed === 'function') await client.embed({ model: 'all-minilm', input: 'hi' });
      await client.embeddings({ model: 'all-minilm', prompt: 'hi' });
      // break path on this version's iterator
      for await (const _chunk of await client.generate({ model: 'gemma4', prompt: 'hi', stream: true })) break;
    } finally {
      handle.uninstrument();
    }
    const spans = clientSpans(telemetry);
    const hasEmbed = version !== '0.5.0';
    expect(spans.map((span) => span.name)).toEqual([
      'chat llama3.2',
      'chat llama3.2',
      'text_completion gemma4',
      ...(hasEmbed ? ['embeddings all-minilm'] : []),
      'embeddings all-minilm',
      'text_completion gemma4',
    ]);
    expect(spans[1]?.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
    expect(spans.at(-1)?.attributes['error.type']).toBe('cancelled');
  });
});
