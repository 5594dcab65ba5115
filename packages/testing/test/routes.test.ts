import { MODELS, type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { postJson, RFC3339_NANO, readNdjson, rejectionOf } from './helpers.js';

let double: OllamaDouble;
let ollama: Ollama;

beforeAll(async () => {
  double = await startOllamaDouble();
  ollama = new Ollama({ host: double.url });
});
afterAll(() => double.close());
beforeEach(() => double.reset());

describe('basic routes', () => {
  it('binds an ephemeral loopback port', () => {
    expect(double.host).toBe('127.0.0.1');
    expect(double.port).toBeGreaterThan(0);
    expect(double.url).toBe(`http://127.0.0.1:${double.port}`);
  });

  it('GET / says Ollama is running', async () => {
    const response = await fetch(`${double.url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await response.text()).toBe('Ollama is running');
  });

  it('serves /api/version (GET and HEAD)', async () => {
    expect(await ollama.version()).toEqual({ version: '0.13.5' });
    const head = await fetch(`${double.url}/api/version`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('honours the version option', async () => {
    const other = await startOllamaDouble({ version: '0.9.0' });
    try {
      expect(await new Ollama({ host: other.url }).version()).toEqual({ version: '0.9.0' });
    } finally {
      await other.close();
    }
  });

  it('answers unknown routes like gin: 404 text/plain', async () => {
    for (const [method, path] of [
      ['GET', '/api/nope'],
      ['GET', '/api/chat'],
      ['POST', '/api/tags'],
    ] as const) {
      const response = await fetch(`${double.url}${path}`, { method });
      expect(response.status).toBe(404);
      expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await response.text()).toBe('404 page not found');
    }
  });

  it('rejects a missing or invalid JSON body with 400', async () => {
    const missing = await fetch(`${double.url}/api/chat`, { method: 'POST' });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({ error: 'missing request body' });
    const invalid = await fetch(`${double.url}/api/generate`, { method: 'POST', body: 'hello' });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as any).error).toMatch(/^invalid character 'h'/);
  });

  it('requires a model', async () => {
    const response = await postJson(double, '/api/chat', { messages: [{ role: 'user', content: 'hi' }] });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: 'model is required' });
  });
});

describe('model management', () => {
  it('lists the catalog on /api/tags (GET and HEAD)', async () => {
    const { models } = await ollama.list();
    expect(models.map((m) => m.name)).toEqual(MODELS.map((m) => m.name));
    const llama = models.find((m) => m.name === 'llama3.2:latest')!;
    expect(llama).toMatchObject({
      model: 'llama3.2:latest',
      size: expect.any(Number),
      digest: expect.stringMatching(/^[0-9a-f]{64}$/),
      details: { format: 'gguf', family: 'llama', families: ['llama'], parameter_size: '3.2B' },
    });
    expect(typeof llama.modified_at).toBe('string');
    const head = await fetch(`${double.url}/api/tags`, { method: 'HEAD' });
    expect(head.status).toBe(200);
  });

  it('shows a model, 404 for unknown ones', async () => {
    const show = (await ollama.show({ model: 'qwen3' })) as any;
    expect(show).toMatchObject({
      license: expect.any(String),
      modelfile: expect.stringContaining('FROM'),
      parameters: expect.any(String),
      template: expect.any(String),
      details: { family: 'qwen3', format: 'gguf' },
      model_info: { 'general.architecture': 'qwen3', 'qwen3.embedding_length': 4096 },
      capabilities: expect.arrayContaining(['completion', 'thinking']),
      modified_at: expect.any(String),
    });
    const error = await rejectionOf(ollama.show({ model: 'llama9' }));
    expect(error).toMatchObject({ name: 'ResponseError', status_code: 404, message: "model 'llama9' not found" });
  });

  it('pulls with progress, adding unknown models to the catalog', async () => {
    const progress = await ollama.pull({ model: 'tinyllama', stream: true });
    const lines = [];
    for await (const line of progress) lines.push(line);
    expect(lines[0]).toEqual({ status: 'pulling manifest' });
    const downloads = lines.filter((l) => l.status.startsWith('pulling ') && l.digest);
    expect(downloads.length).toBeGreaterThanOrEqual(6);
    expect(downloads[0]).toMatchObject({
      digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      total: expect.any(Number),
    });
    expect(downloads[0]!.status).toBe(`pulling ${downloads[0]!.digest.slice(7, 19)}`);
    expect(downloads.some((l) => l.completed === l.total)).toBe(true);
    expect(lines.slice(-4).map((l) => l.status)).toEqual([
      'verifying sha256 digest',
      'writing manifest',
      'removing any unused layers',
      'success',
    ]);
    expect((await ollama.list()).models.some((m) => m.name === 'tinyllama:latest')).toBe(true);
    expect(double.requests.at(-2)?.body).toEqual({ name: 'tinyllama', stream: true });
  });

  it('pull with stream:false answers one success object', async () => {
    expect(await ollama.pull({ model: 'llama3.2' })).toEqual({ status: 'success' });
  });

  it('pushes with progress', async () => {
    const lines = [];
    for await (const line of await ollama.push({ model: 'llama3.2', stream: true })) lines.push(line);
    expect(lines[0]).toEqual({ status: 'retrieving manifest' });
    expect(lines.at(-1)).toEqual({ status: 'success' });
  });

  it('creates a model from another one', async () => {
    const lines = [];
    for await (const line of await ollama.create({ model: 'mario', from: 'llama3.2', stream: true })) lines.push(line);
    expect(lines.at(-1)).toEqual({ status: 'success' });
    expect(lines.map((l) => l.status)).toContain('writing manifest');
    const show = await ollama.show({ model: 'mario' });
    expect(show.details.parent_model).toBe('llama3.2:latest');
    const missing = await postJson(double, '/api/create', { model: 'x' });
    expect(missing.status).toBe(400);
  });

  it('copies and deletes models (empty 200 bodies), 404 when missing', async () => {
    expect(await ollama.copy({ source: 'llama3.2', destination: 'llama-copy' })).toEqual({ status: 'success' });
    expect((await ollama.list()).models.map((m) => m.name)).toContain('llama-copy:latest');
    const raw = await postJson(double, '/api/delete', { model: 'llama-copy' }, 'DELETE');
    expect(raw.status).toBe(200);
    expect(await raw.text()).toBe('');
    expect(await ollama.delete({ model: 'llama3.2' })).toEqual({ status: 'success' });
    expect(double.requests.at(-1)?.body).toEqual({ name: 'llama3.2' });
    const deleteError = await rejectionOf(ollama.delete({ model: 'llama3.2' }));
    expect(deleteError).toMatchObject({ status_code: 404, message: "model 'llama3.2' not found" });
    const copyError = await rejectionOf(ollama.copy({ source: 'ghost', destination: 'x' }));
    expect(copyError).toMatchObject({ status_code: 404, message: "model 'ghost' not found" });
  });

  it('reset() restores the catalog', async () => {
    await ollama.delete({ model: 'gemma4' });
    double.reset();
    expect((await ollama.list()).models.map((m) => m.name)).toContain('gemma4:latest');
  });
});

describe('/api/ps', () => {
  it('lists models loaded by chat/generate/embed with ps fields', async () => {
    expect(await ollama.ps()).toEqual({ models: [] });
    await ollama.generate({ model: 'gemma4', prompt: 'hi' });
    await ollama.embed({ model: 'all-minilm', input: 'hi', keep_alive: '10m' });
    const { models } = (await ollama.ps()) as any;
    expect(models.map((m: any) => m.name)).toEqual(['all-minilm:latest', 'gemma4:latest']);
    const gemma = models[1];
    expect(gemma).toMatchObject({
      model: 'gemma4:latest',
      size: expect.any(Number),
      size_vram: expect.any(Number),
      digest: expect.stringMatching(/^[0-9a-f]{64}$/),
      details: { parent_model: '', format: 'gguf', family: 'gemma4', families: ['gemma4'] },
      context_length: 4096,
    });
    expect(gemma.expires_at).toMatch(RFC3339_NANO);
    const expiresIn = Date.parse(gemma.expires_at) - Date.now();
    expect(expiresIn).toBeGreaterThan(4 * 60_000);
    expect(expiresIn).toBeLessThanOrEqual(5 * 60_000);
    expect(double.loadedModels()).toEqual(['all-minilm:latest', 'gemma4:latest']);
  });

  it('keeps a model forever with a negative keep_alive and drops expired ones', async () => {
    await ollama.generate({ model: 'llama3.2', prompt: 'hi', keep_alive: -1 });
    await ollama.generate({ model: 'gemma4', prompt: 'hi', keep_alive: 0.05 });
    const { models } = (await ollama.ps()) as any;
    expect(models[0].name).toBe('llama3.2:latest');
    expect(Date.parse(models[0].expires_at)).toBeGreaterThan(Date.parse('2200-01-01'));
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(double.loadedModels()).toEqual(['llama3.2:latest']);
  });
});

describe('embeddings', () => {
  it('embeds a string and arrays deterministically with the model dimensions', async () => {
    const single = await ollama.embed({ model: 'all-minilm', input: 'Why is the sky blue?' });
    expect(single.model).toBe('all-minilm');
    expect(single.embeddings).toHaveLength(1);
    expect(single.embeddings[0]).toHaveLength(384);
    expect(single.total_duration).toBeGreaterThan(0);
    expect(single.load_duration).toBeGreaterThan(0);
    expect(single.prompt_eval_count).toBeGreaterThan(0);
    const norm = Math.hypot(...single.embeddings[0]!);
    expect(norm).toBeCloseTo(1, 4);

    const batch = await ollama.embed({ model: 'nomic-embed-text', input: ['Why is the sky blue?', 'grass'] });
    expect(batch.embeddings.map((e) => e.length)).toEqual([768, 768]);
    const again = await ollama.embed({ model: 'all-minilm', input: 'Why is the sky blue?' });
    expect(again.embeddings).toEqual(single.embeddings);
  });

  it('honours dimensions, 404s unknown models', async () => {
    const response = await ollama.embed({ model: 'nomic-embed-text', input: 'x', dimensions: 64 } as any);
    expect(response.embeddings[0]).toHaveLength(64);
    const error = await rejectionOf(ollama.embed({ model: 'nope', input: 'x' }));
    expect(error).toMatchObject({ status_code: 404, message: "model 'nope' not found" });
  });

  it('serves the legacy /api/embeddings with only `embedding`', async () => {
    const response = await ollama.embeddings({ model: 'all-minilm', prompt: 'Here is an article about llamas' });
    expect(Object.keys(response)).toEqual(['embedding']);
    expect(response.embedding).toHaveLength(384);
  });
});

describe('errors', () => {
  it('404s unknown models with the server message, with or without :latest', async () => {
    for (const model of ['llama9', 'llama9:latest']) {
      const error = await rejectionOf(ollama.chat({ model, messages: [{ role: 'user', content: 'hi' }] }));
      expect(error).toMatchObject({ name: 'ResponseError', status_code: 404, error: `model '${model}' not found` });
    }
    const ok = await ollama.chat({ model: 'llama3.2:latest', messages: [{ role: 'user', content: 'hi' }] });
    expect(ok.model).toBe('llama3.2:latest');
  });

  it('rejects chat on embedding models and thinking/tools on models without them', async () => {
    const chat = await rejectionOf(ollama.chat({ model: 'all-minilm', messages: [{ role: 'user', content: 'hi' }] }));
    expect(chat).toMatchObject({ status_code: 400, message: '"all-minilm" does not support chat' });
    const generate = await rejectionOf(ollama.generate({ model: 'all-minilm', prompt: 'hi' }));
    expect(generate).toMatchObject({ status_code: 400, message: '"all-minilm" does not support generate' });
    const think = await rejectionOf(ollama.chat({ model: 'llama3.2', messages: [], think: true }));
    expect(think).toMatchObject({ status_code: 400, message: '"llama3.2" does not support thinking' });
    const tools = await rejectionOf(
      ollama.chat({
        model: 'gemma4',
        messages: [{ role: 'user', content: 'hi' }],
        tools: [{ type: 'function' } as any],
      }),
    );
    expect(tools).toMatchObject({ status_code: 400, message: '"gemma4" does not support tools' });
  });

  it('answers streaming requests with a real status when they fail before streaming', async () => {
    const response = await postJson(double, '/api/chat', { model: 'nope', messages: [{ role: 'user', content: 'x' }] });
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await readNdjson(response)).toEqual([{ error: "model 'nope' not found" }]);
  });
});
