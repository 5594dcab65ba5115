// `pnpm screenshots`: the README pictures, made from real runs rather than by hand.
//
//   node deploy/screenshots/take.mjs [--out DIR]      (default: deploy/screenshots)
//
// Starts the Ollama test double (with a real cold load and prompt evaluation, so the first chat is a cold start),
// Arize Phoenix (deploy/phoenix, from its pinned venv), the example service exporting traces to Phoenix over OTLP and
// serving Prometheus metrics, and Prometheus (deploy/tools/prometheus-ui.sh) scraping it every second. Sends the demo's kinds
// of requests for about 20 s, then Debian's Chromium (playwright-core, executablePath) saves:
//   phoenix-cold-start-trace.png   the trace of the first, cold-start chat in Phoenix's trace view
//   prometheus-queries.png         the dashboards' key queries in Prometheus's own (classic) graph page
// and prints a JSON line describing what it captured. Grafana and Jaeger do not run on these machines (no Docker),
// so there are no pictures of them. Needs `pnpm build`; the deploy/tools scripts it runs fetch the rest.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { freePort } from '../../examples/express-chat/scripts/free-port.mjs';
import { startOllamaDouble } from '../../packages/testing/dist/esm/index.js';
import { startPhoenix } from '../phoenix/phoenix.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const outIndex = process.argv.indexOf('--out');
const out = outIndex > 0 ? process.argv[outIndex + 1] : join(root, 'deploy', 'screenshots');
const PROJECT = 'express-chat';
const JOB = 'ollama-otel/express-chat';
const TRAFFIC_MS = Number(process.env.SCREENSHOTS_TRAFFIC_MS ?? 20_000);

/** The dashboards' key panels (deploy/grafana), without their `$job`/`$model` variables. */
export const QUERIES = [
  'sum by (gen_ai_request_model, gen_ai_operation_name) (rate(gen_ai_client_operation_duration_seconds_count[1m]))',
  'histogram_quantile(0.95, sum by (le, gen_ai_request_model) (rate(gen_ai_client_operation_duration_seconds_bucket[1m])))',
  'histogram_quantile(0.95, sum by (le, gen_ai_request_model) (rate(gen_ai_client_operation_time_to_first_chunk_seconds_bucket[1m])))',
  'sum by (gen_ai_request_model, gen_ai_token_type) (rate(gen_ai_client_token_usage_sum[1m]))',
  'sum by (error_type, gen_ai_request_model) (rate(gen_ai_client_operation_duration_seconds_count{error_type!=""}[1m]))',
];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tool = (script, arg = []) =>
  execFileSync('bash', [join(root, 'deploy', 'tools', script), ...arg], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();

/** A child process whose output is kept for error messages, stopped with SIGTERM (SIGKILL after 10 s). */
function start(command, args, options) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let output = '';
  child.stdout.on('data', (c) => (output = (output + c).slice(-10_000)));
  child.stderr.on('data', (c) => (output = (output + c).slice(-10_000)));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function until(what, check, process, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value) return value;
    if (process && process.child.exitCode !== null) throw new Error(`${what}: exited\n${process.output()}`);
    if (Date.now() > deadline) throw new Error(`${what}: timed out${process ? `\n${process.output()}` : ''}`);
    await sleep(200);
  }
}

/**
 * Prometheus 2.42 with its classic graph page (deploy/tools/prometheus-ui.sh says why not the tests' 3.x), running the
 * shipped scrape-mode config (deploy/prometheus/prometheus-scrape.yml: its renames and rules) every second.
 */
