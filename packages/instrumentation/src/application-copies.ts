/*
 * Every copy of ollama-js an application loads, for `instrumentOllama()` without a target. Frameworks bring
 * their own copies (`@llamaindex/ollama` nests `ollama@0.5` next to an app's 0.6; pnpm gives every package its
 * own), import `ollama/browser` rather than `ollama`, and load them after the app starts. So:
 *   - copies already loaded through `require` are found in the module cache (with their ESM twins);
 *   - the copy the application itself resolves is loaded (CommonJS and ESM);
 *   - copies loaded later, by `require` or `import`, are announced by a module hook (`module.registerHooks`,
 *     in-thread, no `--import` flag): the hook appends one guarded line to ollama's own dist files that hands
 *     their exports to us once they have run.
 * Node's module system is reached through `process.getBuiltinModule()`, which bundlers leave alone; inside a
 * bundle there is no module system to watch, and that is a `TypeError` telling the caller to pass the module.
 */
import type * as NodeFs from 'node:fs';
import type * as NodeModule from 'node:module';
import type * as NodePath from 'node:path';
import type * as NodeUrl from 'node:url';

export type CopyListener = (exports: unknown) => void;

interface Registry {
  listeners: Set<CopyListener>;
  hooks: { deregister?: () => void } | undefined;
}

const LOADED = '@ollama-otel/instrumentation.ollama-loaded';
const REGISTRY = Symbol.for('@ollama-otel/instrumentation.copy-registry');
/** ollama-js's own built files (entry points and, before 0.5.12, the shared chunk holding the base class). */
const OLLAMA_DIST_URL = /\/node_modules\/ollama\/dist\/(?:shared\/)?[^/?#]+\.(?:cjs|mjs|js)$/;
const OLLAMA_CJS_ENTRY = /[\\/]node_modules[\\/]ollama[\\/]dist[\\/](?:index|browser)\.cjs$/;
const LOCAL_EXPORTS = /export\s*\{([^}]*)\}(?!\s*from)/g;
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

interface NodeBuiltins {
  module: typeof NodeModule;
  path: typeof NodePath;
  fs: typeof NodeFs;
  url: typeof NodeUrl;
}

/**
 * Calls `listener` with the exports of every copy of ollama-js loaded so far and loaded from now on; returns how
 * to stop. Throws a `TypeError` inside a bundle.
 */
export function watchApplicationCopies(listener: CopyListener, warn: (message: string) => void): () => void {
  const node = nodeBuiltins();
  if (node === undefined || isBundled(node)) {
    throw new TypeError(
      'instrumentOllama(): called without a target in a bundled app, where `ollama` is not loaded from ' +
        "node_modules; pass the bundled module instead: `import * as ollama from 'ollama'; instrumentOllama(ollama)`",
    );
  }
  const registry = sharedRegistry();
  registry.listeners.add(listener);
  if (registry.hooks === undefined) registry.hooks = registerHooks(node, registry, warn);
  for (const exports of loadedCopies(node)) listener(exports);
  for (const exports of applicationCopies(node)) listener(exports);
  return () => {
    registry.listeners.delete(listener);
    if (registry.listeners.size === 0) {
      registry.hooks?.deregister?.();
      registry.hooks = undefined;
    }
  };
}

function nodeBuiltins(): NodeBuiltins | undefined {
  const get = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule;
  if (typeof get !== 'function') return undefined;
  return {
    module: get('node:module') as typeof NodeModule,
    path: get('node:path') as typeof NodePath,
    fs: get('node:fs') as typeof NodeFs,
    url: get('node:url') as typeof NodeUrl,
  };
}

function sharedRegistry(): Registry {
  const scope = globalThis as { [REGISTRY]?: Registry; [key: symbol]: unknown };
  let registry = scope[REGISTRY];
  if (registry === undefined) {
    const created: Registry = { listeners: new Set(), hooks: undefined };
    registry = created;
    scope[REGISTRY] = registry;
    // Called by the line appended to ollama's files; must never throw into module evaluation.
    scope[Symbol.for(LOADED)] = (exports: unknown) => {
      for (const each of created.listeners) {
        try {
          each(exports);
        } catch {
          // A listener reports its own failures.
        }
      }
    };
  }
  return registry;
}

function registerHooks(node: NodeBuiltins, registry: Registry, warn: (message: string) => void): Registry['hooks'] {
  const register = (node.module as { registerHooks?: (hooks: object) => { deregister?: () => void } }).registerHooks;
  if (typeof register !== 'function') {
    warn('module.registerHooks() is not available: copies of `ollama` loaded from now on are not instrumented');
    return undefined;
  }
  try {
    return register({
      load(url: string, context: unknown, nextLoad: (url: string, context: unknown) => LoadResult): LoadResult {
        const result = nextLoad(url, context);
        if (registry.listeners.size === 0 || !OLLAMA_DIST_URL.test(url)) return result;
        const source = announcing(result);
        return source === undefined ? result : { ...result, source };
      },
    });
  } catch (error) {
    warn(
      `could not register the module hook (${String(error)}): copies of \`ollama\` loaded from now on are not instrumented`,
    );
    return undefined;
  }
}

interface LoadResult {
  format?: string;
  source?: string | ArrayBuffer | ArrayBufferView | null;
  shortCircuit?: boolean;
}

