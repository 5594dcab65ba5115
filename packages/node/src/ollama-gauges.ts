/**
 * Ollama server gauges, from `GET /api/ps` and `GET /api/version` on the Ollama host.
 *
 * No timers: the server is polled lazily from the observable callback, i.e. at most once per metric collection,
 * and the answer is reused for `minIntervalMillis`. A poll has a time limit, uses its own short-lived connections
 * (nothing pooled; their sockets never keep the process alive) and runs with tracing suppressed. A failed poll reports
 * `ollama.up` 0; the first failure after success (or at start) is logged once through `diag`, and the recovery
 * once more. Nothing here throws into the SDK or the app.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  type Attributes,
  type BatchObservableCallback,
  type BatchObservableResult,
  context,
  diag,
  type Meter,
} from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import type { ResolvedServerMetrics } from './config.js';

export const METRIC_UP = 'ollama.up';
export const METRIC_MODEL_LOADED = 'ollama.model.loaded';
export const METRIC_MODEL_MEMORY_SIZE = 'ollama.model.memory.size';
export const METRIC_MODEL_MEMORY_VRAM = 'ollama.model.memory.vram';
export const METRIC_MODEL_EXPIRES_IN = 'ollama.model.expires_in';
export const METRIC_MODEL_CONTEXT_LENGTH = 'ollama.model.context_length';
export const METRIC_MODEL_LOADS = 'ollama.model.loads';
export const METRIC_MODEL_UNLOADS = 'ollama.model.unloads';

export const ATTR_OLLAMA_VERSION = 'ollama.version';
export const ATTR_MODEL_NAME = 'ollama.model.name';
export const ATTR_MODEL_FAMILY = 'ollama.model.family';
export const ATTR_MODEL_PARAMETER_SIZE = 'ollama.model.parameter_size';
export const ATTR_MODEL_QUANTIZATION_LEVEL = 'ollama.model.quantization_level';
export const ATTR_SERVER_ADDRESS = 'server.address';
export const ATTR_SERVER_PORT = 'server.port';

/** Answers larger than this are treated as a failed poll (a real `/api/ps` is a few KiB). */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** One loaded model, as `/api/ps` lists it. */
export interface RunningModel {
  name: string;
  digest: string;
  size: number | undefined;
  sizeVram: number | undefined;
  /** Epoch milliseconds, or undefined when absent or unparsable. */
  expiresAt: number | undefined;
  contextLength: number | undefined;
  family: string | undefined;
  parameterSize: string | undefined;
  quantizationLevel: string | undefined;
}

export interface ServerSnapshot {
  /** Increases with every poll that actually went to the server. */
  sequence: number;
  up: boolean;
  /** The version `/api/version` reported, else the last one known. */
  version: string | undefined;
  /** Loaded models; empty when the server is down. */
  models: RunningModel[];
  /** When the poll finished (epoch ms). */
  time: number;
}

export interface PollerOptions {
  baseUrl: string;
  timeoutMillis: number;
  minIntervalMillis: number;
  headers?: Record<string, string>;
  now?: () => number;
}

/** Polls the server, caches the answer for `minIntervalMillis`, shares one in-flight poll between callers. */
export class OllamaServerPoller {
  private readonly now: () => number;
  private last: ServerSnapshot | undefined;
  private inFlight: Promise<ServerSnapshot> | undefined;
  private sequence = 0;
  private version: string | undefined;
  /** undefined before the first poll; drives the log-once behaviour. */
  private reachable: boolean | undefined;

