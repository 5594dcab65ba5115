/** Faults a test scripts into the double, and the FIFO queue that hands them to matching requests. */
import { canonicalModelName } from './models.js';

export type Fault =
  /** An HTTP error with a JSON `{"error": ...}` body. */
  | { kind: 'http-error'; status: 400 | 404 | 500 | 503 | number; error?: string }
  /** Status 200 NDJSON; after `afterChunks` chunks a line `{"error": ...}` and the stream ends. */
  | { kind: 'stream-error'; afterChunks: number; error?: string }
  /** The stream ends cleanly after `afterChunks` chunks, without a `done:true` chunk. */
  | { kind: 'no-done'; afterChunks: number }
  /** The socket is destroyed after `afterChunks` chunks were flushed (non-streaming: before any byte). */
  | { kind: 'reset'; afterChunks: number }
  /** Waits before sending status and headers, then behaves normally. */
  | { kind: 'slow-headers'; delayMs: number }
  /** The final chunk has no `prompt_eval_count` and no `prompt_eval_duration` (fully cached prompt). */
  | { kind: 'cache-hit' }
  /** Forces the final chunk's `done_reason`. */
  | { kind: 'done-reason'; reason: 'stop' | 'length' | 'load' | 'unload' }
  /** Per-request override of the streaming shape. */
  | { kind: 'stream'; chunks?: number; chunkDelayMs?: number }
  /** An HTTP error with a `text/plain` body. */
  | { kind: 'non-json-error'; status: number; text: string };

export interface ScriptedFault {
  /** Request path such as `/api/chat`; any path when omitted. */
  path?: string;
  /** Model name (with or without `:latest`); any model when omitted. */
  model?: string;
  /** How many matching requests this entry serves (default 1). */
  times?: number;
  fault: Fault;
}

/** The faults that act on an NDJSON stream once a number of chunks has been written. */
export type StreamFault = Extract<Fault, { afterChunks: number }>;

export function isStreamFault(fault: Fault | undefined): fault is StreamFault {
  return fault?.kind === 'stream-error' || fault?.kind === 'no-done' || fault?.kind === 'reset';
}

interface QueuedFault {
  entry: ScriptedFault;
  remaining: number;
}

export class FaultQueue {
  private queue: QueuedFault[] = [];

  add(entries: ScriptedFault[]): void {
    for (const entry of entries) {
      const remaining = entry.times ?? 1;
      if (remaining > 0) this.queue.push({ entry, remaining });
    }
  }

  clear(): void {
    this.queue = [];
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Takes the first queued fault matching this request (FIFO), or `undefined`. */
  take(path: string, model: unknown): Fault | undefined {
    const index = this.queue.findIndex(({ entry }) => matches(entry, path, model));
    if (index < 0) return undefined;
    const queued = this.queue[index]!;
    queued.remaining -= 1;
    if (queued.remaining <= 0) this.queue.splice(index, 1);
    return queued.entry.fault;
  }
}

function matches(entry: ScriptedFault, path: string, model: unknown): boolean {
  if (entry.path !== undefined && entry.path !== path) return false;
  if (entry.model === undefined) return true;
  return typeof model === 'string' && canonicalModelName(model) === canonicalModelName(entry.model);
}
