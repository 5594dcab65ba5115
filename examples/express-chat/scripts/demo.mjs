// `pnpm demo`: the example service under real telemetry, a short burst of traffic, and what it produced.
//
//   node examples/express-chat/scripts/demo.mjs [--exit] [--double]
//
// Uses the Ollama at OLLAMA_HOST (default http://127.0.0.1:11434); when none answers, or with --double, starts the
// embedded Ollama test double and says so. The service runs in a child process started exactly as in production
// (`node --import @ollama-otel/node/register`), exporting OTLP/HTTP JSON to a receiver inside this script.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.mjs';
import { startOtlpReceiver } from './otlp-receiver.mjs';
import { metricsTable, traceTree } from './summary.mjs';

const exitAfterSummary = process.argv.includes('--exit');
const forceDouble = process.argv.includes('--double');
const UNKNOWN_MODEL = 'no-such-model';
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
    say(`Example service: http://127.0.0.1:${port} (pid ${service.child.pid})`);
    say(`Its telemetry goes to an OTLP receiver inside this demo (${receiver.url}), which stops when the demo does.\n`);
    const traffic = await sendTraffic(port, ollama);
    await waitForTelemetry(receiver, expectations(traffic));
    printSummary(receiver);
    printNext(port);
  } catch (error) {
    console.error(`\ndemo failed: ${error.message}`);
    if (ollama.impostor) console.error(ollama.impostor);
    else if (service.output.length) console.error(`service output:\n${service.output.join('')}`);
    await stop();
    process.exitCode = 1;
    return;
  }
  if (exitAfterSummary) {
    await stop();
    return;
  }
  say(`\nThe service keeps running at http://127.0.0.1:${port}; its telemetry still goes to the demo's receiver,`);
  say('which shows nothing more (see "Next" above to see it yourself). Press Ctrl-C to stop.');
  process.once('SIGINT', () => stop().then(() => process.exit(0)));
}

async function findOllama() {
  const url = (process.env.OLLAMA_HOST || 'http://127.0.0.1:11434').replace(/\/+$/, '');
  const withScheme = /^https?:\/\//.test(url) ? url : `http://${url}`;
  if (!forceDouble) {
    try {
      const response = await fetch(`${withScheme}/api/version`, { signal: AbortSignal.timeout(1500) });
      const { version } = await response.json();
      say(`Using the Ollama at ${withScheme} (version ${version}); --double uses the embedded test double instead.`);
      return { url: withScheme, real: true };
    } catch {
      // none answers: the double
    }
  }
  const { startOllamaDouble } = await import('../../../packages/testing/dist/esm/index.js');
  const double = await startOllamaDouble({ chunks: 24, chunkDelayMs: 8, coldLoadMs: 600, promptEvalMs: 40 });
  say(
    forceDouble
      ? `--double: using the embedded Ollama TEST DOUBLE at ${double.url}.`
      : `No Ollama answered at ${withScheme}: using the embedded Ollama TEST DOUBLE at ${double.url}.`,
  );
  say('Its answers are canned and its timings simulated; set OLLAMA_HOST to use a real Ollama.');
  return { url: double.url, real: false, close: () => double.close() };
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
      // the /api/ps gauges on every collection, so the summary shows the model the traffic loaded
      OLLAMA_OTEL_SERVER_METRICS_MIN_INTERVAL: '0',
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
  const unloaded = await unloadModel(ollama);
  show(`POST /v1/ask${unloaded ? ' (cold model)' : ''}`, await post('/v1/ask', { question: 'Why is the sky blue?' }));
  show('POST /v1/ask', await post('/v1/ask', { question: 'What is OpenTelemetry?' }));
  show(
    'POST /v1/chat (stream: true)',
    await post('/v1/chat', { messages: [{ role: 'user', content: 'Tell me about llamas.' }], stream: true }),
  );
  show('POST /v1/embed', await post('/v1/embed', { input: ['Why is the sky blue?', 'Why is grass green?'] }));
  const unknown = await post('/v1/chat', { messages: [{ role: 'user', content: 'hi' }], model: UNKNOWN_MODEL });
  show(`POST /v1/chat (model: ${UNKNOWN_MODEL})`, unknown);
  show('POST /v1/ask (invalid body)', await post('/v1/ask', { question: '' }));
  if (!ollama.real) say('  (answers come from the test double)');
  // Reported with the failure it causes (the 404 the demo expects never comes).
  if (unknown.status < 400) ollama.impostor = await impostorNote(ollama);
  return { unknownModelFailed: unknown.status >= 400 };
}

/**
 * The first call should be a cold start: when a real Ollama has the demo's chat model loaded, it is asked to
 * unload it (`keep_alive: 0`); other models are left alone. Resolves whether the model is known to be unloaded.
 */
async function unloadModel(ollama) {
  if (!ollama.real) return true; // the double starts with nothing loaded
  const model = process.env.OLLAMA_MODEL || 'llama3.2';
  const base = (name) => name.replace(/:latest$/, '');
  try {
    const { models = [] } = await (await fetch(`${ollama.url}/api/ps`, { signal: AbortSignal.timeout(3000) })).json();
    const loaded = models.find((each) => base(each.name) === base(model));
    if (loaded === undefined) return true;
    say(`  (unloading ${loaded.name} first, so that the first call shows a cold start)`);
    const response = await fetch(`${ollama.url}/api/generate`, {
      method: 'POST',
      body: JSON.stringify({ model: loaded.name, keep_alive: 0 }),
      signal: AbortSignal.timeout(10_000),
    });
    return response.ok;
  } catch {
    return false;
  }
}

