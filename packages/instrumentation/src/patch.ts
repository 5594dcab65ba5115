/*
 * The method wrapper: start an observation, run the original inside the span's context, hand the result on.
 * The caller always gets the original's own result (the same response object, the same stream object) or the
 * very error it threw.
 */
import { context } from '@opentelemetry/api';
import { CallObservation, type ObservationHost } from './observation.js';
import type { OperationSpec } from './operations.js';
import { propagationContext } from './propagation.js';
import { followStream, isStream } from './stream.js';

type Method = (this: unknown, ...args: unknown[]) => unknown;

export function createOperationWrapper(spec: OperationSpec, host: ObservationHost): (original: Method) => Method {
  return function wrapOperation(original: Method): Method {
    return function observedOperation(this: unknown, ...args: unknown[]): unknown {
      if (spec.kind === 'management' && !host.settings.managementSpans) return original.apply(this, args);
      const observation = startObservation(host, spec, this, args[0]);
      if (observation === undefined) return original.apply(this, args);
      const callContext = propagationContext(observation.settings, this, observation.context, host.diag);
      let result: unknown;
      try {
        result = context.with(callContext, original, this, ...args);
      } catch (error) {
        observation.fail(error);
        throw error;
      }
      if (!isThenable(result)) {
        settle(host, observation, result);
        return result;
      }
      return result.then(
        (value) => {
          settle(host, observation, value);
          return value;
        },
        (error: unknown) => {
          observation.fail(error);
          throw error;
        },
      );
    };
  };
}

function startObservation(
  host: ObservationHost,
  spec: OperationSpec,
  client: unknown,
  request: unknown,
): CallObservation | undefined {
  try {
    return CallObservation.start(host, spec, client, request);
  } catch (error) {
    host.diag.error(`failed to start a span for ollama.${spec.method}()`, error);
    return undefined;
  }
}

function settle(host: ObservationHost, observation: CallObservation, value: unknown): void {
  try {
    if (isStream(value)) followStream(value, observation);
    else observation.finish(value);
  } catch (error) {
    host.diag.error('failed to observe an Ollama response', error);
  }
}

function isThenable(value: unknown): value is Promise<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
