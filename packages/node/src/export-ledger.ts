/**
 * What the OTLP exports could not deliver, per signal, for the one warning at shutdown; the log-once behaviour
 * while they fail (the first failure of a signal after success, or at start, is logged once (warn), its recovery
 * once more (info), nothing in between); and one circuit per collector, shared by the signals that go there.
 */
import { diag } from '@opentelemetry/api';
import { PACKAGE_NAME } from './version.js';

export type SignalName = 'traces' | 'metrics' | 'logs';

/** After a failed export, the next one to that collector waits 1 s, doubling per failure in a row up to 30 s. */
const FIRST_PAUSE_MILLIS = 1_000;
const MAX_PAUSE_MILLIS = 30_000;

/**
 * Pauses the exports to a collector after failures. Besides sparing a collector that is down (and the app the
 * work), the pauses are what lets a finished app end when a collector takes calls and never answers them: with no
 * export in flight, nothing keeps the process alive.
 */
export class CollectorCircuit {
  private failuresInARow = 0;
  private pausedUntil = 0;

  succeeded(): void {
    this.failuresInARow = 0;
    this.pausedUntil = 0;
  }

  failed(): void {
    this.failuresInARow++;
    const pause = Math.min(FIRST_PAUSE_MILLIS * 2 ** (this.failuresInARow - 1), MAX_PAUSE_MILLIS);
    this.pausedUntil = Date.now() + pause;
  }

  /** How long the next export has to wait (0: it may go now). */
  waitMillis(): number {
    return Math.max(this.pausedUntil - Date.now(), 0);
  }
}

const ITEM_NAMES: Record<SignalName, string> = {
  traces: 'spans',
  metrics: 'metric data points',
  logs: 'log records',
};

/** One signal's exports to one endpoint. */
export class SignalAccount {
  private lostItems = 0;
  private failing = false;
  private lastError: string | undefined;

  constructor(
    readonly signal: SignalName,
    /** Where it goes, for the messages (`grpc http://collector:4317`). */
    readonly target: string,
    readonly circuit: CollectorCircuit,
  ) {}

  get lost(): number {
    return this.lostItems;
  }

  get error(): string | undefined {
    return this.lastError;
  }

  succeeded(): void {
    this.circuit.succeeded();
    if (!this.failing) return;
    this.failing = false;
    diag.info(`${PACKAGE_NAME}: ${this.signal} exports to ${this.target} work again`);
  }

  /** An export of `items` failed: the collector refused it, answered with an error, or never answered. */
  failed(items: number, error: unknown): void {
    this.circuit.failed();
    this.lostItems += items;
    this.lastError = describe(error);
    if (this.failing) return;
    this.failing = true;
    diag.warn(
      `${PACKAGE_NAME}: ${this.signal} exports to ${this.target} fail (${this.lastError}); ` +
        'what cannot be sent is dropped, and the total is reported at shutdown',
    );
  }

  /**
   * `items` were dropped unsent (the queue behind a slow or failing export was full, or the shutdown time limit
   * came first). `reason` is reported only when no export error is known.
   */
  dropped(items: number, reason: string): void {
    this.lostItems += items;
    this.lastError ??= reason;
  }
}

export class ExportLedger {
  private readonly accounts: SignalAccount[] = [];
  private readonly circuits = new Map<string, CollectorCircuit>();
  private reported = false;

  /** `collector`: host and port (the signals sent there share a circuit). */
  open(signal: SignalName, target: string, collector: string): SignalAccount {
    let circuit = this.circuits.get(collector);
    if (circuit === undefined) {
      circuit = new CollectorCircuit();
      this.circuits.set(collector, circuit);
    }
    const account = new SignalAccount(signal, target, circuit);
    this.accounts.push(account);
    return account;
  }

  /** Where the exports of `signal` go (`grpc localhost:4317`), in the order they were opened. */
  targets(signal: SignalName): string[] {
    return this.accounts.filter((account) => account.signal === signal).map((account) => account.target);
  }

  /**
   * At shutdown, the one warning about everything dropped since start, if anything was, and about a shutdown that
   * ran into its time limit (`timedOutAfterMillis`). At most once.
   */
  report(timedOutAfterMillis?: number): void {
    if (this.reported) return;
    const lost = this.accounts.filter((account) => account.lost > 0);
    if (lost.length === 0 && timedOutAfterMillis === undefined) return;
    this.reported = true;
    const limit =
      timedOutAfterMillis === undefined ? '' : `telemetry shutdown stopped at its ${timedOutAfterMillis} ms time limit`;
    const parts = lost.map(
      (account) =>
        `${account.lost} ${ITEM_NAMES[account.signal]} (${account.signal} to ${account.target}: ${account.error})`,
    );
    const dropped = parts.length > 0 ? `telemetry dropped because it could not be exported: ${parts.join(', ')}` : '';
    diag.warn(`${PACKAGE_NAME}: ${[limit, dropped].filter((part) => part !== '').join('; ')}`);
  }
}

function describe(reason: unknown): string {
  if (reason instanceof Error) {
    const code = (reason as { code?: unknown }).code;
    const message = reason.message || reason.name;
    return typeof code === 'string' && !message.includes(code) ? `${code} ${message}` : message;
  }
  return String(reason);
}
