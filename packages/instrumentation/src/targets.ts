/*
 * Finding what to patch. ollama-js keeps every API method on one base class (`dist/browser.*`); the Node entry's
 * `Ollama` subclass only overrides `encodeImage`, `fileExists` and `create`. Patching the base prototype covers
 * the module's default instance, every `new Ollama()` (also ones created before we patched) and `ollama/browser`.
 * CommonJS and ESM load separate copies of that base class, so each copy is patched on its own.
 */

/**
 * The client base prototype behind an `ollama` module namespace or exports object, the `Ollama` class (or a
 * subclass), or a client instance: the highest prototype in the chain that owns `chat`.
 */
export function findClientPrototype(target: unknown): object | undefined {
  let base: object | undefined;
  for (
    let proto = startingPrototype(target);
    proto && proto !== Object.prototype && proto !== Function.prototype;
    proto = Object.getPrototypeOf(proto)
  ) {
    if (Object.hasOwn(proto, 'chat') && typeof (proto as { chat?: unknown }).chat === 'function') base = proto;
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

/** Names `target` for an error message. */
export function describeTarget(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}
