import {
  InstrumentationBase,
  InstrumentationNodeModuleDefinition,
  InstrumentationNodeModuleFile,
  isWrapped,
} from '@opentelemetry/instrumentation';
import { GenAiInstruments } from './metrics.js';
import type { ObservationHost } from './observation.js';
import { OBSERVED_OPERATIONS } from './operations.js';
import { createOperationWrapper } from './patch.js';
import { resolveSettings, type Settings } from './settings.js';
import { findClientPrototype } from './targets.js';
import type { OllamaInstrumentationConfig } from './types.js';
import { PACKAGE_NAME, PACKAGE_VERSION } from './version.js';

const SUPPORTED_VERSIONS = ['>=0.5.0 <1'];
const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 300_000;
/** Marks a patched client prototype with its owner; shared by every copy of this package in the process. */
const PATCHED_BY = Symbol.for('@ollama-otel/instrumentation.patched-by');

type ClientPrototype = Record<PropertyKey, unknown>;

/**
 * OpenTelemetry instrumentation for the `ollama` client (ollama-js): GenAI semantic-convention spans and metrics
 * for `chat`, `generate`, `embed` and `embeddings`, and `ollama.*` spans for model-management calls. Register it
 * with `NodeSDK({ instrumentations })` or `registerInstrumentations()` before `ollama` is loaded; without loader
 * hooks, use `instrumentOllama()`.
 */
export class OllamaInstrumentation extends InstrumentationBase<OllamaInstrumentationConfig> {
  // `declare`: the base constructor calls _updateMetricInstruments() before field initialisers would run.
  declare private _instruments: GenAiInstruments;
  declare private _host: ObservationHost | undefined;

  constructor(config: OllamaInstrumentationConfig = {}) {
    super(PACKAGE_NAME, PACKAGE_VERSION, config);
  }

  protected init(): InstrumentationNodeModuleDefinition[] {
    const patch = (moduleExports: unknown) => {
      this._patchExports(moduleExports);
      return moduleExports;
    };
    const unpatch = (moduleExports: unknown) => this._unpatchExports(moduleExports);
    // The base class lives in dist/browser.{cjs,mjs} (>= 0.5.12) and is reached from every entry point;
    // older versions keep it in a hashed shared chunk, which the main entry's prototype chain still reaches.
    return [
      new InstrumentationNodeModuleDefinition('ollama', SUPPORTED_VERSIONS, patch, unpatch, [
        new InstrumentationNodeModuleFile('ollama/dist/browser.cjs', SUPPORTED_VERSIONS, patch, unpatch),
        new InstrumentationNodeModuleFile('ollama/dist/browser.mjs', SUPPORTED_VERSIONS, patch, unpatch),
      ]),
    ];
  }

  protected override _updateMetricInstruments(): void {
    this._instruments = new GenAiInstruments(this.meter);
  }

  /**
   * Patches the client class behind `target` (module, class or instance) and returns how to undo it.
   * @internal Used by `instrumentOllama()`.
   */
  _instrumentTarget(target: unknown): () => void {
    const proto = findClientPrototype(target);
    if (proto === undefined) {
      throw new TypeError(
        'instrumentOllama(): expected the `ollama` module, its `Ollama` class or an `Ollama` instance, got ' +
          describe(target),
      );
    }
    return this._patchPrototype(proto as ClientPrototype)
      ? () => this._unpatchPrototype(proto as ClientPrototype)
      : () => {};
  }

  private _patchExports(moduleExports: unknown): void {
    const proto = findClientPrototype(moduleExports);
    if (proto === undefined) {
      this._diag.warn('no Ollama client class found in the loaded `ollama` module; nothing instrumented');
      return;
    }
    this._patchPrototype(proto as ClientPrototype);
  }

  private _unpatchExports(moduleExports: unknown): void {
    const proto = findClientPrototype(moduleExports);
    if (proto !== undefined) this._unpatchPrototype(proto as ClientPrototype);
  }

  private _patchPrototype(proto: ClientPrototype): boolean {
    const owner = proto[PATCHED_BY];
    if (owner !== undefined) {
      if (owner !== this) this._diag.warn('this Ollama client class is already instrumented; not wrapping it again');
      return false;
    }
    const host = this._observationHost();
    for (const spec of OBSERVED_OPERATIONS) {
      const method = proto[spec.method];
      if (typeof method !== 'function' || isWrapped(method)) continue;
      this._wrap(proto, spec.method, createOperationWrapper(spec, host) as never);
    }
    Object.defineProperty(proto, PATCHED_BY, { value: this, configurable: true, enumerable: false });
    return true;
  }

  private _unpatchPrototype(proto: ClientPrototype): void {
    if (proto[PATCHED_BY] !== this) return;
    for (const spec of OBSERVED_OPERATIONS) {
      if (isWrapped(proto[spec.method])) this._unwrap(proto, spec.method);
    }
    delete proto[PATCHED_BY];
  }

  private _observationHost(): ObservationHost {
    if (this._host === undefined) {
      const self = this;
      let resolved: { config: OllamaInstrumentationConfig; settings: Settings } | undefined;
      this._host = {
        get tracer() {
          return self.tracer;
        },
        get instruments() {
          return self._instruments;
        },
        diag: this._diag,
        get streamIdleTimeoutMs() {
          return self.getConfig().streamIdleTimeoutMs ?? DEFAULT_STREAM_IDLE_TIMEOUT_MS;
        },
        get logger() {
          return self.logger;
        },
        get settings() {
          const config = self.getConfig();
          if (resolved?.config !== config) resolved = { config, settings: resolveSettings(config, self._diag) };
          return resolved.settings;
        },
      };
    }
    return this._host;
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  return typeof value;
}
