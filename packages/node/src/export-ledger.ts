/**
 * What the OTLP exports could not deliver, per signal, for the one warning at shutdown; and the log-once
 * behaviour while they fail: the first failure of a signal after success (or at start) is logged once (warn), its
 * recovery once more (info), nothing in between.
 */
import { diag } from '@opentelemetry/api';
import { PACKAGE_NAME } from './version.js';

export type SignalName = 'traces' | 'metrics' | 'logs';

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
  ) {}

  get lost(): number {
    return this.lostItems;
  }

  get error(): string | undefined {
    return this.lastError;
  }

  succeeded(): void {
    if (!this.failing) return;
    this.failing = false;
    diag.info(`${PACKAGE_NAME}: ${this.signal} exports to ${this.target} work again`);
  }

  /** An export of `items` failed: the collector refused it, answered with an error, or never answered. */
  failed(items: number, error: unknown): void {
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
  private reported = false;

  open(signal: SignalName, target: string): SignalAccount {
    const account = new SignalAccount(signal, target);
    this.accounts.push(account);
    return account;
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
