/*
 * Seeded random fates for instrumented ollama-js calls, many at once: Ollama answers normally, fails with an HTTP
 * error, sends an error line, ends a stream without its final chunk, cuts the connection, or answers slowly; the
 * caller reads to the end, breaks out, aborts the stream or its client, or never reads. Whatever happens: every
 * call settles, nothing rejects unhandled, every span started is ended exactly once, each span's `error.type` is
 * what the README's error table says for what the caller saw, and the duration histogram counts every call once.
 * Replay a failure with OLLAMA_OTEL_FAULT_SEED.
 */
import { randomBytes } from 'node:crypto';
import {
  countSpanEnds,
  createTelemetryHarness,
  type Fault,
  installContextManager,
  type OllamaDouble,
  type ReadableSpan,
  type SpanEndCounter,
  seededRandom,
  startOllamaDouble,
  type TelemetryHarness,
} from '@ollama-otel/testing';
import { context, SpanKind, TraceFlags, trace } from '@opentelemetry/api';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InstrumentedOllama, instrumentOllama } from '../src/index.js';
import { points } from './setup.js';

const SEED = Number(process.env.OLLAMA_OTEL_FAULT_SEED ?? 20261201);
const CALLS = 300;
const CONCURRENCY = 20;
const IDLE_TIMEOUT_MS = 150;

type Operation = 'chat-stream' | 'chat' | 'generate-stream' | 'embed';
type Reader = 'read-all' | 'break' | 'abort-stream' | 'abort-client' | 'never-read';
const OPERATIONS: Operation[] = ['chat-stream', 'chat', 'generate-stream', 'embed'];
const READERS: Reader[] = ['read-all', 'read-all', 'break', 'abort-stream', 'abort-client', 'never-read'];
const PATHS: Record<Operation, string> = {
  'chat-stream': '/api/chat',
  chat: '/api/chat',
  'generate-stream': '/api/generate',
  embed: '/api/embed',
};

function randomFault(random: () => number, streamed: boolean): Fault {
  const roll = random();
  if (roll < 0.4) return { kind: 'stream', chunkDelayMs: 1 };
  if (roll < 0.5) return { kind: 'http-error', status: random() < 0.5 ? 500 : 503, error: 'model runner crashed' };
  if (roll < 0.58) return { kind: 'slow-headers', delayMs: 5 + Math.floor(random() * 30) };
  if (roll < 0.68) return { kind: 'reset', afterChunks: streamed ? Math.floor(random() * 4) : 0 };
  if (!streamed) return { kind: 'cache-hit' };
  if (roll < 0.84) return { kind: 'stream-error', afterChunks: 1 + Math.floor(random() * 3), error: 'out of memory' };
  return { kind: 'no-done', afterChunks: 1 + Math.floor(random() * 3) };
}

interface Seen {
  traceId: string;
  operation: Operation;
  reader: Reader;
  error?: unknown;
  /** The caller stopped the stream itself (`break`, `abort()`) before it ended. */
  stopped: boolean;
  /** The last chunk the caller got was the final one (`done: true`). */
  sawDone: boolean;
}

interface Chunk {
  done?: boolean;
}

async function callOnce(host: string, operation: Operation, reader: Reader, random: () => number): Promise<Seen> {
  const traceId = randomBytes(16).toString('hex');
  const client = new Ollama({ host });
  const parent = trace.wrapSpanContext({
    traceId,
    spanId: randomBytes(8).toString('hex'),
    traceFlags: TraceFlags.SAMPLED,
  });
  const seen: Seen = { traceId, operation, reader, stopped: false, sawDone: false };
  const question = [{ role: 'user', content: 'Why is the sky blue?' }];
  await context.with(trace.setSpan(context.active(), parent), async () => {
    try {
      if (operation === 'chat') {
        const response = await client.chat({ model: 'llama3.2', messages: question });
        seen.sawDone = response.done === true;
        return;
      }
      if (operation === 'embed') {
        await client.embed({ model: 'all-minilm', input: ['sky', 'sea'] });
        seen.sawDone = true;
        return;
      }
      const stream: AsyncIterable<Chunk> & { abort(): void } =
        operation === 'chat-stream'
          ? await client.chat({ model: 'llama3.2', messages: question, stream: true })
          : await client.generate({ model: 'llama3.2', prompt: 'Why?', stream: true });
      if (reader === 'never-read') return;
      const stopAfter = 1 + Math.floor(random() * 3);
      let read = 0;
      for await (const chunk of stream) {
        seen.sawDone = chunk.done === true;
        read++;
        if (seen.sawDone || reader === 'read-all' || read < stopAfter) continue;
        seen.stopped = true;
        if (reader === 'break') break;
        if (reader === 'abort-stream') stream.abort();
        else client.abort();
      }
    } catch (error) {
      seen.error = error;
    }
  });
  return seen;
}

