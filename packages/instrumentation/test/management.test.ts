import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { Ollama } from 'ollama';
import { afterEach, describe, expect, it } from 'vitest';
import type { InstrumentOllamaConfig } from '../src/index.js';
import { drain, points, type Rig, startRig, USER_QUESTION } from './setup.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

async function managementRig(config: InstrumentOllamaConfig = {}) {
  rig = await startRig({ config });
  return rig;
}

const server = (r: Rig) => ({ 'server.address': '127.0.0.1', 'server.port': r.double.port });

/** A client whose fetch answers locally, as ollama.com or a scripted server would. */
function clientAnswering(respond: (url: string, init: RequestInit) => Response) {
  const requests: { url: string; init: RequestInit }[] = [];
  const fetch = async (url: string | URL | Request, init: RequestInit = {}) => {
    requests.push({ url: String(url), init });
    return respond(String(url), init);
  };
  return { client: new Ollama({ host: 'http://127.0.0.1:9', fetch: fetch as typeof globalThis.fetch }), requests };
}

function ndjson(lines: unknown[]): Response {
  const body = new ReadableStream({
    start(controller) {
      for (const line of lines) controller.enqueue(new TextEncoder().encode(`${JSON.stringify(line)}\n`));
      controller.close();
    },
  });
  return new Response(body, { headers: { 'content-type': 'application/x-ndjson' } });
}

describe('model-management spans', () => {
  it('traces list, ps, version and show as ollama.* CLIENT spans with no GenAI attributes', async () => {
    const r = await managementRig();
    const listed = await r.client.list();
    await r.client.chat({ model: 'llama3.2', messages: USER_QUESTION, keep_alive: '5m' });
    const running = await r.client.ps();
    const version = await r.client.version();
    await r.client.show({ model: 'llama3.2' });

    const spans = r.telemetry
      .spans()
      .filter((span) => span.name.startsWith('ollama.') && span.kind === SpanKind.CLIENT);
    expect(spans.map((span) => span.name)).toEqual([
      'ollama.list',
      'ollama.ps',
      'ollama.version',
      'ollama.show llama3.2',
    ]);
    const [list, ps, versionSpan, show] = spans;
    expect(list!.attributes).toEqual({
      'ollama.operation.name': 'list',
      ...server(r),
      'ollama.model.count': listed.models.length,
    });
    expect(ps!.attributes).toEqual({
      'ollama.operation.name': 'ps',
      ...server(r),
      'ollama.model.count': running.models.length,
    });
    expect(running.models.length).toBe(1);
    expect(versionSpan!.attributes).toEqual({
      'ollama.operation.name': 'version',
      ...server(r),
      'ollama.server.version': version.version,
    });
    expect(show!.attributes).toEqual({
      'ollama.operation.name': 'show',
      ...server(r),
      'ollama.model.name': 'llama3.2',
    });
    for (const span of spans) {
      expect(span.status.code).toBe(SpanStatusCode.UNSET);
      expect(Object.keys(span.attributes).some((key) => key.startsWith('gen_ai.'))).toBe(false);
    }
  });

  it('records ollama.client.operation.duration, and no GenAI metrics, for management calls', async () => {
    const r = await managementRig();
    await r.client.list();
    await r.client.list();
    await r.client.version();
    await expect(r.client.show({ model: 'no-such-model' })).rejects.toThrow();
    const metrics = await r.telemetry.collectMetrics();
    const durations = points(metrics, 'ollama.client.operation.duration');
    expect(durations.map((point) => point.attributes)).toEqual(
      expect.arrayContaining([
        { 'ollama.operation.name': 'list', ...server(r) },
        { 'ollama.operation.name': 'version', ...server(r) },
        { 'ollama.operation.name': 'show', ...server(r), 'error.type': '404' },
      ]),
    );
    expect(
      points(metrics, 'ollama.client.operation.duration', { 'ollama.operation.name': 'list' })[0]!.value.count,
    ).toBe(2);
    expect(metrics.find((metric) => metric.name === 'ollama.client.operation.duration')?.unit).toBe('s');
    expect(points(metrics, 'gen_ai.client.operation.duration')).toHaveLength(0);
    expect(points(metrics, 'gen_ai.client.token.usage')).toHaveLength(0);
  });

  it('names copy after its source and records the destination; delete after its model', async () => {
    const r = await managementRig();
    await r.client.copy({ source: 'llama3.2', destination: 'llama3.2-backup' });
    await r.client.delete({ model: 'llama3.2-backup' });
    const [copy, del] = r.telemetry.spans();
    expect(copy!.name).toBe('ollama.copy llama3.2');
    expect(copy!.attributes).toMatchObject({
      'ollama.model.name': 'llama3.2',
      'ollama.copy.destination': 'llama3.2-backup',
      'ollama.operation.status': 'success',
    });
    expect(del!.name).toBe('ollama.delete llama3.2-backup');
  });

  it('marks failures with error.type and an error status', async () => {
    const r = await managementRig();
    await expect(r.client.push({ model: 'not-here' })).rejects.toThrow("model 'not-here' not found");
    const [span] = r.telemetry.spans();
    expect(span!.name).toBe('ollama.push not-here');
    expect(span!.attributes['error.type']).toBe('404');
    expect(span!.status).toEqual({ code: SpanStatusCode.ERROR, message: "model 'not-here' not found" });
  });

  it('creates one span for create on the Node client, whose create calls the base class create', async () => {
    const r = await managementRig();
    await r.client.create({ model: 'weather-bot', from: 'llama3.2', system: 'You report weather.' });
    const stream = await r.client.create({ model: 'weather-bot-2', from: 'llama3.2', stream: true });
    await drain(stream);
    expect(r.telemetry.spans().map((span) => span.name)).toEqual([
      'ollama.create weather-bot',
      'ollama.create weather-bot-2',
    ]);
    expect(r.telemetry.spans()[1]!.attributes['ollama.operation.status']).toBe('success');
  });

  it('wraps each management method on the base prototype only, and uninstrument() restores them', async () => {
    const base = Object.getPrototypeOf(Ollama.prototype) as Record<string, unknown>;
    const names = [
      'pull',
      'push',
      'create',
      'delete',
      'copy',
      'list',
      'show',
      'ps',
      'version',
      'webSearch',
      'webFetch',
    ];
    const r = await managementRig();
    r.handle.uninstrument();
    const originals = names.map((name) => base[name]);
    const again = (await import('../src/index.js')).instrumentOllama(Ollama, {
      tracerProvider: r.telemetry.tracerProvider,
    });
    expect(names.filter((name) => base[name] === originals[names.indexOf(name)])).toEqual([]);
    expect(Object.hasOwn(Ollama.prototype, 'create')).toBe(true);
    expect((Ollama.prototype as unknown as Record<string, unknown>).create).not.toHaveProperty('__wrapped');
    again.uninstrument();
    expect(names.map((name) => base[name])).toEqual(originals);
  });

  it('does nothing with managementSpans: false, and still traces GenAI calls', async () => {
    const r = await managementRig({ managementSpans: false });
    await r.client.list();
    await drain(await r.client.pull({ model: 'smollm2:135m', stream: true }));
    await r.client.chat({ model: 'llama3.2', messages: USER_QUESTION });
    expect(
      r.telemetry
        .spans()
        .filter((span) => span.kind === SpanKind.CLIENT)
        .map((span) => span.name),
    ).toEqual(['chat llama3.2']);
  });
});

