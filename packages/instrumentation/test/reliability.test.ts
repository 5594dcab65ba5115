/*
 * Telemetry that fails must never fail the app: throwing propagators, span processors and diag loggers, hostile
 * configuration, credentials in URLs and error messages. Each case reproduces a failure seen in the field.
 */
import {
  createTelemetryHarness,
  installContextManager,
  type OllamaDouble,
  type ReadableSpan,
  startOllamaDouble,
  type TelemetryHarness,
} from '@ollama-otel/testing';
import {
  type Context,
  createNoopMeter,
  type DiagLogger,
  DiagLogLevel,
  diag,
  type Meter,
  type MeterProvider,
  propagation,
  type TextMapPropagator,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { ProtobufLogsSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { type Span, type SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { Ollama } from 'ollama';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { instrumentOllama } from '../src/index.js';
import { clientSpans, drain, USER_QUESTION } from './setup.js';

let double: OllamaDouble;
let telemetry: TelemetryHarness;
const undo: (() => void)[] = [];

beforeAll(async () => {
  installContextManager();
  double = await startOllamaDouble({ chunks: 4 });
});
afterAll(async () => {
  await double.close();
});
beforeEach(() => {
  telemetry = createTelemetryHarness();
  double.reset();
});
afterEach(async () => {
  throwing.armed = false;
  for (const each of undo.splice(0).reverse()) each();
  usePropagator(new W3CTraceContextPropagator());
  diag.disable();
  await telemetry.shutdown();
});

function instrument(config: Record<string, unknown> = {}) {
  const handle = instrumentOllama(Ollama, {
    tracerProvider: telemetry.tracerProvider,
    meterProvider: telemetry.meterProvider,
    loggerProvider: telemetry.loggerProvider,
    ...config,
  });
  undo.push(() => handle.uninstrument());
  return handle;
}

/** A diag logger that throws on every message while armed (set-up and teardown of the API run unarmed). */
const throwing = { armed: false };

/** Installs a diag logger that records every message; `throws` makes it throw on every call too, once armed. */
function recordingDiag(throws = false) {
  const messages: { level: string; message: string }[] = [];
  // A component logger passes its namespace first: the message is everything it was given.
  const log =
    (level: string) =>
    (...args: unknown[]): void => {
      const message = args.map(String).join(' ');
      messages.push({ level, message });
      if (throws && throwing.armed) throw new Error(`diag logger failed on: ${message}`);
    };
  const logger: DiagLogger = {
    error: log('error'),
    warn: log('warn'),
    info: log('info'),
    debug: log('debug'),
    verbose: log('verbose'),
  };
  diag.setLogger(logger, { logLevel: DiagLogLevel.ALL, suppressOverrideMessage: true });
  return messages;
}

/** Every unhandled rejection while `work` runs (and shortly after). */
async function unhandledRejectionsDuring(work: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const listener = (reason: unknown) => seen.push(reason);
  process.on('unhandledRejection', listener);
  try {
    await work();
    await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    process.off('unhandledRejection', listener);
  }
  return seen;
}

function usePropagator(propagator: TextMapPropagator): void {
  propagation.disable();
  propagation.setGlobalPropagator(propagator);
}

const throwingPropagator: TextMapPropagator = {
  inject() {
    throw new Error('propagator failed');
  },
  extract: (context: Context) => context,
  fields: () => ['traceparent'],
};

describe('propagation is telemetry: any failure sends the request as the app made it', () => {
  it('a propagator that throws: the call succeeds, without trace headers', async () => {
    const messages = recordingDiag();
    instrument();
    usePropagator(throwingPropagator);
    const client = new Ollama({ host: double.url, headers: { 'X-App': 'kept' } });
    const response = await client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    expect(response.done).toBe(true);
    const stream = await client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true });
    expect((await drain(stream)).at(-1)?.done).toBe(true);
    for (const request of double.requests) {
      expect(request.headers).not.toHaveProperty('traceparent');
      expect(request.headers['x-app']).toBe('kept');
    }
    expect(clientSpans(telemetry)).toHaveLength(2);
    expect(messages.some((m) => m.level === 'error' && m.message.includes('trace context'))).toBe(true);
  });

  it('a propagator that writes header values fetch refuses: they are left out, the rest is sent', async () => {
    const messages = recordingDiag();
    instrument();
    usePropagator({
      inject(_context, carrier: Record<string, string>) {
        carrier.traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
        carrier['x-broken'] = 'line\r\nInjected: 1';
        carrier['x-unicode'] = 'caf\u00e9 \u2615';
        carrier['bad name'] = 'x';
      },
      extract: (context: Context) => context,
      fields: () => ['traceparent'],
    });
    const client = new Ollama({ host: double.url });
    await client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    await client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    const headers = double.requests[0]!.headers;
    expect(headers.traceparent).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    expect(headers).not.toHaveProperty('x-broken');
    expect(headers).not.toHaveProperty('injected');
    expect(headers).not.toHaveProperty('x-unicode');
    // One warning per bad header, not one per call.
    expect(messages.filter((m) => m.level === 'warn' && m.message.includes('fetch would refuse'))).toHaveLength(3);
  });

  it('a span whose spanContext() throws: the call succeeds', async () => {
    recordingDiag();
    const provider = new TracerProvider({
      spanProcessors: [
        {
          onStart(span: Span) {
            if (span.name.startsWith('chat')) {
              span.spanContext = () => {
                throw new Error('spanContext failed');
              };
            }
          },
          onEnd() {},
          forceFlush: async () => {},
          shutdown: async () => {},
        },
      ],
    });
    instrument({ tracerProvider: provider });
    const client = new Ollama({ host: double.url });
    await expect(client.chat({ model: 'llama3.2', messages: USER_QUESTION })).resolves.toMatchObject({ done: true });
    expect(double.requests[0]!.headers).not.toHaveProperty('traceparent');
  });
});

/** Counts `end()` calls per span (the SDK ignores a second one, but logs it as an error). */
function endCounter(): SpanProcessor & { ends: Map<string, number> } {
  const ends = new Map<string, number>();
  return {
    ends,
    onStart(span: Span) {
      const end = span.end.bind(span);
      span.end = (time) => {
        ends.set(span.spanContext().spanId, (ends.get(span.spanContext().spanId) ?? 0) + 1);
        end(time);
      };
    },
    onEnd() {},
    forceFlush: async () => {},
    shutdown: async () => {},
  };
}

const throwingOnEnd: SpanProcessor = {
  onStart() {},
  onEnd() {
    throw new Error('span processor failed');
  },
  forceFlush: async () => {},
  shutdown: async () => {},
};

describe('spans end exactly once, even when ending throws', () => {
  it('a span processor whose onEnd throws: one end() per span, every result intact', async () => {
    const messages = recordingDiag();
    const counter = endCounter();
    const provider = new TracerProvider({ spanProcessors: [counter, throwingOnEnd] });
    instrument({ tracerProvider: provider });
    const client = new Ollama({ host: double.url });
    await client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    await drain(await client.generate({ model: 'llama3.2', prompt: 'Hi', stream: true }));
    double.script({ path: '/api/chat', fault: { kind: 'http-error', status: 404, error: "model 'x' not found" } });
    await expect(client.chat({ model: 'x', messages: USER_QUESTION })).rejects.toThrow("model 'x' not found");
    await client.list();
    const stream = await client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true });
    stream.abort();
    await expect(drain(stream)).rejects.toThrow();
    // 5 calls: their spans plus the phase spans of the two completed inference calls.
    expect(counter.ends.size).toBeGreaterThanOrEqual(5);
    for (const [spanId, count] of counter.ends) expect(count, spanId).toBe(1);
    expect(messages.some((m) => m.message.includes('only call end() on a span once'))).toBe(false);
  });
});

