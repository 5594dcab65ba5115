import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import {
  type CollectedMetric,
  createTelemetryHarness,
  findMetric,
  installContextManager,
  type OllamaDouble,
  type OllamaDoubleOptions,
  type ReadableSpan,
  startOllamaDouble,
  type TelemetryHarness,
} from '@ollama-otel/testing';
import { SpanKind } from '@opentelemetry/api';
import { startProxy } from '../src/index.js';
import type { ProxyOptions, RunningProxy } from '../src/types.js';

export interface Rig {
  double: OllamaDouble;
  telemetry: TelemetryHarness;
  proxy: RunningProxy;
  close(): Promise<void>;
}

/** The Ollama test double, an in-memory SDK, and the proxy in front of the double recording into it. */
export async function startRig(options: { double?: OllamaDoubleOptions; proxy?: ProxyOptions } = {}): Promise<Rig> {
  const double = await startOllamaDouble(options.double);
  const { telemetry, proxy } = await startRecordingProxy(double.url, options.proxy);
  return {
    double,
    telemetry,
    proxy,
    async close() {
      await proxy.close(0);
      await telemetry.shutdown();
      await double.close();
    },
  };
}

/** The proxy in front of `upstream`, recording into an in-memory SDK. */
export async function startRecordingProxy(
  upstream: string,
  options: ProxyOptions = {},
): Promise<{ telemetry: TelemetryHarness; proxy: RunningProxy }> {
  installContextManager();
  const telemetry = createTelemetryHarness();
  const proxy = await startProxy({
    upstream,
    port: 0,
    tracerProvider: telemetry.tracerProvider,
    meterProvider: telemetry.meterProvider,
    loggerProvider: telemetry.loggerProvider,
    ...options,
  });
  return { telemetry, proxy };
}

/**
 * The environment of a child process under test: this one's, without telemetry and Ollama settings (or pnpm's
 * NODE_PATH, which reaches every hoisted package and hides what an install resolves), plus `extra`.
 */
export function childEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(OTEL_|OLLAMA_|NODE_OPTIONS$|NODE_PATH$|VITEST)/.test(key)) env[key] = value;
  }
  return { ...env, ...extra };
}

export const serverSpans = (telemetry: TelemetryHarness) => telemetry.spans().filter((s) => s.kind === SpanKind.SERVER);
export const clientSpans = (telemetry: TelemetryHarness) => telemetry.spans().filter((s) => s.kind === SpanKind.CLIENT);

export function onlyClientSpan(telemetry: TelemetryHarness): ReadableSpan {
  const spans = clientSpans(telemetry);
  if (spans.length !== 1)
    throw new Error(`expected one client span, got ${spans.map((s) => s.name).join(', ') || 'none'}`);
  return spans[0]!;
}

/** Waits until the proxy has ended as many server spans (spans end when the client's response closes). */
export async function settled(rig: Rig, serverSpanCount: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (serverSpans(rig.telemetry).length < serverSpanCount || rig.proxy.inFlight > 0) {
    if (Date.now() > deadline) {
      throw new Error(
        `${serverSpans(rig.telemetry).length} of ${serverSpanCount} server spans ended in ${timeoutMs} ms`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export function points(metrics: CollectedMetric[], name: string, match: Record<string, unknown> = {}) {
  return (findMetric(metrics, name)?.dataPoints ?? []).filter((point) =>
    Object.entries(match).every(([key, value]) => point.attributes[key] === value),
  );
}

export function histogramCount(metrics: CollectedMetric[], name: string, match: Record<string, unknown> = {}): number {
  return points(metrics, name, match).reduce((total, point) => total + point.value.count, 0);
}

export interface RawResponse {
  status: number;
  statusMessage: string;
  /** Raw header pairs as received, `Date` left out. */
  headers: [string, string][];
  body: Buffer;
  /** True when the connection was cut before the body ended. */
  cut: boolean;
}

/** One raw HTTP/1.1 exchange (its own connection), for byte-for-byte comparisons. */
export function rawRequest(
  base: string,
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    const framed = body === undefined ? headers : { 'content-length': String(Buffer.byteLength(body)), ...headers };
    const req = request(
      { host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers: framed, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        let cut = false;
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', () => {
          cut = true;
        });
        res.on('close', () => {
          const pairs: [string, string][] = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2) {
            if (res.rawHeaders[i]!.toLowerCase() !== 'date') pairs.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
          }
          resolve({
            status: res.statusCode ?? 0,
            statusMessage: res.statusMessage ?? '',
            headers: pairs,
            body: Buffer.concat(chunks),
            cut: cut || !res.complete,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export const QUESTION = [{ role: 'user' as const, content: 'Why is the sky blue?' }];

export const CLI = fileURLToPath(new URL('../dist/esm/cli.js', import.meta.url));

export interface CliProcess {
  child: ChildProcess;
  url: string;
  port: number;
  output(): string;
  exited: Promise<number | null>;
  /** SIGKILL unless it has exited. */
  kill(): void;
}

/** Starts the built CLI (optionally behind a wrapper such as `prlimit ...`) and waits for its ready line. */
export async function startProxyCli(
  args: string[],
  options: { env: Record<string, string>; wrapper?: string[] },
): Promise<CliProcess> {
  const command = options.wrapper ?? [];
  const argv = [...command, process.execPath, CLI, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr!.on('data', (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = /listening on (http:\/\/\S+?),/;
  const deadline = Date.now() + 20_000;
  while (!ready.test(output)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      if (child.exitCode === null) child.kill('SIGKILL');
      throw new Error(`the proxy did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const url = ready.exec(output)![1]!;
  return {
    child,
    url,
    port: Number(new URL(url).port),
    output: () => output,
    exited,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
