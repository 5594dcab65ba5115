/**
 * Detaches the SDK's span/log processors and metric reader from the network. An export is handed over and
 * acknowledged at once; delivery happens behind it, one export at a time per signal, with a bounded queue. Why:
 * while a processor waits for an export's answer it holds a timer that keeps the process alive (the batch
 * processors' and the metric reader's export time limits), so a finished app could not exit while the collector
 * was down, and with short intervals a new export started before the last one gave up. Now nothing of the
 * telemetry keeps a finished app alive (the transports unref their sockets and timers); the shutdown flush keeps it
 * alive instead, for a bounded time, and waits here for what is queued.
 *
 * Collector down: one export retries (unref'd backoff, within the export time limit), up to `maxQueuedItems` wait
 * behind it, anything more is dropped without being serialised; after a failed export the next one waits as the
 * collector's circuit says (export-ledger.ts). Dropped and failed items are counted in the signal's account
 * (logged once per outage, totalled at shutdown). Once shutdown has begun, nothing waits and failed attempts are
 * not retried; `abandon()` (at the shutdown time limit) gives up on whatever is still unsent.
 */
import { context } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode, suppressTracing } from '@opentelemetry/core';
import type { ExporterMetrics, IOtlpExportDelegate } from '@opentelemetry/otlp-exporter-base';
import type { SignalAccount } from './export-ledger.js';
import type { RetryingTransport } from './retrying-transport.js';

export interface DetachedOptions<T> {
  /** Items in a batch (spans, metric data points, log records), for the queue bound and the loss count. */
  count: (batch: T) => number;
  /** Items that may wait behind the export in flight; one batch is always let in. */
  maxQueuedItems: number;
  /** A newer batch replaces the queued ones (metrics: the newest collection is the one worth sending). */
  newestWins?: boolean;
  /**
   * Joins queued batches into one export of at most `maxExportItems` (spans, log records: the processors hand
   * over small batches often; one request for several of them).
   */
  merge?: { join: (batches: T[]) => T; maxExportItems: number };
}

/** What the pipeline needs of a delivery, whatever the signal. */
export interface Delivery {
  /** Resolves once nothing is queued or in flight. */
  forceFlush(): Promise<void>;
  /** Shutdown has begun: a failed attempt is final from now on (pending retries end at once). */
  stopRetrying(): void;
  /** Gives up on whatever is queued or in flight (counted as lost) and closes the connection now. */
  abandon(reason: string): void;
}

interface Queued<T> {
  batch: T;
  items: number;
}