describe('a diag logger that throws never turns a contained failure into an app failure', () => {
  it.each([
    ['a throwing propagator', () => usePropagator(throwingPropagator)],
    ['invalid configuration', () => {}],
  ])('%s', async (_name, arrange) => {
    recordingDiag(true);
    const counter = endCounter();
    const provider = new TracerProvider({ spanProcessors: [counter, throwingOnEnd] });
    arrange();
    throwing.armed = true;
    instrument({ tracerProvider: provider, streamIdleTimeoutMs: 'soon', maxContentLength: -1 });
    const client = new Ollama({ host: double.url });
    const rejections = await unhandledRejectionsDuring(async () => {
      await expect(client.chat({ model: 'llama3.2', messages: USER_QUESTION })).resolves.toMatchObject({ done: true });
      double.script({ path: '/api/chat', fault: { kind: 'stream-error', afterChunks: 2, error: 'model crashed' } });
      const stream = await client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true });
      await expect(drain(stream)).rejects.toThrow('model crashed');
      const unread = await client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true });
      unread.abort();
    });
    expect(rejections).toEqual([]);
    expect(counter.ends.size).toBeGreaterThanOrEqual(3);
    for (const count of counter.ends.values()) expect(count).toBe(1);
  });

  it("client.abort() runs the app's abort first: a stalled stream is aborted even when recording fails", async () => {
    recordingDiag(true);
    const provider = new TracerProvider({ spanProcessors: [throwingOnEnd] });
    throwing.armed = true;
    instrument({ tracerProvider: provider });
    double.script({ path: '/api/chat', fault: { kind: 'stream', chunks: 50, chunkDelayMs: 200 } });
    const client = new Ollama({ host: double.url });
    const stream = await client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    const pending = iterator.next();
    expect(() => client.abort()).not.toThrow();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('credentials never reach exported telemetry', () => {
  const SECRET = 'hunter2-s3cret';

  async function exported(spans: ReadableSpan[]): Promise<string> {
    const traces = Buffer.from(ProtobufTraceSerializer.serializeRequest(spans) ?? []).toString('latin1');
    const logs = Buffer.from(ProtobufLogsSerializer.serializeRequest(telemetry.logs()) ?? []).toString('latin1');
    const metrics = JSON.stringify(await telemetry.collectMetrics());
    return traces + logs + metrics;
  }

  it.each([false, true])('user:password in the host URL (content capture %s)', async (capture) => {
    instrument({ captureMessageContent: capture ? 'SPAN_AND_EVENT' : false });
    const client = new Ollama({ host: `http://alice:${SECRET}@127.0.0.1:${double.port}` });
    // fetch refuses URLs with credentials, quoting the URL in its error message.
    const error = await client.chat({ model: 'llama3.2', messages: USER_QUESTION }).catch((e: unknown) => e);
    expect(String((error as Error).message)).toContain(SECRET);
    await client.list().catch(() => {});
    await client.embed({ model: 'all-minilm', input: 'x' }).catch(() => {});
    const spans = clientSpans(telemetry);
    expect(spans).toHaveLength(3);
    const [chat] = spans;
    expect(chat!.status.message).toContain('REDACTED:REDACTED@127.0.0.1');
    const exception = chat!.events.find((event) => event.name === 'exception');
    expect(exception?.attributes?.['exception.message']).toContain('REDACTED');
    expect(exception?.attributes?.['exception.stacktrace']).toBeDefined();
    expect(await exported(telemetry.spans())).not.toContain(SECRET);
  });

  it('secret query parameters and bearer tokens in error messages are scrubbed', async () => {
    instrument({ captureMessageContent: true });
    const failingFetch = async (url: string) => {
      throw new Error(`request to ${url}?api_key=${SECRET}&model=llama3.2 failed (Authorization: Bearer ${SECRET})`);
    };
    const client = new Ollama({ host: double.url, fetch: failingFetch as unknown as typeof fetch });
    await expect(client.chat({ model: 'llama3.2', messages: USER_QUESTION })).rejects.toThrow(SECRET);
    const [span] = clientSpans(telemetry);
    expect(span!.status.message).toContain('api_key=REDACTED&model=llama3.2');
    expect(span!.status.message).toContain('Bearer REDACTED');
    expect(await exported(telemetry.spans())).not.toContain(SECRET);
  });

  it('an Authorization header and credentials in captured content are never recorded', async () => {
    instrument({ captureMessageContent: 'SPAN_AND_EVENT' });
    const client = new Ollama({ host: double.url, headers: { Authorization: `Bearer ${SECRET}` } });
    await client.chat({
      model: 'llama3.2',
      messages: [{ role: 'user', content: `Fetch https://bob:${SECRET}@example.com/data?token=${SECRET}` }],
    });
    expect(double.requests[0]!.headers.authorization).toBe(`Bearer ${SECRET}`);
    const [span] = clientSpans(telemetry);
    expect(span!.attributes['gen_ai.input.messages']).toContain(
      'https://REDACTED:REDACTED@example.com/data?token=REDACTED',
    );
    expect(await exported(telemetry.spans())).not.toContain(SECRET);
  });
});

describe('hostile configuration: a diag warning and a safe value, never a crash or a Node warning', () => {
  async function nodeWarningsDuring(work: () => Promise<void>): Promise<string[]> {
    const warnings: string[] = [];
    const listener = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', listener);
    try {
      await work();
      await new Promise((resolve) => setTimeout(resolve, 30));
    } finally {
      process.off('warning', listener);
    }
    return warnings;
  }

  it.each([-1, Number.NaN, 'abc', Number.POSITIVE_INFINITY, 2 ** 31, 2 ** 40])(
    'streamIdleTimeoutMs = %s',
    async (value) => {
      const messages = recordingDiag();
      instrument({ streamIdleTimeoutMs: value });
      const client = new Ollama({ host: double.url });
      const warnings = await nodeWarningsDuring(async () => {
        const stream = await client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true });
        await drain(stream);
        const unread = await client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true });
        await new Promise((resolve) => setTimeout(resolve, 20));
        unread.abort();
      });
      expect(warnings).toEqual([]);
      expect(messages.filter((m) => m.level === 'warn' && m.message.includes('streamIdleTimeoutMs'))).toHaveLength(1);
      expect(clientSpans(telemetry).map((span) => span.attributes['error.type'])).toEqual([undefined, 'cancelled']);
    },
  );

  it('a null or non-object config is the default config', async () => {
    const messages = recordingDiag();
    const handle = instrumentOllama(Ollama, null);
    undo.push(() => handle.uninstrument());
    expect(() => instrumentOllama(Ollama, 'verbose' as never).uninstrument()).not.toThrow();
    expect(messages.some((m) => m.level === 'warn' && m.message.includes('expected an object'))).toBe(true);
  });

  it('a meter whose create* throws: setup succeeds, calls and spans work, metrics are off', async () => {
    const messages = recordingDiag();
    const broken: Meter = {
      ...createNoopMeter(),
      createHistogram: () => {
        throw new Error('meter failed');
      },
      createCounter: () => {
        throw new Error('meter failed');
      },
    };
    const meterProvider: MeterProvider = { getMeter: () => broken };
    expect(() => instrument({ meterProvider })).not.toThrow();
    const client = new Ollama({ host: double.url });
    await expect(client.chat({ model: 'llama3.2', messages: USER_QUESTION })).resolves.toMatchObject({ done: true });
    expect(clientSpans(telemetry)).toHaveLength(1);
    expect(messages.some((m) => m.level === 'error' && m.message.includes('metric instruments'))).toBe(true);
  });

  it('maxContentLength below the minimum is raised to it (valid JSON, within the bound)', async () => {
    const messages = recordingDiag();
    instrument({ captureMessageContent: true, maxContentLength: 1 });
    const client = new Ollama({ host: double.url });
    await client.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'x'.repeat(1000) }] });
    const [span] = clientSpans(telemetry);
    const input = span!.attributes['gen_ai.input.messages'] as string;
    expect(input.length).toBeLessThanOrEqual(128);
    expect(JSON.parse(input)[0].parts[0].truncated).toBe(true);
    expect(messages.some((m) => m.level === 'warn' && m.message.includes('maxContentLength=1'))).toBe(true);
  });
});