/** The module's source with one line appended that hands its exports to the registry. */
function announcing(result: LoadResult): string | undefined {
  if (result.source === undefined || result.source === null) return undefined;
  const source =
    typeof result.source === 'string' ? result.source : new TextDecoder().decode(result.source as ArrayBuffer);
  const call = (argument: string) =>
    `\n;try{globalThis[Symbol.for(${JSON.stringify(LOADED)})]?.(${argument})}catch{}\n`;
  if (result.format === 'commonjs') return source + call('module.exports');
  if (result.format !== 'module') return undefined;
  const bindings = localExports(source);
  return bindings.length === 0 ? undefined : source + call(`{${bindings.join(',')}}`);
}

/** `exported: local` pairs of an ES module's `export { local as exported }` clauses (not re-exports). */
function localExports(source: string): string[] {
  const bindings: string[] = [];
  for (const clause of source.matchAll(LOCAL_EXPORTS)) {
    for (const item of (clause[1] ?? '').split(',')) {
      const [local, exported = local] = item.trim().split(/\s+as\s+/);
      if (local !== undefined && IDENTIFIER.test(local) && exported !== undefined) {
        bindings.push(`${JSON.stringify(exported.trim())}:${local}`);
      }
    }
  }
  return bindings;
}

/** Exports of the copies `require` has loaded already, and of their ESM twins. */
function loadedCopies(node: NodeBuiltins): unknown[] {
  const requireHere = node.module.createRequire(node.path.join(process.cwd(), 'noop.js'));
  const copies: unknown[] = [];
  for (const [filename, cached] of Object.entries(requireHere.cache)) {
    if (!OLLAMA_CJS_ENTRY.test(filename) || cached === undefined) continue;
    copies.push(cached.exports);
    const twin = filename.replace(/\.cjs$/, '.mjs');
    if (node.fs.existsSync(twin)) copies.push(tryRequire(requireHere, twin));
  }
  return copies.filter((copy) => copy !== undefined);
}

/** Both copies (CommonJS and ESM) of the `ollama` the app resolves from its main script or working directory. */
function applicationCopies(node: NodeBuiltins): unknown[] {
  const packageJsonPath = resolveFromApplication(node, 'ollama/package.json');
  if (packageJsonPath === undefined) return [];
  const requireFromOllama = node.module.createRequire(packageJsonPath);
  const root = node.path.dirname(packageJsonPath);
  const manifest = JSON.parse(node.fs.readFileSync(packageJsonPath, 'utf8')) as OllamaManifest;
  const entries = [cjsEntry(manifest), esmEntry(manifest)].filter((entry) => entry !== undefined);
  return entries.map((entry) => tryRequire(requireFromOllama, node.path.join(root, entry))).filter(Boolean);
}

interface OllamaManifest {
  main?: string;
  module?: string;
  exports?: Record<string, unknown>;
}

function resolveFromApplication(node: NodeBuiltins, specifier: string): string | undefined {
  const mainScript = process.argv[1];
  const folders = [mainScript ? node.path.dirname(node.path.resolve(mainScript)) : undefined, process.cwd()];
  for (const folder of folders) {
    if (folder === undefined) continue;
    try {
      return node.module.createRequire(node.path.join(folder, 'noop.js')).resolve(specifier);
    } catch {
      // try the next place
    }
  }
  return undefined;
}

function tryRequire(requireFrom: NodeJS.Require, path: string): unknown {
  try {
    return requireFrom(path);
  } catch {
    return undefined;
  }
}

function cjsEntry(manifest: OllamaManifest): string | undefined {
  const root = manifest.exports?.['.'] as { require?: unknown } | undefined;
  return typeof root?.require === 'string' ? root.require : manifest.main;
}

function esmEntry(manifest: OllamaManifest): string | undefined {
  const root = manifest.exports?.['.'] as { import?: unknown } | undefined;
  return typeof root?.import === 'string' ? root.import : manifest.module;
}

/**
 * Whether this code runs from a bundle rather than from this package's files: webpack's runtime is in scope, or
 * the file this function was compiled into is not one of this package's.
 */
function isBundled(node: NodeBuiltins): boolean {
  if (typeof (globalThis as { __webpack_require__?: unknown }).__webpack_require__ === 'function') return true;
  if (typeof __webpack_require__ === 'function') return true;
  const file = ownFile(node);
  if (file === undefined) return true;
  const folder = node.path.dirname(file);
  for (const packageJson of [
    node.path.join(folder, '..', 'package.json'),
    node.path.join(folder, '..', '..', 'package.json'),
  ]) {
    try {
      const manifest = JSON.parse(node.fs.readFileSync(packageJson, 'utf8')) as { name?: unknown };
      if (manifest.name === '@ollama-otel/instrumentation') return false;
    } catch {
      // not this folder
    }
  }
  return true;
}

declare const __webpack_require__: unknown;

/** The file this module runs from, read off the stack (a path for CommonJS, a file URL for ESM). */
function ownFile(node: NodeBuiltins): string | undefined {
  const original = Error.prepareStackTrace;
  try {
    Error.prepareStackTrace = (_error, frames) => frames;
    const frames = new Error().stack as unknown as NodeJS.CallSite[];
    const name = frames[0]?.getFileName();
    if (typeof name !== 'string') return undefined;
    return name.startsWith('file:') ? node.url.fileURLToPath(name) : name;
  } catch {
    return undefined;
  } finally {
    Error.prepareStackTrace = original;
  }
}