  constructor(private readonly options: PollerOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The latest snapshot, polling first if the cached one is older than the minimum interval. Never rejects. */
  snapshot(): Promise<ServerSnapshot> {
    const last = this.last;
    if (last !== undefined && this.now() - last.time < this.options.minIntervalMillis) return Promise.resolve(last);
    if (this.inFlight === undefined) {
      this.inFlight = this.poll().finally(() => {
        this.inFlight = undefined;
      });
    }
    return this.inFlight;
  }

  private async poll(): Promise<ServerSnapshot> {
    let up = false;
    let models: RunningModel[] = [];
    try {
      const [ps, version] = await context.with(suppressTracing(context.active()), () =>
        Promise.allSettled([this.getJson('/api/ps'), this.getJson('/api/version')]),
      );
      if (ps.status === 'rejected') throw ps.reason;
      models = parseRunningModels(ps.value);
      up = true;
      if (version.status === 'fulfilled') {
        const reported = (version.value as { version?: unknown } | null)?.version;
        if (typeof reported === 'string' && reported !== '') this.version = reported;
      }
      if (this.reachable === false)
        diag.info(`@ollama-otel/node: Ollama server at ${this.options.baseUrl} is reachable again`);
      this.reachable = true;
    } catch (err) {
      if (this.reachable !== false) {
        diag.warn(
          `@ollama-otel/node: cannot read ${this.options.baseUrl}/api/ps (${describeError(err)}); ` +
            'reporting ollama.up = 0 until it answers (logged once)',
        );
      }
      this.reachable = false;
    }
    this.sequence += 1;
    this.last = { sequence: this.sequence, up, version: this.version, models, time: this.now() };
    return this.last;
  }

  private getJson(path: string): Promise<unknown> {
    const url = new URL(this.options.baseUrl + path);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const timeoutMillis = this.options.timeoutMillis;
    return new Promise((resolve, reject) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const req = request(
        url,
        { method: 'GET', agent: false, headers: { Accept: 'application/json', ...this.options.headers } },
        (res: IncomingMessage) => {
          if (res.statusCode !== 200) {
            res.resume();
            finish(new Error(`HTTP ${res.statusCode}`));
            return;
          }
          const chunks: Buffer[] = [];
          let bytes = 0;
          res.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            if (bytes > MAX_BODY_BYTES) finish(new Error('answer too large'));
            else chunks.push(chunk);
          });
          res.on('end', () => {
            let value: unknown;
            try {
              value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              finish(new Error('answer is not JSON'));
              return;
            }
            finish(undefined, value);
          });
          res.on('error', (err) => finish(err));
        },
      );
      function finish(err: Error | undefined, value?: unknown): void {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) {
          req.destroy();
          reject(err);
        } else {
          resolve(value);
        }
      }
      timer = setTimeout(() => finish(new Error(`no answer within ${timeoutMillis} ms`)), timeoutMillis);
      timer.unref();
      // A poll in flight never keeps a finished app alive (a shutdown flush keeps it alive while it waits).
      req.on('socket', (socket) => socket.unref());
      req.on('error', (err) => finish(err));
      req.end();
    });
  }
}

/** Reads `/api/ps`'s `models` array; entries without a name are skipped. Throws when the shape is wrong. */
export function parseRunningModels(body: unknown): RunningModel[] {
  const list = (body as { models?: unknown } | null)?.models;
  if (list === null || list === undefined) return [];
  if (!Array.isArray(list)) throw new Error('/api/ps answer has no models list');
  const models: RunningModel[] = [];
  for (const entry of list) {
    if (entry === null || typeof entry !== 'object') continue;
    const e = entry as Record<string, unknown>;
    const name = str(e.name) ?? str(e.model);
    if (name === undefined) continue;
    const details = (e.details !== null && typeof e.details === 'object' ? e.details : {}) as Record<string, unknown>;
    const expires = str(e.expires_at);
    const expiresAt = expires === undefined ? undefined : Date.parse(expires);
    models.push({
      name,
      digest: str(e.digest) ?? '',
      size: num(e.size),
      sizeVram: num(e.size_vram),
      expiresAt: expiresAt !== undefined && Number.isFinite(expiresAt) ? expiresAt : undefined,
      contextLength: num(e.context_length),
      family: str(details.family),
      parameterSize: str(details.parameter_size),
      quantizationLevel: str(details.quantization_level),
    });
  }
  return models;
}

interface TrackedModel {
  attributes: Attributes;
  loads: number;
  unloads: number;
  /** The `/api/ps` entry while loaded, else undefined. */
  current: RunningModel | undefined;
  /** name + digest of the loaded instance, to see a reload of a changed model. */
  identity: string | undefined;
}