describe('a detached call behaves exactly as without the instrumentation', () => {
  it('`this` stays undefined, so the error is the same', async () => {
    const client = new Ollama({ host: double.url });
    const { chat } = client;
    const bare = await chat({ model: 'llama3.2', messages: USER_QUESTION }).catch((e: unknown) => e as Error);
    instrument();
    const { chat: instrumentedChat } = client;
    const observed = await instrumentedChat({ model: 'llama3.2', messages: USER_QUESTION }).catch(
      (e: unknown) => e as Error,
    );
    expect(observed).toBeInstanceOf(TypeError);
    expect(observed.message).toBe(bare.message);
    expect(bare.message).toContain('undefined');
  });
});

describe('timing: the caller gets the original promise', () => {
  /** Microtask turns until `promise` settles. */
  async function turnsUntilSettled(promise: Promise<unknown>): Promise<number> {
    let settled = false;
    promise.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    let turns = 0;
    while (!settled && turns < 10_000) {
      await Promise.resolve();
      turns++;
    }
    return turns;
  }

  it('a call settles after exactly as many microtask turns as without the instrumentation', async () => {
    const body = JSON.stringify({ model: 'llama3.2', message: { role: 'assistant', content: 'ok' }, done: true });
    const inProcess = async () => new Response(body, { headers: { 'content-type': 'application/json' } });
    const client = new Ollama({ host: double.url, fetch: inProcess as unknown as typeof fetch });
    const call = () => client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    await call();
    const bare = await turnsUntilSettled(call());
    instrument({ propagateContext: false });
    await call();
    const instrumented = await turnsUntilSettled(call());
    expect(instrumented).toBe(bare);
    expect(clientSpans(telemetry)).toHaveLength(2);
  });
});

