/*
 * Streaming safety and the edges: every way a stream ends, raw bytes and headers identical to a direct call,
 * bad input left to Ollama, limits, refusals, an unreachable upstream, concurrency without cross-talk, trace
 * context in and out.
 */

import { request } from 'node:http';
import { connect } from 'node:net';
import { SpanStatusCode } from '@opentelemetry/api';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startProxy } from '../src/index.js';
import {
  clientSpans,
  onlyClientSpan,
  QUESTION,
  type Rig,
  rawRequest,
  serverSpans,
  settled,
  startRig,
} from './setup.js';

let rig: Rig;

beforeAll(async () => {
  rig = await startRig({ double: { chunks: 8 }, proxy: { maxBodyBytes: 2 * 1024 * 1024 } });
});
afterAll(() => rig.close());
beforeEach(() => {
  rig.telemetry.reset();
  rig.double.reset();
});

const chat = (stream: boolean, model = 'llama3.2') => JSON.stringify({ model, messages: QUESTION, stream });

/** Timestamps and durations differ between two generations; the rest of the bytes must not. */
const normalize = (body: Buffer) =>
  body
    .toString()
    .replace(/"created_at":"[^"]*"/g, '"created_at":X')
    .replace(/"(\w+_duration)":\d+/g, '"$1":X');

describe('bytes and headers as Ollama sends them', () => {
  it.each([
    ['POST', '/api/chat', chat(true)],
    ['POST', '/api/chat', chat(false)],
    ['POST', '/api/generate', JSON.stringify({ model: 'llama3.2', prompt: 'hi', stream: false })],
    ['POST', '/api/embed', JSON.stringify({ model: 'all-minilm', input: 'sky' })],
    ['GET', '/api/tags', undefined],
    ['POST', '/api/chat', chat(false, 'no-such-model')],
    ['POST', '/api/chat', '{"model": "llama3.2", "messages": ['],
    ['POST', '/api/chat', ''],
    ['POST', '/api/chat', '[1, 2]'],
    ['GET', '/api/chat', undefined],
    ['DELETE', '/api/delete', JSON.stringify({ model: 'missing' })],
    ['GET', '/v1/models/no-such-model', undefined],
  ])('%s %s %s', async (method, path, body) => {
    const direct = await rawRequest(rig.double.url, method, path, body);
    const proxied = await rawRequest(rig.proxy.url, method, path, body);
    expect(proxied.status).toBe(direct.status);
    expect(proxied.statusMessage).toBe(direct.statusMessage);
    expect(proxied.headers).toEqual(direct.headers);
    expect(normalize(proxied.body)).toBe(normalize(direct.body));
  });

  it('drops hop-by-hop request headers and those Connection names, forwards credentials untouched', async () => {
    await rawRequest(rig.proxy.url, 'POST', '/api/chat', chat(false), {
      connection: 'keep-alive, x-hop',
      'x-hop': 'gone',
      'keep-alive': 'timeout=5',
      'proxy-authorization': 'Basic cHJveHk6c2VjcmV0',
      te: 'trailers',
      authorization: 'Bearer sk-upstream-secret',
      cookie: 'session=abc',
      'x-custom': 'kept',
    });
    const headers = rig.double.requests[0]!.headers;
    expect(headers.authorization).toBe('Bearer sk-upstream-secret');
    expect(headers.cookie).toBe('session=abc');
    expect(headers['x-custom']).toBe('kept');
    expect(headers.host).toBe(`127.0.0.1:${rig.double.port}`);
    for (const name of ['x-hop', 'keep-alive', 'proxy-authorization', 'te'])
      expect(headers[name], name).toBeUndefined();
    await settled(rig, 1);
    const exported = JSON.stringify(rig.telemetry.spans().map((s) => [s.attributes, s.events]));
    expect(exported).not.toMatch(/sk-upstream-secret|cHJveHk6c2VjcmV0|session=abc/);
  });
});

