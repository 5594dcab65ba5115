import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createTelemetryHarness,
  type OllamaDouble,
  startOllamaDouble,
  type TelemetryHarness,
} from '@ollama-otel/testing';
import { SpanKind } from '@opentelemetry/api';
import { Ollama } from 'ollama';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { instrumentOllama } from '../../../packages/instrumentation/src/index.js';
import { Assistant } from '../src/assistant.js';
import { configFromEnv } from '../src/config.js';
import { createApp } from '../src/routes.js';

let double: OllamaDouble;
let server: Server;
let base: string;
let telemetry: TelemetryHarness;
let uninstrument: () => void;

beforeAll(async () => {
  double = await startOllamaDouble({ chunks: 30, chunkDelayMs: 5 });
  const assistant = new Assistant(new Ollama({ host: double.url }), { model: 'llama3.2', embedModel: 'all-minilm' });
  server = createApp(assistant).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await double.close();
});
beforeEach(() => {
  telemetry = createTelemetryHarness();
  ({ uninstrument } = instrumentOllama(Ollama, { tracerProvider: telemetry.tracerProvider }));
});
afterEach(async () => {
  uninstrument();
  double.reset();
  await telemetry.shutdown();
});

const post = (path: string, body: unknown, init: RequestInit = {}) =>
  fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });

async function readEvents(response: Response): Promise<Array<{ event: string; data: any }>> {
  const text = await response.text();
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
      const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null');
      return { event, data };
    });
}

