/*
 * Following a streamed response without replacing it: the caller keeps the very object ollama-js returned
 * (an `AbortableAsyncIterator`, or a plain async generator before ollama 0.5.2), so identity, `abort()` and the
 * client's own bookkeeping of ongoing streams keep working. We add own, non-enumerable properties to it:
 * an `[Symbol.asyncIterator]` that observes each read, and an `abort` that runs the real one first, then ends
 * the span.
 */
import type { DiagLogger } from '@opentelemetry/api';
import type { CallObservation } from './core/observation.js';

type AnyAsyncIterator = AsyncIterator<unknown> & { return?(value?: unknown): Promise<IteratorResult<unknown>> };

const CANCELLED_BY_BREAK = 'the consumer stopped reading the stream before it finished';
const CANCELLED_BY_ABORT = 'the stream was aborted';

export function isStream(value: unknown): value is AsyncIterable<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  );
}

/** Attaches the observation to the stream's end paths. Returns nothing: the caller gets the same object. */
export function followStream(stream: AsyncIterable<unknown>, observation: CallObservation, diag: DiagLogger): void {
  observation.followStream(stream);
  if (typeof (stream as { next?: unknown }).next === 'function') {
    followGenerator(stream as unknown as AnyAsyncIterator, observation);
  } else {
    const iterate = stream[Symbol.asyncIterator];
    defineHidden(stream, Symbol.asyncIterator, function observedIterator(this: AsyncIterable<unknown>) {
      return observeIterator(iterate.call(this) as AnyAsyncIterator, observation);
    });
  }
  const abort = (stream as { abort?: unknown }).abort;
  if (typeof abort === 'function') {
    defineHidden(stream, 'abort', function observedAbort(this: unknown, ...args: unknown[]) {
      try {
        return abort.apply(this, args);
      } finally {
        cancel(observation, diag);
      }
    });
  }
}

function cancel(observation: CallObservation, diag: DiagLogger): void {
  try {
    observation.cancel(CANCELLED_BY_ABORT);
  } catch (error) {
    diag.error('failed to end the span of an aborted stream', error);
  }
}

function observeIterator(inner: AnyAsyncIterator, observation: CallObservation): AnyAsyncIterator {
  const onResult = (result: IteratorResult<unknown>) => {
    if (result.done) observation.readCompleted();
    else observation.readChunk(result.value);
  };
  const onError = (error: unknown) => observation.readFailed(error);
  const observed: AnyAsyncIterator & AsyncIterable<unknown> = {
    // The consumer gets the inner iterator's own promise (no extra microtask turn per chunk); our reactions are
    // registered first, so each chunk is recorded before the consumer sees it, and they never throw.
    next(...args: [] | [unknown]) {
      observation.readStarted();
      const read = inner.next(...args);
      read.then(onResult, onError);
      return read;
    },
    return(value?: unknown) {
      observation.cancel(CANCELLED_BY_BREAK);
      return typeof inner.return === 'function' ? inner.return(value) : Promise.resolve({ done: true, value });
    },
    [Symbol.asyncIterator]() {
      return observed;
    },
  };
  return observed;
}

/** ollama < 0.5.2 returned the async generator itself: observe its own `next`/`return`. */
function followGenerator(generator: AnyAsyncIterator, observation: CallObservation): void {
  const observed = observeIterator(
    { next: generator.next.bind(generator), return: generator.return?.bind(generator) },
    observation,
  );
  defineHidden(generator, 'next', observed.next);
  defineHidden(generator, 'return', observed.return);
}

function defineHidden(target: object, key: PropertyKey, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, configurable: true, enumerable: false });
}
