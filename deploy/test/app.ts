/*
 * The example service (examples/express-chat) as the deploy tests run it: a child process started as in
 * production, `node --import @ollama-otel/node/register dist/server.js`, with a clean environment plus the
 * test's settings, and the demo's kinds of requests against it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './prometheus.js';
import { repoRoot } from './tools.js';

export const exampleDir = join(repoRoot, 'examples', 'express-chat');

export interface ExampleService {
  /** `http://127.0.0.1:<port>` */
  readonly base: string;
  readonly child: ChildProcess;
  output(): string;
  /** Resident set size of the service process, in bytes (Linux /proc). */
  rss(): number;
  /** SIGTERM, then waits up to `timeoutMs` for it to exit (SIGKILL after that). */
  stop(
    timeoutMs?: number,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number; killed: boolean }>;
}

/** Starts the example service with `env` (on top of PATH and HOME only) and waits until /healthz answers. */
export async function startExampleService(env: Record<string, string>): Promise<ExampleService> {
  if (!existsSync(join(exampleDir, 'dist', 'server.js'))) {
    throw new Error('examples/express-chat is not built: run `pnpm build` (pnpm test does)');
  }
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', '@ollama-otel/node/register', 'dist/server.js'], {
    cwd: exampleDir,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const base = `http://127.0.0.1:${port}`;
  await waitForHealthy(`${base}/healthz`, child, () => output);
  return {
    base,
    child,
    output: () => output,
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024,
    async stop(timeoutMs = 15_000) {
      const started = Date.now();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const inTime = await Promise.race([
          exited.then(() => true),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs)),
        ]);
        if (!inTime) child.kill('SIGKILL');
        await exited;
        return { code: child.exitCode, signal: child.signalCode, ms: Date.now() - started, killed: !inTime };
      }
      return { code: child.exitCode, signal: child.signalCode, ms: 0, killed: false };
    },
  };
}

export async function waitForHealthy(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the example exited (${child.exitCode}):\n${output()}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the example did not become healthy:\n${output()}`);
}

/** The demo's mix: a question, a streamed chat, an embedding, and a chat with a model that does not exist. */
export const REQUEST_KINDS = ['ask', 'stream', 'embed', 'missing-model'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

const REQUESTS: Record<RequestKind, { path: string; body: unknown; status: number }> = {
  ask: { path: '/v1/ask', body: { question: 'Why is the sky blue?' }, status: 200 },
  stream: {
    path: '/v1/chat',
    body: { messages: [{ role: 'user', content: 'Tell me about llamas.' }], stream: true },
    status: 200,
  },
  embed: { path: '/v1/embed', body: { input: ['sky', 'grass'] }, status: 200 },
  'missing-model': {
    path: '/v1/chat',
    body: { messages: [{ role: 'user', content: 'hi' }], model: 'no-such-model' },
    status: 404,
  },
};

export interface CallResult {
  kind: RequestKind;
  /** The W3C trace the call was sent in (the service's spans join it), and the remote parent span it named. */
  traceId: string;
  parentSpanId: string;
  status: number;
  /** The status this kind must answer with, whatever happens to telemetry. */
  expectedStatus: number;
  body: string;
  ms: number;
}

/** One request of `kind`, sent with a `traceparent` of a fresh trace id so its spans can be found and counted. */
export async function call(base: string, kind: RequestKind): Promise<CallResult> {
  const { path, body, status: expectedStatus } = REQUESTS[kind];
  const traceId = randomBytes(16).toString('hex');
  const parentSpanId = randomBytes(8).toString('hex');
  const started = performance.now();
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      traceparent: `00-${traceId}-${parentSpanId}-01`,
    },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return {
    kind,
    traceId,
    parentSpanId,
    status: response.status,
    expectedStatus,
    body: text,
    ms: performance.now() - started,
  };
}

/**
 * `rounds` of the demo's traffic: each unloads the chat model from the Ollama double first, so every `ask` is a
 * cold start (with the double's coldLoadMs above the 500 ms threshold, a counted one).
 */
export async function demoRounds(base: string, ollamaUrl: string, rounds: number): Promise<CallResult[]> {
  const results: CallResult[] = [];
  for (let round = 0; round < rounds; round++) {
    await fetch(`${ollamaUrl}/api/generate`, {
      method: 'POST',
      body: JSON.stringify({ model: 'llama3.2', prompt: '', keep_alive: 0, stream: false }),
    });
    for (const kind of REQUEST_KINDS) results.push(await call(base, kind));
    await fetch(`${base}/healthz`);
  }
  return results;
}
