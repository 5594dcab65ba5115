/*
 * End to end with real parts: the example service, started as in production
 * (`node --import @ollama-otel/node/register`) with its metrics on an in-process Prometheus exporter, talks to
 * the Ollama test double; a real Prometheus running deploy/prometheus/prometheus-scrape.yml scrapes it (and a
 * DCGM stand-in serving a captured sample, for the GPU row) while demo-style traffic runs. Then every PromQL
 * expression of the dashboard and of the rules is evaluated: each must parse and return data, and the alerts
 * this traffic should trigger must trigger.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoRounds, type ExampleService, startExampleService } from './app.js';
import { dashboardExpressions, PROXY_ROW } from './dashboard.js';
import { serveMetrics } from './fixtures/serve-metrics.mjs';
import { freePort, type RunningPrometheus, startPrometheus } from './prometheus.js';
import { deployDir, toolsSkipReason } from './tools.js';

const APP_JOB = 'ollama-otel/express-chat';
const COLD_STARTS = 10;

describe.skipIf(toolsSkipReason)('end to end: example service → exporter → Prometheus → dashboard and alerts', () => {
  let double: OllamaDouble;
  let service: ExampleService;
  let prom: RunningPrometheus;
  let dcgm: Awaited<ReturnType<typeof serveMetrics>>;

  beforeAll(async () => {
    // Cold loads above the 500 ms cold-start threshold; a little prefill and decode time.
    double = await startOllamaDouble({ chunks: 12, chunkDelayMs: 3, coldLoadMs: 550, promptEvalMs: 10 });
    const metricsPort = await freePort();
    service = await startExampleService({
      OLLAMA_HOST: double.url,
      OTEL_SERVICE_NAME: 'express-chat',
      OTEL_RESOURCE_ATTRIBUTES: 'service.namespace=ollama-otel',
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_LOGS_EXPORTER: 'none',
      OTEL_METRICS_EXPORTER: 'prometheus',
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
      OLLAMA_OTEL_SERVER_METRICS_MIN_INTERVAL: '1000',
    });

    dcgm = await serveMetrics(readFileSync(join(deployDir, 'test', 'fixtures', 'dcgm-exporter.txt'), 'utf8'));
    prom = await startPrometheus({
      configFile: 'deploy/prometheus/prometheus-scrape.yml',
      scrapeInterval: '1s',
      evaluationInterval: '1s',
      scrapeTargets: [
        { targets: [`127.0.0.1:${metricsPort}`], labels: { job: APP_JOB } },
        { targets: [dcgm.target], labels: { job: 'dcgm' } },
      ],
    });
    await prom.waitFor(`up{job="${APP_JOB}"} == 1`, 20_000);
    for (const result of await demoRounds(service.base, double.url, COLD_STARTS)) {
      expect(result.status, `${result.kind}: ${result.body}`).toBe(result.expectedStatus);
    }
    // Let Prometheus scrape the final state a few times and evaluate the rules on it.
    await prom.waitFor(`increase(ollama_model_cold_starts_total{job="${APP_JOB}"}[15m]) > 6`, 30_000);
    await prom.waitFor('job:gen_ai_client_error_ratio:rate5m > 0', 30_000);
    await prom.waitFor('job_model:ollama_eval_tokens_per_second:mean10m', 30_000);
    await prom.waitFor(`ollama_model_loaded{job="${APP_JOB}"}`, 30_000);
  }, 120_000);

  afterAll(async () => {
    if (service?.child.exitCode === null) service.child.kill('SIGKILL');
    await prom?.stop();
    await dcgm?.close();
    await double?.close();
  });

  it('stores the app metrics under the OTLP-path names', async () => {
    const names = new Set(
      (await prom.query(`count by (__name__) ({job="${APP_JOB}"})`)).map((sample) => sample.metric.__name__),
    );
    for (const name of [
      'gen_ai_client_operation_duration_seconds_bucket',
      'gen_ai_client_token_usage_bucket',
      'gen_ai_client_operation_time_to_first_chunk_seconds_bucket',
      'ollama_eval_duration_seconds_bucket',
      'ollama_model_cold_starts_total',
      'ollama_client_operation_duration_seconds_bucket',
      'ollama_up',
      'ollama_model_memory_vram_bytes',
    ]) {
      expect(names, name).toContain(name);
    }
  });

  it('returns data for every dashboard expression and variable query', async () => {
    const expressions = dashboardExpressions({ service: 'express-chat' }, { skipRows: [PROXY_ROW] });
    expect(expressions.length).toBeGreaterThan(30);
    const empty: string[] = [];
    for (const { where, expr } of expressions) {
      if ((await prom.query(expr)).length === 0) empty.push(`${where}: ${expr}`);
    }
    expect(empty).toEqual([]);
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
    // A third of the calls asked for a model that does not exist (404); every ask loaded the model cold; the
    // DCGM sample has a 96 % full framebuffer.
    expect(triggered).toEqual(
      expect.arrayContaining([
        'OllamaErrorBudgetFastBurn',
        'OllamaErrorBudgetSlowBurn',
        'OllamaColdStartStorm',
        'GPUFramebufferNearFull',
      ]),
    );
    expect(triggered).not.toContain('OllamaDown');
    expect(triggered).not.toContain('OllamaStatusMissing');
  });

  it('ends on SIGTERM while Prometheus is still scraping it (telemetry never keeps it alive)', async () => {
    const exit = await service.stop(10_000);
    expect(exit.killed, service.output()).toBe(false);
    expect(exit.code, service.output()).toBe(0);
  });
});
