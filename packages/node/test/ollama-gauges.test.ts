import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { type Attributes, type DiagLogger, DiagLogLevel, diag } from '@opentelemetry/api';
import { type DataPoint, DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { Ollama } from 'ollama';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ResolvedServerMetrics } from '../src/config.js';
import {
  ModelTracker,
  type OllamaServerMetrics,
  OllamaServerPoller,
  parseRunningModels,
  registerOllamaServerMetrics,
  type ServerSnapshot,
} from '../src/ollama-gauges.js';

class TestReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

interface Collected {
  unit: string;
  type: string;
  points: { attributes: Attributes; value: number }[];
}

/** Collects once and returns the metrics by name. */
async function collect(reader: MetricReader): Promise<Map<string, Collected>> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  const byName = new Map<string, Collected>();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      byName.set(metric.descriptor.name, {
        unit: metric.descriptor.unit,
        type:
          metric.dataPointType === DataPointType.GAUGE
            ? 'gauge'
            : metric.dataPointType === DataPointType.SUM && metric.isMonotonic
              ? 'counter'
              : 'other',
        points: (metric.dataPoints as DataPoint<number>[]).map((p) => ({ attributes: p.attributes, value: p.value })),
      });
    }
  }
  return byName;
}

function value(metrics: Map<string, Collected>, name: string, where: Attributes = {}): number | undefined {
  return metrics.get(name)?.points.find((p) => Object.entries(where).every(([k, v]) => p.attributes[k] === v))?.value;
}

/** Captures what reaches the diag logger. */
function captureDiag(): { messages: { level: string; text: string }[]; restore: () => void } {
  const messages: { level: string; text: string }[] = [];
  const logger = Object.fromEntries(
    (['error', 'warn', 'info', 'debug', 'verbose'] as const).map((level) => [
      level,
      (text: string) => messages.push({ level, text }),
    ]),
  ) as unknown as DiagLogger;
  diag.setLogger(logger, { logLevel: DiagLogLevel.INFO, suppressOverrideMessage: true });
  return { messages, restore: () => diag.disable() };
}

function settings(double: { port: number }, overrides: Partial<ResolvedServerMetrics> = {}): ResolvedServerMetrics {
  const server = { baseUrl: `http://127.0.0.1:${double.port}`, address: '127.0.0.1', port: double.port };
  return {
    ...server,
    servers: [server],
    minIntervalMillis: 0,
    timeoutMillis: 1000,
    headers: {},
    ...overrides,
  };
}

