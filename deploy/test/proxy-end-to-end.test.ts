/*
 * End to end through @ollama-otel/proxy: the built CLI in front of the Ollama test double, its /metrics scraped
 * by a real Prometheus running deploy/prometheus/prometheus-scrape.yml (plus a DCGM stand-in for the GPU row)
 * while clients that are not instrumented (plain HTTP, native and OpenAI-compatible) send traffic. Then every
 * PromQL expression of the dashboard and of the rules is evaluated against the proxied traffic: each must return
 * data, and the alerts this traffic should trigger must trigger. Also the compose `proxy` profile.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardExpressions, PROXY_ROW } from './dashboard.js';
import { serveMetrics } from './fixtures/serve-metrics.mjs';
import { freePort, type RunningPrometheus, startPrometheus } from './prometheus.js';
import { deployDir, repoRoot, run, tools, toolsSkipReason } from './tools.js';

const CLI = join(repoRoot, 'packages', 'proxy', 'dist', 'esm', 'cli.js');
const PROXY_JOB = 'ollama-otel/ollama-otel-proxy';
const ROUNDS = 10;

describe.skipIf(toolsSkipReason)('end to end: clients → proxy → /metrics → Prometheus → dashboard and alerts', () => {
  let double: OllamaDouble;
  let proxy: ChildProcess | undefined;
  let output = '';
  let prom: RunningPrometheus;
  let dcgm: Awaited<ReturnType<typeof serveMetrics>>;
  let base: string;

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error('packages/proxy is not built: run `pnpm build` (pnpm test does)');
    double = await startOllamaDouble({ chunks: 12, chunkDelayMs: 3, coldLoadMs: 550, promptEvalMs: 10 });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    proxy = spawn(process.execPath, [CLI, '--listen', `127.0.0.1:${port}`, '--upstream', double.url], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        OTEL_SERVICE_NAME: 'ollama-otel-proxy',
        OTEL_RESOURCE_ATTRIBUTES: 'service.namespace=ollama-otel',
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_LOGS_EXPORTER: 'none',
        OTEL_METRICS_EXPORTER: 'none',
        OLLAMA_OTEL_SERVER_METRICS_MIN_INTERVAL: '1000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proxy.stdout?.on('data', (chunk) => {
      output += chunk;
    });
    proxy.stderr?.on('data', (chunk) => {
      output += chunk;
    });
    const deadline = Date.now() + 20_000;
    while (!output.includes('listening on')) {
      if (proxy.exitCode !== null || Date.now() > deadline) throw new Error(`the proxy did not start:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    dcgm = await serveMetrics(readFileSync(join(deployDir, 'test', 'fixtures', 'dcgm-exporter.txt'), 'utf8'));
    prom = await startPrometheus({
      configFile: 'deploy/prometheus/prometheus-scrape.yml',
      scrapeInterval: '1s',
      evaluationInterval: '1s',
      scrapeTargets: [
        { targets: [`127.0.0.1:${port}`], labels: { job: PROXY_JOB } },
        { targets: [dcgm.target], labels: { job: 'dcgm' } },
      ],
    });
    await prom.waitFor(`up{job="${PROXY_JOB}"} == 1`, 20_000);
    await sendTraffic(base, double);
    await prom.waitFor(`increase(ollama_model_cold_starts_total{job="${PROXY_JOB}"}[15m]) > 6`, 30_000);
    await prom.waitFor('job:gen_ai_client_error_ratio:rate5m > 0', 30_000);
    await prom.waitFor('job_model:ollama_eval_tokens_per_second:mean10m', 30_000);
    await prom.waitFor(`ollama_model_loaded{job="${PROXY_JOB}"}`, 30_000);
  }, 120_000);

  afterAll(async () => {
    if (proxy && proxy.exitCode === null) proxy.kill('SIGKILL');
    await prom?.stop();
    await dcgm?.close();
    await double?.close();
  });

  it('stores the proxied metrics under the OTLP-path names, its own included', async () => {
    const names = new Set(
      (await prom.query(`count by (__name__) ({job="${PROXY_JOB}"})`)).map((sample) => sample.metric.__name__),
    );
    for (const name of [
      'gen_ai_client_operation_duration_seconds_bucket',
      'gen_ai_client_token_usage_bucket',
      'gen_ai_client_operation_time_to_first_chunk_seconds_bucket',
      'ollama_eval_duration_seconds_bucket',
      'ollama_model_cold_starts_total',
      'ollama_client_operation_duration_seconds_bucket',
      'ollama_up',
      'http_server_request_duration_seconds_bucket',
      'http_server_active_requests',
      'ollama_proxy_requests_active',
    ]) {
      expect(names, name).toContain(name);
    }
    // OpenAI-compatible streams report tokens too (the proxy asks Ollama for usage).
    const openAiTokens = await prom.query(
      `sum(gen_ai_client_token_usage_sum{job="${PROXY_JOB}", gen_ai_token_type="output", gen_ai_operation_name="chat"})`,
    );
    expect(Number(openAiTokens[0]?.value[1])).toBeGreaterThan(0);
  });

  it('returns data for every dashboard expression and variable query', async () => {
    const expressions = dashboardExpressions({ service: 'ollama-otel-proxy' });
    expect(expressions.length).toBeGreaterThan(30);
    const empty: string[] = [];
    for (const { where, expr } of expressions) {
      if ((await prom.query(expr)).length === 0) empty.push(`${where}: ${expr}`);
    }
    expect(empty).toEqual([]);
    const proxyRow = expressions.length - dashboardExpressions({}, { skipRows: [PROXY_ROW] }).length;
    expect(proxyRow).toBe(3);
  });

  it('shows the in-flight requests of each model it served, back to 0 once they are answered', async () => {
    const peak = await prom.query(
      `max by (gen_ai_request_model) (max_over_time(ollama_proxy_requests_active{job="${PROXY_JOB}"}[15m]))`,
    );
    const models = Object.fromEntries(
      peak.map((sample) => [sample.metric.gen_ai_request_model, Number(sample.value[1])]),
    );
    // The traffic sends one request at a time, and the cold chats (550 ms) are in flight when a scrape comes.
    expect(models).toMatchObject({ 'llama3.2': 1 });
    expect(Object.keys(models)).toEqual(expect.arrayContaining(['all-minilm', 'llama3.2', 'no-such-model']));
    // The last scrape may have caught a request in flight: the next ones must see every gauge back at 0.
    await prom.waitFor(`max(ollama_proxy_requests_active{job="${PROXY_JOB}"}) == 0`, 10_000);
  });

  it('evaluates every rule without error, and every recording rule has data', async () => {
    const rules = await prom.rules();
    expect(rules.length).toBeGreaterThan(10);
    for (const rule of rules) expect(rule.health, `${rule.name}: ${rule.lastError}`).not.toBe('err');
    for (const rule of rules.filter((each) => each.type === 'recording')) {
      expect(await prom.query(rule.name), rule.name).not.toEqual([]);
    }
  });

  it('triggers the alerts the traffic should trigger, and not the Ollama-down ones', async () => {
    const triggered: string[] = [];
    for (const rule of (await prom.rules()).filter((each) => each.type === 'alerting')) {
      if ((await prom.query(rule.query)).length > 0) triggered.push(rule.name);
    }
    expect(triggered).toEqual(
      expect.arrayContaining(['OllamaErrorBudgetFastBurn', 'OllamaErrorBudgetSlowBurn', 'OllamaColdStartStorm']),
    );
    expect(triggered).not.toContain('OllamaDown');
    expect(triggered).not.toContain('OllamaStatusMissing');
  });

  it('exits 0 on SIGTERM while Prometheus is still scraping it', async () => {
    const child = proxy as ChildProcess;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    const code = await Promise.race([
      exited,
      new Promise((resolve) => setTimeout(() => resolve('still running'), 10_000)),
    ]);
    expect(code, output).toBe(0);
  });
});

describe.skipIf(toolsSkipReason)('compose profile `proxy`', () => {
  const config = () =>
    JSON.parse(
      run(
        tools.dockerCompose,
        ['-f', join(deployDir, 'compose.yaml'), '--env-file', '/dev/null', 'config', '--format', 'json'],
        {
          cleanEnv: true,
          env: { COMPOSE_PROFILES: 'ollama,proxy' },
        },
      ),
    );

  it('runs the proxy in front of Ollama, on loopback, with a healthcheck and OTLP to the collector', () => {
    const proxyService = config().services.proxy;
    expect(proxyService.profiles).toEqual(['proxy']);
    expect(proxyService.build.dockerfile).toBe('packages/proxy/Dockerfile');
    expect(proxyService.ports).toEqual([
      expect.objectContaining({ host_ip: '127.0.0.1', published: '11435', target: 11435 }),
    ]);
    expect(proxyService.healthcheck.test.join(' ')).toContain('/healthz');
    expect(proxyService.environment).toMatchObject({
      OLLAMA_OTEL_PROXY_LISTEN: '0.0.0.0:11435',
      OLLAMA_OTEL_PROXY_UPSTREAM: 'http://ollama:11434',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4317',
      OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'false',
    });
  });

  it('builds from a pinned, multi-stage, non-root Dockerfile', () => {
    const dockerfile = readFileSync(join(repoRoot, 'packages', 'proxy', 'Dockerfile'), 'utf8');
    const bases = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((match) => match[1]!);
    expect(bases.length).toBeGreaterThanOrEqual(2);
    for (const image of bases) expect(image).toMatch(/^node:\d+\.\d+\.\d+-[a-z-]+$/);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/pnpm@\d+\.\d+\.\d+/);
  });
});

async function sendTraffic(base: string, double: OllamaDouble): Promise<void> {
  const post = (path: string, body: unknown) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer not-recorded' },
      body: JSON.stringify(body),
    });
  const unload = (model: string) =>
    fetch(`${double.url}/api/generate`, {
      method: 'POST',
      body: JSON.stringify({ model, prompt: '', keep_alive: 0, stream: false }),
    });
  const question = [{ role: 'user', content: 'Why is the sky blue?' }];
  for (let round = 0; round < ROUNDS; round++) {
    await unload('llama3.2');
    expect((await post('/api/chat', { model: 'llama3.2', messages: question, stream: false })).status).toBe(200);
    const native = await post('/api/chat', { model: 'llama3.2', messages: question, stream: true });
    expect(native.status).toBe(200);
    await native.text();
    const openAi = await post('/v1/chat/completions', { model: 'llama3.2', messages: question, stream: true });
    expect(openAi.status).toBe(200);
    expect(await openAi.text()).not.toContain('"usage"');
    expect((await post('/api/embed', { model: 'all-minilm', input: ['sky', 'grass'] })).status).toBe(200);
    expect((await post('/api/chat', { model: 'no-such-model', messages: question, stream: false })).status).toBe(404);
    expect((await fetch(`${base}/api/tags`)).status).toBe(200);
    expect((await fetch(`${base}/api/ps`)).status).toBe(200);
    const pull = await post('/api/pull', { model: 'llama3.2' });
    await pull.text();
  }
}