/** An Ollama answers 404 for a model it does not have; a server that does not is not behaving like Ollama. */
async function impostorNote(ollama) {
  let listed = [];
  try {
    const tags = await (await fetch(`${ollama.url}/api/tags`, { signal: AbortSignal.timeout(3000) })).json();
    listed = (tags.models ?? []).map((model) => model.name);
  } catch {
    // no list at all: not Ollama either
  }
  if (listed.some((name) => name.split(':')[0] === UNKNOWN_MODEL)) return undefined;
  return (
    `The server at ${ollama.url} accepted model "${UNKNOWN_MODEL}", which it does not list in /api/tags ` +
    `(${listed.length ? listed.join(', ') : 'no models'}): it answers, but does not behave like Ollama.\n` +
    'Run `pnpm demo --double` to use the embedded Ollama test double instead (or point OLLAMA_HOST at a real Ollama).'
  );
}

/** What the burst must produce, each a check over what the receiver holds. */
function expectations(traffic) {
  const spanWith = (key, value) => (receiver) => receiver.spans.some((span) => span.attributes[key] === value);
  const durationWith = (key, value) => (receiver) =>
    (receiver.metrics.get('gen_ai.client.operation.duration')?.points ?? []).some((p) => p.attributes[key] === value);
  return [
    { name: 'a streamed chat span (gen_ai.request.stream=true)', seen: spanWith('gen_ai.request.stream', true) },
    { name: 'an embeddings span', seen: spanWith('gen_ai.operation.name', 'embeddings') },
    {
      name: `the 404 span of the call with model "${UNKNOWN_MODEL}" (error.type=404)`,
      seen: spanWith('error.type', '404'),
      hopeless: !traffic.unknownModelFailed,
    },
    {
      name: 'an embeddings point of gen_ai.client.operation.duration',
      seen: durationWith('gen_ai.operation.name', 'embeddings'),
    },
    {
      name: 'a gen_ai.client.operation.duration point with error.type=404',
      seen: durationWith('error.type', '404'),
      hopeless: !traffic.unknownModelFailed,
    },
    {
      name: 'the loaded-model gauge (ollama.model.loaded from /api/ps)',
      seen: (receiver) => (receiver.metrics.get('ollama.model.loaded')?.points ?? []).some((p) => p.value > 0),
    },
  ];
}

/**
 * Waits until everything expected is in the receiver (spans and metrics export separately). What cannot come (the
 * traffic already showed it will not) is not waited for. On failure, names what is missing and what was seen.
 */
async function waitForTelemetry(receiver, expected) {
  const deadline = Date.now() + 15_000;
  const missing = () => expected.filter((each) => !each.seen(receiver));
  while (Date.now() < deadline && missing().some((each) => !each.hopeless)) await sleep(200);
  const absent = missing();
  if (absent.length === 0) return;
  throw new Error(
    `the telemetry is incomplete${absent.some((each) => !each.hopeless) ? ' after 15 s' : ''}.\n` +
      `Missing:\n${absent.map((each) => `  - ${each.name}`).join('\n')}\n` +
      `Seen instead:\n${seenSummary(receiver)}`,
  );
}

function seenSummary(receiver) {
  const count = (values) => {
    const counts = new Map();
    for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
    return [...counts].map(([value, n]) => `${value} x${n}`).join(', ') || 'none';
  };
  const spans = receiver.spans;
  const metricNames = [...receiver.metrics.keys()].filter((name) => /^(gen_ai|ollama)\./.test(name));
  return [
    `  - ${spans.length} spans: ${count(spans.map((span) => span.name))}`,
    `  - error.type on spans: ${count(spans.map((span) => span.attributes['error.type']).filter(Boolean))}`,
    `  - HTTP statuses on spans: ${count(spans.map((span) => span.attributes['http.response.status_code']).filter(Boolean))}`,
    `  - GenAI and Ollama metrics: ${metricNames.join(', ') || 'none'}`,
  ].join('\n');
}

function printSummary(receiver) {
  const cold = receiver.spans.find((span) => span.attributes['ollama.model.cold_start'] === true);
  const streamed = receiver.spans.find((span) => span.attributes['gen_ai.request.stream'] === true);
  if (cold) say('\nTrace of the first request, a cold start (the model is loaded before it answers):');
  else say('\nNo cold start was seen (the model stayed loaded); trace of the streamed chat request:');
  say(traceTree(receiver.spans, rootOf(receiver.spans, cold ?? streamed)));
  say(`\n${receiver.spans.length} spans received in ${new Set(receiver.spans.map((s) => s.traceId)).size} traces.\n`);
  say(metricsTable(receiver.metrics));
}

function printNext(port) {
  say(`
Next:
  - Your own app, telemetry printed to the terminal (no collector needed):
      OTEL_TRACES_EXPORTER=console OTEL_METRICS_EXPORTER=console node --import @ollama-otel/node/register app.mjs
  - Apps you cannot change (any language): the proxy in front of Ollama, see packages/proxy/README.md
      npx @ollama-otel/proxy   (from a checkout: "Install from a checkout" in README.md)
  - A collector, Prometheus, Grafana and Jaeger to look at it all: deploy/README.md
  - This service: examples/express-chat/README.md (it listens on port ${port} until the demo ends)`);
}

function rootOf(spans, span) {
  const byId = new Map(spans.map((each) => [each.spanId, each]));
  let current = span;
  while (current.parentSpanId && byId.has(current.parentSpanId)) current = byId.get(current.parentSpanId);
  return current;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

await main();
