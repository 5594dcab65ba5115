// `pnpm demo`: the example service under real telemetry, a short burst of traffic, and what it produced.
//
//   node examples/express-chat/scripts/demo.mjs [--exit]
//
// Uses the Ollama at OLLAMA_HOST (default http://127.0.0.1:11434); when none answers, starts the embedded Ollama
// test double and says so. The service runs in a child process started exactly as in production
// (`node --import @ollama-otel/node/register`), exporting OTLP/HTTP JSON to a receiver inside this script.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.mjs';
import { startOtlpReceiver } from './otlp-receiver.mjs';
import { metricsTable, traceTree } from './summary.mjs';

const exitAfterSummary = process.argv.includes('--exit');
const exampleDir = fileURLToPath(new URL('..', import.meta.url));
const say = (text = '') => console.log(text);

async function main() {
  const ollama = await findOllama();
  const receiver = await startOtlpReceiver();
  const port = await freePort();
  const service = startService({ ollamaHost: ollama.url, port, otlp: receiver.url });
  const stop = async () => {
    await stopService(service);
    await receiver.close();
    await ollama.close?.();
  };
  try {
    await waitForHealth(port, service);
    say(
      `Example service: http://127.0.0.1:${port} (pid ${service.child.pid}), telemetry → OTLP receiver ${receiver.url}\n`,
    );
    await sendTraffic(port, ollama);
    await waitForTelemetry(receiver);
    printSummary(receiver);
  } catch (error) {
    console.error(`\ndemo failed: ${error.message}`);
    if (service.output.length) console.error(`service output:\n${service.output.join('')}`);
    await stop();
    process.exitCode = 1;
    return;
  }
  if (exitAfterSummary) {
    await stop();
    return;
  }
  say(`\nThe service keeps running at http://127.0.0.1:${port}. Try:`);
  say(
    `  curl -s localhost:${port}/v1/ask -H 'content-type: application/json' -d '{"question":"Why is the sky blue?"}'`,
  );
  say('Press Ctrl-C to stop.');
  process.once('SIGINT', () => stop().then(() => process.exit(0)));
}

async function findOllama() {
  const url = (process.env.OLLAMA_HOST || 'http://127.0.0.1:11434').replace(/\/+$/, '');
  const withScheme = /^https?:\/\//.test(url) ? url : `http://${url}`;
  try {
    const response = await fetch(`${withScheme}/api/version`, { signal: AbortSignal.timeout(1500) });
    const { version } = await response.json();
    say(`Using the Ollama at ${withScheme} (version ${version}).`);
    return { url: withScheme, real: true };
  } catch {
    const { startOllamaDouble } = await import('../../../packages/testing/dist/esm/index.js');
    const double = await startOllamaDouble({ chunks: 24, chunkDelayMs: 8, coldLoadMs: 600, promptEvalMs: 40 });
    say(`No Ollama answered at ${withScheme}: using the embedded Ollama TEST DOUBLE at ${double.url}.`);
    say('Its answers are canned and its timings simulated; set OLLAMA_HOST to use a real Ollama.');
    return { url: double.url, real: false, close: () => double.close() };
  }
}

function startService({ ollamaHost, port, otlp }) {
  const child = spawn(process.execPath, ['--import', '@ollama-otel/node/register', 'dist/server.js'], {
    cwd: exampleDir,
    env: {
      ...process.env,
      OLLAMA_HOST: ollamaHost,
      PORT: String(port),
      OTEL_SERVICE_NAME: process.env.OTEL_SERVICE_NAME || 'express-chat',
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_LOGS_EXPORTER: 'none',
      OTEL_METRIC_EXPORT_INTERVAL: '1000',
      OTEL_BSP_SCHEDULE_DELAY: '200',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = [];
  child.stdout.on('data', (chunk) => output.push(chunk.toString()));
  child.stderr.on('data', (chunk) => output.push(chunk.toString()));
  return { child, output };
}

async function stopService({ child }) {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

async function waitForHealth(port, service) {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (service.child.exitCode !== null) throw new Error(`the service exited with code ${service.child.exitCode}`);
    try {
      const response = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error('the service did not become healthy within 15 s');
}

async function sendTraffic(port, ollama) {
  const base = `http://127.0.0.1:${port}`;
  const post = async (path, body) => {
    const response = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return {
      status: response.status,
      body: response.headers.get('content-type')?.includes('json') ? await response.json() : await response.text(),
    };
  };
  const show = (label, { status, body }) => {
    const text =
      typeof body === 'string'
        ? `${body.split('\n').filter((l) => l.startsWith('data:')).length} SSE events`
        : JSON.stringify(body);
    say(`  ${label.padEnd(44)} → ${status} ${text.length > 90 ? `${text.slice(0, 87)}...` : text}`);
  };
  say('Traffic:');
  show('POST /v1/ask (cold model)', await post('/v1/ask', { question: 'Why is the sky blue?' }));
  show('POST /v1/ask', await post('/v1/ask', { question: 'What is OpenTelemetry?' }));
  show(
    'POST /v1/chat (stream: true)',
    await post('/v1/chat', { messages: [{ role: 'user', content: 'Tell me about llamas.' }], stream: true }),
  );
  show('POST /v1/embed', await post('/v1/embed', { input: ['Why is the sky blue?', 'Why is grass green?'] }));
  show(
    'POST /v1/chat (model: no-such-model)',
    await post('/v1/chat', { messages: [{ role: 'user', content: 'hi' }], model: 'no-such-model' }),
  );
  show('POST /v1/ask (invalid body)', await post('/v1/ask', { question: '' }));
  if (!ollama.real) say('  (answers come from the test double)');
}

/** Waits until every call of the burst is visible in both traces and metrics (spans and metrics export separately). */
async function waitForTelemetry(receiver) {
  const deadline = Date.now() + 15_000;
  const expected = ['stream', 'embeddings', 'error'];
  while (Date.now() < deadline) {
    const seen = {
      stream: receiver.spans.some((span) => span.attributes['gen_ai.request.stream'] === true),
      embeddings: receiver.spans.some((span) => span.attributes['gen_ai.operation.name'] === 'embeddings'),
      error: receiver.spans.some((span) => span.attributes['error.type'] === '404'),
    };
    const durations = receiver.metrics.get('gen_ai.client.operation.duration')?.points ?? [];
    const metricsComplete =
      durations.some((point) => point.attributes['gen_ai.operation.name'] === 'embeddings') &&
      durations.some((point) => point.attributes['error.type'] === '404');
    if (expected.every((key) => seen[key]) && metricsComplete) return;
    await sleep(200);
  }
  throw new Error('the telemetry did not arrive within 15 s');
}

function printSummary(receiver) {
  const streamed = receiver.spans.find((span) => span.attributes['gen_ai.request.stream'] === true);
  const root = rootOf(receiver.spans, streamed);
  say('\nTrace of the streamed chat request:');
  say(traceTree(receiver.spans, root));
  say(`\n${receiver.spans.length} spans received in ${new Set(receiver.spans.map((s) => s.traceId)).size} traces.\n`);
  say(metricsTable(receiver.metrics));
}

function rootOf(spans, span) {
  const byId = new Map(spans.map((each) => [each.spanId, each]));
  let current = span;
  while (current.parentSpanId && byId.has(current.parentSpanId)) current = byId.get(current.parentSpanId);
  return current;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

await main();