/**
 * Remembers every model seen (a low number: the models on one server) and counts loads and unloads from the
 * differences between consecutive successful polls. The models listed by the first successful poll are the
 * baseline and do not count as loads. While the server is down the last known list is kept, so models missing
 * when it answers again count as unloaded.
 */
export class ModelTracker {
  private readonly models = new Map<string, TrackedModel>();
  private baselineTaken = false;
  private lastSequence = -1;

  constructor(private readonly serverAttributes: Attributes) {}

  update(snapshot: ServerSnapshot): void {
    if (snapshot.sequence === this.lastSequence) return;
    this.lastSequence = snapshot.sequence;
    if (!snapshot.up) return;

    const seen = new Set<string>();
    for (const model of snapshot.models) {
      const key = seriesKey(model);
      seen.add(key);
      let tracked = this.models.get(key);
      if (tracked === undefined) {
        tracked = {
          attributes: this.modelAttributes(model),
          loads: 0,
          unloads: 0,
          current: undefined,
          identity: undefined,
        };
        this.models.set(key, tracked);
      }
      const identity = `${model.name}@${model.digest}`;
      if (tracked.identity === undefined) {
        if (this.baselineTaken) tracked.loads += 1;
      } else if (tracked.identity !== identity) {
        tracked.unloads += 1;
        tracked.loads += 1;
      }
      tracked.identity = identity;
      tracked.current = model;
    }
    for (const [key, tracked] of this.models) {
      if (!seen.has(key) && tracked.identity !== undefined) {
        tracked.unloads += 1;
        tracked.identity = undefined;
        tracked.current = undefined;
      }
    }
    this.baselineTaken = true;
  }

  /** Every model seen so far; `current` is set for those loaded at the last successful poll. */
  tracked(): Iterable<TrackedModel> {
    return this.models.values();
  }

  private modelAttributes(model: RunningModel): Attributes {
    const attributes: Attributes = { [ATTR_MODEL_NAME]: model.name };
    if (model.family !== undefined) attributes[ATTR_MODEL_FAMILY] = model.family;
    if (model.parameterSize !== undefined) attributes[ATTR_MODEL_PARAMETER_SIZE] = model.parameterSize;
    if (model.quantizationLevel !== undefined) attributes[ATTR_MODEL_QUANTIZATION_LEVEL] = model.quantizationLevel;
    return { ...attributes, ...this.serverAttributes };
  }
}

function seriesKey(model: RunningModel): string {
  return JSON.stringify([model.name, model.family, model.parameterSize, model.quantizationLevel]);
}

export interface OllamaServerMetrics {
  /** One poller per server, in the order of `config.servers`. */
  readonly pollers: readonly OllamaServerPoller[];
  /** Removes the callback; the instruments stop reporting. */
  stop(): void;
}

/** What is known about one polled server between collections. */
interface ServerState {
  baseUrl: string;
  attributes: Attributes;
  poller: OllamaServerPoller;
  tracker: ModelTracker;
  /** Every version seen: a replaced one keeps reporting 0 (its series cannot be dropped under cumulative export). */
  versions: Set<string>;
}

/**
 * Creates the gauges and counters on `meter` and one batch callback that polls every server of `config.servers`
 * (cached, concurrently) and observes them all, each series with its server's `server.address` and `server.port`.
 *
 * `ollama.up` carries the server version (the last one known while the server is down, so an outage does not
 * split the series). After an upgrade the previous version's series reports 0: with cumulative temporality the
 * SDK keeps exporting every attribute set it has seen, so it is better to say 0 than to repeat a stale 1.
 *
 * Per-model series, for the same reason: while a model is loaded its values are reported; after it is unloaded
 * (or while the server is down) `ollama.model.loaded`, the memory gauges and `expires_in` report 0 for it, so
 * sums over models stay right. `context_length` keeps its last value.
 */