describe('Ollama server gauges against the test double', () => {
  let double: OllamaDouble;
  let client: Ollama;
  let reader: TestReader;
  let provider: MeterProvider;
  let gauges: OllamaServerMetrics;
  let log: ReturnType<typeof captureDiag>;

  beforeAll(async () => {
    double = await startOllamaDouble({ version: '0.13.5' });
    client = new Ollama({ host: double.url });
  });
  afterAll(async () => {
    await double.close();
  });

  beforeEach(() => {
    double.reset();
    log = captureDiag();
    reader = new TestReader();
    provider = new MeterProvider({ readers: [reader] });
    gauges = registerOllamaServerMetrics(provider.getMeter('test'), settings(double));
  });
  afterEach(async () => {
    gauges.stop();
    await provider.shutdown();
    log.restore();
  });

  it('reports ollama.up = 1 with the server version, server.address and server.port', async () => {
    const metrics = await collect(reader);
    expect(metrics.get('ollama.up')).toEqual({
      unit: '{status}',
      type: 'gauge',
      points: [
        {
          attributes: { 'server.address': '127.0.0.1', 'server.port': double.port, 'ollama.version': '0.13.5' },
          value: 1,
        },
      ],
    });
  });

  it('reports a model after a call loads it, and counts the load', async () => {
    await collect(reader); // baseline: nothing loaded
    await client.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
    const metrics = await collect(reader);
    const model = { 'ollama.model.name': 'llama3.2:latest' };
    const point = metrics.get('ollama.model.loaded')?.points[0];
    expect(point?.attributes).toEqual({
      'ollama.model.name': 'llama3.2:latest',
      'ollama.model.family': 'llama',
      'ollama.model.parameter_size': expect.any(String),
      'ollama.model.quantization_level': expect.any(String),
      'server.address': '127.0.0.1',
      'server.port': double.port,
    });
    expect(value(metrics, 'ollama.model.loaded', model)).toBe(1);
    expect(value(metrics, 'ollama.model.memory.size', model)).toBeGreaterThan(0);
    expect(value(metrics, 'ollama.model.memory.vram', model)).toBeGreaterThan(0);
    expect(value(metrics, 'ollama.model.context_length', model)).toBeGreaterThan(0);
    const expiresIn = value(metrics, 'ollama.model.expires_in', model) ?? 0;
    expect(expiresIn).toBeGreaterThan(290); // default keep_alive is 5 minutes
    expect(expiresIn).toBeLessThanOrEqual(300);
    expect(value(metrics, 'ollama.model.loads', model)).toBe(1);
    expect(value(metrics, 'ollama.model.unloads', model)).toBe(0);
    expect(metrics.get('ollama.model.memory.size')?.unit).toBe('By');
    expect(metrics.get('ollama.model.expires_in')?.unit).toBe('s');
    expect(metrics.get('ollama.model.loaded')?.unit).toBe('{model}');
    expect(metrics.get('ollama.model.context_length')?.unit).toBe('{token}');
    expect(metrics.get('ollama.model.loads')).toMatchObject({ unit: '{event}', type: 'counter' });
  });

  it('counts an unload (keep_alive 0) and reports the model as not loaded', async () => {
    await collect(reader);
    await client.embed({ model: 'all-minilm', input: 'x' });
    await collect(reader);
    await client.embed({ model: 'all-minilm', input: [], keep_alive: 0 });
    const metrics = await collect(reader);
    const model = { 'ollama.model.name': 'all-minilm:latest' };
    expect(value(metrics, 'ollama.model.loaded', model)).toBe(0);
    expect(value(metrics, 'ollama.model.memory.size', model)).toBe(0);
    expect(value(metrics, 'ollama.model.memory.vram', model)).toBe(0);
    expect(value(metrics, 'ollama.model.loads', model)).toBe(1);
    expect(value(metrics, 'ollama.model.unloads', model)).toBe(1);

    await client.embed({ model: 'all-minilm', input: 'again' });
    const reloaded = await collect(reader);
    expect(value(reloaded, 'ollama.model.loaded', model)).toBe(1);
    expect(value(reloaded, 'ollama.model.loads', model)).toBe(2);
  });

  it('counts the unload of a chat model by generate with an empty prompt and keep_alive 0', async () => {
    await collect(reader);
    await client.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
    await collect(reader);
    await client.generate({ model: 'llama3.2', prompt: '', keep_alive: 0 });
    const metrics = await collect(reader);
    const model = { 'ollama.model.name': 'llama3.2:latest' };
    expect(value(metrics, 'ollama.model.loaded', model)).toBe(0);
    expect(value(metrics, 'ollama.model.expires_in', model)).toBe(0);
    expect([value(metrics, 'ollama.model.loads', model), value(metrics, 'ollama.model.unloads', model)]).toEqual([
      1, 1,
    ]);
  });

  it('does not count models already loaded at the first poll as loads', async () => {
    await client.chat({ model: 'qwen3', messages: [{ role: 'user', content: 'hi' }] });
    const metrics = await collect(reader);
    const model = { 'ollama.model.name': 'qwen3:latest' };
    expect(value(metrics, 'ollama.model.loaded', model)).toBe(1);
    expect(value(metrics, 'ollama.model.loads', model)).toBe(0);
  });

  it('asks the server at most once per minimum interval', async () => {
    gauges.stop();
    let now = 1_000_000;
    gauges = registerOllamaServerMetrics(
      provider.getMeter('cached'),
      settings(double, { minIntervalMillis: 15_000 }),
      () => now,
    );
    double.clearRequests();
    await collect(reader);
    await collect(reader);
    now += 14_999;
    await collect(reader);
    const psCalls = () => double.requests.filter((r) => r.path === '/api/ps').length;
    expect(psCalls()).toBe(1);
    now += 1;
    await collect(reader);
    expect(psCalls()).toBe(2);
  });

  it('shares one in-flight poll between concurrent callers', async () => {
    const poller = new OllamaServerPoller({ baseUrl: double.url, timeoutMillis: 1000, minIntervalMillis: 0 });
    double.clearRequests();
    const [a, b] = await Promise.all([poller.snapshot(), poller.snapshot()]);
    expect(a).toBe(b);
    expect(double.requests.filter((r) => r.path === '/api/ps')).toHaveLength(1);
  });

  it('sends the configured headers (OLLAMA_API_KEY)', async () => {
    const poller = new OllamaServerPoller({
      baseUrl: double.url,
      timeoutMillis: 1000,
      minIntervalMillis: 0,
      headers: { Authorization: 'Bearer k' },
    });
    double.clearRequests();
    await poller.snapshot();
    expect(double.requests.find((r) => r.path === '/api/ps')?.headers.authorization).toBe('Bearer k');
  });
});