describe('stream end paths', () => {
  it('ends on the done line with the summary', async () => {
    const client = new Ollama({ host: rig.proxy.url });
    for await (const _ of await client.chat({ model: 'llama3.2', messages: QUESTION, stream: true })) {
      // read
    }
    await settled(rig, 1);
    const span = onlyClientSpan(rig.telemetry);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes['gen_ai.response.finish_reasons']).toEqual(['stop']);
  });

  it('a client disconnect aborts the upstream request and ends the span as cancelled', async () => {
    rig.double.script({ path: '/api/chat', fault: { kind: 'stream', chunks: 200, chunkDelayMs: 10 } });
    const controller = new AbortController();
    const client = new Ollama({ host: rig.proxy.url });
    const stream = await client.chat({ model: 'llama3.2', messages: QUESTION, stream: true });
    let seen = 0;
    await expect(
      (async () => {
        for await (const _ of stream) if (++seen === 3) stream.abort();
      })(),
    ).rejects.toThrow();
    controller.abort();
    await settled(rig, 1);
    const span = onlyClientSpan(rig.telemetry);
    expect(span.attributes['error.type']).toBe('cancelled');
    // Ollama stopped generating: far fewer than 200 chunks were produced.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(serverSpans(rig.telemetry)[0]!.attributes['error.type']).toBe('cancelled');
    expect(span.attributes['gen_ai.response.time_to_first_chunk']).toBeGreaterThan(0);
  });

  it('an upstream reset mid-stream cuts the client the same way and is recorded', async () => {
    rig.double.script({ path: '/api/chat', fault: { kind: 'reset', afterChunks: 3 } });
    const direct = await rawRequest(rig.double.url, 'POST', '/api/chat', chat(true));
    rig.double.script({ path: '/api/chat', fault: { kind: 'reset', afterChunks: 3 } });
    const proxied = await rawRequest(rig.proxy.url, 'POST', '/api/chat', chat(true));
    expect(direct.cut).toBe(true);
    expect(proxied.cut).toBe(true);
    expect(normalize(proxied.body)).toBe(normalize(direct.body));
    await settled(rig, 1);
    const span = onlyClientSpan(rig.telemetry);
    expect(span.attributes['error.type']).toBe('ECONNRESET');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('an error line reaches the client and fails the span as ollama-js would', async () => {
    rig.double.script({ path: '/api/chat', fault: { kind: 'stream-error', afterChunks: 2, error: 'out of memory' } });
    const client = new Ollama({ host: rig.proxy.url });
    await expect(
      (async () => {
        for await (const _ of await client.chat({ model: 'llama3.2', messages: QUESTION, stream: true })) {
          // read
        }
      })(),
    ).rejects.toThrow('out of memory');
    await settled(rig, 1);
    const span = onlyClientSpan(rig.telemetry);
    expect(span.attributes['error.type']).toBe('Error');
    expect(span.status.message).toBe('out of memory');
  });

  it('a stream without its done line is incomplete; an OpenAI stream without [DONE] too', async () => {
    rig.double.script({ path: '/api/chat', fault: { kind: 'no-done', afterChunks: 3 } });
    await rawRequest(rig.proxy.url, 'POST', '/api/chat', chat(true));
    rig.double.script({ path: '/v1/chat/completions', fault: { kind: 'no-done', afterChunks: 3 } });
    await rawRequest(rig.proxy.url, 'POST', '/v1/chat/completions', chat(true));
    await settled(rig, 2);
    expect(clientSpans(rig.telemetry).map((s) => s.attributes['error.type'])).toEqual(['incomplete', 'incomplete']);
  });

  it('a slow client holds the upstream back instead of the proxy buffering the stream', {
    timeout: 60_000,
  }, async () => {
    rig.double.script({ path: '/api/generate', fault: { kind: 'stream', chunks: 40_000, chunkDelayMs: 0 } });
    const body = JSON.stringify({ model: 'llama3.2', prompt: 'Tell me about llamas.', stream: true });
    let resumedAt = 0;
    const received = await new Promise<number>((resolve, reject) => {
      const req = request(`${rig.proxy.url}/api/generate`, { method: 'POST', agent: false }, (res) => {
        res.pause();
        // The client reads nothing for a while: the proxy must not keep reading Ollama meanwhile.
        setTimeout(() => {
          let bytes = 0;
          res.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
          });
          res.on('end', () => resolve(bytes));
          resumedAt = Date.now();
          res.resume();
        }, 300);
      });
      req.on('error', reject);
      req.end(body);
    });
    expect(received).toBeGreaterThan(4_000_000);
    await settled(rig, 1, 20_000);
    const span = onlyClientSpan(rig.telemetry);
    expect(span.attributes['gen_ai.response.finish_reasons']).toEqual(['stop']);
    // Ollama's final line was read only after the client started reading again.
    expect(span.endTime[0] * 1000 + span.endTime[1] / 1e6).toBeGreaterThan(resumedAt);
  });
});