export function registerOllamaServerMetrics(
  meter: Meter,
  config: ResolvedServerMetrics,
  now: () => number = Date.now,
): OllamaServerMetrics {
  const states: ServerState[] = config.servers.map((server) => {
    const attributes: Attributes = { [ATTR_SERVER_ADDRESS]: server.address, [ATTR_SERVER_PORT]: server.port };
    const poller = new OllamaServerPoller({
      baseUrl: server.baseUrl,
      timeoutMillis: config.timeoutMillis,
      minIntervalMillis: config.minIntervalMillis,
      headers: config.headers,
      now,
    });
    return {
      baseUrl: server.baseUrl,
      attributes,
      poller,
      tracker: new ModelTracker(attributes),
      versions: new Set<string>(),
    };
  });
  const up = meter.createObservableGauge(METRIC_UP, {
    description: 'Whether the Ollama server answered GET /api/ps at the last poll (1) or not (0)',
    unit: '{status}',
  });
  const loaded = meter.createObservableGauge(METRIC_MODEL_LOADED, {
    description: 'Whether the model is loaded on the Ollama server (1) or not any more (0)',
    unit: '{model}',
  });
  const memorySize = meter.createObservableGauge(METRIC_MODEL_MEMORY_SIZE, {
    description: 'Memory the loaded model takes (RAM and VRAM together)',
    unit: 'By',
  });
  const memoryVram = meter.createObservableGauge(METRIC_MODEL_MEMORY_VRAM, {
    description: 'GPU memory the loaded model takes',
    unit: 'By',
  });
  const expiresIn = meter.createObservableGauge(METRIC_MODEL_EXPIRES_IN, {
    description: 'Seconds until the Ollama server unloads the model (keep_alive)',
    unit: 's',
  });
  const contextLength = meter.createObservableGauge(METRIC_MODEL_CONTEXT_LENGTH, {
    description: 'Context length the model is loaded with',
    unit: '{token}',
  });
  const loads = meter.createObservableCounter(METRIC_MODEL_LOADS, {
    description: 'Model loads seen between polls of GET /api/ps',
    unit: '{event}',
  });
  const unloads = meter.createObservableCounter(METRIC_MODEL_UNLOADS, {
    description: 'Model unloads seen between polls of GET /api/ps',
    unit: '{event}',
  });
  const observables = [up, loaded, memorySize, memoryVram, expiresIn, contextLength, loads, unloads];

  const observeServer = (result: BatchObservableResult, state: ServerState, snapshot: ServerSnapshot): void => {
    state.tracker.update(snapshot);
    if (snapshot.version === undefined) {
      result.observe(up, snapshot.up ? 1 : 0, state.attributes);
    } else {
      state.versions.add(snapshot.version);
      for (const version of state.versions) {
        const current = version === snapshot.version;
        result.observe(up, current && snapshot.up ? 1 : 0, { ...state.attributes, [ATTR_OLLAMA_VERSION]: version });
      }
    }
    const at = now();
    for (const model of state.tracker.tracked()) {
      const current = snapshot.up ? model.current : undefined;
      result.observe(loaded, current ? 1 : 0, model.attributes);
      result.observe(memorySize, current?.size ?? 0, model.attributes);
      result.observe(memoryVram, current?.sizeVram ?? 0, model.attributes);
      const expires = current?.expiresAt;
      result.observe(expiresIn, expires === undefined ? 0 : Math.max(0, (expires - at) / 1000), model.attributes);
      if (current?.contextLength !== undefined) result.observe(contextLength, current.contextLength, model.attributes);
      result.observe(loads, model.loads, model.attributes);
      result.observe(unloads, model.unloads, model.attributes);
    }
  };

  const callback: BatchObservableCallback = async (result) => {
    // One slow or failing server must not hold back or hide the others: each is polled with its own time limit.
    await Promise.all(
      states.map(async (state) => {
        try {
          observeServer(result, state, await state.poller.snapshot());
        } catch (err) {
          diag.debug(`@ollama-otel/node: observing the Ollama server gauges of ${state.baseUrl} failed`, err);
        }
      }),
    );
  };
  meter.addBatchObservableCallback(callback, observables);
  return {
    pollers: states.map((s) => s.poller),
    stop: () => {
      try {
        meter.removeBatchObservableCallback(callback, observables);
      } catch (err) {
        diag.debug('@ollama-otel/node: removing the Ollama server callback failed', err);
      }
    },
  };
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