describe('Ollama server going away and coming back', () => {
  it('reports up = 0 while it is gone, logs once, counts unloads on return, logs the recovery once', async () => {
    let double = await startOllamaDouble({ version: '0.13.5' });
    const port = double.port;
    const log = captureDiag();
    const reader = new TestReader();
    const provider = new MeterProvider({ readers: [reader] });
    const gauges = registerOllamaServerMetrics(provider.getMeter('test'), settings(double));
    try {
      await collect(reader);
      await new Ollama({ host: double.url }).chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
      let metrics = await collect(reader);
      const model = { 'ollama.model.name': 'llama3.2:latest' };
      expect(value(metrics, 'ollama.model.loaded', model)).toBe(1);

      await double.close();
      for (let i = 0; i < 5; i++) metrics = await collect(reader);
      // the version stays on the series, so up keeps one series across the outage
      expect(metrics.get('ollama.up')?.points).toEqual([
        { attributes: { 'server.address': '127.0.0.1', 'server.port': port, 'ollama.version': '0.13.5' }, value: 0 },
      ]);
      expect(value(metrics, 'ollama.model.loaded', model)).toBe(0);
      expect(value(metrics, 'ollama.model.memory.vram', model)).toBe(0);
      const warnings = log.messages.filter((m) => m.level === 'warn');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.text).toMatch(/cannot read http:\/\/127\.0\.0\.1:\d+\/api\/ps \(ECONNREFUSED/);

      double = await startOllamaDouble({ port, version: '0.14.0' }); // restarted: nothing loaded, newer version
      metrics = await collect(reader);
      await collect(reader);
      expect(value(metrics, 'ollama.up', { 'ollama.version': '0.14.0' })).toBe(1);
      expect(value(metrics, 'ollama.up', { 'ollama.version': '0.13.5' })).toBe(0);
      expect(metrics.get('ollama.up')?.points).toHaveLength(2);
      expect(value(metrics, 'ollama.model.loaded', model)).toBe(0);
      expect(value(metrics, 'ollama.model.unloads', model)).toBe(1);
      expect(log.messages.filter((m) => m.level === 'info' && m.text.includes('reachable again'))).toHaveLength(1);
      expect(log.messages.filter((m) => m.level === 'warn')).toHaveLength(1);
    } finally {
      gauges.stop();
      await provider.shutdown();
      await double.close();
      log.restore();
    }
  });

  it('never waits longer than the timeout for a server that does not answer', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer(() => {
      /* never answers */
    });
    silent.on('connection', (s: Socket) => sockets.add(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    const log = captureDiag();
    try {
      const poller = new OllamaServerPoller({
        baseUrl: `http://127.0.0.1:${port}`,
        timeoutMillis: 200,
        minIntervalMillis: 0,
      });
      const started = Date.now();
      const snapshot = await poller.snapshot();
      expect(Date.now() - started).toBeLessThan(1500);
      expect(snapshot.up).toBe(false);
      expect(log.messages.find((m) => m.level === 'warn')?.text).toMatch(/no answer within 200 ms/);
    } finally {
      log.restore();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it.each([
    ['a non-JSON answer', (res: import('node:http').ServerResponse) => res.end('<html>proxy error</html>'), /not JSON/],
    ['an HTTP error', (res: import('node:http').ServerResponse) => res.writeHead(502).end(), /HTTP 502/],
    ['a wrong shape', (res: import('node:http').ServerResponse) => res.end('{"models": 42}'), /no models list/],
  ])('treats %s as down, without throwing', async (_what, answer, message) => {
    const odd = createServer((_req, res) => answer(res));
    await new Promise<void>((resolve) => odd.listen(0, '127.0.0.1', resolve));
    const port = (odd.address() as AddressInfo).port;
    const log = captureDiag();
    try {
      const reader = new TestReader();
      const provider = new MeterProvider({ readers: [reader] });
      registerOllamaServerMetrics(provider.getMeter('odd'), settings({ port }));
      const metrics = await collect(reader);
      expect(value(metrics, 'ollama.up')).toBe(0);
      expect(log.messages.find((m) => m.level === 'warn')?.text).toMatch(message);
      await provider.shutdown();
    } finally {
      log.restore();
      await new Promise<void>((resolve) => odd.close(() => resolve()));
    }
  });
});

describe('parseRunningModels', () => {
  it('reads the /api/ps entry, tolerating missing fields and nanosecond timestamps', () => {
    const models = parseRunningModels({
      models: [
        {
          name: 'llama3.2:latest',
          model: 'llama3.2:latest',
          size: 3_000,
          size_vram: 2_000,
          digest: 'abc',
          details: { family: 'llama', parameter_size: '3.2B', quantization_level: 'Q4_K_M' },
          expires_at: '2030-01-02T03:04:05.123456789-07:00',
          context_length: 4096,
        },
        { model: 'only-model-field' },
        { size: 1 },
        null,
      ],
    });
    expect(models).toEqual([
      {
        name: 'llama3.2:latest',
        digest: 'abc',
        size: 3_000,
        sizeVram: 2_000,
        expiresAt: Date.parse('2030-01-02T10:04:05.123Z'),
        contextLength: 4096,
        family: 'llama',
        parameterSize: '3.2B',
        quantizationLevel: 'Q4_K_M',
      },
      {
        name: 'only-model-field',
        digest: '',
        size: undefined,
        sizeVram: undefined,
        expiresAt: undefined,
        contextLength: undefined,
        family: undefined,
        parameterSize: undefined,
        quantizationLevel: undefined,
      },
    ]);
    expect(parseRunningModels({ models: null })).toEqual([]);
    expect(parseRunningModels({})).toEqual([]);
  });
});

describe('ModelTracker', () => {
  const snapshot = (sequence: number, up: boolean, models: [string, string][]): ServerSnapshot => ({
    sequence,
    up,
    version: '1',
    time: 0,
    models: models.map(([name, digest]) => ({
      name,
      digest,
      size: 1,
      sizeVram: 1,
      expiresAt: undefined,
      contextLength: undefined,
      family: undefined,
      parameterSize: undefined,
      quantizationLevel: undefined,
    })),
  });
  const counts = (tracker: ModelTracker) =>
    Object.fromEntries(
      [...tracker.tracked()].map((m) => [m.attributes['ollama.model.name'], [m.loads, m.unloads, m.current ? 1 : 0]]),
    );

  it('counts each change once per poll, a changed digest as unload + load, and ignores repeated snapshots', () => {
    const tracker = new ModelTracker({});
    tracker.update(snapshot(1, true, [['a', 'd1']]));
    tracker.update(snapshot(2, true, [['b', 'd1']]));
    tracker.update(snapshot(2, true, [['b', 'd1']])); // same poll seen by a second reader
    expect(counts(tracker)).toEqual({ a: [0, 1, 0], b: [1, 0, 1] });
    tracker.update(snapshot(3, true, [['b', 'd2']]));
    expect(counts(tracker)).toEqual({ a: [0, 1, 0], b: [2, 1, 1] });
    tracker.update(snapshot(4, false, []));
    expect(counts(tracker)).toEqual({ a: [0, 1, 0], b: [2, 1, 1] });
    tracker.update(snapshot(5, true, []));
    expect(counts(tracker)).toEqual({ a: [0, 1, 0], b: [2, 2, 0] });
  });
});

describe('several Ollama servers (ollamaServerMetrics.hosts)', () => {
  it('labels every series with its server, and one server down does not hide the others', async () => {
    const doubles = [await startOllamaDouble({ version: '0.13.5' }), await startOllamaDouble({ version: '0.12.0' })];
    const gone = await startOllamaDouble({ version: '0.13.5' });
    const goneServer = { baseUrl: gone.url, address: '127.0.0.1', port: gone.port };
    await gone.close();
    const servers = [...doubles.map((d) => ({ baseUrl: d.url, address: '127.0.0.1', port: d.port })), goneServer];
    const reader = new TestReader();
    const provider = new MeterProvider({ readers: [reader] });
    const log = captureDiag();
    const gauges = registerOllamaServerMetrics(provider.getMeter('test'), {
      ...settings(doubles[0] as OllamaDouble),
      servers,
    });
    try {
      await new Ollama({ host: doubles[1]?.url }).chat({ model: 'qwen3', messages: [{ role: 'user', content: 'hi' }] });
      const metrics = await collect(reader);
      const up = metrics.get('ollama.up')?.points.map((p) => [p.attributes['server.port'], p.value]);
      expect(up).toEqual(
        expect.arrayContaining([
          [doubles[0]?.port, 1],
          [doubles[1]?.port, 1],
          [gone.port, 0],
        ]),
      );
      expect(up).toHaveLength(3);
      const loaded = metrics.get('ollama.model.loaded')?.points ?? [];
      expect(loaded.map((p) => [p.attributes['server.port'], p.attributes['ollama.model.name'], p.value])).toEqual([
        [doubles[1]?.port, 'qwen3:latest', 1],
      ]);
      expect(value(metrics, 'ollama.up', { 'server.port': doubles[1]?.port })).toBe(1);
      expect(
        metrics.get('ollama.up')?.points.find((p) => p.attributes['server.port'] === doubles[1]?.port)?.attributes,
      ).toMatchObject({ 'ollama.version': '0.12.0' });
    } finally {
      gauges.stop();
      await provider.shutdown();
      log.restore();
      await Promise.all(doubles.map((d) => d.close()));
    }
  });
});
