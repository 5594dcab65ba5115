import {
  InstrumentationBase,
  InstrumentationNodeModuleDefinition,
  InstrumentationNodeModuleFile,
} from '@opentelemetry/instrumentation';
import { ClientPatcher } from './client-patcher.js';
import { guardedDiag } from './core/diag.js';
import { metricModelNamesOf, type TelemetryHost } from './core/host.js';
import { GenAiInstruments } from './core/metrics.js';
import { resolveSettings, type Settings } from './core/settings.js';
import type { OllamaInstrumentationConfig } from './types.js';
import { PACKAGE_NAME, PACKAGE_VERSION } from './version.js';

const SUPPORTED_VERSIONS = ['>=0.5.0 <1'];

/**
 * OpenTelemetry instrumentation for the `ollama` client (ollama-js): GenAI semantic-convention spans and metrics
 * for `chat`, `generate`, `embed` and `embeddings`, and `ollama.*` spans for model-management calls. Register it
 * with `NodeSDK({ instrumentations })` or `registerInstrumentations()` before `ollama` is loaded; without loader
 * hooks (or in a bundle), use `instrumentOllama()`.
 */
export class OllamaInstrumentation extends InstrumentationBase<OllamaInstrumentationConfig> {
  // `declare`: the base constructor calls _updateMetricInstruments() before field initialisers would run.
  declare private _instruments: GenAiInstruments;
  declare private _patcher: ClientPatcher | undefined;

  constructor(config: OllamaInstrumentationConfig = {}) {
    super(PACKAGE_NAME, PACKAGE_VERSION, config ?? {});
  }

  protected init(): InstrumentationNodeModuleDefinition[] {
    const patch = (moduleExports: unknown) => {
      this._patchExports(moduleExports);
      return moduleExports;
    };
    const unpatch = (moduleExports: unknown) => this._clientPatcher().unpatch(moduleExports);
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
    this._instruments = GenAiInstruments.create(this.meter, guardedDiag(this._diag));
  }

  private _patchExports(moduleExports: unknown): void {
    const diag = guardedDiag(this._diag);
    try {
      if (this._clientPatcher().patch(moduleExports) === undefined) {
        diag.warn('no Ollama client class found in the loaded `ollama` module; nothing instrumented');
      }
    } catch (error) {
      diag.error('failed to instrument the loaded `ollama` module', error);
    }
  }

  private _clientPatcher(): ClientPatcher {
    if (this._patcher === undefined) this._patcher = new ClientPatcher(this._telemetryHost());
    return this._patcher;
  }

  private _telemetryHost(): TelemetryHost {
    const self = this;
    const diag = guardedDiag(this._diag);
    let resolved: { config: OllamaInstrumentationConfig; settings: Settings } | undefined;
    const host: TelemetryHost = {
      get tracer() {
        return self.tracer;
      },
      get instruments() {
        return self._instruments;
      },
      get logger() {
        return self.logger;
      },
      diag,
      get settings() {
        const config = self.getConfig();
        if (resolved?.config !== config) resolved = { config, settings: resolveSettings(config, diag) };
        return resolved.settings;
      },
      modelNames: metricModelNamesOf(() => host.settings),
    };
    return host;
  }
}
