/*
 * Scrape mode, for real: Prometheus runs deploy/prometheus/prometheus-scrape.yml (and its rules) and scrapes
 *   - /metrics exactly as @opentelemetry/exporter-prometheus 0.301 serves it (captured output of every
 *     instrument @ollama-otel/instrumentation and @ollama-otel/node create, fixtures/exporter-prometheus-0.301.txt),
 *   - a DCGM exporter sample (fixtures/dcgm-exporter.txt).
 * Then: the stored names must equal the names Prometheus' OTLP receiver gives the same instruments, so one
 * dashboard and one rule set serve both modes; every dashboard expression must return data; the rules must
 * evaluate, and the alerts this traffic should trigger must trigger.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardExpressions, PROXY_ROW } from './dashboard.js';
import { serveMetrics } from './fixtures/serve-metrics.mjs';
import { OTLP_NAME } from './otlp-names.js';
import { type RunningPrometheus, startPrometheus } from './prometheus.js';
import { deployDir, toolsSkipReason } from './tools.js';

const fixtures = join(deployDir, 'test', 'fixtures');
const APP_JOB = 'ollama-otel/express-chat';

/** `# TYPE name type` lines of an exposition. */
function families(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(m[1]!, m[2]!);
  return out;
}

describe.skipIf(toolsSkipReason)('scrape mode: prometheus-scrape.yml on exporter-prometheus output', () => {
  const appText = readFileSync(join(fixtures, 'exporter-prometheus-0.301.txt'), 'utf8');
  let prom: RunningPrometheus;
  let servers: { target: string; scrapes(): number; close(): Promise<void> }[] = [];

  beforeAll(async () => {
    const app = await serveMetrics(appText);
    const dcgm = await serveMetrics(readFileSync(join(fixtures, 'dcgm-exporter.txt'), 'utf8'));
    // Something that already carries OTLP-style names (e.g. a collector's prometheus exporter): must not be
    // renamed a second time.
    const translated = await serveMetrics(
      [
        '# TYPE gen_ai_client_operation_duration_seconds histogram',
        'gen_ai_client_operation_duration_seconds_count{gen_ai_operation_name="chat"} 1',
        'gen_ai_client_operation_duration_seconds_sum{gen_ai_operation_name="chat"} 0.5',
        'gen_ai_client_operation_duration_seconds_bucket{gen_ai_operation_name="chat",le="+Inf"} 1',
        '# TYPE ollama_model_memory_vram_bytes gauge',
        'ollama_model_memory_vram_bytes{ollama_model_name="m"} 1',
        '',
      ].join('\n'),
    );
    servers = [app, dcgm, translated];
    prom = await startPrometheus({
      configFile: 'deploy/prometheus/prometheus-scrape.yml',
      scrapeInterval: '1s',
      evaluationInterval: '1s',
      scrapeTargets: [
        { targets: [app.target], labels: { job: APP_JOB } },
        // The real config finds DCGM by DNS; here it is one more file_sd target with the same relabelling.
        { targets: [dcgm.target], labels: { job: 'dcgm' } },
        { targets: [translated.target], labels: { job: 'already-translated' } },
      ],
    });
    // Enough scrapes for rate() over any window, and the recording rules evaluated on them.
    const until = Date.now() + 30_000;
    while (app.scrapes() < 4 || dcgm.scrapes() < 4) {
      if (Date.now() > until) throw new Error(`too few scrapes: app ${app.scrapes()}, dcgm ${dcgm.scrapes()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    await prom.waitFor('job:gen_ai_client_error_ratio:rate5m');
    await prom.waitFor('job_model:ollama_eval_tokens_per_second:mean10m');
  });

  afterAll(async () => {
    await prom?.stop();
    await Promise.all(servers.map((s) => s.close()));
  });

  it('scrapes every target (exporter-prometheus content-type accepted)', async () => {
    // (The config's own `prometheus` job points at :9090, not at this test instance.)
    const up = await prom.query('up{job!="prometheus"}');
    expect(up.map((s) => [s.metric.job, s.value[1]]).sort()).toEqual([
      ['already-translated', '1'],
      ['dcgm', '1'],
      [APP_JOB, '1'],
    ]);
  });

  it('stores exactly the names the OTLP path stores', async () => {
    const fams = families(appText);
    expect(
      [...fams.keys()].filter((f) => !(f in OTLP_NAME)),
      'families missing from OTLP_NAME',
    ).toEqual([]);
    const expected = new Set<string>();
    for (const [family, type] of fams) {
      const name = OTLP_NAME[family]!;
      if (type === 'histogram') for (const s of ['bucket', 'sum', 'count']) expected.add(`${name}_${s}`);
      else expected.add(name);
    }
    const stored = (await prom.query(`count by (__name__) ({job="${APP_JOB}"})`))
      .map((s) => s.metric.__name__!)
      .filter((n) => n !== 'up' && !n.startsWith('scrape_') && !n.startsWith('ALERTS') && !n.includes(':'));
    expect(stored.sort()).toEqual([...expected].sort());
  });

  it('keeps the OTLP label set: attribute labels + job/instance, no otel_scope_*', async () => {
    const [sample] = await prom.query(
      `gen_ai_client_operation_duration_seconds_count{job="${APP_JOB}", gen_ai_operation_name="chat", error_type=""}`,
    );
    expect(Object.keys(sample!.metric).sort()).toEqual(
      [
        '__name__',
        'gen_ai_operation_name',
        'gen_ai_provider_name',
        'gen_ai_request_model',
        'gen_ai_response_model',
        'instance',
        'job',
        'server_address',
        'server_port',
      ].sort(),
    );
    expect(await prom.query('count({otel_scope_name!=""} or {otel_scope_version!=""})')).toEqual([]);
    const [info] = await prom.query(`target_info{job="${APP_JOB}"}`);
    expect(info!.metric).toMatchObject({ service_name: 'express-chat', service_namespace: 'ollama-otel' });
  });

  it('stores classic-histogram `le` normalized (Prometheus 3): le="1.0", never le="1"', async () => {
    expect(await prom.query(`ollama_load_duration_seconds_bucket{job="${APP_JOB}", le="1.0"}`)).not.toEqual([]);
    expect(await prom.query(`ollama_load_duration_seconds_bucket{job="${APP_JOB}", le="1"}`)).toEqual([]);
    expect(
      await prom.query(`gen_ai_client_operation_duration_seconds_bucket{job="${APP_JOB}", le="0.32"}`),
    ).not.toEqual([]);
  });

  it('leaves already-suffixed names alone', async () => {
    const names = (await prom.query('count by (__name__) ({job="already-translated"})')).map((s) => s.metric.__name__);
    expect(names).toContain('gen_ai_client_operation_duration_seconds_count');
    expect(names).toContain('ollama_model_memory_vram_bytes');
    expect(names.filter((n) => /seconds_seconds|bytes_bytes/.test(n!))).toEqual([]);
  });

  it('returns data for every dashboard expression and variable query', async () => {
    const exprs = dashboardExpressions({ service: 'express-chat' }, { skipRows: [PROXY_ROW] });
    const empty: string[] = [];
    for (const e of exprs) {
      const result = await prom.query(e.expr);
      if (result.length === 0) empty.push(`${e.where}: ${e.expr}`);
    }
    expect(empty).toEqual([]);
    console.info(`scrape mode: ${exprs.length} dashboard expressions returned data`);
  });

  it('evaluates every rule without error; every recording rule has data', async () => {
    const rules = await prom.rules();
    for (const rule of rules) expect(rule.health, `${rule.name}: ${rule.lastError}`).not.toBe('err');
    for (const rule of rules.filter((r) => r.type === 'recording')) {
      expect(await prom.query(rule.name), rule.name).not.toEqual([]);
    }
  });

  it('triggers the alerts this traffic should trigger, and only those', async () => {
    // The fixture: 1 of 6 calls failed with 404 (cancelled not counted) -> 16.7% errors, above both burn
    // thresholds; 2 cold starts per scrape; GPU framebuffer 96% full. Everything else is healthy.
    const firing: string[] = [];
    for (const rule of (await prom.rules()).filter((r) => r.type === 'alerting')) {
      if ((await prom.query(rule.query)).length > 0) firing.push(rule.name);
    }
    expect(firing.sort()).toEqual(
      [
        'GPUFramebufferNearFull',
        'OllamaColdStartStorm',
        'OllamaErrorBudgetFastBurn',
        'OllamaErrorBudgetSlowBurn',
      ].sort(),
    );
  });
});
