import { type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { drain, postJson, readNdjson, rejectionOf } from './helpers.js';

const messages = [{ role: 'user', content: 'hello there' }];

let double: OllamaDouble;
let ollama: Ollama;

beforeAll(async () => {
  double = await startOllamaDouble();
  ollama = new Ollama({ host: double.url });
});
afterAll(() => double.close());
beforeEach(() => double.reset());

describe('http errors', () => {
  it.each([400, 404, 500, 503])('status %i gives ollama-js a ResponseError with status_code', async (status) => {
    double.script({ path: '/api/chat', fault: { kind: 'http-error', status, error: `boom ${status}` } });
    const error = await rejectionOf(ollama.chat({ model: 'llama3.2', messages }));
    expect(error).toMatchObject({ name: 'ResponseError', status_code: status, message: `boom ${status}` });
  });

  it('uses server-like default messages and a JSON content type', async () => {
    double.script({ fault: { kind: 'http-error', status: 503 } }, { fault: { kind: 'http-error', status: 404 } });
    const busy = await postJson(double, '/api/generate', { model: 'llama3.2', prompt: 'x' });
    expect(busy.status).toBe(503);
    expect(busy.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await busy.json()).toEqual({ error: 'server busy, please try again.  maximum pending requests exceeded' });
    const missing = await postJson(double, '/api/generate', { model: 'llama3.2', prompt: 'x' });
    expect(await missing.json()).toEqual({ error: "model 'llama3.2' not found" });
  });

  it('rejects the streaming call itself (before iteration) on an HTTP error', async () => {
    double.script({ fault: { kind: 'http-error', status: 500 } });
    const error = await rejectionOf(ollama.chat({ model: 'llama3.2', messages, stream: true }));
    expect(error).toMatchObject({ status_code: 500 });
  });

  it('serves text/plain errors for non-json-error', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    double.script({ fault: { kind: 'non-json-error', status: 502, text: 'bad gateway from proxy' } });
    const error = await rejectionOf(ollama.generate({ model: 'llama3.2', prompt: 'x' }));
    log.mockRestore();
    expect(error).toMatchObject({ status_code: 502, message: 'bad gateway from proxy' });
  });
});

describe('stream faults', () => {
  it('stream-error: status 200, then an error line; the ollama-js iterator throws its message', async () => {
    double.script({ fault: { kind: 'stream-error', afterChunks: 3, error: 'model runner crashed' } });
    const response = await postJson(double, '/api/chat', { model: 'llama3.2', messages });
    expect(response.status).toBe(200);
    const lines = await readNdjson(response);
    expect(lines).toHaveLength(4);
    expect(lines[3]).toEqual({ error: 'model runner crashed' });

    double.script({ fault: { kind: 'stream-error', afterChunks: 2 } });
    const { items, error } = await drain(await ollama.chat({ model: 'llama3.2', messages, stream: true }));
    expect(items).toHaveLength(2);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe('an error was encountered while running the model');
  });

  it('stream-error on a non-streaming request is a 500', async () => {
    double.script({ fault: { kind: 'stream-error', afterChunks: 1, error: 'oops' } });
    const error = await rejectionOf(ollama.chat({ model: 'llama3.2', messages }));
    expect(error).toMatchObject({ status_code: 500, message: 'oops' });
  });

  it('no-done: the stream ends cleanly without done and ollama-js complains', async () => {
    double.script({ fault: { kind: 'no-done', afterChunks: 4 } });
    const { items, error } = await drain(await ollama.generate({ model: 'llama3.2', prompt: 'x', stream: true }));
    expect(items).toHaveLength(4);
    expect(items.every((c) => !c.done)).toBe(true);
    expect((error as Error).message).toBe('Did not receive done or success response in stream.');
  });

  it('reset: the socket dies mid-stream and the iterator throws', async () => {
    double.script({ fault: { kind: 'reset', afterChunks: 2 } });
    const { items, error } = await drain(await ollama.chat({ model: 'llama3.2', messages, stream: true }));
    expect(items.length).toBeLessThanOrEqual(2);
    expect(error).toBeInstanceOf(Error);
  });

  it('reset on a non-streaming request kills the connection before any byte', async () => {
    double.script({ fault: { kind: 'reset', afterChunks: 0 } });
    const error = await rejectionOf(ollama.chat({ model: 'llama3.2', messages }));
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).toBe('fetch failed');
    expect(await ollama.version()).toEqual({ version: '0.13.5' });
  });

  it('stream faults also act on pull progress', async () => {
    double.script({ path: '/api/pull', fault: { kind: 'no-done', afterChunks: 2 } });
    const { items, error } = await drain(await ollama.pull({ model: 'llama3.2', stream: true }));
    expect(items).toHaveLength(2);
    expect((error as Error).message).toBe('Did not receive done or success response in stream.');
  });
});

