/**
 * Retries of one OTLP export, as the OpenTelemetry exporters do them (up to 5 retries, exponential backoff from
 * 1 s by 1.5x up to 5 s with ±20% jitter, or the server's Retry-After; never past the export's time limit), with
 * two differences: the backoff timers never keep the process alive, and `stop()` ends every pending backoff at
 * once, so that once shutdown has begun a failed attempt is final.
 */
import type { ExportResponse, IExporterTransport } from '@opentelemetry/otlp-exporter-base';

const MAX_RETRIES = 5;
const INITIAL_BACKOFF_MILLIS = 1_000;
const MAX_BACKOFF_MILLIS = 5_000;
const BACKOFF_MULTIPLIER = 1.5;
const JITTER = 0.2;

export class RetryingTransport implements IExporterTransport {
  private stopped = false;
  private readonly sleepers = new Set<() => void>();

  constructor(private readonly transport: IExporterTransport) {}

  async send(data: Uint8Array, timeoutMillis: number): Promise<ExportResponse> {
    const deadline = Date.now() + timeoutMillis;
    let result = await this.transport.send(data, timeoutMillis);
    let backoff = INITIAL_BACKOFF_MILLIS;
    for (let retry = 0; retry < MAX_RETRIES && result.status === 'retryable' && !this.stopped; retry++) {
      const jittered = Math.min(backoff * (1 + (Math.random() * 2 - 1) * JITTER), MAX_BACKOFF_MILLIS);
      backoff *= BACKOFF_MULTIPLIER;
      const wait = result.retryInMillis ?? jittered;
      if (wait > deadline - Date.now()) break;
      if (!(await this.sleep(wait))) break;
      result = await this.transport.send(data, Math.max(deadline - Date.now(), 1));
    }
    return result;
  }

  /** No more retries: pending backoffs end now, and later failures are final. */
  stop(): void {
    this.stopped = true;
    for (const wake of [...this.sleepers]) wake();
  }

  shutdown(): void {
    this.stop();
    this.transport.shutdown();
  }

  /** Resolves true after `millis`, or false as soon as `stop()` is called. */
  private sleep(millis: number): Promise<boolean> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve(false);
      };
      const timer = setTimeout(() => {
        this.sleepers.delete(wake);
        resolve(true);
      }, millis);
      timer.unref();
      this.sleepers.add(wake);
    });
  }
}
