import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { context, createTraceState, SpanKind, TraceFlags, trace } from '@opentelemetry/api';
import { Ollama } from 'ollama';
import { Ollama as BrowserOllama } from 'ollama/browser';
import { afterEach, describe, expect, it } from 'vitest';
import type { InstrumentOllamaConfig } from '../src/index.js';
import { drain, type Rig, startRig, USER_QUESTION } from './setup.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

async function propagationRig(config: InstrumentOllamaConfig = {}) {
  rig = await startRig({ config });
  return rig;
}

function parseTraceparent(header: string | undefined) {
  expect(header).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
  const [, traceId, spanId, flags] = header!.split('-');
  return { traceId: traceId!, spanId: spanId!, flags: flags! };
}

function requestsTo(r: Rig, path: string) {
  return r.double.requests.filter((request) => request.path === path);
}

function clientSpans(r: Rig) {
  return r.telemetry.spans().filter((span) => span.kind === SpanKind.CLIENT);
}

describe('traceparent to Ollama', () => {
  it('carries our span as the parent, for plain, streamed, embedding and management calls', async () => {
    const r = await propagationRig();
    await r.client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    await drain(await r.client.generate({ model: 'gemma4', prompt: 'Hello', stream: true }));
    await r.client.embed({ model: 'all-minilm', input: 'hello' });
    await r.client.list();
    const spans = clientSpans(r);
    expect(spans.map((span) => span.name)).toEqual([
      'chat llama3.2',
      'text_completion gemma4',
      'embeddings all-minilm',
      'ollama.list',
    ]);
    const requests = r.double.requests;
    expect(requests.map((request) => request.path)).toEqual(['/api/chat', '/api/generate', '/api/embed', '/api/tags']);
    requests.forEach((request, i) => {
      const { traceId, spanId, flags } = parseTraceparent(request.headers.traceparent);
      expect(traceId).toBe(spans[i]!.spanContext().traceId);
      expect(spanId).toBe(spans[i]!.spanContext().spanId);
      expect(flags).toBe('01');
    });
  });

  it('gives each of 50 concurrent calls on one client its own traceparent', async () => {
    const r = await propagationRig();
    const parent = r.telemetry.tracerProvider.getTracer('test').startSpan('request handler');
    await context.with(trace.setSpan(context.active(), parent), () =>
      Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          r.client.chat({ model: 'llama3.2', messages: [{ role: 'user', content: `question ${i}` }] }),
        ),
      ),
    );
    parent.end();
    const spans = clientSpans(r);
    expect(spans).toHaveLength(50);
    // Which span made which request: the user message tells.
    const spanByQuestion = new Map<string, string>();
    for (const request of requestsTo(r, '/api/chat')) {
      const { traceId, spanId } = parseTraceparent(request.headers.traceparent);
      expect(traceId).toBe(parent.spanContext().traceId);
      spanByQuestion.set((request.body as any).messages[0].content, spanId);
    }
    expect(new Set(spanByQuestion.values()).size).toBe(50);
    expect(new Set(spanByQuestion.values())).toEqual(new Set(spans.map((span) => span.spanContext().spanId)));
    for (const span of spans) expect(span.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
  });

  it('propagates the parent trace state and unsampled decisions', async () => {
    const r = await propagationRig();
    const remote = trace.setSpanContext(context.active(), {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: TraceFlags.SAMPLED,
      traceState: createTraceState('vendor=opaque'),
      isRemote: true,
    });
    await context.with(remote, () => r.client.version());
    const [request] = r.double.requests;
    expect(parseTraceparent(request!.headers.traceparent).traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(request!.headers.tracestate).toBe('vendor=opaque');

    const unsampled = trace.setSpanContext(context.active(), {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: TraceFlags.NONE,
    });
    await context.with(unsampled, () => r.client.version());
    const { traceId, flags } = parseTraceparent(r.double.requests[1]!.headers.traceparent);
    expect([traceId, flags]).toEqual(['0af7651916cd43dd8448eb211c80319c', '00']);
  });

  it('never changes the caller headers config, and keeps custom headers', async () => {
    const r = await propagationRig();
    const headers = Object.freeze({ 'X-Tenant': 'acme' });
    const client = new Ollama({ host: r.double.url, headers });
    await client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    await client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    expect(headers).toEqual({ 'X-Tenant': 'acme' });
    const [first, second] = r.double.requests;
    expect(first!.headers['x-tenant']).toBe('acme');
    expect(parseTraceparent(first!.headers.traceparent).spanId).not.toBe(
      parseTraceparent(second!.headers.traceparent).spanId,
    );
  });

  it('wraps a user-supplied fetch once and still calls it, with the trace context added', async () => {
    const r = await propagationRig();
    const seen: Record<string, string>[] = [];
    const userFetch = (url: string | URL | Request, init?: RequestInit) => {
      seen.push({ ...(init?.headers as Record<string, string>) });
      return fetch(url, init);
    };
    const client = new Ollama({ host: r.double.url, fetch: userFetch as typeof fetch });
    await client.list();
    const wrapped = (client as unknown as { fetch: unknown }).fetch;
    expect(wrapped).not.toBe(userFetch);
    await client.ps();
    expect((client as unknown as { fetch: unknown }).fetch).toBe(wrapped);
    expect(seen).toHaveLength(2);
    expect(parseTraceparent(seen[0]!.traceparent).spanId).toBe(clientSpans(r)[0]!.spanContext().spanId);
    expect(seen[0]!.traceparent).toBe(r.double.requests[0]!.headers.traceparent);
    expect(seen[0]!['Content-Type']).toBe('application/json');
  });

  it('is on for ollama/browser clients in Node (LangChain and LlamaIndex use that entry point)', async () => {
    let r = await propagationRig();
    await new BrowserOllama({ host: r.double.url }).list();
    expect(clientSpans(r)).toHaveLength(1);
    expect(parseTraceparent(r.double.requests[0]!.headers.traceparent).spanId).toBe(
      clientSpans(r)[0]!.spanContext().spanId,
    );
    await r.close();

    r = await propagationRig({ propagateContext: false });
    await new BrowserOllama({ host: r.double.url }).list();
    expect(r.double.requests[0]!.headers).not.toHaveProperty('traceparent');
  });

  it('is off everywhere with propagateContext: false, and after uninstrumenting', async () => {
    let r = await propagationRig({ propagateContext: false });
    await r.client.list();
    expect(r.double.requests[0]!.headers).not.toHaveProperty('traceparent');
    await r.close();

    r = await propagationRig();
    await r.client.list();
    r.handle.uninstrument();
    await r.client.list();
    expect(r.double.requests[0]!.headers).toHaveProperty('traceparent');
    expect(r.double.requests[1]!.headers).not.toHaveProperty('traceparent');
  });

  it('leaves propagation to an active undici instrumentation, so headers are never doubled', async () => {
    const r = await propagationRig();
    const listener = () => {};
    subscribe('undici:request:create', listener);
    try {
      await r.client.list();
    } finally {
      unsubscribe('undici:request:create', listener);
    }
    await r.client.list();
    expect(r.double.requests[0]!.headers).not.toHaveProperty('traceparent');
    expect(r.double.requests[1]!.headers).toHaveProperty('traceparent');
  });
});
