/**
 * The framework matrix: the ways of turning the instrumentation on, each run as a child process on the
 * frameworks app (fixtures/frameworks.{mjs,cjs}), and what every run must show: one GenAI span per request the
 * test double received (operation and model matching), `traceparent` on each request naming its span, results
 * identical to a run without telemetry, and span times consistent (events inside their span, children inside
 * their parent).
 */
import { randomUUID } from 'node:crypto';
import type { OllamaDouble, RecordedRequest } from '@ollama-otel/testing';
import { expect } from 'vitest';
import { type ChildResult, printed, run } from './node-child.js';
import type { OtlpReceiver, ReceivedSpan } from './otlp-receiver.js';
import { SPAN_KIND } from './otlp-receiver.js';
import { timingViolations } from './timing.js';

export interface Activation {
  label: string;
  /** Node arguments before the app. */
  args: string[];
  app: 'frameworks.mjs' | 'frameworks.cjs';
}

export const ACTIVATIONS: Activation[] = [
  {
    label: 'node --import @ollama-otel/node/register (ESM app)',
    args: ['--import', '@ollama-otel/node/register'],
    app: 'frameworks.mjs',
  },
  {
    label: 'node --require @ollama-otel/node/register (CommonJS app)',
    args: ['--require', '@ollama-otel/node/register'],
    app: 'frameworks.cjs',
  },
  { label: 'NodeSDK + OllamaInstrumentation (ESM app)', args: ['--import', './nodesdk.mjs'], app: 'frameworks.mjs' },
  {
    label: 'NodeSDK + OllamaInstrumentation (CommonJS app)',
    args: ['--require', './nodesdk.cjs'],
    app: 'frameworks.cjs',
  },
  {
    label: 'instrumentOllama() before the frameworks load (ESM app)',
    args: ['--import', './manual.mjs'],
    app: 'frameworks.mjs',
  },
  {
    label: 'instrumentOllama() before the frameworks load (CommonJS app)',
    args: ['--require', './manual.cjs'],
    app: 'frameworks.cjs',
  },
];

/** Exports quickly, traces only, over OTLP/HTTP JSON to `receiver`. */
export function telemetryEnv(receiver: OtlpReceiver, service: string): Record<string, string> {
  return {
    OTEL_SERVICE_NAME: service,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    OTEL_BSP_SCHEDULE_DELAY: '50',
    OLLAMA_OTEL_SERVER_METRICS: 'false',
    OLLAMA_OTEL_HOST_METRICS: 'false',
    OLLAMA_OTEL_RUNTIME_METRICS: 'false',
  };
}

const OPERATION_OF_PATH: Record<string, string> = {
  '/api/chat': 'chat',
  '/api/generate': 'text_completion',
  '/api/embed': 'embeddings',
  '/api/embeddings': 'embeddings',
};

export function inferenceRequests(requests: RecordedRequest[]): RecordedRequest[] {
  return requests.filter((request) => request.path in OPERATION_OF_PATH);
}

export function genAiSpans(spans: ReceivedSpan[]): ReceivedSpan[] {
  return spans.filter(
    (span) => span.kind === SPAN_KIND.CLIENT && typeof span.attributes['gen_ai.operation.name'] === 'string',
  );
}

function callName(operation: unknown, model: unknown): string {
  return `${String(operation)} ${String(model)}`;
}

export interface FrameworkRun {
  result: unknown;
  child: ChildResult;
  spans: ReceivedSpan[];
  requests: RecordedRequest[];
}

/** Runs the app with `args`, and waits for its spans. */
export async function runFrameworks(options: {
  cwd: string;
  args: string[];
  app: string;
  double: OllamaDouble;
  receiver: OtlpReceiver;
  env?: Record<string, string>;
}): Promise<FrameworkRun> {
  const service = `compat-${randomUUID()}`;
  options.double.clearRequests();
  const child = await run([...options.args, options.app], {
    cwd: options.cwd,
    env: { OLLAMA_DOUBLE_URL: options.double.url, ...telemetryEnv(options.receiver, service), ...options.env },
  });
  const result = printed(child);
  const requests = inferenceRequests(options.double.requests);
  // The batch processor is flushed at exit, so everything has arrived once the child ended; allow a moment.
  const deadline = Date.now() + 5_000;
  while (genAiSpans(options.receiver.spansOf(service)).length < requests.length && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { result, child, spans: options.receiver.spansOf(service), requests };
}

/** Runs the app with no telemetry at all: the results every instrumented run must reproduce. */
export async function bareResult(options: { cwd: string; app: string; double: OllamaDouble }): Promise<unknown> {
  const child = await run([options.app], { cwd: options.cwd, env: { OLLAMA_DOUBLE_URL: options.double.url } });
  return printed(child);
}

/** Everything a traced framework run must show. */
export function expectTraced(outcome: FrameworkRun, bare: unknown): void {
  expect(outcome.result).toEqual(bare);
  const spans = genAiSpans(outcome.spans);
  const called = outcome.requests.map((request) =>
    callName(OPERATION_OF_PATH[request.path], (request.body as { model?: unknown }).model),
  );
  // Each framework makes several calls of each kind (chat, stream, tools, embeddings, a failure).
  expect(called.length).toBeGreaterThanOrEqual(12);
  expect(
    spans
      .map((span) => callName(span.attributes['gen_ai.operation.name'], span.attributes['gen_ai.request.model']))
      .sort(),
  ).toEqual(called.sort());
  for (const span of spans) {
    if (span.attributes['gen_ai.request.model'] === 'no-such-model') {
      expect(span.attributes['error.type'], span.name).toBe('404');
      expect(span.events.map((event) => event.name)).toContain('exception');
    } else {
      expect(span.attributes['error.type'], span.name).toBeUndefined();
      if (span.attributes['gen_ai.operation.name'] !== 'embeddings') {
        expect(span.attributes['gen_ai.usage.output_tokens'], span.name).toBeGreaterThan(0);
      }
    }
  }
  expectTraceparents(outcome.requests, spans);
  expect(timingViolations(outcome.spans)).toEqual([]);
}

/** Every request carries the `traceparent` of the GenAI span it was made for. */
export function expectTraceparents(requests: RecordedRequest[], spans: ReceivedSpan[]): void {
  const byId = new Map(spans.map((span) => [span.spanId, span]));
  for (const request of requests) {
    const [, traceId, spanId] =
      /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/.exec(request.headers.traceparent ?? '') ?? [];
    const span = spanId === undefined ? undefined : byId.get(spanId);
    expect(
      span?.traceId,
      `${request.path} ${JSON.stringify((request.body as { model?: unknown }).model)}: traceparent ${request.headers.traceparent}`,
    ).toBe(traceId);
    expect(span?.attributes['gen_ai.request.model']).toBe((request.body as { model?: unknown }).model);
  }
}
