import { elapsedNs, nowNs, sleep } from './clock.js';
import { canonicalModelName, cloneModel, type DoubleModel, MODELS } from './models.js';

/** A model loaded in (simulated) memory, until `expiresAt` (ms since epoch). */
export interface RunningModel {
  model: DoubleModel;
  expiresAt: Date;
}

/**
 * The double's model state: the catalog (`/api/tags`, changed by pull/create/copy/delete) and the loaded models
 * (`/api/ps`). Loading a model that is not loaded takes `coldLoadMs` of real time; concurrent requests share one load.
 */
export class ModelRegistry {
  private readonly catalog = new Map<string, DoubleModel>();
  private readonly loaded = new Map<string, number>();
  private readonly loading = new Map<string, Promise<void>>();
  private readonly disposed = new AbortController();

  constructor(private readonly coldLoadMs: number) {
    this.reset();
  }

  reset(): void {
    this.catalog.clear();
    this.loaded.clear();
    this.loading.clear();
    for (const model of MODELS) this.catalog.set(model.name, cloneModel(model));
  }

  dispose(): void {
    this.disposed.abort();
  }

  find(name: unknown): DoubleModel | undefined {
    if (typeof name !== 'string' || name.trim() === '') return undefined;
    return this.catalog.get(canonicalModelName(name));
  }

  list(): DoubleModel[] {
    return [...this.catalog.values()];
  }

  add(model: DoubleModel): void {
    this.catalog.set(model.name, model);
  }

  remove(name: string): boolean {
    const key = canonicalModelName(name);
    this.loaded.delete(key);
    return this.catalog.delete(key);
  }

  /** Loads the model if needed; resolves with the real nanoseconds spent (never 0). */
  async load(model: DoubleModel, signal?: AbortSignal): Promise<number> {
    const start = nowNs();
    if (!this.isLoaded(model.name)) {
      let pending = this.loading.get(model.name);
      if (!pending) {
        pending = this.coldLoad(model.name);
        this.loading.set(model.name, pending);
      }
      await raceAbort(pending, signal);
    }
    return elapsedNs(start);
  }

  private async coldLoad(name: string): Promise<void> {
    try {
      await sleep(this.coldLoadMs, this.disposed.signal);
      this.loaded.set(name, Date.now() + 5 * 60_000);
    } finally {
      this.loading.delete(name);
    }
  }

  isLoaded(name: string): boolean {
    const expiresAt = this.loaded.get(canonicalModelName(name));
    return expiresAt !== undefined && expiresAt > Date.now();
  }

  /** Sets when the model unloads: now + keep_alive. A keep_alive of 0 unloads it now. */
  keepLoaded(name: string, keepAliveMs: number): void {
    const key = canonicalModelName(name);
    if (keepAliveMs <= 0) this.loaded.delete(key);
    else this.loaded.set(key, Date.now() + keepAliveMs);
  }

  unload(name: string): void {
    this.loaded.delete(canonicalModelName(name));
  }

  /** What `/api/ps` lists: unexpired loaded models, latest expiry first. */
  running(): RunningModel[] {
    const now = Date.now();
    const running: RunningModel[] = [];
    for (const [name, expiresAt] of this.loaded) {
      const model = this.catalog.get(name);
      if (expiresAt <= now || !model) {
        this.loaded.delete(name);
        continue;
      }
      running.push({ model, expiresAt: new Date(expiresAt) });
    }
    return running.sort((a, b) => b.expiresAt.getTime() - a.expiresAt.getTime());
  }
}

function raceAbort<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
