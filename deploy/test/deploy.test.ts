/*
 * deploy/ without Docker: promtool (v3) on both Prometheus configs and the rules, the rule unit tests, the compose
 * file through a real Compose implementation (docker-compose v2, no daemon needed for `config`), the collector
 * config's structure, the Grafana provisioning, and every PromQL expression (dashboard + rules) parsed by a real
 * Prometheus. Tools come from .tools/ (bash deploy/tools/install.sh).
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allPanels, dashboardExpressions, loadDashboards } from './dashboard.js';
import { type RunningPrometheus, startPrometheus } from './prometheus.js';
import { deployDir, run, tools, toolsSkipReason } from './tools.js';
import { loadYaml, yamlSkipReason } from './yaml.js';

const prometheusDir = join(deployDir, 'prometheus');
// A clean environment and no deploy/.env: a developer's local settings must not change what is validated.
const compose = (args: string[], options: { profiles?: string[]; env?: Record<string, string> } = {}) =>
  run(tools.dockerCompose, ['-f', join(deployDir, 'compose.yaml'), '--env-file', '/dev/null', ...args], {
    cleanEnv: true,
    env: { COMPOSE_PROFILES: (options.profiles ?? []).join(','), ...options.env },
  });

describe.skipIf(toolsSkipReason)('promtool (Prometheus 3)', () => {
  it('uses a v3 promtool', () => {
    expect(run(tools.promtool, ['--version'])).toMatch(/promtool, version 3\./);
  });

  for (const config of ['prometheus.yml', 'prometheus-scrape.yml']) {
    it(`check config ${config}`, () => {
      const out = run(tools.promtool, ['check', 'config', join(prometheusDir, config)]);
      expect(out).toMatch(/SUCCESS: .* is valid prometheus config file syntax/);
      // rule_files resolved to the real rules (an empty glob would also "succeed").
      expect(out).toMatch(/SUCCESS: \d+ rules found/);
    });
  }

  it('check rules', () => {
    const files = readdirSync(join(prometheusDir, 'rules')).filter((f) => f.endsWith('.yml'));
    expect(files.sort()).toEqual(['ollama-alerts.yml', 'ollama-recording.yml']);
    const out = run(tools.promtool, ['check', 'rules', ...files.map((f) => join(prometheusDir, 'rules', f))]);
    expect(out.match(/SUCCESS: (\d+) rules found/g)).toHaveLength(2);
  });

  it('test rules: every alert fires and stays quiet where it should', () => {
    const tests = readdirSync(join(prometheusDir, 'tests')).filter((f) => f.endsWith('.yml'));
    expect(tests.length).toBeGreaterThan(0);
    const out = run(tools.promtool, ['test', 'rules', ...tests.map((f) => join(prometheusDir, 'tests', f))]);
    expect(out).toContain('SUCCESS');
  });

  it.skipIf(yamlSkipReason)('has a firing and a quiet unit test for every alert', () => {
    const alerts = readdirSync(join(prometheusDir, 'rules'))
      .flatMap((f) => loadYaml(join(prometheusDir, 'rules', f)).groups)
      .flatMap((g: any) => g.rules)
      .filter((r: any) => r.alert)
      .map((r: any) => r.alert as string);
    const cases = readdirSync(join(prometheusDir, 'tests'))
      .flatMap((f) => loadYaml(join(prometheusDir, 'tests', f)).tests)
      .flatMap((t: any) => t.alert_rule_test ?? []);
    for (const alert of alerts) {
      const mine = cases.filter((c: any) => c.alertname === alert);
      expect(
        mine.some((c: any) => (c.exp_alerts ?? []).length > 0),
        `${alert} never expected to fire`,
      ).toBe(true);
      expect(
        mine.some((c: any) => (c.exp_alerts ?? []).length === 0),
        `${alert} never expected to stay quiet`,
      ).toBe(true);
    }
  });

  it.skipIf(yamlSkipReason)('gives every alert a for:, a severity and summary/description/runbook', () => {
    const rules = loadYaml(join(prometheusDir, 'rules', 'ollama-alerts.yml'))
      .groups.flatMap((g: any) => g.rules)
      .filter((r: any) => r.alert);
    expect(rules.length).toBeGreaterThanOrEqual(9);
    for (const rule of rules) {
      expect(rule.for, rule.alert).toMatch(/^\d+[smh]$/);
      expect(['critical', 'warning', 'info'], rule.alert).toContain(rule.labels?.severity);
      for (const key of ['summary', 'description', 'runbook']) expect(rule.annotations?.[key], rule.alert).toBeTruthy();
    }
  });
});

describe.skipIf(toolsSkipReason)('compose.yaml (docker-compose v2, no daemon)', () => {
  const profiles = [[], ['ollama'], ['gpu'], ['app'], ['ollama', 'app']];
  for (const p of profiles) {
    it(`config -q with profiles [${p.join(', ')}]`, () => {
      compose(['config', '-q'], { profiles: p });
    });
  }

  it('rejects what it should (the validator is not a no-op)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ollama-otel-compose-'));
    try {
      const bad = join(dir, 'compose.yaml');
      writeFileSync(bad, 'services:\n  a:\n    image: busybox:1.37\n    portz: ["8080:8080"]\n');
      expect(() => run(tools.dockerCompose, ['-f', bad, 'config', '-q'], { cleanEnv: true })).toThrow(/portz/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const model = () => JSON.parse(compose(['config', '--format', 'json'], { profiles: ['ollama', 'gpu', 'app'] }));

  it('pins every image (no latest, no missing tag) and binds every published port to 127.0.0.1', () => {
    const services = model().services as Record<string, any>;
    expect(Object.keys(services).sort()).toEqual(
      [
        'app',
        'dcgm-exporter',
        'grafana',
        'jaeger',
        'ollama',
        'ollama-gpu',
        'ollama-gpu-pull',
        'ollama-pull',
        'otel-collector',
        'prometheus',
      ].sort(),
    );
    for (const [name, svc] of Object.entries(services)) {
      expect(svc.image, name).toMatch(/^[^\s]+:[^\s:/]+$/);
      expect(svc.image, name).not.toMatch(/:latest$/);
      for (const port of svc.ports ?? []) expect(port.host_ip, `${name} ${port.target}`).toBe('127.0.0.1');
    }
    expect(services['otel-collector'].image).toMatch(/^otel\/opentelemetry-collector-contrib:\d+\.\d+\.\d+$/);
    expect(services.prometheus.image).toMatch(/^prom\/prometheus:v3\.\d+\.\d+$/);
    expect(services.jaeger.image).toMatch(/^jaegertracing\/jaeger:2\.\d+\.\d+$/);
  });

  it('wires the services as documented', () => {
    const s = model().services as Record<string, any>;
    // Unprofiled core stack; everything else behind its profile.
    for (const core of ['otel-collector', 'prometheus', 'grafana', 'jaeger'])
      expect(s[core].profiles, core).toBeUndefined();
    expect(s.ollama.profiles).toEqual(['ollama']);
    expect(s['ollama-pull'].profiles).toEqual(['ollama']);
    expect(s['ollama-pull'].depends_on.ollama.condition).toBe('service_healthy');
    expect(s['ollama-gpu'].profiles).toEqual(['gpu']);
    expect(s['ollama-gpu'].networks.default.aliases).toContain('ollama');
    expect(s['dcgm-exporter'].profiles).toEqual(['gpu']);
    for (const gpu of ['ollama-gpu', 'dcgm-exporter']) {
      expect(s[gpu].deploy.resources.reservations.devices[0], gpu).toMatchObject({
        driver: 'nvidia',
        capabilities: ['gpu'],
      });
    }
    expect(s.app.profiles).toEqual(['app']);
    expect(s.app.build.dockerfile).toBe('examples/express-chat/Dockerfile');
    expect(s.app.environment.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://otel-collector:4317');
    expect(s.app.environment.OLLAMA_HOST).toBe('http://ollama:11434');
    expect(Object.keys(s.app.depends_on ?? {})).not.toContain('ollama');

    // Prometheus: OTLP receiver on, the mounted config is the repo's.
    expect(s.prometheus.command).toEqual(
      expect.arrayContaining(['--web.enable-otlp-receiver', '--config.file=/etc/prometheus/prometheus.yml']),
    );
    // The contrib image reads /etc/otelcol-contrib/config.yaml; mounting elsewhere silently runs its default config.
    expect(s['otel-collector'].volumes).toContainEqual(
      expect.objectContaining({ target: '/etc/otelcol-contrib/config.yaml', read_only: true }),
    );
    // Healthchecks wherever the image has something to run them with.
    for (const name of ['prometheus', 'grafana', 'ollama', 'ollama-gpu', 'dcgm-exporter', 'app']) {
      expect(s[name].healthcheck?.test, name).toBeDefined();
    }
    // Every bind mount points at a file or folder that exists in the repo.
    for (const [name, svc] of Object.entries(s)) {
      for (const v of (svc as any).volumes ?? []) {
        if (v.type === 'bind') expect(existsSync(v.source), `${name}: ${v.source}`).toBe(true);
      }
    }
  });

  it('PROMETHEUS_CONFIG switches Prometheus to scrape mode', () => {
    const json = JSON.parse(
      compose(['config', '--format', 'json'], { env: { PROMETHEUS_CONFIG: 'prometheus-scrape.yml' } }),
    );
    expect(json.services.prometheus.command).toContain('--config.file=/etc/prometheus/prometheus-scrape.yml');
  });
});

describe.skipIf(yamlSkipReason)('collector/config.yaml (structure)', () => {
  const config = () => loadYaml(join(deployDir, 'collector', 'config.yaml'));
  const typeOf = (id: string) => id.split('/')[0];
  // Component types of otelcol-contrib 0.159 that this config may use (a typo or a removed one fails).
  const known: Record<string, string[]> = {
    receivers: ['otlp', 'prometheus', 'host_metrics', 'hostmetrics'],
    processors: [
      'memory_limiter',
      'batch',
      'resource',
      'attributes',
      'transform',
      'filter',
      'resource_detection',
      'deltatocumulative',
    ],
    exporters: ['otlp_grpc', 'otlp_http', 'otlp', 'otlphttp', 'debug', 'prometheus', 'prometheusremotewrite'],
    extensions: ['health_check', 'pprof', 'zpages'],
    connectors: ['span_metrics', 'spanmetrics', 'forward'],
  };

  it('defines every component a pipeline uses, uses every component it defines, and knows their types', () => {
    const c = config();
    const used = new Set<string>();
    for (const [name, pipeline] of Object.entries<any>(c.service.pipelines)) {
      for (const kind of ['receivers', 'processors', 'exporters'] as const) {
        for (const id of pipeline[kind] ?? []) {
          const defined = kind !== 'processors' && c.connectors?.[id] !== undefined;
          expect(c[kind]?.[id] !== undefined || defined, `${name}.${kind}: ${id} is not defined`).toBe(true);
          used.add(`${defined ? 'connectors' : kind}/${id}`);
        }
      }
      expect(pipeline.receivers?.length, name).toBeGreaterThan(0);
      expect(pipeline.exporters?.length, name).toBeGreaterThan(0);
    }
    for (const id of c.service.extensions ?? []) used.add(`extensions/${id}`);
    for (const kind of Object.keys(known)) {
      for (const id of Object.keys(c[kind] ?? {})) {
        expect(known[kind], `${kind}: unknown type ${typeOf(id)}`).toContain(typeOf(id));
        expect(used.has(`${kind}/${id}`), `${kind}/${id} is defined but unused`).toBe(true);
      }
    }
    expect(Object.keys(c.service.pipelines).sort()).toEqual(['logs', 'metrics', 'traces']);
  });

  it('runs memory_limiter first and batch after it in every pipeline', () => {
    for (const [name, pipeline] of Object.entries<any>(config().service.pipelines)) {
      expect(pipeline.processors?.[0], name).toBe('memory_limiter');
      expect(pipeline.processors, name).toContain('batch');
    }
  });

  it('binds receivers and health_check on 0.0.0.0, exports where the stack expects', () => {
    const c = config();
    expect(c.receivers.otlp.protocols.grpc.endpoint).toBe('0.0.0.0:4317');
    expect(c.receivers.otlp.protocols.http.endpoint).toBe('0.0.0.0:4318');
    expect(c.extensions.health_check.endpoint).toBe('0.0.0.0:13133');
    expect(c.service.extensions).toContain('health_check');
    const metrics = c.service.pipelines.metrics.exporters.map((id: string) => c.exporters[id]);
    expect(metrics).toContainEqual(expect.objectContaining({ endpoint: 'http://prometheus:9090/api/v1/otlp' }));
    const traces = c.service.pipelines.traces.exporters.map((id: string) => c.exporters[id]);
    expect(traces).toContainEqual(expect.objectContaining({ endpoint: 'jaeger:4317' }));
    expect(Object.keys(c.exporters).map(typeOf)).toContain('debug');
  });

  it('has no removed `logging` exporter, no resource_to_telemetry_conversion, no metric namespace', () => {
    const c = config();
    expect(Object.keys(c.exporters).map(typeOf)).not.toContain('logging');
    const text = JSON.stringify(c);
    expect(text).not.toContain('resource_to_telemetry_conversion');
    for (const [id, exporter] of Object.entries<any>(c.exporters)) expect(exporter?.namespace, id).toBeUndefined();
  });
});

describe('Grafana provisioning and dashboard', () => {
  it.skipIf(yamlSkipReason)('provisions Prometheus and Jaeger with fixed uids, and the dashboards folder', () => {
    const ds = loadYaml(join(deployDir, 'grafana', 'provisioning', 'datasources', 'datasources.yaml'));
    const byUid = Object.fromEntries(ds.datasources.map((d: any) => [d.uid, d]));
    expect(byUid.prometheus).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090', isDefault: true });
    expect(byUid.jaeger).toMatchObject({ type: 'jaeger', url: 'http://jaeger:16686' });
    const providers = loadYaml(join(deployDir, 'grafana', 'provisioning', 'dashboards', 'dashboards.yaml')).providers;
    expect(providers[0].options.path).toBe('/var/lib/grafana/dashboards');
  });

  it('has a fixed uid, no import-only placeholders, the template variables, and only provisioned datasources', () => {
    const dashboards = loadDashboards();
    expect(dashboards.map((d) => d.file)).toEqual(['ollama-genai.json']);
    const { json } = dashboards[0]!;
    const text = JSON.stringify(json);
    expect(json.uid).toBe('ollama-genai');
    expect(json.title).toBe('Ollama / GenAI');
    expect(json.__inputs).toBeUndefined();
    expect(text).not.toContain('${DS_');
    expect(json.templating.list.map((v: any) => v.name)).toEqual(
      expect.arrayContaining(['job', 'service', 'model', 'operation']),
    );
    const panels = allPanels(json);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      for (const t of p.targets ?? []) {
        const ds = t.datasource ?? p.datasource;
        expect(['prometheus', 'jaeger'], `${p.title}`).toContain(ds?.uid);
      }
    }
    const titles = panels.map((p) => p.title).join('\n');
    for (const needed of [
      'Error ratio',
      'Time to first chunk',
      'Generation speed',
      'VRAM',
      'GPU utilization',
      'CPU',
      'In-flight GenAI requests',
    ]) {
      expect(titles).toContain(needed);
    }
  });
});

describe.skipIf(toolsSkipReason)('every PromQL expression parses (real Prometheus, empty TSDB)', () => {
  let prom: RunningPrometheus;
  beforeAll(async () => {
    prom = await startPrometheus({
      config: `global: {evaluation_interval: 1m}\nrule_files: ['${join(prometheusDir, 'rules')}/*.yml']\n`,
    });
  });
  afterAll(async () => {
    await prom?.stop();
  });

  it('loads every rule file (a rule that does not parse stops Prometheus at startup)', async () => {
    const rules = await prom.rules();
    expect(rules.filter((r) => r.type === 'recording')).toHaveLength(10);
    expect(rules.filter((r) => r.type === 'alerting').length).toBeGreaterThanOrEqual(9);
  });

  it('answers a syntax error with HTTP 400 (so the checks below can fail)', async () => {
    const { status, body } = await prom.queryRaw('sum(rate(gen_ai_client_operation_duration_seconds_count[5m])');
    expect(status).toBe(400);
    expect(body.errorType).toBe('bad_data');
  });

  it('accepts every rule expression', async () => {
    const rules = await prom.rules();
    for (const rule of rules) {
      const { status, body } = await prom.queryRaw(rule.query);
      expect(status, `${rule.name}: ${body.error}`).toBe(200);
    }
  });

  it('accepts every dashboard expression and variable query', async () => {
    const exprs = dashboardExpressions({ service: 'express-chat' });
    expect(exprs.length).toBeGreaterThan(40);
    for (const e of exprs) {
      const { status, body } = await prom.queryRaw(e.expr);
      expect(status, `${e.where}: ${body.error}\n${e.expr}`).toBe(200);
    }
  });
});
