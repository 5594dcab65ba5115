/**
 * Runs Node child processes against the built packages, with a clean environment and a hard time limit.
 * The working directory is packages/node, so `@ollama-otel/node/register` resolves through the package's own
 * `exports` (self-reference) exactly as it would for a user, and the fixtures find `ollama`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const PACKAGE_DIR = fileURLToPath(new URL('../..', import.meta.url));
export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
}

export interface RunningChild {
  readonly child: ChildProcess;
  readonly result: Promise<ChildResult>;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout contains `text`. */
  waitForStdout(text: string, timeoutMs?: number): Promise<void>;
}

export interface SpawnOptions {
  env?: Record<string, string | undefined>;
  /** Killed (SIGKILL) after this long; default 30 s. */
  timeoutMs?: number;
}

/** The parent's environment without anything that would configure OpenTelemetry, Ollama or Node itself. */
export function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    // NODE_PATH: pnpm's bin shims set one that reaches every hoisted package, hiding what a user's install resolves.
    if (/^(OTEL_|OLLAMA_|NODE_OPTIONS$|NODE_PATH$|NODE_V8_COVERAGE$|VITEST|APP_)/.test(key)) continue;
    env[key] = value;
  }
  return env;
}

export function spawnNode(args: string[], options: SpawnOptions = {}): RunningChild {
  // The package's start line and delivery warnings (stderr, by default) are the subject of start-line.test.ts;
  // elsewhere they are off unless a test sets OTEL_LOG_LEVEL (undefined: the package's default).
  const env: Record<string, string> = { ...cleanEnv(), OTEL_LOG_LEVEL: 'none' };
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  const started = Date.now();
  const child = spawn(process.execPath, args, { cwd: PACKAGE_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const waiter of [...waiters]) {
      if (stdout.includes(waiter.text)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs ?? 30_000);
  const result = new Promise<ChildResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, durationMs: Date.now() - started, timedOut });
    });
  });
  return {
    child,
    result,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForStdout: (text, timeoutMs = 15_000) =>
      new Promise<void>((resolve, reject) => {
        if (stdout.includes(text)) {
          resolve();
          return;
        }
        const t = setTimeout(
          () =>
            reject(new Error(`no "${text}" on stdout within ${timeoutMs} ms; stdout: ${stdout}; stderr: ${stderr}`)),
          timeoutMs,
        );
        waiters.push({
          text,
          resolve: () => {
            clearTimeout(t);
            resolve();
          },
        });
      }),
  };
}

export function runNode(args: string[], options: SpawnOptions = {}): Promise<ChildResult> {
  return spawnNode(args, options).result;
}

/** A TCP port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Settings that make child processes export quickly. The metric interval also limits each collection (the
 * reader's export time limit is at most the interval), so it leaves a slow, shared machine room for the final one.
 */
export const FAST_EXPORT_ENV = {
  OTEL_METRIC_EXPORT_INTERVAL: '1000',
  OTEL_BSP_SCHEDULE_DELAY: '50',
  OTEL_BLRP_SCHEDULE_DELAY: '50',
  OLLAMA_OTEL_SERVER_METRICS_MIN_INTERVAL: '0',
} as const;
