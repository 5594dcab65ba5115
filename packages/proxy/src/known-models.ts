/*
 * The models Ollama lists (`GET /api/tags`), so that real model names are recorded on metrics as they are and
 * made-up ones are bounded (see `MetricModelNames`). Fetched at start, every minute, and soon after a name that
 * is not listed shows up (a model pulled since), at most every ten seconds. Failures leave the last list.
 */
import type { MetricModelNames } from '@ollama-otel/instrumentation/internal';
import type { DiagLogger } from '@opentelemetry/api';
import type { Dispatcher } from 'undici';
import type { Upstream } from './upstream.js';

const REFRESH_MILLIS = 60_000;
const REFRESH_ON_MISS_MILLIS = 10_000;
const TAGS_TIMEOUT_MILLIS = 5_000;
const MAX_TAGS_BYTES = 4 * 1024 * 1024;

export class KnownModels {
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastRefresh = 0;
  private refreshing = false;

  constructor(
    private readonly pool: Dispatcher,
    private readonly upstream: Upstream,
    private readonly names: MetricModelNames,
    private readonly diag: DiagLogger,
  ) {}

  start(): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), REFRESH_MILLIS);
    this.timer.unref();
    this.names.whenUnknown(() => {
      if (Date.now() - this.lastRefresh >= REFRESH_ON_MISS_MILLIS) void this.refresh();
    });
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.names.whenUnknown(() => {});
  }

  async refresh(): Promise<void> {
    if (this.refreshing) return;
    this.refreshing = true;
    this.lastRefresh = Date.now();
    try {
      const response = await this.pool.request({
        path: `${this.upstream.basePath}/api/tags`,
        method: 'GET',
        headers: { host: this.upstream.hostHeader },
        headersTimeout: TAGS_TIMEOUT_MILLIS,
        bodyTimeout: TAGS_TIMEOUT_MILLIS,
      });
      const text = await readBounded(response.body);
      if (response.statusCode !== 200 || text === undefined) return;
      this.names.setKnown(modelNames(JSON.parse(text)));
    } catch (error) {
      this.diag.debug('proxy: could not list Ollama models (/api/tags)', error);
    } finally {
      this.refreshing = false;
    }
  }
}

async function readBounded(body: Dispatcher.ResponseData['body']): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_TAGS_BYTES) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function modelNames(tags: unknown): string[] {
  const models = (tags as { models?: unknown })?.models;
  if (!Array.isArray(models)) return [];
  const names: string[] = [];
  for (const model of models) {
    for (const field of ['name', 'model']) {
      const value = (model as Record<string, unknown>)?.[field];
      if (typeof value === 'string' && value !== '') names.push(value);
    }
  }
  return names;
}
