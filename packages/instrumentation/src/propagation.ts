/*
 * Trace context to Ollama: W3C `traceparent`/`tracestate` (whatever the global propagator writes) on each HTTP
 * request a traced call makes. ollama-js sends every request through the instance's own `fetch` property
 * (`this.fetch(url, init)` with a fresh `init` each time), so that property is wrapped once per instance, lazily,
 * on the first traced call. The wrapper injects only inside a traced call's context (marked below), so calls
 * running concurrently on one instance each carry their own span, and it never modifies the caller's objects:
 * `init` and its headers are copied.
 */
import { channel } from 'node:diagnostics_channel';
import { type Context, context, createContextKey, type DiagLogger, propagation } from '@opentelemetry/api';
import type { Settings } from './settings.js';

const PROPAGATE = createContextKey('@ollama-otel/instrumentation propagate trace context');
const PROPAGATING_FETCH = Symbol.for('@ollama-otel/instrumentation.propagating-fetch');
/** The undici instrumentation injects trace context itself (appending, not replacing, headers). */
const undiciRequests = channel('undici:request:create');

type Fetch = (this: unknown, ...args: unknown[]) => unknown;
type HeaderMap = Record<string, string>;

/** The context to run a traced call in: marked for injection when the client should propagate. */
export function propagationContext(
  settings: Settings,
  client: unknown,
  callContext: Context,
  diag: DiagLogger,
): Context {
  try {
    if (!wantsPropagation(settings, client) || !wrapFetch(client as { fetch?: unknown })) return callContext;
    return callContext.setValue(PROPAGATE, true);
  } catch (error) {
    diag.error('failed to set up trace-context propagation for an Ollama client', error);
    return callContext;
  }
}

function wantsPropagation(settings: Settings, client: unknown): boolean {
  if (settings.propagateContext !== undefined) return settings.propagateContext;
  return !isBrowserClient(client);
}

/**
 * `ollama/browser` clients are direct instances of the base class, which owns the API methods; Node clients are
 * instances of its subclass. Browsers fail Ollama's CORS preflight for `traceparent`.
 */
function isBrowserClient(client: unknown): boolean {
  if (typeof client !== 'object' || client === null) return false;
  const proto = Object.getPrototypeOf(client) as object | null;
  return proto !== null && Object.hasOwn(proto, 'chat');
}

/** True when the client's `fetch` is (now) our wrapper. */
function wrapFetch(client: { fetch?: unknown }): boolean {
  if (typeof client !== 'object' || client === null) return false;
  const current = client.fetch;
  if (typeof current !== 'function') return false;
  if ((current as { [PROPAGATING_FETCH]?: unknown })[PROPAGATING_FETCH] === true) return true;
  const wrapped = propagatingFetch(current as Fetch);
  client.fetch = wrapped;
  return client.fetch === wrapped;
}

function propagatingFetch(original: Fetch): Fetch {
  const wrapped = function fetchWithTraceContext(this: unknown, ...args: unknown[]): unknown {
    const active = context.active();
    if (active.getValue(PROPAGATE) === true && !undiciRequests.hasSubscribers) {
      args[1] = withTraceContext(args[1], active);
    }
    return original.apply(this, args);
  };
  Object.defineProperty(wrapped, PROPAGATING_FETCH, { value: true });
  return wrapped;
}

function withTraceContext(init: unknown, active: Context): unknown {
  const carrier: HeaderMap = {};
  propagation.inject(active, carrier);
  const names = Object.keys(carrier);
  if (names.length === 0) return init;
  const base = (typeof init === 'object' && init !== null ? init : {}) as { headers?: unknown };
  return { ...base, headers: mergeHeaders(base.headers, carrier, names) };
}

function mergeHeaders(headers: unknown, carrier: HeaderMap, names: string[]): unknown {
  if (typeof globalThis.Headers === 'function' && headers instanceof globalThis.Headers) {
    const copy = new globalThis.Headers(headers);
    for (const name of names) copy.set(name, carrier[name] as string);
    return copy;
  }
  const lowerNames = new Set(names.map((name) => name.toLowerCase()));
  const entries: [string, string][] = Array.isArray(headers)
    ? (headers as [string, string][])
    : Object.entries((headers ?? {}) as HeaderMap);
  const merged: HeaderMap = {};
  for (const [name, value] of entries) if (!lowerNames.has(name.toLowerCase())) merged[name] = value;
  return Object.assign(merged, carrier);
}