export class DetachedExportDelegate<T> implements IOtlpExportDelegate<T>, Delivery {
  private inFlightItems: number | undefined;
  private queue: Queued<T>[] = [];
  private queuedItems = 0;
  private shutDown = false;
  private abandoned = false;
  /** Shutdown has begun: no pauses and no retries any more. */
  private stopping = false;
  /** Set while the collector's circuit makes the queue wait. */
  private pause: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly inner: IOtlpExportDelegate<T>,
    private readonly transport: RetryingTransport,
    readonly account: SignalAccount,
    private readonly options: DetachedOptions<T>,
  ) {}

  /** Acknowledged at once (success): delivery, and reporting what fails, are this delegate's job from here. */
  export(batch: T, resultCallback: (result: ExportResult) => void): void {
    const items = this.options.count(batch);
    if (this.shutDown || this.abandoned) {
      resultCallback({ code: ExportResultCode.FAILED, error: new Error('the exporter is shut down') });
      return;
    }
    if (this.queue.length === 0) {
      this.queue.push({ batch, items });
      this.queuedItems = items;
    } else if (this.options.newestWins) {
      for (const stale of this.queue) this.account.dropped(stale.items, 'a newer collection replaced it in the queue');
      this.queue = [{ batch, items }];
      this.queuedItems = items;
    } else if (this.queue.length === 0 || this.queuedItems + items <= this.options.maxQueuedItems) {
      this.queue.push({ batch, items });
      this.queuedItems += items;
    } else {
      this.account.dropped(items, 'the export queue is full (the collector is slow or down)');
    }
    resultCallback({ code: ExportResultCode.SUCCESS });
    this.pump();
  }

  /** Resolves once nothing is queued or in flight. Holds nothing that keeps the process alive: callers do. */
  forceFlush(): Promise<void> {
    if (this.idle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stopRetrying(): void {
    this.stopping = true;
    this.transport.stop();
    clearTimeout(this.pause);
    this.pause = undefined;
    this.pump();
  }

  /** Sends what is queued, each with a single attempt, then closes the connection. */
  async shutdown(): Promise<void> {
    this.stopRetrying();
    await this.forceFlush();
    this.shutDown = true;
    await this.inner.shutdown();
  }

  /** Gives up on whatever is queued or in flight (counted as lost) and closes the connection now. */
  abandon(reason: string): void {
    if (this.abandoned) return;
    this.abandoned = true;
    clearTimeout(this.pause);
    this.pause = undefined;
    const unsent = (this.inFlightItems ?? 0) + this.queuedItems;
    if (unsent > 0) this.account.dropped(unsent, reason);
    this.queue = [];
    this.queuedItems = 0;
    this.inFlightItems = undefined;
    this.transport.shutdown();
    this.wakeIdleWaiters();
  }

  setMetrics(metrics: ExporterMetrics<T>): void {
    this.inner.setMetrics(metrics);
  }

  private send(next: Queued<T>): void {
    this.inFlightItems = next.items;
    // The exports of the processors already run with tracing suppressed; the ones started from the queue run
    // from a network callback, so suppress it here too (no HTTP client spans for our own exports).
    let answered = false;
    const answer = (result: ExportResult): void => {
      if (answered) return;
      answered = true;
      this.settled(next.items, result);
    };
    try {
      context.with(suppressTracing(context.active()), () => this.inner.export(next.batch, answer));
    } catch (error) {
      answer({ code: ExportResultCode.FAILED, error: error instanceof Error ? error : new Error(String(error)) });
    }
  }

  private settled(items: number, result: ExportResult): void {
    if (this.abandoned) return; // already counted
    this.inFlightItems = undefined;
    if (result.code === ExportResultCode.SUCCESS) this.account.succeeded();
    else this.account.failed(items, result.error ?? 'the export failed');
    this.pump();
  }

  /** Starts the next export if none is in flight and the collector's circuit lets it; else waits (unref'd). */
  private pump(): void {
    if (this.abandoned || this.inFlightItems !== undefined || this.pause !== undefined) return;
    if (this.queue.length === 0) {
      this.wakeIdleWaiters();
      return;
    }
    const wait = this.stopping ? 0 : this.account.circuit.waitMillis();
    if (wait > 0) {
      this.pause = setTimeout(() => {
        this.pause = undefined;
        this.pump();
      }, wait);
      this.pause.unref();
      return;
    }
    const next = this.dequeue();
    if (next !== undefined) this.send(next);
  }

  private dequeue(): Queued<T> | undefined {
    const first = this.queue.shift();
    if (first === undefined) return undefined;
    const batches = [first.batch];
    let items = first.items;
    const merge = this.options.merge;
    while (
      merge !== undefined &&
      this.queue.length > 0 &&
      items + (this.queue[0]?.items ?? 0) <= merge.maxExportItems
    ) {
      const next = this.queue.shift() as Queued<T>;
      batches.push(next.batch);
      items += next.items;
    }
    this.queuedItems -= items;
    return { batch: batches.length === 1 ? first.batch : (merge as NonNullable<typeof merge>).join(batches), items };
  }

  private idle(): boolean {
    return this.inFlightItems === undefined && this.queue.length === 0;
  }

  private wakeIdleWaiters(): void {
    if (!this.idle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }
}
