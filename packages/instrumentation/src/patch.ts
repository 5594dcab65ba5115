/*
 * The method wrapper: start an observation, run the original inside the span's context, hand the result on.
 * The caller always gets the original's own result (the same response object, the same stream object) or the
 * very error it threw, with the same `this` (`undefined` for a detached call stays `undefined`).
 */
import { context } from '@opentelemetry/api';
import { nonEmptyString, serverAttributes } from './core/attributes.js';
import type { TelemetryHost } from './core/host.js';
import { CallObservation } from './core/observation.js';
import type { Operation } from './operations.js';
import { propagationContext } from './propagation.js';
import { followStream, isStream } from './stream.js';

type Method = (this: unknown, ...args: unknown[]) => unknown;

interface OllamaClient {
  config?: { host?: unknown };
}

export function createOperationWrapper(operation: Operation, host: TelemetryHost): (original: Method) => Method {
  return function wrapOperation(original: Method): Method {
    return function observedOperation(this: unknown, ...args: unknown[]): unknown {
      const observation = startObservation(host, operation, this, args[0]);
      if (observation === undefined) return Reflect.apply(original, this, args);
      const callContext = propagationContext(observation.settings, this, observation.context, host.diag);
      let result: unknown;
      try {
        result = context.with(callContext, Reflect.apply, undefined, original, this, args);
      } catch (error) {
        observation.fail(error);
        throw error;
      }
      if (!isThenable(result)) {
        settle(host, observation, result);
        return result;
      }
      // The caller gets the original promise: same identity, no extra tick. Our reactions are registered first,
      // so a returned stream is followed before the caller can touch it; they never throw.
      result.then(
        (value) => settle(host, observation, value),
        (error: unknown) => observation.fail(error),
      );
      return result;
    };
  };
}

function startObservation(
  host: TelemetryHost,
  operation: Operation,
  client: unknown,
  request: unknown,
): CallObservation | undefined {
  try {
    if (operation.kind === 'genai') {
      return CallObservation.startGenAi(host, {
        operationName: operation.operationName,
        format: operation.format,
        request,
        server: serverAttributes(clientHost(client)),
        method: operation.method,
      });
    }
    if (!host.settings.managementSpans) return undefined;
    const body = typeof request === 'object' && request !== null ? (request as Record<string, unknown>) : {};
    return CallObservation.startManagement(
      host,
      {
        operationName: operation.operationName,
        server: serverAttributes(operation.fixedHost ?? clientHost(client)),
        model: operation.modelField === undefined ? undefined : nonEmptyString(body[operation.modelField]),
        destination: operation.method === 'copy' ? nonEmptyString(body.destination) : undefined,
        method: operation.method,
      },
      request,
    );
  } catch (error) {
    host.diag.error(`failed to start a span for ollama.${operation.method}()`, error);
    return undefined;
  }
}

function clientHost(client: unknown): unknown {
  return (client as OllamaClient | null | undefined)?.config?.host;
}

function settle(host: TelemetryHost, observation: CallObservation, value: unknown): void {
  try {
    if (isStream(value)) followStream(value, observation, host.diag);
    else observation.finish(value);
  } catch (error) {
    host.diag.error('failed to observe an Ollama response', error);
  }
}

function isThenable(value: unknown): value is Promise<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