describe('shaping faults', () => {
  it('slow-headers delays the response headers', async () => {
    double.script({ fault: { kind: 'slow-headers', delayMs: 80 } });
    const started = performance.now();
    const stream = await ollama.chat({ model: 'llama3.2', messages, stream: true });
    expect(performance.now() - started).toBeGreaterThanOrEqual(70);
    const { items, error } = await drain(stream);
    expect(error).toBeUndefined();
    expect((items.at(-1) as any).total_duration).toBeGreaterThanOrEqual(75e6);
  });

  it('cache-hit omits prompt_eval_count and prompt_eval_duration', async () => {
    double.script({ fault: { kind: 'cache-hit' } }, { fault: { kind: 'cache-hit' } });
    const whole = await ollama.chat({ model: 'llama3.2', messages });
    expect(whole).not.toHaveProperty('prompt_eval_count');
    expect(whole).not.toHaveProperty('prompt_eval_duration');
    expect(whole.eval_count).toBeGreaterThan(0);
    const { items } = await drain(await ollama.generate({ model: 'llama3.2', prompt: 'x', stream: true }));
    expect(items.at(-1)).not.toHaveProperty('prompt_eval_count');
  });

  it('done-reason forces the final done_reason', async () => {
    double.script({ fault: { kind: 'done-reason', reason: 'length' } });
    expect((await ollama.chat({ model: 'llama3.2', messages })).done_reason).toBe('length');
  });
});

describe('fault matching', () => {
  it('matches path and model (with or without :latest), FIFO, honouring times', async () => {
    double.script(
      { path: '/api/generate', model: 'gemma4:latest', times: 2, fault: { kind: 'http-error', status: 500 } },
      { path: '/api/chat', fault: { kind: 'http-error', status: 503 } },
    );
    expect(await ollama.version()).toEqual({ version: '0.13.5' });
    expect((await ollama.generate({ model: 'llama3.2', prompt: 'x' })).done).toBe(true);
    const first = await rejectionOf(ollama.generate({ model: 'gemma4', prompt: 'x' }));
    const second = await rejectionOf(ollama.generate({ model: 'gemma4', prompt: 'x' }));
    expect([first.status_code, second.status_code]).toEqual([500, 500]);
    expect((await ollama.generate({ model: 'gemma4', prompt: 'x' })).done).toBe(true);
    expect(await rejectionOf(ollama.chat({ model: 'gemma4', messages }))).toMatchObject({ status_code: 503 });
    expect((await ollama.chat({ model: 'gemma4', messages })).done).toBe(true);
  });

  it('a fault without path matches the next request of any route', async () => {
    double.script({ fault: { kind: 'http-error', status: 500, error: 'down' } });
    expect(await rejectionOf(ollama.list())).toMatchObject({ status_code: 500, message: 'down' });
    expect((await ollama.list()).models.length).toBeGreaterThan(0);
  });

  it('reset() drops queued faults', async () => {
    double.script({ fault: { kind: 'http-error', status: 500 } });
    double.reset();
    expect(await ollama.version()).toEqual({ version: '0.13.5' });
  });
});
