import { startOllamaDouble } from '@ollama-otel/testing';
import { Ollama } from 'ollama';
import { describe, expect, it } from 'vitest';
import { postJson } from './helpers.js';

describe('request recording', () => {
  it('records method, path without query, lower-cased headers and parsed body, even for failures', async () => {
    const double = await startOllamaDouble();
    try {
      const traceparent = '00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-01';
      const ollama = new Ollama({
        host: double.url,
        fetch: (url, init) => fetch(url, { ...init, headers: { ...(init?.headers as object), traceparent } }),
      });
      await ollama.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
      await ollama.chat({ model: 'missing', messages: [{ role: 'user', content: 'hi' }] }).catch(() => {});
      await fetch(`${double.url}/api/tags?verbose=1`, { headers: { 'X-Custom': 'Yes' } });
      await fetch(`${double.url}/api/generate`, { method: 'POST', body: 'not json' });

      const [chat, failed, tags, raw] = double.requests;
      expect(chat).toMatchObject({
        method: 'POST',
        path: '/api/chat',
        body: { model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: false },
      });
      expect(chat!.headers.traceparent).toBe(traceparent);
      expect(chat!.headers['content-type']).toBe('application/json');
      expect(chat!.headers['user-agent']).toMatch(/^ollama-js\//);
      expect(chat!.receivedAt).toBeLessThanOrEqual(Date.now());
      expect(failed!.headers.traceparent).toBe(traceparent);
      expect(failed!.body).toMatchObject({ model: 'missing' });
      expect(tags).toMatchObject({ method: 'GET', path: '/api/tags', body: undefined });
      expect(tags!.headers['x-custom']).toBe('Yes');
      expect(raw!.body).toBe('not json');

      double.clearRequests();
      expect(double.requests).toHaveLength(0);
    } finally {
      await double.close();
    }
  });
});

describe('robustness', () => {
  it('close() resolves quickly with an open, unread stream and idle keep-alive connections', async () => {
    const double = await startOllamaDouble({ chunks: 50, chunkDelayMs: 200 });
    const ollama = new Ollama({ host: double.url });
    await ollama.version();
    const stream = await ollama.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const started = performance.now();
    await double.close();
    expect(performance.now() - started).toBeLessThan(500);
    await expect(
      (async () => {
        for await (const _chunk of stream) {
          // drain
        }
      })(),
    ).rejects.toThrow();
    await double.close();
  });

  it('survives a client disconnecting mid-stream', async () => {
    const double = await startOllamaDouble({ chunks: 20, chunkDelayMs: 10 });
    try {
      const controller = new AbortController();
      const response = await fetch(`${double.url}/api/chat`, {
        method: 'POST',
        body: JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] }),
        signal: controller.signal,
      });
      const reader = response.body!.getReader();
      await reader.read();
      controller.abort();
      await new Promise((resolve) => setTimeout(resolve, 50));
      const ok = await postJson(double, '/api/generate', { model: 'llama3.2', prompt: 'still alive?', stream: false });
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as any).done).toBe(true);
    } finally {
      await double.close();
    }
  });

  it('stops its timers when a client goes away mid-stream', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
    const double = await startOllamaDouble({ chunks: 40, chunkDelayMs: 30 });
    try {
      const before = timers();
      const controller = new AbortController();
      const response = await postJson(
        double,
        '/api/chat',
        { model: 'llama3.2', messages: [{ role: 'user', content: 'x' }] },
        'POST',
        controller.signal,
      );
      await response.body!.getReader().read();
      controller.abort();
      await new Promise((resolve) => setTimeout(resolve, 60));
      expect(timers()).toBeLessThanOrEqual(before);
    } finally {
      await double.close();
    }
  });

  it('can turn request recording off', async () => {
    const double = await startOllamaDouble({ recordRequests: false });
    try {
      await fetch(`${double.url}/api/version`);
      expect(double.requests).toEqual([]);
    } finally {
      await double.close();
    }
  });

  it('can listen on a given port', async () => {
    const first = await startOllamaDouble();
    const port = first.port;
    await first.close();
    const second = await startOllamaDouble({ port });
    try {
      expect(second.port).toBe(port);
      expect(await new Ollama({ host: second.url }).version()).toEqual({ version: '0.13.5' });
    } finally {
      await second.close();
    }
  });
});
