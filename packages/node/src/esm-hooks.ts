/**
 * Registers import-in-the-middle's ESM loader hook, limited to the modules the instrumentations ask for (and the
 * files inside those packages, which `InstrumentationNodeModuleFile` definitions patch). Everything else the app
 * imports is left alone, which keeps the hook cheap and avoids the known breakages of wrapping every module.
 *
 * - Node versions whose `module.registerHooks` can run IITM synchronously (>= 22.22.3, 24.11.1, 25.1 — IITM's
 *   `supportsSyncHooks()`) get the in-thread hook: no loader thread, no message channel.
 * - Older ones get `module.register(hook.mjs)` with the same `include` list in its `data`.
 * `--import @opentelemetry/instrumentation/hook.mjs` alone registers nothing; this is the part it would have done.
 *
 * The hook file is taken from the import-in-the-middle copy that the instrumentation base class uses, since the
 * loader's generated wrappers and the `Hook`s created by the instrumentations must share one IITM instance.
 */
import { createRequire, register } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { diag } from '@opentelemetry/api';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { packageLocation } from './anchor.mjs';

const REGISTERED = Symbol.for('@ollama-otel/node.esm-loader-hook');

type IncludePattern = string | RegExp;

/** Names of the modules (`ollama`, `@scope/pkg`) the instrumentations define. */
export function instrumentedModuleNames(instrumentations: readonly Instrumentation[]): string[] {
  const names = new Set<string>();
  for (const instrumentation of instrumentations) {
    const definitions = (
      instrumentation as { getModuleDefinitions?: () => readonly { name: string }[] }
    ).getModuleDefinitions?.();
    for (const definition of definitions ?? []) {
      if (typeof definition.name === 'string' && definition.name !== '') names.add(definition.name);
    }
  }
  return [...names];
}

/** The IITM `include` list: each bare name, plus every file under `node_modules/<name>/`. */
export function includePatterns(moduleNames: readonly string[]): IncludePattern[] {
  const patterns: IncludePattern[] = [];
  for (const name of moduleNames) {
    patterns.push(name);
    if (!name.startsWith('node:') && !name.startsWith('/')) {
      patterns.push(new RegExp(`/node_modules/${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/`));
    }
  }
  return patterns;
}

/**
 * Registers the hook once per process. Returns how: `'sync'`, `'async'`, or `undefined` when nothing was
 * registered (no module to hook, already registered, or it failed: logged through diag).
 */
export function registerEsmLoaderHook(
  instrumentations: readonly Instrumentation[],
  mode: 'auto' | 'sync' | 'async' = 'auto',
): 'sync' | 'async' | undefined {
  const state = globalThis as { [REGISTERED]?: true };
  if (state[REGISTERED]) return undefined;
  const names = instrumentedModuleNames(instrumentations);
  if (names.length === 0) return undefined;
  const include = includePatterns(names);
  try {
    const iitmDir = locateImportInTheMiddle();
    const requireFromIitm = createRequire(join(iitmDir, 'index.js'));
    const supports = requireFromIitm(join(iitmDir, 'supports-sync-hooks.mjs')) as { supportsSyncHooks?: () => boolean };
    if (mode !== 'async' && supports.supportsSyncHooks?.() === true) {
      const sync = requireFromIitm(join(iitmDir, 'register-hooks.mjs')) as {
        register: (options: { include: IncludePattern[] }) => void;
      };
      sync.register({ include });
      state[REGISTERED] = true;
      diag.debug(`@ollama-otel/node: ESM loader hook registered (in-thread) for ${names.join(', ')}`);
      return 'sync';
    }
    register(pathToFileURL(join(iitmDir, 'hook.mjs')).href, { data: { include } });
    state[REGISTERED] = true;
    diag.debug(`@ollama-otel/node: ESM loader hook registered (loader thread) for ${names.join(', ')}`);
    return 'async';
  } catch (err) {
    diag.warn('@ollama-otel/node: could not register the ESM loader hook; ES module imports stay uninstrumented', err);
    return undefined;
  }
}

function locateImportInTheMiddle(): string {
  const fromHere = createRequire(packageLocation);
  try {
    const instrumentationPackage = fromHere.resolve('@ollama-otel/instrumentation');
    const base = createRequire(instrumentationPackage).resolve('@opentelemetry/instrumentation');
    return dirname(createRequire(base).resolve('import-in-the-middle'));
  } catch {
    return dirname(fromHere.resolve('import-in-the-middle'));
  }
}