async function startPrometheus(target) {
  const dir = mkdtempSync(join(tmpdir(), 'ollama-otel-screenshots-prom-'));
  const shipped = join(root, 'deploy', 'prometheus');
  const config = readFileSync(join(shipped, 'prometheus-scrape.yml'), 'utf8').replace(
    /^(\s+(?:scrape|evaluation)_interval:\s*)\S+/gm,
    '$11s',
  );
  writeFileSync(join(dir, 'prometheus.yml'), config);
  symlinkSync(join(shipped, 'rules'), join(dir, 'rules'));
  mkdirSync(join(dir, 'targets'));
  writeFileSync(join(dir, 'targets', 'demo.yml'), JSON.stringify([{ targets: [target], labels: { job: JOB } }]));
  const port = await freePort();
  const usr = tool('prometheus-ui.sh');
  const prometheus = start(
    join(usr, 'bin', 'prometheus'),
    [
      `--web.local-assets=${join(usr, 'share', 'prometheus', 'web')}`,
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { cwd: dir },
  );
  const url = `http://127.0.0.1:${port}`;
  await until('prometheus', () => fetch(`${url}/-/ready`).then((r) => r.ok), prometheus);
  return { url, stop: () => prometheus.stop().then(() => rmSync(dir, { recursive: true, force: true })) };
}

const DEMO_REQUESTS = [
  ['/v1/ask', { question: 'Why is the sky blue?' }],
  ['/v1/chat', { messages: [{ role: 'user', content: 'Tell me about llamas.' }], stream: true }],
  ['/v1/embed', { input: ['sky', 'grass'] }],
  ['/v1/chat', { messages: [{ role: 'user', content: 'hi' }], model: 'no-such-model' }],
];

async function sendTraffic(base) {
  const started = Date.now();
  let sent = 0;
  while (sent < DEMO_REQUESTS.length || Date.now() - started < TRAFFIC_MS) {
    const [path, body] = DEMO_REQUESTS[sent % DEMO_REQUESTS.length];
    await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then((r) => r.text());
    sent++;
    await sleep(150);
  }
  return sent;
}

async function main() {
  mkdirSync(out, { recursive: true });
  const python = join(tool('python.sh', [join(root, 'deploy', 'phoenix', 'phoenix.txt')]), 'bin', 'python');
  const browserPath = tool('chromium.sh');
  const stops = [];
  try {
    const double = await startOllamaDouble({ chunks: 8, chunkDelayMs: 25, coldLoadMs: 1200, promptEvalMs: 150 });
    stops.push(() => double.close());
    const phoenix = await startPhoenix(python, { port: await freePort(), grpcPort: await freePort() });
    stops.push(() => phoenix.close());
    const [port, metricsPort] = [await freePort(), await freePort()];
    const service = start(process.execPath, ['--import', '@ollama-otel/node/register', 'dist/server.js'], {
      cwd: join(root, 'examples', 'express-chat'),
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        PORT: String(port),
        OLLAMA_HOST: double.url,
        OTEL_SERVICE_NAME: 'express-chat',
        OTEL_RESOURCE_ATTRIBUTES: `openinference.project.name=${PROJECT},service.namespace=ollama-otel`,
        OTEL_EXPORTER_OTLP_ENDPOINT: phoenix.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_BSP_SCHEDULE_DELAY: '200',
        OTEL_LOGS_EXPORTER: 'none',
        OTEL_METRICS_EXPORTER: 'prometheus',
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true',
      },
    });
    stops.push(() => service.stop());
    const base = `http://127.0.0.1:${port}`;
    await until('the example service', () => fetch(`${base}/healthz`).then((r) => r.ok), service);
    const prometheus = await startPrometheus(`127.0.0.1:${metricsPort}`);
    stops.push(() => prometheus.stop());

    const sent = await sendTraffic(base);
    await sleep(3000); // two more scrapes, so the last requests are in every rate

    const spans = await until('a cold-start chat span in Phoenix', async () => {
      const found = await phoenix.spans(PROJECT);
      return found.some((s) => s.attributes['ollama.model.cold_start'] === true && s.span_kind === 'LLM') && found;
    });
    const cold = spans.find((s) => s.attributes['ollama.model.cold_start'] === true && s.span_kind === 'LLM');
    const projects = (await (await fetch(`${phoenix.url}/v1/projects`)).json()).data;
    const projectId = projects.find((p) => p.name === PROJECT).id;

    const browser = await chromium.launch({ executablePath: browserPath, args: ['--no-sandbox'] });
    stops.push(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 }, colorScheme: 'light' });
    await page.goto(
      `${phoenix.url}/projects/${projectId}/traces/${cold.context.trace_id}?selectedSpanNodeId=${cold.id}`,
    );
    await page.getByText(cold.name).first().waitFor({ timeout: 30_000 });
    await page.getByText('Attributes').first().waitFor({ timeout: 30_000 });
    await page.waitForLoadState('networkidle');
    await page.screenshot({ path: join(out, 'phoenix-cold-start-trace.png') });

    const params = new URLSearchParams();
    QUERIES.forEach((expr, i) => {
      params.set(`g${i}.expr`, expr);
      params.set(`g${i}.tab`, '0');
      params.set(`g${i}.range_input`, '1m');
    });
    await page.setViewportSize({ width: 1400, height: 1000 });
    await page.goto(`${prometheus.url}/classic/graph?${params}`);
    // The fixed navigation bar would be drawn again halfway down a full-page capture.
    await page.addStyleTag({ content: 'nav.navbar { position: static !important; }' });
    await page.waitForLoadState('networkidle');
    const empty = await page.getByText('No datapoints found').count();
    await page.screenshot({ path: join(out, 'prometheus-queries.png'), fullPage: true });
    if (empty > 0) throw new Error(`${empty} of the ${QUERIES.length} Prometheus queries found no data`);
    await page.screenshot({ path: join(out, 'prometheus-queries.png'), fullPage: true });

    console.log(
      JSON.stringify({
        requests: sent,
        coldStartTrace: cold.context.trace_id,
        coldStartSpan: { name: cold.name, loadSeconds: cold.attributes['ollama.response.load_duration'] },
        files: ['phoenix-cold-start-trace.png', 'prometheus-queries.png'].map((f) => join(out, f)),
      }),
    );
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  }
}

await main();
