/**
 * Graceful shutdown: flush telemetry on SIGTERM, SIGINT and `beforeExit` within a time limit, then let the process
 * end the way it would have without us.
 *
 * - `beforeExit` (the event loop ran dry): shut the SDK down, bounded. The exit code stays `process.exitCode`.
 *   If the flush is still hanging at the limit, the process exits then (with that same exit code). Nothing of the
 *   telemetry keeps the loop alive before that (see detached-delegate.ts), so `beforeExit` comes as soon as the
 *   app's own work is done, whatever the collector does.
 * - A signal with no listener of the app's own: Node's default would have ended the process, so after the bounded
 *   shutdown our listener is removed and the same signal is raised again, ending the process exactly as the
 *   default would (killed by the signal, exit status 128 + signal number in a shell). A second signal during the
 *   flush ends it at once.
 * - A signal the app listens for itself: the app's handlers decide when and how it ends; we never exit for it. We
 *   still shut the SDK down (flushing first, bounded), as auto-instrumentations-node does: the app is draining,
 *   and no telemetry resource (the Prometheus endpoint with its scrapers' keep-alive connections, exporter
 *   channels) may keep the process alive after the app has closed its own servers.
 * The time limit is the shutdown's own (start.ts): its timer keeps the process alive while it runs.
 */
import { diag } from '@opentelemetry/api';

export type ShutdownSignal = 'SIGTERM' | 'SIGINT';

export interface ShutdownHooksOptions {
  /**
   * Ends the telemetry for good (flush and shut down) within its time limit, keeping the process alive meanwhile;
   * resolves whether it finished in time. Must not reject.
   */
  shutdown: () => Promise<boolean>;
  signals?: readonly ShutdownSignal[];
}

export interface ShutdownHooks {
  /** Removes every listener installed. */
  uninstall(): void;
}

/** Waits for `work`, at most `timeoutMillis`; resolves true when it finished in time. Never rejects. */
export function withTimeout(work: Promise<void>, timeoutMillis: number, keepAlive = false): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMillis);
    if (!keepAlive) timer.unref();
    work.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      (err: unknown) => {
        clearTimeout(timer);
        diag.error('@ollama-otel/node: telemetry shutdown failed', err);
        resolve(true);
      },
    );
  });
}

export function installShutdownHooks(options: ShutdownHooksOptions): ShutdownHooks {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  let shuttingDown = false;
  const signalListeners = new Map<ShutdownSignal, () => void>();

  const onBeforeExit = (): void => {
    if (shuttingDown) return;
    shuttingDown = true;
    void options.shutdown().then((finished) => {
      // What still runs is ours (the loop had run dry): do not wait for it.
      if (!finished) process.exit();
    });
  };

  const onSignal = (signal: ShutdownSignal): void => {
    const ours = signalListeners.get(signal);
    const appListens = process.listeners(signal).some((listener) => listener !== ours);
    if (appListens) {
      // The app handles this signal: it decides the exit; we get what we have out and release our handles.
      if (shuttingDown) return;
      shuttingDown = true;
      void options.shutdown();
      return;
    }
    if (shuttingDown) {
      reraise(signal); // second signal while flushing: end now, as the default would have
      return;
    }
    shuttingDown = true;
    void options.shutdown().then(() => reraise(signal));
  };

  const reraise = (signal: ShutdownSignal): void => {
    uninstall();
    // Someone may have started listening meanwhile: then it is theirs to handle.
    if (process.listenerCount(signal) > 0) return;
    try {
      process.kill(process.pid, signal);
    } catch {
      process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    }
  };

  const uninstall = (): void => {
    process.removeListener('beforeExit', onBeforeExit);
    for (const [signal, listener] of signalListeners) process.removeListener(signal, listener);
    signalListeners.clear();
  };

  process.once('beforeExit', onBeforeExit);
  for (const signal of signals) {
    const listener = () => onSignal(signal);
    signalListeners.set(signal, listener);
    process.on(signal, listener);
  }
  return { uninstall };
}