describe('endpoints', () => {
  it('POST /v1/ask answers the question', async () => {
    const response = await post('/v1/ask', { question: 'Why is the sky blue?' });
    expect(response.status).toBe(200);
    const { answer } = (await response.json()) as { answer: string };
    expect(typeof answer).toBe('string');
    expect(answer.length).toBeGreaterThan(10);
    expect(
      telemetry
        .spans()
        .filter((span) => span.kind === SpanKind.CLIENT)
        .map((span) => span.name),
    ).toEqual(['chat llama3.2']);
  });

  it('POST /v1/chat returns the assistant message', async () => {
    const response = await post('/v1/chat', { messages: [{ role: 'user', content: 'hello' }] });
    expect(response.status).toBe(200);
    const body = (await response.json()) as any;
    expect(body.message.role).toBe('assistant');
    expect(body.done_reason).toBe('stop');
  });

  it('POST /v1/chat with stream: server-sent events, then a done event', async () => {
    const response = await post('/v1/chat', { messages: [{ role: 'user', content: 'hello' }], stream: true });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const events = await readEvents(response);
    const content = events.filter((event) => event.event === 'message');
    expect(content.length).toBeGreaterThan(5);
    expect(content.every((event) => typeof event.data.content === 'string')).toBe(true);
    expect(events.at(-1)).toEqual({ event: 'done', data: { done_reason: 'stop' } });
  });

  it('a client that disconnects mid-stream aborts the Ollama stream', async () => {
    const controller = new AbortController();
    const response = await post(
      '/v1/chat',
      { messages: [{ role: 'user', content: 'tell me a long story' }], stream: true },
      { signal: controller.signal },
    );
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    const deadline = Date.now() + 2000;
    while (telemetry.spans().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const [span] = telemetry.spans().filter((each) => each.kind === SpanKind.CLIENT);
    expect(span?.name).toBe('chat llama3.2');
    expect(span?.attributes['error.type']).toBe('cancelled');
  });

  it('POST /v1/embed returns vectors', async () => {
    const response = await post('/v1/embed', { input: ['a', 'b'] });
    expect(response.status).toBe(200);
    const body = (await response.json()) as any;
    expect(body.model).toContain('all-minilm');
    expect(body.embeddings).toHaveLength(2);
    expect(body.embeddings[0]).toHaveLength(384);
  });

  it('GET /healthz reports whether Ollama answers', async () => {
    const response = await fetch(`${base}/healthz`);
    expect(await response.json()).toEqual({ status: 'ok', ollama: { reachable: true, version: '0.13.5' } });
  });
});

describe('errors', () => {
  it.each([
    ['not JSON', '{"question":', 'the request body is not valid JSON'],
    ['no question', { question: '' }, '"question" must not be empty'],
    ['question of the wrong type', { question: 42 }, '"question" must be a string'],
    ['a JSON array', [1, 2], 'the request body must be a JSON object (Content-Type: application/json)'],
  ])('POST /v1/ask with %s → 400 with a clear message', async (_label, body, message) => {
    const response = await post('/v1/ask', body);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: message });
    expect(double.requests.filter((request) => request.path === '/api/chat')).toHaveLength(0);
  });

  it.each([
    [{ messages: [] }, '"messages" must be a non-empty array of {role, content}'],
    [
      { messages: [{ role: 'wizard', content: 'hi' }] },
      'messages[0].role must be one of system, user, assistant, tool',
    ],
    [{ messages: [{ role: 'user', content: 'hi' }], stream: 'yes' }, '"stream" must be a boolean'],
  ])('POST /v1/chat with bad input → 400 (%j)', async (body, message) => {
    const response = await post('/v1/chat', body);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: message });
  });

  it('POST /v1/embed with an empty list → 400', async () => {
    const response = await post('/v1/embed', { input: [] });
    expect(response.status).toBe(400);
  });

  it("an unknown model → 404 with Ollama's message", async () => {
    const response = await post('/v1/chat', { messages: [{ role: 'user', content: 'hi' }], model: 'no-such-model' });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: "model 'no-such-model' not found" });
    expect(telemetry.spans()[0]?.attributes['error.type']).toBe('404');
  });

  it('the configured model missing → 404 on /v1/ask too', async () => {
    double.script({
      path: '/api/chat',
      fault: { kind: 'http-error', status: 404, error: "model 'llama3.2' not found" },
    });
    const response = await post('/v1/ask', { question: 'hi' });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: "model 'llama3.2' not found" });
  });

  it('Ollama failing → 502 with its status and message', async () => {
    double.script({ path: '/api/embed', fault: { kind: 'http-error', status: 500, error: 'out of memory' } });
    const response = await post('/v1/embed', { input: 'x' });
    expect(response.status).toBe(502);
    expect(await response.json()).toEqual({ error: 'Ollama answered 500: out of memory' });
  });

  it('an error mid-stream becomes an error event', async () => {
    double.script({ path: '/api/chat', fault: { kind: 'stream-error', afterChunks: 2, error: 'model crashed' } });
    const events = await readEvents(
      await post('/v1/chat', { messages: [{ role: 'user', content: 'x' }], stream: true }),
    );
    expect(events.at(-1)).toEqual({ event: 'error', data: { error: 'Ollama request failed: model crashed' } });
  });

  it('Ollama unreachable → 503, and /healthz says so', async () => {
    const down = new Assistant(new Ollama({ host: 'http://127.0.0.1:9' }), {
      model: 'llama3.2',
      embedModel: 'all-minilm',
    });
    const app = createApp(down).listen(0, '127.0.0.1');
    await new Promise((resolve) => app.once('listening', resolve));
    const url = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
    try {
      const response = await fetch(`${url}/v1/ask`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ question: 'hi' }),
      });
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({ error: 'Ollama is unreachable' });
      const health = (await (await fetch(`${url}/healthz`)).json()) as any;
      expect(health.ollama.reachable).toBe(false);
    } finally {
      app.closeAllConnections();
      await new Promise((resolve) => app.close(resolve));
    }
  });

  it('an unknown route → 404', async () => {
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });
});

describe('configuration', () => {
  it('reads OLLAMA_HOST, OLLAMA_MODEL, PORT with defaults', () => {
    expect(configFromEnv({})).toEqual({
      ollamaHost: 'http://127.0.0.1:11434',
      model: 'llama3.2',
      embedModel: 'all-minilm',
      port: 8080,
    });
    expect(configFromEnv({ OLLAMA_HOST: 'http://gpu:11434', OLLAMA_MODEL: 'qwen3', PORT: '3000' })).toMatchObject({
      ollamaHost: 'http://gpu:11434',
      model: 'qwen3',
      port: 3000,
    });
  });

  it('rejects an invalid PORT with a clear error', () => {
    expect(() => configFromEnv({ PORT: 'eighty' })).toThrow(
      'PORT must be an integer between 0 and 65535, got "eighty"',
    );
  });
});
