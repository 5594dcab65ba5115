/*
 * Finding what to patch. ollama-js keeps every API method on one base class (`dist/browser.*`); the Node entry's
 * `Ollama` subclass only overrides `encodeImage`, `fileExists` and `create`. Patching the base prototype covers
 * the module's default instance, every `new Ollama()` (also ones created before we patched) and `ollama/browser`.
 * CommonJS and ESM load separate copies of that base class, so each copy is patched on its own.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

/**
 * The client base prototype behind an `ollama` module namespace or exports object, the `Ollama` class (or a
 * subclass), or a client instance: the highest prototype in the chain that owns `chat`.
 */
export function findClientPrototype(target: unknown): object | undefined {
  let base: object | undefined;
  for (
    let proto = startingPrototype(target);
    proto && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto)
  ) {
    if (Object.hasOwn(proto, 'chat')) base = proto;
  }
  return base;
}

function startingPrototype(target: unknown): object | undefined {
  if (typeof target === 'function') return target.prototype as object | undefined;
  if (typeof target !== 'object' || target === null) return undefined;
  const exported = (target as { Ollama?: unknown }).Ollama;
  if (typeof exported === 'function') return exported.prototype as object | undefined;
  return Object.getPrototypeOf(target) as object | undefined;
}

/**
 * Loads both copies (CommonJS and ESM) of the `ollama` package the application resolves, looked up from the
 * main script's folder and then from the working directory. The ESM copy is loaded with `require(esm)`
 * (Node >= 22.12), which shares the module instances `import` uses.
 */
export function loadApplicationOllama(): unknown[] {
  const packageJsonPath = resolveOllamaPackageJson();
  if (packageJsonPath === undefined) {
    throw new Error('instrumentOllama(): the `ollama` package could not be resolved from the application');
  }
  const requireFromOllama = createRequire(packageJsonPath);
  const packageRoot = dirname(packageJsonPath);
  const manifest = JSON.parse(readFileSync(packageJsonPath, 'utf8')) as OllamaManifest;
  const copies: unknown[] = [requireFromOllama(join(packageRoot, cjsEntry(manifest)))];
  const esm = esmEntry(manifest);
  if (esm !== undefined) copies.push(requireFromOllama(join(packageRoot, esm)));
  return copies;
}

interface OllamaManifest {
  main?: string;
  module?: string;
  exports?: Record<string, unknown>;
}

function resolveOllamaPackageJson(): string | undefined {
  const mainScript = process.argv[1];
  const searchFrom = [mainScript ? dirname(resolve(mainScript)) : undefined, process.cwd()];
  for (const folder of searchFrom) {
    if (folder === undefined) continue;
    try {
      return createRequire(join(folder, 'noop.js')).resolve('ollama/package.json');
    } catch {
      // try the next place
    }
  }
  return undefined;
}

function cjsEntry(manifest: OllamaManifest): string {
  const root = manifest.exports?.['.'] as { require?: unknown } | undefined;
  return typeof root?.require === 'string' ? root.require : (manifest.main ?? 'index.js');
}

function esmEntry(manifest: OllamaManifest): string | undefined {
  const root = manifest.exports?.['.'] as { import?: unknown } | undefined;
  return typeof root?.import === 'string' ? root.import : manifest.module;
}
