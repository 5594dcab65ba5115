/*
 * Seeded random faults through the proxy: many concurrent requests on the native and OpenAI-compatible routes,
 * each with a random fate (Ollama answers normally, fails with an HTTP error, cuts the connection, sends an error
 * line, ends a stream without `done`, answers slowly; or the client walks away mid-answer). What must hold whatever
 * happens: every request is answered or cut, never hung; every span the proxy starts is ended exactly once; each
 * GenAI span tells what the client saw; the in-flight gauges come back to 0; the duration histogram counts every
 * call once; the proxy keeps serving afterwards.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { countSpanEnds, type Fault, type SpanEndCounter, seededRandom } from '@ollama-otel/testing';
import { SpanKind } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy } from '../src/index.js';
import type { RunningProxy } from '../src/types.js';
import { clientSpans, points, type Rig, serverSpans, settled, startRig } from './setup.js';

const SEED = Number(process.env.OLLAMA_OTEL_FAULT_SEED ?? 20261201);
const REQUESTS = 240;
const CONCURRENCY = 16;

interface Call {
  path: string;
  body: unknown;
  stream: boolean;
  sse: boolean;
}

const QUESTION = [{ role: 'user', content: 'Why is the sky blue?' }];
const CALLS: Call[] = [
  { path: '/api/chat', body: { model: 'llama3.2', messages: QUESTION, stream: true }, stream: true, sse: false },
  { path: '/api/chat', body: { model: 'llama3.2', messages: QUESTION, stream: false }, stream: false, sse: false },
  { path: '/api/generate', body: { model: 'llama3.2', prompt: 'Why?', stream: true }, stream: true, sse: false },
  { path: '/api/embed', body: { model: 'all-minilm', input: ['sky', 'sea'] }, stream: false, sse: false },
  {
    path: '/v1/chat/completions',
    body: { model: 'llama3.2', messages: QUESTION, stream: true },
    stream: true,
    sse: true,
  },
];

function randomFault(random: () => number, call: Call): Fault | undefined {
  const roll = random();
  if (roll < 0.45) return undefined;
  if (roll < 0.55) return { kind: 'http-error', status: random() < 0.5 ? 500 : 503, error: 'model runner crashed' };
  if (roll < 0.62) return { kind: 'slow-headers', delayMs: 5 + Math.floor(random() * 40) };
  if (roll < 0.7) return { kind: 'reset', afterChunks: call.stream ? Math.floor(random() * 4) : 0 };
  if (!call.stream || call.path === '/api/embed') return { kind: 'cache-hit' };
  if (roll < 0.82) return { kind: 'stream-error', afterChunks: 1 + Math.floor(random() * 3), error: 'out of memory' };
  return { kind: 'no-done', afterChunks: 1 + Math.floor(random() * 3) };
}

interface Outcome {
  traceId: string;
  call: Call;
  status: number;
  body: string;
  /** The connection was cut before the body ended, by Ollama (through the proxy). */
  cut: boolean;
  /** The client itself went away after the first bytes. */
  walkedAway: boolean;
}

/** The stream's own end: `done: true` on NDJSON, `data: [DONE]` on SSE. */
const finished = (outcome: Outcome) =>
  outcome.call.sse ? outcome.body.includes('data: [DONE]') : /"done":true/.test(outcome.body);

/** One request with its own trace id; `walkAway` destroys the connection after the first body bytes. */
function send(base: string, call: Call, walkAway: boolean): Promise<Outcome> {
  const traceId = randomBytes(16).toString('hex');
  const text = JSON.stringify(call.body);
  return new Promise((resolve, reject) => {
    const url = new URL(call.path, base);
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path: url.pathname,
        agent: false,
        headers: {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(text)),
          traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
          authorization: 'Bearer sk-fault-test',
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let walkedAway = false;
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          if (walkAway && !walkedAway) {
            walkedAway = true;
            req.destroy();
          }
        });
        res.on('error', () => {});
        res.on('close', () =>
          resolve({
            traceId,
            call,
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            cut: !walkedAway && !res.complete,
            walkedAway,
          }),
        );
      },
    );
    req.on('error', (error) => (walkAway ? undefined : reject(error)));
    req.end(text);
  });
}