describe('streamed progress (pull, push, create)', () => {
  it('covers the whole pull and records final status, layers, bytes and progress events', async () => {
    const r = await managementRig();
    const before = Date.now();
    const stream = await r.client.pull({ model: 'smollm2:135m', stream: true });
    expect(r.telemetry.spans()).toHaveLength(0);
    const progress = await drain(stream);
    const [span] = r.telemetry.spans();
    expect(span!.name).toBe('ollama.pull smollm2:135m');
    expect(progress.at(-1)!.status).toBe('success');

    const layers = [...new Set(progress.filter((line) => line.digest).map((line) => line.digest))];
    const totals = new Map(progress.filter((line) => line.digest).map((line) => [line.digest, line.total]));
    const totalBytes = [...totals.values()].reduce((sum, total) => sum + total, 0);
    expect(layers).toHaveLength(3);
    expect(span!.attributes).toMatchObject({
      'ollama.operation.name': 'pull',
      'ollama.model.name': 'smollm2:135m',
      'ollama.operation.status': 'success',
      'ollama.progress.updates': progress.length,
      'ollama.progress.layers': layers,
      'ollama.progress.total_bytes': totalBytes,
      'ollama.progress.completed_bytes': totalBytes,
    });
    // One event per status change (repeated download updates of a layer are throttled).
    const statuses = progress.map((line) => line.status).filter((status, i, all) => status !== all[i - 1]);
    expect(span!.events.map((event) => event.attributes?.['ollama.progress.status'])).toEqual(statuses);
    expect(span!.events.every((event) => event.name === 'ollama.progress')).toBe(true);
    const firstLayer = span!.events.find((event) => event.attributes?.['ollama.progress.digest'] === layers[0]);
    expect(firstLayer?.attributes?.['ollama.progress.total_bytes']).toBe(totals.get(layers[0]));
    expect(span!.startTime[0] * 1000 + span!.startTime[1] / 1e6).toBeGreaterThanOrEqual(before - 5);
  });

  it('throttles progress events to at most 20, keeping status changes', async () => {
    const lines = [
      ...Array.from({ length: 60 }, (_, i) => ({ status: `step ${i}` })),
      ...Array.from({ length: 200 }, (_, i) => ({
        status: 'pulling 0123456789ab',
        digest: 'sha256:0123456789ab',
        total: 1000,
        completed: i * 5,
      })),
      { status: 'success' },
    ];
    const { client } = clientAnswering(() => ndjson(lines));
    const r = await managementRig();
    await drain(await client.pull({ model: 'big-model', stream: true }));
    const [span] = r.telemetry.spans();
    expect(span!.events.length).toBe(20);
    expect(span!.events[0]!.attributes?.['ollama.progress.status']).toBe('step 0');
    expect(span!.attributes['ollama.operation.status']).toBe('success');
    expect(span!.attributes['ollama.progress.updates']).toBe(lines.length);
    expect(span!.attributes['ollama.progress.completed_bytes']).toBe(995);
    expect(span!.attributes['server.address']).toBe('127.0.0.1');
    expect(span!.attributes['server.port']).toBe(9);
  });

  it('ends the span as cancelled when the consumer breaks out of the progress loop', async () => {
    const r = await managementRig();
    const stream = await r.client.pull({ model: 'smollm2:135m', stream: true });
    for await (const line of stream) if (line.digest) break;
    const [span] = r.telemetry.spans();
    expect(span!.attributes['error.type']).toBe('cancelled');
    expect(span!.attributes['ollama.operation.status']).toMatch(/^pulling [0-9a-f]{12}$/);
    expect(span!.attributes['ollama.progress.layers']).toHaveLength(1);
  });

  it('ends the span with an error on an error line, or when the stream stops without success', async () => {
    const r = await managementRig();
    r.double.script({ path: '/api/pull', fault: { kind: 'stream-error', afterChunks: 4, error: 'registry timeout' } });
    await expect(drain(await r.client.pull({ model: 'smollm2:135m', stream: true }))).rejects.toThrow(
      'registry timeout',
    );
    r.double.script({ path: '/api/push', fault: { kind: 'no-done', afterChunks: 3 } });
    await expect(drain(await r.client.push({ model: 'llama3.2', stream: true }))).rejects.toThrow();
    const [pull, push] = r.telemetry.spans();
    expect(pull!.attributes['error.type']).toBe('Error');
    expect(pull!.status.message).toBe('registry timeout');
    expect(push!.name).toBe('ollama.push llama3.2');
    expect(push!.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('aborting a pull ends its span', async () => {
    const r = await managementRig();
    const stream = await r.client.pull({ model: 'smollm2:135m', stream: true });
    stream.abort();
    const [span] = r.telemetry.spans();
    expect(span!.attributes['error.type']).toBe('cancelled');
  });
});

describe('web search and fetch', () => {
  it('are spans to ollama.com:443 that record neither the query nor the URL', async () => {
    const { client, requests } = clientAnswering((url) =>
      Response.json(
        url.endsWith('/web_search')
          ? { results: [{ title: 'Ollama', url: 'https://ollama.com', content: 'Get up and running' }] }
          : { title: 'Ollama', url: 'https://ollama.com', content: 'Get up and running', links: [] },
      ),
    );
    const r = await managementRig();
    await client.webSearch({ query: 'my private question', maxResults: 1 });
    await client.webFetch({ url: 'https://example.com/private?token=abc' });
    expect(requests.map((request) => request.url)).toEqual([
      'https://ollama.com/api/web_search',
      'https://ollama.com/api/web_fetch',
    ]);
    const spans = r.telemetry.spans();
    expect(spans.map((span) => [span.name, span.attributes])).toEqual([
      [
        'ollama.web_search',
        { 'ollama.operation.name': 'web_search', 'server.address': 'ollama.com', 'server.port': 443 },
      ],
      [
        'ollama.web_fetch',
        { 'ollama.operation.name': 'web_fetch', 'server.address': 'ollama.com', 'server.port': 443 },
      ],
    ]);
    expect(JSON.stringify(spans.map((span) => span.attributes))).not.toMatch(/private|token/);
  });
});
