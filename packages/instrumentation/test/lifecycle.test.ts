import { createRequire } from 'node:module';
import {
  createTelemetryHarness,
  type OllamaDouble,
  startOllamaDouble,
  type TelemetryHarness,
} from '@ollama-otel/testing';
import {
  DiagLogLevel,
  diag,
  type Meter,
  type MeterProvider,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import * as ollamaModule from 'ollama';
import * as ollamaBrowser from 'ollama/browser';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { instrumentOllama } from '../src/index.js';
import { clientSpans, drain, USER_QUESTION } from './setup.js';

const requireCjs = createRequire(import.meta.url);
type OllamaModule = typeof ollamaModule;

let double: OllamaDouble;
let telemetry: TelemetryHarness;
const providers = () => ({ tracerProvider: telemetry.tracerProvider, meterProvider: telemetry.meterProvider });
const basePrototype = (module: { Ollama: unknown }) =>
  Object.getPrototypeOf((module.Ollama as { prototype: object }).prototype) as Record<string, unknown>;

beforeAll(async () => {
  double = await startOllamaDouble();
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

describe('what gets instrumented', () => {
  it('clients created before instrumenting are covered', async () => {
    const early = new ollamaModule.Ollama({ host: double.url });
    const handle = instrumentOllama(ollamaModule, providers());
    try {
      await early.chat({ model: 'llama3.2', messages: USER_QUESTION });
      expect(clientSpans(telemetry).map((span) => span.name)).toEqual(['chat llama3.2']);
    } finally {
      handle.uninstrument();
    }
  });

  it("the module's default instance is covered", async () => {
    const defaultClient = ollamaModule.default as unknown as { config: { host: string } };
    const originalHost = defaultClient.config.host;
    defaultClient.config.host = double.url; // the default instance always targets 127.0.0.1:11434
    const handle = instrumentOllama(ollamaModule, providers());
    try {
      await ollamaModule.default.generate({ model: 'gemma4', prompt: 'hi' });
      expect(clientSpans(telemetry)[0]?.attributes['server.port']).toBe(double.port);
    } finally {
      handle.uninstrument();
      defaultClient.config.host = originalHost;
    }
  });

  it('ollama/browser clients share the base class and are covered too', async () => {
    const handle = instrumentOllama(ollamaModule, providers());
    try {
      await new ollamaBrowser.Ollama({ host: double.url }).embed({ model: 'all-minilm', input: 'hi' });
      expect(clientSpans(telemetry).map((span) => span.name)).toEqual(['embeddings all-minilm']);
    } finally {
      handle.uninstrument();
    }
  });

  it('the CommonJS copy is a different class; instrumenting one copy leaves the other alone', async () => {
    const cjs = requireCjs('ollama') as OllamaModule;
    expect(basePrototype(cjs)).not.toBe(basePrototype(ollamaModule));
    const handle = instrumentOllama(ollamaModule, providers());
    try {
      await new cjs.Ollama({ host: double.url }).chat({ model: 'llama3.2', messages: USER_QUESTION });
      expect(clientSpans(telemetry)).toHaveLength(0);
      const cjsHandle = instrumentOllama(cjs, providers());
      await new cjs.Ollama({ host: double.url }).chat({ model: 'llama3.2', messages: USER_QUESTION });
      cjsHandle.uninstrument();
      expect(clientSpans(telemetry)).toHaveLength(1);
    } finally {
      handle.uninstrument();
    }
  });

  it('accepts the class or an instance as target', async () => {
    for (const target of [ollamaModule.Ollama, new ollamaModule.Ollama({ host: double.url })]) {
      const handle = instrumentOllama(target, providers());
      await new ollamaModule.Ollama({ host: double.url }).list().catch(() => undefined);
      await new ollamaModule.Ollama({ host: double.url }).embed({ model: 'all-minilm', input: 'x' });
      handle.uninstrument();
    }
    expect(clientSpans(telemetry).filter((span) => span.name === 'embeddings all-minilm')).toHaveLength(2);
  });

  it('rejects a target that is not an ollama module, class or instance, with a clear error', () => {
    expect(() => instrumentOllama({ chat: 1 }, providers())).toThrow(
      /expected the `ollama` module, its `Ollama` class or an `Ollama` instance, got object/,
    );
    expect(() => instrumentOllama(null, providers())).toThrow(/got null/);
  });
});

describe('uninstrument and re-instrumenting', () => {
  it('uninstrument() restores the original methods and stops telemetry', async () => {
    const proto = basePrototype(ollamaModule);
    const originals = ['chat', 'generate', 'embed', 'embeddings'].map((name) => proto[name]);
    const handle = instrumentOllama(ollamaModule, providers());
    expect(['chat', 'generate', 'embed', 'embeddings'].map((name) => proto[name])).not.toEqual(originals);
    handle.uninstrument();
    handle.uninstrument();
    expect(['chat', 'generate', 'embed', 'embeddings'].map((name) => proto[name])).toEqual(originals);
    await new ollamaModule.Ollama({ host: double.url }).chat({ model: 'llama3.2', messages: USER_QUESTION });
    expect(clientSpans(telemetry)).toHaveLength(0);
  });

  it('never double-wraps: a second instrumentOllama() on the same class is a no-op until the first is undone', async () => {
    const other = createTelemetryHarness();
    const first = instrumentOllama(ollamaModule, providers());
    const second = instrumentOllama(ollamaModule.Ollama, {
      tracerProvider: other.tracerProvider,
      meterProvider: other.meterProvider,
    });
    try {
      await new ollamaModule.Ollama({ host: double.url }).chat({ model: 'llama3.2', messages: USER_QUESTION });
      expect(clientSpans(telemetry)).toHaveLength(1);
      expect(clientSpans(other)).toHaveLength(0);
      second.uninstrument(); // must not remove the first one's patch
      await new ollamaModule.Ollama({ host: double.url }).chat({ model: 'llama3.2', messages: USER_QUESTION });
      expect(clientSpans(telemetry)).toHaveLength(2);
    } finally {
      first.uninstrument();
      second.uninstrument();
      await other.shutdown();
    }
  });

  it('a stream in flight when uninstrumented still ends its span', async () => {
    const handle = instrumentOllama(ollamaModule, providers());
    const stream = await new ollamaModule.Ollama({ host: double.url }).chat({
      model: 'llama3.2',
      messages: USER_QUESTION,
      stream: true,
    });
    handle.uninstrument();
    await drain(stream);
    expect(clientSpans(telemetry)).toHaveLength(1);
    expect(clientSpans(telemetry)[0]?.attributes['gen_ai.response.finish_reasons']).toEqual(['stop']);
  });
});

describe('a failing telemetry pipeline never breaks the app', () => {
  const errors: unknown[][] = [];
  beforeEach(() => {
    errors.length = 0;
    diag.setLogger(
      { error: (...args) => errors.push(args), warn: () => {}, info: () => {}, debug: () => {}, verbose: () => {} },
      DiagLogLevel.ERROR,
    );
  });
  afterEach(() => diag.disable());

  it('a tracer that throws: the call succeeds with the same result and the failure goes to diag', async () => {
    const tracerProvider = {
      getTracer: () =>
        ({
          startSpan: () => {
            throw new Error('tracer exploded');
          },
        }) as unknown as Tracer,
    } as TracerProvider;
    const handle = instrumentOllama(ollamaModule, { tracerProvider });
    try {
      const response = await new ollamaModule.Ollama({ host: double.url }).chat({
        model: 'llama3.2',
        messages: USER_QUESTION,
      });
      expect(response.done).toBe(true);
      const stream = await new ollamaModule.Ollama({ host: double.url }).chat({
        model: 'llama3.2',
        messages: USER_QUESTION,
        stream: true,
      });
      expect((await drain(stream)).at(-1)?.done).toBe(true);
    } finally {
      handle.uninstrument();
    }
    expect(errors.some((args) => args.join(' ').includes('failed to start a span for ollama.chat()'))).toBe(true);
  });

  it('instruments that throw on record: every chunk still reaches the consumer', async () => {
    const throwing = new Proxy(
      {},
      {
        get: () => () => ({
          record: () => {
            throw new Error('meter exploded');
          },
        }),
      },
    ) as Meter;
    const meterProvider = { getMeter: () => throwing } as MeterProvider;
    const handle = instrumentOllama(ollamaModule, { tracerProvider: telemetry.tracerProvider, meterProvider });
    try {
      const client = new ollamaModule.Ollama({ host: double.url });
      const chunks = await drain(await client.generate({ model: 'gemma4', prompt: 'hi', stream: true }));
      expect(chunks.at(-1)?.done).toBe(true);
      expect(chunks.filter((chunk) => !chunk.done).length).toBeGreaterThan(1);
      await expect(client.embed({ model: 'all-minilm', input: 'x' })).resolves.toHaveProperty('embeddings');
    } finally {
      handle.uninstrument();
    }
    // The spans still ended, even though recording their metrics failed.
    expect(clientSpans(telemetry)).toHaveLength(2);
    expect(errors.length).toBeGreaterThan(0);
  });
});
