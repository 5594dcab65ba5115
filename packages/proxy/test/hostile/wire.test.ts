/*
 * Bytes on the wire: a 5 MiB server-sent event reaches the client byte for byte (usage injection on, the usage
 * chunk it added removed and nothing else); the client's JSON reaches Ollama with its numbers as written; the
 * proxy's own errors come in the shape of the API the client called.
 */
import { createServer } from 'node:net';
import { type OllamaDouble, startOllamaDouble, type TelemetryHarness } from '@ollama-otel/testing';
import { SpanKind } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy } from '../../src/index.js';
import type { RunningProxy } from '../../src/types.js';
import { rawRequest } from '../setup.js';
import {
  errorShape,
  type RawUpstream,
  sleep,
  startRawUpstream,
  startTracedProxy,
  type TracedProxy,
  until,
} from './raw.js';

const MiB = 1024 * 1024;

/** About 5 MiB of content with multi-byte characters, so that pieces split inside a character. */
function hugeContent(): string {
  const unit = 'The sky is blue because of Rayleigh scattering — é ü 空 🌍. ';
  return unit.repeat(Math.ceil((5 * MiB) / Buffer.byteLength(unit)));
}

const chunk = (choices: string, extra = '') =>
  `{"id":"chatcmpl-42","object":"chat.completion.chunk","created":1765000000,"model":"llama3.2","system_fingerprint":"fp_ollama","choices":${choices}${extra}}`;

function sseEvents(): { wanted: Buffer; usage: Buffer; done: Buffer } {
  const content = hugeContent();
  const first = `data: ${chunk(`[{"index":0,"delta":{"role":"assistant","content":${JSON.stringify(content)}},"finish_reason":null}]`)}\n\n`;
  const last = `data: ${chunk('[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":"stop"}]')}\n\n`;
  const usage = `data: ${chunk('[]', ',"usage":{"prompt_tokens":11,"completion_tokens":4242,"total_tokens":4253}')}\n\n`;
  return { wanted: Buffer.from(first + last), usage: Buffer.from(usage), done: Buffer.from('data: [DONE]\n\n') };
}

const hex = (buffer: Buffer) => buffer.length.toString(16);

describe('a 5 MiB server-sent event', () => {
  let upstream: RawUpstream;
  let traced: TracedProxy;
  let telemetry: TelemetryHarness;
  let proxy: RunningProxy;
  const events = sseEvents();

  beforeAll(async () => {
    upstream = await startRawUpstream(async (_request, socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n');
      // The big event in 64 KiB pieces, then the last chunk, usage and [DONE] as Ollama writes them.
      for (let at = 0; at < events.wanted.length; at += 64 * 1024) {
        const piece = events.wanted.subarray(at, at + 64 * 1024);
        if (!socket.write(Buffer.concat([Buffer.from(`${hex(piece)}\r\n`), piece, Buffer.from('\r\n')]))) {
          await new Promise((resolve) => socket.once('drain', resolve));
        }
      }
      for (const event of [events.usage, events.done]) {
        socket.write(Buffer.concat([Buffer.from(`${hex(event)}\r\n`), event, Buffer.from('\r\n')]));
        await sleep(5);
      }
      socket.write('0\r\n\r\n');
    });
    traced = await startTracedProxy(upstream, { injectUsage: true });
    ({ proxy, telemetry } = traced);
  });
  afterAll(() => traced?.close());

  it('reaches the client byte-identical, minus only the usage chunk injection added', async () => {
    const body = JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'Why?' }], stream: true });
    const response = await rawRequest(proxy.url, 'POST', '/v1/chat/completions', body, {
      'content-type': 'application/json',
    });
    expect(response.status).toBe(200);
    expect(response.cut).toBe(false);
    expect(JSON.parse(upstream.requests[0]!.body.toString()).stream_options).toEqual({ include_usage: true });
    const expected = Buffer.concat([events.wanted, events.done]);
    expect(response.body.length).toBe(expected.length);
    expect(response.body.equals(expected)).toBe(true);

    // The GenAI span ended, and says what telemetry made of the stream: usage read, or the event it skipped.
    await until(() => telemetry.spans().some((s) => s.kind === SpanKind.CLIENT), 5000, 'the GenAI span');
    const span = telemetry.spans().find((s) => s.kind === SpanKind.CLIENT)!;
    const skipped = span.events.find((event) => event.name === 'ollama.proxy.parse.skipped');
    if (skipped === undefined) expect(span.attributes['gen_ai.usage.output_tokens']).toBe(4242);
    else expect(skipped.attributes?.['ollama.proxy.parse.skipped_bytes']).toBeGreaterThan(4 * MiB);
  }, 30_000);
});

