/*
 * Trace context to Ollama: W3C `traceparent`/`tracestate` (whatever the global propagator writes) on each HTTP
 * request a traced call makes. ollama-js sends every request through the instance's own `fetch` property
 * (`this.fetch(url, init)` with a fresh `init` each time), so that property is wrapped once per instance, lazily,
 * on the first traced call. The wrapper injects only inside a traced call's context (marked below), so calls
 * running concurrently on one instance each carry their own span, and it never modifies the caller's objects:
 * `init` and its headers are copied.
 *
 * Propagation is telemetry: if the propagator throws or writes a header that fetch would refuse, the request is
 * sent exactly as the application made it.
 */
import { channel } from 'node:diagnostics_channel';
import { type Context, context, createContextKey, type DiagLogger, propagation } from '@opentelemetry/api';
import type { Settings } from './core/settings.js';

const PROPAGATE = createContextKey('@ollama-otel/instrumentation propagate trace context');
const PROPAGATING_FETCH = Symbol.for('@ollama-otel/instrumentation.propagating-fetch');
/** The undici instrumentation injects trace context itself (appending, not replacing, headers). */
const undiciRequests = channel('undici:request:create');
/** RFC 9110 token characters: what fetch accepts as a header name. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** What fetch refuses in a header value: NUL, CR, LF, and anything that is not a byte. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly the characters fetch rejects.
const INVALID_HEADER_VALUE = /[\u0000\r\n]|[^\u0000-\u00ff]/;

/** Invalid headers a propagator wrote, warned about once each. */
const reportedHeaders = new Set<string>();

type Fetch = (this: unknown, ...args: unknown[]) => unknown;
type HeaderMap = Record<string, string>;

/**
 * Browsers (and browser workers, and Electron renderers) fail Ollama's CORS preflight for `traceparent`; every
 * other runtime can send it, whichever entry point of ollama-js the client came from.
 */
export const RUNS_IN_BROWSER: boolean = (() => {
  const scope = globalThis as { window?: { document?: unknown }; importScripts?: unknown };
  return (
    (typeof scope.window === 'object' && scope.window?.document !== undefined) ||
    typeof scope.importScripts === 'function'
  );
})();

/** The context to run a traced call in: marked for injection when the client should propagate. */
export function propagationContext(
  settings: Settings,
  client: unknown,
  callContext: Context,
  diag: DiagLogger,
): Context {
  try {
    if (!(settings.propagateContext ?? !RUNS_IN_BROWSER)) return callContext;
    if (!wrapFetch(client as { fetch?: unknown }, diag)) return callContext;
    return callContext.setValue(PROPAGATE, true);
  } catch (error) {
    diag.error('failed to set up trace-context propagation for an Ollama client', error);
    return callContext;
  }
}

/** True when the client's `fetch` is (now) our wrapper. */
function wrapFetch(client: { fetch?: unknown }, diag: DiagLogger): boolean {
  if (typeof client !== 'object' || client === null) return false;
  const current = client.fetch;
  if (typeof current !== 'function') return false;
  if ((current as { [PROPAGATING_FETCH]?: unknown })[PROPAGATING_FETCH] === true) return true;
  const wrapped = propagatingFetch(current as Fetch, diag);
  client.fetch = wrapped;
  return client.fetch === wrapped;
}

function propagatingFetch(original: Fetch, diag: DiagLogger): Fetch {
  const wrapped = function fetchWithTraceContext(this: unknown, ...args: unknown[]): unknown {
    const init = args[1];
    const withContext = injected(init, diag);
    if (withContext !== init) args[1] = withContext;
    return original.apply(this, args);
  };
  Object.defineProperty(wrapped, PROPAGATING_FETCH, { value: true });
  return wrapped;
}

/** `init` with the trace-context headers added, or `init` itself when there is nothing (valid) to add. */
function injected(init: unknown, diag: DiagLogger): unknown {
  try {
    const active = context.active();
    if (active.getValue(PROPAGATE) !== true || undiciRequests.hasSubscribers) return init;
    const carrier: HeaderMap = {};
    propagation.inject(active, carrier);
    const names = validHeaders(carrier, diag);
    if (names.length === 0) return init;
    const base = (typeof init === 'object' && init !== null ? init : {}) as { headers?: unknown };
    return { ...base, headers: mergeHeaders(base.headers, carrier, names) };
  } catch (error) {
    diag.error('failed to add trace context to an Ollama request; sent without it', error);
    return init;
  }
}

/** The carrier's header names that fetch accepts with their values; the others are left out, with a warning. */
function validHeaders(carrier: HeaderMap, diag: DiagLogger): string[] {
  const names: string[] = [];
  for (const name of Object.keys(carrier)) {
    const value = carrier[name];
    if (typeof value === 'string' && HEADER_NAME.test(name) && !INVALID_HEADER_VALUE.test(value)) names.push(name);
    else if (!reportedHeaders.has(name) && reportedHeaders.size < 64) {
      reportedHeaders.add(name);
      diag.warn(`the propagator wrote a header fetch would refuse (${JSON.stringify(name)}); it is not sent`);
    }
  }
  return names;
}

function mergeHeaders(headers: unknown, carrier: HeaderMap, names: string[]): unknown {
  if (typeof globalThis.Headers === 'function' && headers instanceof globalThis.Headers) {
    const copy = new globalThis.Headers(headers);
    for (const name of names) copy.set(name, carrier[name] as string);
    return copy;
  }
  const merged: HeaderMap = Array.isArray(headers)
    ? Object.fromEntries(headers as [string, string][])
    : { ...((headers ?? {}) as HeaderMap) };
  for (const name of names) {
    // A header the app set itself under another spelling is replaced, never sent twice.
    if (!(name in merged)) {
      const lower = name.toLowerCase();
      for (const existing of Object.keys(merged)) if (existing.toLowerCase() === lower) delete merged[existing];
    }
    merged[name] = carrier[name] as string;
  }
  return merged;
}