describe('limits and refusals', () => {
  it('forwards a large image body and records its size, not its bytes', async () => {
    const image = Buffer.alloc(1024 * 1024, 7);
    image.set([0x89, 0x50, 0x4e, 0x47]);
    const client = new Ollama({ host: rig.proxy.url });
    const answer = await client.generate({ model: 'llama3.2', prompt: 'What is this?', images: [image] });
    expect(answer.done).toBe(true);
    expect((rig.double.requests[0]!.body as { images: string[] }).images[0]).toBe(image.toString('base64'));
    await settled(rig, 1);
    expect(serverSpans(rig.telemetry)[0]!.attributes['http.request.body.size']).toBeGreaterThan(1_300_000);
    expect(JSON.stringify(onlyClientSpan(rig.telemetry).attributes)).not.toContain(
      image.toString('base64').slice(0, 64),
    );
  });

  it('answers 413 beyond --max-body-size, in Ollama error shape', async () => {
    const big = JSON.stringify({ model: 'llama3.2', prompt: 'x'.repeat(3 * 1024 * 1024) });
    const response = await rawRequest(rig.proxy.url, 'POST', '/api/generate', big);
    expect(response.status).toBe(413);
    expect(JSON.parse(response.body.toString()).error).toMatch(/too large/);
    expect(rig.double.requests).toEqual([]);
  });

  it('refuses absolute-form targets and CONNECT: never an open proxy', async () => {
    const target = new URL(rig.proxy.url);
    const exchange = (text: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(target.port), target.hostname, () => socket.end(text));
        let out = '';
        socket.on('data', (chunk) => {
          out += chunk;
        });
        socket.on('close', () => resolve(out));
        socket.on('error', reject);
      });
    const absolute = await exchange(`GET ${rig.double.url}/api/tags HTTP/1.1\r\nHost: elsewhere\r\n\r\n`);
    expect(absolute).toMatch(/^HTTP\/1.1 400/);
    const tunnel = await exchange('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    expect(tunnel).toMatch(/^HTTP\/1.1 405/);
    expect(rig.double.requests).toEqual([]);
  });

  it('answers 502 in Ollama error shape when Ollama cannot be reached, and /healthz says so', async () => {
    const down = await startProxy({
      upstream: 'http://127.0.0.1:9',
      port: 0,
      tracerProvider: rig.telemetry.tracerProvider,
      meterProvider: rig.telemetry.meterProvider,
    });
    try {
      const response = await rawRequest(down.url, 'POST', '/api/chat', chat(false));
      expect(response.status).toBe(502);
      expect(JSON.parse(response.body.toString()).error).toMatch(/could not reach Ollama at http:\/\/127.0.0.1:9/);
      await settled({ ...rig, proxy: down }, 1);
      const span = onlyClientSpan(rig.telemetry);
      expect(span.attributes['error.type']).toBe('ECONNREFUSED');
      expect(serverSpans(rig.telemetry)[0]!.attributes['error.type']).toBe('502');
      const health = await fetch(`${down.url}/healthz`);
      expect(health.status).toBe(503);
      expect((await fetch(`${rig.proxy.url}/healthz`)).status).toBe(200);
    } finally {
      await down.close(0);
    }
  });
});

describe('concurrency and trace context', () => {
  it('keeps 100 concurrent streams apart', async () => {
    const client = new Ollama({ host: rig.proxy.url });
    const traceIds = Array.from({ length: 100 }, (_, i) => i.toString(16).padStart(32, 'a'));
    await Promise.all(
      traceIds.map(async (traceId, i) => {
        const body = JSON.stringify({
          model: 'llama3.2',
          messages: [{ role: 'user', content: `question ${i}` }],
          stream: true,
        });
        const response = await fetch(`${rig.proxy.url}/api/chat`, {
          method: 'POST',
          body,
          headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
        });
        expect((await response.text()).split('\n').filter(Boolean).length).toBeGreaterThan(2);
      }),
    );
    void client;
    await settled(rig, 100, 20_000);
    const clients = clientSpans(rig.telemetry);
    expect(clients).toHaveLength(100);
    const servers = new Map(serverSpans(rig.telemetry).map((s) => [s.spanContext().spanId, s]));
    for (const span of clients) {
      const parent = servers.get(span.parentSpanContext!.spanId)!;
      expect(parent.spanContext().traceId).toBe(span.spanContext().traceId);
      expect(traceIds).toContain(span.spanContext().traceId);
    }
    expect(new Set(clients.map((s) => s.spanContext().traceId)).size).toBe(100);
    // Each upstream request carried its own GenAI span as parent.
    const injected = new Set(rig.double.requests.map((r) => r.headers.traceparent!.split('-')[2]));
    expect(injected).toEqual(new Set(clients.map((s) => s.spanContext().spanId)));
  });

  it("continues the caller's traceparent and sends the GenAI span's upstream", async () => {
    await rawRequest(rig.proxy.url, 'POST', '/api/chat', chat(false), {
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      tracestate: 'vendor=1',
    });
    await settled(rig, 1);
    const [server] = serverSpans(rig.telemetry);
    expect(server!.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(server!.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    const span = onlyClientSpan(rig.telemetry);
    const sent = rig.double.requests[0]!.headers;
    expect(sent.traceparent).toBe(`00-0af7651916cd43dd8448eb211c80319c-${span.spanContext().spanId}-01`);
    expect(sent.tracestate).toBe('vendor=1');
  });

  it('injects the server span into pass-through requests', async () => {
    await rawRequest(rig.proxy.url, 'GET', '/api/status');
    await settled(rig, 1);
    const [server] = serverSpans(rig.telemetry);
    expect(rig.double.requests[0]!.headers.traceparent).toContain(server!.spanContext().spanId);
  });
});
