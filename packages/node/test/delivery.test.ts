/**
 * The detached delivery behind the OTLP exporters and its retries, against scripted exporters and transports:
 * what is acknowledged, queued, dropped and counted, and when a flush resolves.
 */
import { diag } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { ExportResponse, IExporterTransport, IOtlpExportDelegate } from '@opentelemetry/otlp-exporter-base';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DetachedExportDelegate } from '../src/detached-delegate.js';
import { ExportLedger } from '../src/export-ledger.js';
import { retryAfterMillis } from '../src/http-transport.js';
import { RetryingTransport } from '../src/retrying-transport.js';

type Batch = string[];

/** An inner export delegate whose exports the test answers. */
class ScriptedExports implements IOtlpExportDelegate<Batch> {
  readonly pending: { batch: Batch; answer: (result: ExportResult) => void }[] = [];
  readonly sent: Batch[] = [];
  shutDown = false;

  export(batch: Batch, answer: (result: ExportResult) => void): void {
    this.sent.push(batch);
    this.pending.push({ batch, answer });
  }
  answerNext(code: ExportResultCode, error?: Error): void {
    const next = this.pending.shift();
    if (!next) throw new Error('nothing in flight');
    next.answer(code === ExportResultCode.SUCCESS ? { code } : { code, error: error ?? new Error('refused') });
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {
    this.shutDown = true;
  }
  setMetrics(): void {}
}

const noTransport: IExporterTransport = {
  send: async () => ({ status: 'success' }),
  shutdown: () => {},
};

/** Throws from its first export (a serialiser that fails). */
class ThrowingOnce extends ScriptedExports {
  private thrown = false;
  override export(batch: Batch, answer: (result: ExportResult) => void): void {
    if (!this.thrown) {
      this.thrown = true;
      throw new Error('cannot serialise');
    }
    super.export(batch, answer);
  }
}

interface Limits {
  maxQueuedItems?: number;
  newestWins?: boolean;
  maxExportItems?: number;
}

function delivery(options: Limits = {}, inner = new ScriptedExports()) {
  const ledger = new ExportLedger();
  const account = ledger.open('traces', 'grpc collector:4317', 'collector:4317');
  const detached = new DetachedExportDelegate(inner, new RetryingTransport(noTransport), account, {
    count: (batch: Batch) => batch.length,
    maxQueuedItems: options.maxQueuedItems ?? 4,
    newestWins: options.newestWins,
    merge:
      options.maxExportItems === undefined
        ? undefined
        : { join: (batches: Batch[]) => batches.flat(), maxExportItems: options.maxExportItems },
  });
  const results: ExportResult[] = [];
  const hand = (batch: Batch) => detached.export(batch, (result) => results.push(result));
  return { inner, ledger, account, detached, results, hand };
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe('DetachedExportDelegate', () => {
  it('acknowledges at once and sends one export at a time, the queued ones in order', () => {
    const { inner, results, hand } = delivery();
    hand(['a']);
    hand(['b', 'c']);
    hand(['d']);
    expect(results.map((r) => r.code)).toEqual([
      ExportResultCode.SUCCESS,
      ExportResultCode.SUCCESS,
      ExportResultCode.SUCCESS,
    ]);
    expect(inner.sent).toEqual([['a']]);
    inner.answerNext(ExportResultCode.SUCCESS);
    expect(inner.sent).toEqual([['a'], ['b', 'c']]);
    inner.answerNext(ExportResultCode.SUCCESS);
    inner.answerNext(ExportResultCode.SUCCESS);
    expect(inner.sent).toEqual([['a'], ['b', 'c'], ['d']]);
  });

  it('drops what does not fit behind the export in flight, and counts failed and dropped items', () => {
    vi.useFakeTimers();
    const { inner, account, hand } = delivery({ maxQueuedItems: 3 });
    hand(['in flight']);
    hand(['q1', 'q2']);
    hand(['q3']);
    hand(['too', 'many']); // 3 queued + 2 > 3
    expect(account.lost).toBe(2);
    inner.answerNext(ExportResultCode.FAILED, new Error('connect ECONNREFUSED 127.0.0.1:4317'));
    expect(account.lost).toBe(3);
    expect(account.error).toBe('connect ECONNREFUSED 127.0.0.1:4317');
    vi.advanceTimersByTime(1000); // the pause after a failure
    inner.answerNext(ExportResultCode.SUCCESS);
    inner.answerNext(ExportResultCode.SUCCESS);
    expect(inner.sent.flat()).toEqual(['in flight', 'q1', 'q2', 'q3']);
    expect(account.lost).toBe(3);
  });

  it('always lets one batch wait, however large', () => {
    const { inner, account, hand } = delivery({ maxQueuedItems: 1 });
    hand(['in flight']);
    hand(['a', 'b', 'c']);
    inner.answerNext(ExportResultCode.SUCCESS);
    expect(inner.sent[1]).toEqual(['a', 'b', 'c']);
    expect(account.lost).toBe(0);
  });

  it('newestWins (metrics): a newer batch replaces the queued one, which is counted as dropped', () => {
    const { inner, account, hand } = delivery({ newestWins: true });
    hand(['collection 1']);
    hand(['collection 2', 'x']);
    hand(['collection 3']);
    expect(account.lost).toBe(2);
    inner.answerNext(ExportResultCode.SUCCESS);
    expect(inner.sent).toEqual([['collection 1'], ['collection 3']]);
  });

  it('joins queued batches into exports of at most maxExportItems (spans, log records)', () => {
    const { inner, account, hand } = delivery({ maxQueuedItems: 10, maxExportItems: 3 });
    hand(['in flight']);
    for (const span of ['a', 'b', 'c', 'd', 'e']) hand([span]);
    inner.answerNext(ExportResultCode.SUCCESS);
    inner.answerNext(ExportResultCode.SUCCESS);
    expect(inner.sent).toEqual([['in flight'], ['a', 'b', 'c'], ['d', 'e']]);
    inner.answerNext(ExportResultCode.FAILED);
    expect(account.lost).toBe(2);
  });

  it('after a failed export the next one to that collector waits, 1 s then doubling; a success ends the pauses', () => {
    vi.useFakeTimers();
    const { inner, account, hand } = delivery();
    hand(['a']);
    inner.answerNext(ExportResultCode.FAILED);
    hand(['b']);
    vi.advanceTimersByTime(999);
    expect(inner.sent).toEqual([['a']]);
    vi.advanceTimersByTime(1);
    expect(inner.sent).toEqual([['a'], ['b']]);
    inner.answerNext(ExportResultCode.FAILED);
    hand(['c']);
    vi.advanceTimersByTime(1999);
    expect(inner.sent).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(inner.sent).toHaveLength(3);
    inner.answerNext(ExportResultCode.SUCCESS);
    hand(['d']);
    expect(inner.sent).toEqual([['a'], ['b'], ['c'], ['d']]);
    expect(account.circuit.waitMillis()).toBe(0);
  });

  it('the signals sent to one collector share the pauses; shutdown ends a pause at once', () => {
    vi.useFakeTimers();
    const ledger = new ExportLedger();
    const traces = new ScriptedExports();
    const metrics = new ScriptedExports();
    const deliveries = [traces, metrics].map(
      (inner, i) =>
        new DetachedExportDelegate(
          inner,
          new RetryingTransport(noTransport),
          ledger.open(i === 0 ? 'traces' : 'metrics', 'grpc collector:4317', 'collector:4317'),
          { count: (batch: Batch) => batch.length, maxQueuedItems: 10 },
        ),
    );
    const [traceDelivery, metricDelivery] = deliveries as [
      DetachedExportDelegate<Batch>,
      DetachedExportDelegate<Batch>,
    ];
    traceDelivery.export(['span'], () => {});
    traces.answerNext(ExportResultCode.FAILED);
    metricDelivery.export(['point'], () => {});
    expect(metrics.sent).toEqual([]); // paused by the traces' failure
    metricDelivery.stopRetrying();
    expect(metrics.sent).toEqual([['point']]);
  });

  it('forceFlush resolves once nothing is queued or in flight', async () => {
    const { inner, detached, hand } = delivery();
    await detached.forceFlush(); // idle: at once
    hand(['a']);
    hand(['b']);
    let flushed = false;
    const flush = detached.forceFlush().then(() => {
      flushed = true;
    });
    inner.answerNext(ExportResultCode.SUCCESS);
    await Promise.resolve();
    expect(flushed).toBe(false);
    inner.answerNext(ExportResultCode.FAILED);
    await flush;
    expect(flushed).toBe(true);
  });

  it('abandon counts what is queued or in flight, ignores late answers, and ends a pending flush', async () => {
    const { inner, account, detached, hand } = delivery();
    hand(['in flight', 'x']);
    hand(['queued']);
    const flush = detached.forceFlush();
    detached.abandon('no answer before the shutdown time limit');
    await flush;
    expect(account.lost).toBe(3);
    expect(account.error).toBe('no answer before the shutdown time limit');
    inner.answerNext(ExportResultCode.FAILED); // the late answer of the abandoned export
    expect(account.lost).toBe(3);
  });

  it('after shutdown, exports fail instead of being acknowledged', async () => {
    const { inner, detached, results, hand } = delivery();
    await detached.shutdown();
    expect(inner.shutDown).toBe(true);
    hand(['late']);
    expect(results).toEqual([{ code: ExportResultCode.FAILED, error: expect.any(Error) }]);
    expect(inner.sent).toEqual([]);
  });

  it('an exporter that throws while exporting counts as a failed export and the next one goes out', () => {
    vi.useFakeTimers();
    const { inner, account, hand } = delivery({}, new ThrowingOnce());
    hand(['a']);
    hand(['b']);
    vi.advanceTimersByTime(1000);
    expect(account.lost).toBe(1);
    expect(account.error).toBe('cannot serialise');
    expect(inner.sent).toEqual([['b']]);
  });
});

describe('ExportLedger', () => {
  it('logs the first failure of a signal once, the recovery once, and one summary of everything dropped', () => {
    const warn = vi.spyOn(diag, 'warn').mockImplementation(() => {});
    const info = vi.spyOn(diag, 'info').mockImplementation(() => {});
    const ledger = new ExportLedger();
    const traces = ledger.open('traces', 'grpc collector:4317', 'collector:4317');
    const metrics = ledger.open('metrics', 'grpc collector:4317', 'collector:4317');
    traces.failed(10, new Error('14 UNAVAILABLE: No connection established'));
    traces.failed(5, new Error('14 UNAVAILABLE: No connection established'));
    traces.dropped(2, 'the export queue is full (the collector is slow or down)');
    traces.succeeded();
    traces.succeeded();
    metrics.dropped(7, 'no answer before the shutdown time limit');
    expect(warn).toHaveBeenCalledTimes(1);
    expect(info).toHaveBeenCalledTimes(1);
    ledger.report(1000);
    ledger.report(1000);
    expect(warn).toHaveBeenCalledTimes(2);
    expect(warn.mock.calls[1]?.[0]).toBe(
      '@ollama-otel/node: telemetry shutdown stopped at its 1000 ms time limit; telemetry dropped because it could ' +
        'not be exported: 17 spans (traces to grpc collector:4317: 14 UNAVAILABLE: No connection established), ' +
        '7 metric data points (metrics to grpc collector:4317: no answer before the shutdown time limit)',
    );
  });

  it('says nothing at shutdown when nothing was dropped', () => {
    const warn = vi.spyOn(diag, 'warn').mockImplementation(() => {});
    const ledger = new ExportLedger();
    ledger.open('logs', 'http/protobuf http://collector:4318/v1/logs', 'collector:4318').succeeded();
    ledger.report();
    expect(warn).not.toHaveBeenCalled();
  });
});

describe('RetryingTransport', () => {
  function scripted(...answers: ExportResponse[]) {
    const sends: number[] = [];
    const transport: IExporterTransport = {
      send: async (_data, timeoutMillis) => {
        sends.push(timeoutMillis);
        return answers.shift() ?? { status: 'success' };
      },
      shutdown: () => {},
    };
    return { transport, sends };
  }

  it('retries a retryable answer after the Retry-After wait, until it succeeds', async () => {
    const { transport, sends } = scripted(
      { status: 'retryable', retryInMillis: 5 },
      { status: 'retryable', retryInMillis: 5 },
    );
    const result = await new RetryingTransport(transport).send(new Uint8Array(1), 2000);
    expect(result.status).toBe('success');
    expect(sends).toHaveLength(3);
    expect(sends[2]).toBeLessThanOrEqual(2000);
  });

  it('does not retry failures, nor past the time limit', async () => {
    const failing = scripted({ status: 'failure', error: new Error('400') });
    expect((await new RetryingTransport(failing.transport).send(new Uint8Array(1), 2000)).status).toBe('failure');
    expect(failing.sends).toHaveLength(1);
    const late = scripted({ status: 'retryable', retryInMillis: 5000 });
    expect((await new RetryingTransport(late.transport).send(new Uint8Array(1), 1000)).status).toBe('retryable');
    expect(late.sends).toHaveLength(1);
  });

  it('stop() ends a pending backoff at once and makes the failure final', async () => {
    const { transport, sends } = scripted({ status: 'retryable' }, { status: 'retryable' });
    const retrying = new RetryingTransport(transport);
    const started = Date.now();
    const sending = retrying.send(new Uint8Array(1), 10_000); // the first backoff is about 1 s
    await new Promise((resolve) => setTimeout(resolve, 20));
    retrying.stop();
    expect((await sending).status).toBe('retryable');
    expect(Date.now() - started).toBeLessThan(800);
    expect(sends).toHaveLength(1);
  });
});

describe('retryAfterMillis', () => {
  it('reads seconds and HTTP dates', () => {
    expect(retryAfterMillis(undefined)).toBeUndefined();
    expect(retryAfterMillis('3')).toBe(3000);
    expect(retryAfterMillis('-1')).toBe(0);
    expect(retryAfterMillis('soon')).toBeUndefined();
    const inAMinute = new Date(Date.now() + 60_000).toUTCString();
    expect(retryAfterMillis(inAMinute)).toBeGreaterThan(55_000);
  });
});
