/**
 * Span times over many calls, with the HTTP server span of a node:http service as the parent (the register
 * entry's HTTP instrumentation): each GenAI span inside its server span, the server-phase spans inside the GenAI
 * span, every event (a failed call's exception included) inside its span. Our explicit timestamps used to come
 * from another clock than the SDK's, so a quarter of the GenAI spans ended after their parent.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { genAiSpans, telemetryEnv } from './helpers/frameworks.js';
import { cleanEnv } from './helpers/node-child.js';
import { type OtlpReceiver, SPAN_KIND, startOtlpReceiver } from './helpers/otlp-receiver.js';
import { timingViolations } from './helpers/timing.js';

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const ROUTES = ['/invoke', '/stream', '/llamaindex-stream', '/error'];
const ROUNDS = 25;

let double: OllamaDouble;
let receiver: OtlpReceiver;

beforeAll(async () => {
  double = await startOllamaDouble({ chunks: 6 });
  receiver = await startOtlpReceiver();
});

afterAll(async () => {
  await receiver?.close();
  await double?.close();
});

it(`${ROUNDS * ROUTES.length} requests to a service: children inside their parents, events inside their spans`, {
  timeout: 120_000,
}, async () => {
  const service = `timestamps-${randomUUID()}`;
  const child = spawn(process.execPath, ['--import', '@ollama-otel/node/register', 'server.mjs'], {
    cwd: fixtures,
    env: cleanEnv({ OLLAMA_DOUBLE_URL: double.url, ...telemetryEnv(receiver, service) }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise((resolve) => child.on('close', resolve));
  try {
    const port = await new Promise<string>((resolve, reject) => {
      let stdout = '';
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
        const match = /LISTENING (\d+)/.exec(stdout);
        if (match) resolve(match[1]!);
      });
      child.on('close', () => reject(new Error(`server exited: ${stderr}`)));
    });
    const base = `http://127.0.0.1:${port}`;
    for (let round = 0; round < ROUNDS; round++) {
      // Concurrent requests, so calls overlap on the event loop.
      const statuses = await Promise.all(ROUTES.map(async (route) => (await fetch(`${base}${route}`)).status));
      expect(statuses).toEqual([200, 200, 200, 502]);
    }
    await fetch(`${base}/close`);
    await exited;
  } finally {
    child.kill();
  }
  const spans = receiver.spansOf(service);
  const calls = genAiSpans(spans);
  expect(calls).toHaveLength(ROUNDS * ROUTES.length);
  const byId = new Map(spans.map((span) => [span.spanId, span]));
  // Every GenAI span has the service's server span as its parent; phase spans and exception events are there.
  for (const call of calls) expect(byId.get(call.parentSpanId)?.kind, call.name).toBe(SPAN_KIND.SERVER);
  expect(spans.filter((span) => span.name === 'ollama.eval').length).toBe(ROUNDS * 3);
  const failed = calls.filter((call) => call.attributes['error.type'] === '404');
  expect(failed).toHaveLength(ROUNDS);
  for (const call of failed) expect(call.events.map((event) => event.name)).toEqual(['exception']);
  expect(timingViolations(spans)).toEqual([]);
  // Nothing but the package's start line.
  expect(stderr).toMatch(/^@ollama-otel\/node: telemetry started: [^\n]*\n$/);
});