describe('usage injection keeps the client JSON bytes', () => {
  let upstream: RawUpstream;
  let proxy: RunningProxy;

  beforeAll(async () => {
    upstream = await startRawUpstream((_request, socket) => {
      const done = 'data: [DONE]\n\n';
      socket.write(
        `HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: ${done.length}\r\n\r\n${done}`,
      );
    });
    proxy = await startProxy({ upstream: upstream.url, port: 0, injectUsage: true });
  });
  afterAll(async () => {
    await proxy?.close(0);
    await upstream?.close();
  });

  it('sends "seed":12345678901234567890 unchanged, with and without the client\'s stream_options', async () => {
    for (const options of ['', ',"stream_options":{"include_usage":false}', ',"stream_options":{}']) {
      const body = `{"model":"m","stream":true,"seed":12345678901234567890${options},"messages":[{"role":"user","content":"hi"}]}`;
      const count = upstream.requests.length;
      const response = await rawRequest(proxy.url, 'POST', '/v1/chat/completions', body, {
        'content-type': 'application/json',
      });
      expect(response.status).toBe(200);
      const sent = upstream.requests[count]!.body.toString();
      expect(sent, options).toContain('"seed":12345678901234567890');
      expect(JSON.parse(sent).stream_options.include_usage).toBe(true);
      expect(response.body.toString()).toBe('data: [DONE]\n\n');
    }
  });
});

describe("errors in the caller's API shape", () => {
  let double: OllamaDouble;
  let unreachable: RunningProxy;
  let limited: RunningProxy;

  beforeAll(async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    unreachable = await startProxy({ upstream: `http://127.0.0.1:${port}`, port: 0 });
    double = await startOllamaDouble();
    limited = await startProxy({ upstream: double.url, port: 0, maxBodyBytes: 200 });
  });
  afterAll(async () => {
    await unreachable?.close(0);
    await limited?.close(0);
    await double?.close();
  });

  const request = (model = 'llama3.2', padding = '') =>
    JSON.stringify({ model, max_tokens: 10, messages: [{ role: 'user', content: `hi${padding}` }] });

  const CASES: [proxy: 'unreachable' | 'limited', status: number, path: string, shape: string, type?: string][] = [
    ['unreachable', 502, '/v1/chat/completions', 'openai', 'api_error'],
    ['unreachable', 502, '/v1/completions', 'openai', 'api_error'],
    ['unreachable', 502, '/v1/embeddings', 'openai', 'api_error'],
    ['unreachable', 502, '/v1/responses', 'openai', 'api_error'],
    ['unreachable', 502, '/v1/models', 'openai', 'api_error'],
    ['unreachable', 502, '/v1/messages', 'anthropic', 'api_error'],
    ['unreachable', 502, '/api/chat', 'ollama'],
    ['unreachable', 502, '/api/tags', 'ollama'],
    ['limited', 413, '/v1/chat/completions', 'openai', 'invalid_request_error'],
    ['limited', 413, '/v1/messages', 'anthropic', 'request_too_large'],
    ['limited', 413, '/api/chat', 'ollama'],
  ];

  it('answers its own 502 and 413 in the shape of the API called (OpenAI, Anthropic, Ollama)', async () => {
    const problems: string[] = [];
    for (const [which, status, path, shape, type] of CASES) {
      const base = which === 'unreachable' ? unreachable.url : limited.url;
      const method = path.endsWith('models') || path.endsWith('tags') ? 'GET' : 'POST';
      const body = method === 'GET' ? undefined : request('llama3.2', status === 413 ? 'x'.repeat(400) : '');
      const response = await rawRequest(base, method, path, body, { 'content-type': 'application/json' });
      const text = response.body.toString();
      const where = `${status} on ${path}: got ${response.status} ${text}`;
      if (response.status !== status) problems.push(where);
      else if (errorShape(text) !== shape) problems.push(`not in the ${shape} shape: ${where}`);
      else if (type !== undefined && JSON.parse(text).error.type !== type) problems.push(`not a ${type}: ${where}`);
    }
    expect(problems).toEqual([]);
  });
});