describe('timing: a streamed chunk reaches the consumer as soon as without the instrumentation', () => {
  it('each next() settles after the same number of microtask turns', async () => {
    const lines = `${[1, 2, 3]
      .map((i) => JSON.stringify({ model: 'llama3.2', message: { role: 'assistant', content: `t${i}` }, done: false }))
      .join(
        '\n',
      )}\n${JSON.stringify({ model: 'llama3.2', message: { role: 'assistant', content: '' }, done: true })}\n`;
    const inProcess = async () => new Response(lines, { headers: { 'content-type': 'application/x-ndjson' } });
    const client = new Ollama({ host: double.url, fetch: inProcess as unknown as typeof fetch });
    async function turnsPerChunk(): Promise<number[]> {
      const stream = await client.chat({ model: 'llama3.2', messages: USER_QUESTION, stream: true });
      const iterator = stream[Symbol.asyncIterator]();
      const turns: number[] = [];
      for (;;) {
        let settled = false;
        const read = iterator.next();
        read.then(() => {
          settled = true;
        });
        let count = 0;
        while (!settled && count < 10_000) {
          await Promise.resolve();
          count++;
        }
        turns.push(count);
        if ((await read).done) return turns;
      }
    }
    await turnsPerChunk();
    const bare = await turnsPerChunk();
    instrument({ propagateContext: false });
    await turnsPerChunk();
    expect(await turnsPerChunk()).toEqual(bare);
  });
});