describe(`random faults through the proxy (seed ${SEED})`, () => {
  let rig: Rig;
  let proxy: RunningProxy;
  let counting: SpanEndCounter;
  const outcomes: Outcome[] = [];

  beforeAll(async () => {
    rig = await startRig({ double: { chunks: 6, chunkDelayMs: 1 } });
    counting = countSpanEnds(rig.telemetry.tracerProvider);
    proxy = await startProxy({
      upstream: rig.double.url,
      port: 0,
      tracerProvider: counting.tracerProvider,
      meterProvider: rig.telemetry.meterProvider,
      loggerProvider: rig.telemetry.loggerProvider,
    });
    const random = seededRandom(SEED);
    const plan = Array.from({ length: REQUESTS }, () => {
      const call = CALLS[Math.floor(random() * CALLS.length)]!;
      const fault = randomFault(random, call);
      const walkAway = fault === undefined && call.stream && random() < 0.3;
      return { call, fault, walkAway };
    });
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < plan.length) {
          const { call, fault, walkAway } = plan[next++]!;
          // Concurrent requests on one path may swap their faults: expectations come from what the client saw.
          if (fault !== undefined) rig.double.script({ path: call.path, fault });
          else rig.double.script({ path: call.path, fault: { kind: 'stream', chunkDelayMs: 2 } });
          outcomes.push(await send(proxy.url, call, walkAway));
        }
      }),
    );
    const deadline = Date.now() + 10_000;
    while (proxy.inFlight > 0 || serverSpans(rig.telemetry).length < REQUESTS) {
      if (Date.now() > deadline) throw new Error(`${proxy.inFlight} exchanges still in flight`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }, 60_000);

  afterAll(async () => {
    await proxy?.close(0);
    await rig?.close();
  });

  it('answers or cuts every request, and each fate happened', () => {
    expect(outcomes).toHaveLength(REQUESTS);
    const fates = {
      ok: outcomes.filter((o) => o.status === 200 && !o.cut && !o.walkedAway).length,
      httpError: outcomes.filter((o) => o.status >= 500).length,
      cut: outcomes.filter((o) => o.cut).length,
      walkedAway: outcomes.filter((o) => o.walkedAway).length,
      errorLine: outcomes.filter((o) => o.status === 200 && /"error"/.test(o.body)).length,
    };
    for (const [fate, count] of Object.entries(fates)) expect(count, fate).toBeGreaterThan(3);
  });

  it('ends every span it started exactly once', () => {
    expect(counting.ends.size).toBeGreaterThanOrEqual(2 * REQUESTS);
    expect(counting.notEndedOnce()).toEqual([]);
    expect(serverSpans(rig.telemetry)).toHaveLength(REQUESTS);
  });

  it('gives each request one GenAI span, in its caller trace, that tells what the client saw', () => {
    const byTrace = new Map(clientSpans(rig.telemetry).map((span) => [span.spanContext().traceId, span]));
    expect(clientSpans(rig.telemetry)).toHaveLength(REQUESTS);
    for (const outcome of outcomes) {
      const span = byTrace.get(outcome.traceId);
      const where = `${outcome.call.path} → ${outcome.status}${outcome.cut ? ' cut' : ''}${outcome.walkedAway ? ' walked away' : ''}: ${outcome.body.slice(-120)}`;
      expect(span, where).toBeDefined();
      expect(span!.kind).toBe(SpanKind.CLIENT);
      const errorType = span!.attributes['error.type'];
      if (outcome.walkedAway && outcome.status < 400) {
        // Cancelled, unless the proxy had already seen the answer end (done, an error line, a cut) or ended it.
        expect([undefined, 'cancelled', 'Error', 'incomplete', 'ECONNRESET'], where).toContain(errorType);
      } else if (outcome.status === 502 && outcome.body.includes('could not reach Ollama')) {
        // The proxy's own answer when Ollama cut the connection before answering: the span says why.
        expect(['ECONNRESET', 'ECONNREFUSED', 'EPIPE'], where).toContain(errorType);
      } else if (outcome.status >= 400) {
        expect(errorType, where).toBe(String(outcome.status));
      } else if (outcome.cut) {
        // Ollama cut it: the span says so, not that the client went away.
        expect(['ECONNRESET', 'Error'], where).toContain(errorType);
      } else if (/"error"/.test(outcome.body)) {
        // An error line (NDJSON) or event (SSE) mid-stream, as ollama-js reports it: `Error`.
        expect(errorType, where).toBe('Error');
      } else if (outcome.call.stream && !finished(outcome)) {
        expect(errorType, where).toBe('incomplete');
      } else {
        expect(errorType, where).toBeUndefined();
        // A fault meant for a stream that a non-streamed call drew leaves a 200 without `done`: nothing to count.
        if (outcome.call.path !== '/api/embed' && finished(outcome)) {
          const tokens = span!.attributes['gen_ai.usage.output_tokens'];
          expect(typeof tokens, `${where} ${JSON.stringify(span!.attributes)}`).toBe('number');
          expect(tokens).toBeGreaterThan(0);
        }
      }
    }
  });

  it('brings the in-flight gauges back to 0 and counts every call once', async () => {
    const metrics = await rig.telemetry.collectMetrics();
    const inFlight = points(metrics, 'ollama.proxy.requests.active');
    expect(inFlight.length).toBeGreaterThan(0);
    for (const point of inFlight) expect(point.value, JSON.stringify(point.attributes)).toBe(0);
    for (const point of points(metrics, 'http.server.active_requests')) expect(point.value).toBe(0);
    const durations = points(metrics, 'gen_ai.client.operation.duration');
    expect(durations.reduce((total, point) => total + point.value.count, 0)).toBe(REQUESTS);
    const failed = clientSpans(rig.telemetry).filter((span) => span.attributes['error.type'] !== undefined).length;
    const failedCount = durations
      .filter((point) => point.attributes['error.type'] !== undefined)
      .reduce((total, point) => total + point.value.count, 0);
    expect(failedCount).toBe(failed);
  });

  it('keeps serving afterwards', async () => {
    rig.telemetry.reset();
    const outcome = await send(proxy.url, CALLS[0]!, false);
    expect(outcome.status).toBe(200);
    expect(outcome.body).toContain('"done":true');
    await settled({ ...rig, proxy }, 1);
  });
});