/** What the README's error table says `error.type` is for what the caller saw. */
function expectedErrorType(seen: Seen): string | string[] | undefined {
  const error = seen.error as (Error & { status_code?: number }) | undefined;
  if (error?.name === 'ResponseError') return String(error.status_code);
  if (seen.stopped) return seen.sawDone ? undefined : 'cancelled';
  if (error !== undefined) return error.constructor.name;
  if (seen.reader === 'never-read' && seen.operation.endsWith('stream')) return ['abandoned', 'Error', 'TypeError'];
  if (seen.operation.endsWith('stream') && !seen.sawDone) return 'incomplete';
  return undefined;
}

describe(`random fates of instrumented calls (seed ${SEED})`, () => {
  let double: OllamaDouble;
  let telemetry: TelemetryHarness;
  let counter: SpanEndCounter;
  let handle: InstrumentedOllama;
  const seen: Seen[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeAll(async () => {
    installContextManager();
    double = await startOllamaDouble({ chunks: 6, chunkDelayMs: 1 });
    telemetry = createTelemetryHarness();
    counter = countSpanEnds(telemetry.tracerProvider);
    handle = instrumentOllama(Ollama, {
      tracerProvider: counter.tracerProvider,
      meterProvider: telemetry.meterProvider,
      loggerProvider: telemetry.loggerProvider,
      streamIdleTimeoutMs: IDLE_TIMEOUT_MS,
    });
    process.on('unhandledRejection', onUnhandled);
    const random = seededRandom(SEED);
    const plan = Array.from({ length: CALLS }, () => {
      const operation = OPERATIONS[Math.floor(random() * OPERATIONS.length)]!;
      const streamed = operation.endsWith('stream');
      const reader = streamed ? READERS[Math.floor(random() * READERS.length)]! : 'read-all';
      return {
        operation,
        reader,
        fault: randomFault(random, streamed),
        random: seededRandom(Math.floor(random() * 2 ** 31)),
      };
    });
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < plan.length) {
          const { operation, reader, fault, random: own } = plan[next++]!;
          // Concurrent calls on one path may swap faults: the expectations come from what each caller saw.
          double.script({ path: PATHS[operation], fault });
          seen.push(await callOnce(double.url, operation, reader, own));
        }
      }),
    );
    // Streams nobody reads end after the idle timeout.
    const deadline = Date.now() + 5000;
    while (genAiSpans().length < CALLS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }, 60_000);

  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    handle?.uninstrument();
    await telemetry?.shutdown();
    await double?.close();
  });

  const genAiSpans = (): ReadableSpan[] => telemetry.spans().filter((span) => span.kind === SpanKind.CLIENT);

  it('settles every call, and each fate happened', () => {
    expect(seen).toHaveLength(CALLS);
    const count = (predicate: (s: Seen) => boolean) => seen.filter(predicate).length;
    expect(count((s) => (s.error as Error | undefined)?.name === 'ResponseError')).toBeGreaterThan(3);
    expect(count((s) => s.stopped)).toBeGreaterThan(3);
    expect(count((s) => s.reader === 'never-read')).toBeGreaterThan(3);
    expect(count((s) => s.error !== undefined && (s.error as Error).name !== 'ResponseError')).toBeGreaterThan(3);
    expect(count((s) => s.error === undefined && s.sawDone && !s.stopped)).toBeGreaterThan(30);
  });

  it('lets no rejection go unhandled', () => {
    expect(unhandled).toEqual([]);
  });

  it('ends every span it started exactly once', () => {
    expect(counter.ends.size).toBeGreaterThanOrEqual(CALLS);
    expect(counter.notEndedOnce().map((span) => (span as unknown as ReadableSpan).name)).toEqual([]);
  });

  it("gives each call one span, in the caller's trace, whose error.type is what the caller saw", () => {
    const byTrace = new Map(genAiSpans().map((span) => [span.spanContext().traceId, span]));
    expect(byTrace.size).toBe(CALLS);
    for (const call of seen) {
      const span = byTrace.get(call.traceId);
      const error = call.error as Error | undefined;
      const where = `${call.operation} read ${call.reader}${call.stopped ? ' (stopped)' : ''}${call.sawDone ? ' (done)' : ''}: ${error?.name ?? ''} ${error?.message ?? 'ok'}`;
      expect(span, where).toBeDefined();
      const expected = expectedErrorType(call);
      const actual = span!.attributes['error.type'];
      if (Array.isArray(expected)) expect(expected, where).toContain(actual);
      else expect(actual, where).toBe(expected);
    }
  });

  it('counts every call once in the duration histogram, failures with their error.type', async () => {
    const durations = points(await telemetry.collectMetrics(), 'gen_ai.client.operation.duration');
    expect(durations.reduce((total, point) => total + point.value.count, 0)).toBe(CALLS);
    const failed = genAiSpans().filter((span) => span.attributes['error.type'] !== undefined).length;
    const failedPoints = durations.filter((point) => point.attributes['error.type'] !== undefined);
    expect(failedPoints.reduce((total, point) => total + point.value.count, 0)).toBe(failed);
  });
});
