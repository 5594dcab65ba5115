/*
 * Patching the ollama-js client class: every observed method of the base prototype is wrapped once, and the
 * prototype is marked with its owner, shared by every copy of this package in the process, so that nothing is
 * ever wrapped twice. The wrappers carry shimmer's markers (`__original`, `__unwrap`, `__wrapped`), so that
 * `isWrapped()` from `@opentelemetry/instrumentation` recognises them; this file does not load that package.
 */
import type { TelemetryHost } from './core/host.js';
import { OBSERVED_OPERATIONS } from './operations.js';
import { createOperationWrapper } from './patch.js';
import { findClientPrototype } from './targets.js';

/** Marks a patched client prototype with its owner. */
const PATCHED_BY = Symbol.for('@ollama-otel/instrumentation.patched-by');

type ClientPrototype = Record<PropertyKey, unknown>;
type Method = (this: unknown, ...args: unknown[]) => unknown;

export class ClientPatcher {
  constructor(private readonly host: TelemetryHost) {}

  /**
   * Patches the client class behind `target` (module, class or instance). Returns how to undo it, or
   * `undefined` when `target` holds no ollama client class.
   */
  patch(target: unknown): (() => void) | undefined {
    const proto = findClientPrototype(target) as ClientPrototype | undefined;
    if (proto === undefined) return undefined;
    const owner = proto[PATCHED_BY];
    if (owner !== undefined) {
      if (owner !== this)
        this.host.diag.warn('this Ollama client class is already instrumented; not wrapping it again');
      return () => {};
    }
    for (const operation of OBSERVED_OPERATIONS) {
      const method = proto[operation.method];
      if (typeof method !== 'function' || isWrapped(method)) continue;
      wrap(proto, operation.method, createOperationWrapper(operation, this.host)(method as Method));
    }
    Object.defineProperty(proto, PATCHED_BY, { value: this, configurable: true, enumerable: false });
    return () => this.unpatchPrototype(proto);
  }

  /** Restores the client class behind `target`, if this patcher patched it. */
  unpatch(target: unknown): void {
    const proto = findClientPrototype(target) as ClientPrototype | undefined;
    if (proto !== undefined) this.unpatchPrototype(proto);
  }

  private unpatchPrototype(proto: ClientPrototype): void {
    if (proto[PATCHED_BY] !== this) return;
    for (const operation of OBSERVED_OPERATIONS) {
      const method = proto[operation.method] as { __unwrap?: () => void } | undefined;
      if (isWrapped(method)) method!.__unwrap!();
    }
    delete proto[PATCHED_BY];
  }
}

function wrap(target: ClientPrototype, name: string, wrapped: Method): void {
  const original = target[name];
  const enumerable = Object.prototype.propertyIsEnumerable.call(target, name);
  const hidden = (value: unknown) => ({ value, configurable: true, enumerable: false, writable: true });
  Object.defineProperty(wrapped, '__original', hidden(original));
  Object.defineProperty(
    wrapped,
    '__unwrap',
    hidden(() => {
      if (target[name] === wrapped) {
        Object.defineProperty(target, name, { value: original, configurable: true, enumerable, writable: true });
      }
    }),
  );
  Object.defineProperty(wrapped, '__wrapped', hidden(true));
  Object.defineProperty(target, name, { value: wrapped, configurable: true, enumerable, writable: true });
}

function isWrapped(method: unknown): boolean {
  const candidate = method as { __original?: unknown; __unwrap?: unknown; __wrapped?: unknown } | undefined;
  return (
    typeof method === 'function' &&
    typeof candidate?.__original === 'function' &&
    typeof candidate.__unwrap === 'function' &&
    candidate.__wrapped === true
  );
}
