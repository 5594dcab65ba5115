/** One HTTP request/response pair: response helpers, NDJSON streaming with stream faults, disconnect tracking. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { nowNs } from './clock.js';
import type { StreamFault } from './faults.js';

/** Thrown to unwind a handler when its stream ended early (a fault fired, or the client went away). */
export class StreamEnded extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'StreamEnded';
  }
}

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';
export const NDJSON_CONTENT_TYPE = 'application/x-ndjson';
export const TEXT_CONTENT_TYPE = 'text/plain; charset=utf-8';

export const DEFAULT_STREAM_ERROR = 'an error was encountered while running the model';

export class Exchange {
  /** Monotonic time the request arrived: the start of `total_duration`. */
  readonly startNs = nowNs();
  private readonly controller = new AbortController();

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
  ) {
    res.once('close', () => this.abort());
  }

  /** Aborts when the client disconnects, the response finished, or the double closes. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  abort(): void {
    if (!this.controller.signal.aborted) this.controller.abort(new StreamEnded('connection closed'));
  }

  get gone(): boolean {
    return this.res.destroyed || this.res.writableEnded;
  }

  json(status: number, body: unknown): void {
    if (this.gone) return;
    this.res.writeHead(status, { 'Content-Type': JSON_CONTENT_TYPE });
    this.res.end(JSON.stringify(body));
  }

  text(status: number, text: string): void {
    if (this.gone) return;
    this.res.writeHead(status, { 'Content-Type': TEXT_CONTENT_TYPE });
    this.res.end(text);
  }

  /** 200 with an empty body (what delete and copy answer). */
  empty(status = 200): void {
    if (this.gone) return;
    this.res.writeHead(status, { 'Content-Length': '0' });
    this.res.end();
  }

  /** Kills the TCP connection without a response. */
  destroySocket(): void {
    this.req.socket.destroy();
    this.abort();
  }

  ndjson(fault?: StreamFault): NdjsonStream {
    return new NdjsonStream(this, fault);
  }
}

/**
 * Writes one JSON object per line, each flushed on its own (no buffering), so clients see real gaps between chunks.
 * A stream fault fires when `afterChunks` lines have been written and the next one is about to be.
 */
export class NdjsonStream {
  private written = 0;

  constructor(
    private readonly exchange: Exchange,
    private readonly fault: StreamFault | undefined,
  ) {}

  get chunksWritten(): number {
    return this.written;
  }

  async write(line: unknown): Promise<void> {
    if (this.exchange.gone) throw new StreamEnded('client went away');
    if (this.fault && this.written >= this.fault.afterChunks) {
      await this.fireFault(this.fault);
      throw new StreamEnded(`fault ${this.fault.kind}`);
    }
    await this.writeLine(JSON.stringify(line));
    this.written += 1;
  }

  /** Writes the last line and ends the response. */
  async end(line: unknown): Promise<void> {
    await this.write(line);
    this.exchange.res.end();
  }

  private async fireFault(fault: StreamFault): Promise<void> {
    const { res } = this.exchange;
    switch (fault.kind) {
      case 'reset':
        this.exchange.destroySocket();
        return;
      case 'no-done':
        this.ensureHead();
        res.end();
        return;
      case 'stream-error':
        await this.writeLine(JSON.stringify({ error: fault.error ?? DEFAULT_STREAM_ERROR }));
        res.end();
        return;
    }
  }

  private ensureHead(): void {
    const { res } = this.exchange;
    if (!res.headersSent) res.writeHead(200, { 'Content-Type': NDJSON_CONTENT_TYPE });
  }

  private writeLine(json: string): Promise<void> {
    this.ensureHead();
    const { res, signal } = this.exchange;
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(new StreamEnded('client went away'));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      res.write(`${json}\n`, (error) => {
        signal.removeEventListener('abort', onAbort);
        if (error) reject(new StreamEnded('write failed'));
        else resolve();
      });
    });
  }
}
