/*
 * A fleet simulated on this machine with the configs the Helm chart renders (`helm template`, nothing copied):
 *
 *   fleet app (@ollama-otel/node) ──▶ proxy ollama-0 ──▶ Ollama double 0       each proxy: its own loopback address,
 *        │  calls all three       ──▶ proxy ollama-1 ──▶ Ollama double 1       args, env and resource attributes
 *        │                        ──▶ proxy ollama-2 ──▶ Ollama double 2       from the chart's proxy container
 *        ▼ OTLP                              │ OTLP
 *   agent (node-a) ───────┐        agent (node-b)     agents and gateway: otelcol-fleet running the chart's
 *                         ▼              │            agent and gateway configs, each on its own loopback address
 *                      gateway ◀─────────┘            (${env:MY_POD_IP}, as the downward API sets it)
 *                  traces ▼   metrics ▼
 *      OTLP receivers standing in for Jaeger and for Prometheus' OTLP receiver (Debian's Prometheus has none)
 *
 *   Prometheus 3 scrapes the proxies (the chart's PodMonitor relabelling) and the app's own /metrics (the same
 *   relabelling, prometheus-scrape.yml's), and evaluates the chart's PrometheusRule groups.
 *
 * Then: traffic to all three; one double stopped, then one proxy, then the gateway for 10 s. It shows the per-server
 * dashboard panels returning one series per server, the per-instance alerts firing for the stopped one only and
 * resolving after, every call's trace complete (app and proxy spans, with their pod, node and namespace) through
 * agent → gateway, and what was lost while the gateway was down. k8s_attributes is off (no Kubernetes API here):
 * the pod/node/namespace come from the resource attributes the chart sets on the proxies.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOtlpGrpcReceiver } from '../../packages/node/test/helpers/otlp-grpc-receiver.js';
import { startOtlpHttpReceiver } from '../../packages/node/test/helpers/otlp-http-receiver.js';
import { exampleDir, waitForHealthy } from './app.js';
import { type RunningCollector, startCollector } from './collector.js';
import { dashboardExpressions } from './dashboard.js';
import * as chart from './helm.js';
import { freePort, type RunningPrometheus, type Sample, startPrometheus } from './prometheus.js';
import { deployDir, repoRoot, toolsSkipReason } from './tools.js';

const CLI = join(repoRoot, 'packages', 'proxy', 'dist', 'esm', 'cli.js');
const APP = join(deployDir, 'test', 'fixtures', 'fleet-app.mjs');
const APP_JOB = 'ollama-otel/fleet-app';
const PROXY_JOB = 'ollama-otel-proxy';
const FLEET_ROW = 'Fleet: per server ($server)';
const SERVERS = [0, 1, 2];

const net = chart.loopbackNet();
const ip = { agentA: `${net}.2`, agentB: `${net}.3`, gateway: `${net}.10` };
const proxyIp = (i: number) => `${net}.${21 + i}`;
const doubleIp = (i: number) => `${net}.${31 + i}`;
const proxyUrl = (i: number) => `http://${proxyIp(i)}:11435`;

interface Call {
  server: number;
  at: number;
  ok: boolean;
  traceId?: string;
}

/** A child process with its output kept; `stop` sends SIGTERM and waits. */
function child(file: string, args: string[], env: Record<string, string>, cwd = repoRoot) {
  let output = '';
  const proc: ChildProcess = spawn(file, args, {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  proc.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    proc,
    output: () => output,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Polls `expr` until it returns `count` series or 30 s passed (rates need two scrapes); its last result. */
async function seriesOf(prom: RunningPrometheus, expr: string, count: number) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const samples = await prom.query(expr);
    if (samples.length >= count || Date.now() > deadline) return samples;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** What an alert is about: the proxy's scrape target for OllamaProxyDown, else the server. */
const subject = (s: Sample) =>
  s.metric.alertname === 'OllamaProxyDown' ? s.metric.instance : `${s.metric.server_address}:${s.metric.server_port}`;

/** alertname → its subjects, sorted, as one comparable string. */
function alertSet(samples: Sample[], names: string[]): string {
  return JSON.stringify(
    [...names]
      .sort()
      .map((name) => [name, [...new Set(samples.filter((s) => s.metric.alertname === name).map(subject))].sort()]),
  );
}

/**
 * Waits until the alerts of `expected` (alertname → subjects) fire for exactly those subjects, and no other subject
 * has one of them pending or firing; fails with what it saw after `timeoutMs`.
 */
async function expectFiring(prom: RunningPrometheus, expected: Record<string, string[]>, timeoutMs = 150_000) {
  const names = Object.keys(expected);
  const want = JSON.stringify([...names].sort().map((name) => [name, [...expected[name]!].sort()]));
  const deadline = Date.now() + timeoutMs;
  let seen = '';
  while (Date.now() < deadline) {
    const samples = await prom.query(`ALERTS{alertname=~"${names.join('|')}"}`);
    const firingNow = alertSet(
      samples.filter((s) => s.metric.alertstate === 'firing'),
      names,
    );
    seen = alertSet(samples, names);
    if (firingNow === want && seen === want) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  expect(seen, 'pending or firing after the wait').toBe(want);
}

/** Waits until no alert of `names` is pending or firing. */
async function resolved(prom: RunningPrometheus, names: string[], timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const samples = await prom.query(`ALERTS{alertname=~"${names.join('|')}"}`);
    if (samples.length === 0) return;
    if (Date.now() > deadline)
      throw new Error(`${names} still active after ${timeoutMs} ms: ${JSON.stringify(samples)}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Replaces the downward API's `$(VAR)` references the way the kubelet does. */
const expand = (value: string, vars: Record<string, string>) =>
  value.replace(/\$\((\w+)\)/g, (m, name: string) => vars[name] ?? m);

describe.skipIf(chart.fleetSkipReason ?? toolsSkipReason)('a fleet simulated on loopback with the chart', () => {
  const doubles: OllamaDouble[] = [];
  const proxies: ReturnType<typeof child>[] = [];
  let startProxy: (i: number) => Promise<ReturnType<typeof child>>;
  let agents: RunningCollector[] = [];
  let gateway: RunningCollector;
  let jaeger: Awaited<ReturnType<typeof startOtlpGrpcReceiver>>;
  let prom: RunningPrometheus;
  let app: ReturnType<typeof child>;
  let appBase: string;
  let promDir: string;
  let appMetricsPort: number;
  let metricsSink: Awaited<ReturnType<typeof startOtlpHttpReceiver>>;
  const calls: Call[] = [];
  let traffic: Promise<void> | undefined;
  let running = true;

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error('packages/proxy is not built: run `pnpm build` (pnpm test does)');
    jaeger = await startOtlpGrpcReceiver();

    // Prometheus (Debian's build has no OTLP receiver): scrapes the proxies as the chart's PodMonitor says and the
    // app's own /metrics with the same relabelling (prometheus-scrape.yml's); the chart's PrometheusRule as rules.
    // The app also pushes its metrics through agent → gateway, into `metricsSink`.
    const first = chart.render([chart.valuesFiles[0]!]);
    const monitor = chart.findObject(first, 'PodMonitor', '-proxy').spec.podMetricsEndpoints[0];
    const relabel = monitor.metricRelabelings.map((r: any) => ({
      source_labels: r.sourceLabels,
      regex: r.regex,
      target_label: r.targetLabel,
      replacement: r.replacement,
      action: r.action,
    }));
    appMetricsPort = await freePort();
    promDir = mkdtempSync(join(tmpdir(), 'ollama-otel-fleet-prom-'));
    mkdirSync(join(promDir, 'rules'));
    writeFileSync(
      join(promDir, 'rules', 'fleet.yml'),
      JSON.stringify({ groups: chart.findObject(first, 'PrometheusRule', 'ollama-otel').spec.groups }),
    );
    const promConfig = {
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: ['rules/*.yml'],
      scrape_configs: [
        {
          job_name: PROXY_JOB,
          metrics_path: monitor.path,
          static_configs: [{ targets: SERVERS.map((i) => `${proxyIp(i)}:11435`) }],
          metric_relabel_configs: relabel,
        },
        {
          job_name: APP_JOB,
          static_configs: [{ targets: [`127.0.0.1:${appMetricsPort}`] }],
          metric_relabel_configs: relabel,
        },
      ],
    };
    writeFileSync(join(promDir, 'prometheus.yml'), JSON.stringify(promConfig));
    prom = await startPrometheus({ configFile: join(promDir, 'prometheus.yml') });
    metricsSink = await startOtlpHttpReceiver();

    // The chart rendered for this machine: standalone proxies, agents without k8s_attributes, loopback endpoints.
    const objects = chart.render([chart.valuesFiles[1]!], {
      'collector.agent.k8sattributes': false,
      'collector.agent.nextHop': `${ip.gateway}:4317`,
      'collector.gateway.traces.endpoint': `127.0.0.1:${jaeger.port}`,
      'collector.gateway.metrics.endpoint': metricsSink.endpoint,
    });
    const configs = chart.collectorConfigs(objects);
    gateway = await startCollector(chart.configAt(configs.gateway!.text, ip.gateway), chart.fleetTools.otelcolFleet);
    agents = [
      await startCollector(chart.configAt(configs.agent!.text, ip.agentA), chart.fleetTools.otelcolFleet),
      await startCollector(chart.configAt(configs.agent!.text, ip.agentB), chart.fleetTools.otelcolFleet),
    ];

    // The proxies: the chart's container (args, env) as the kubelet would run it on node-b.
    const container = chart.findObject(objects, 'Deployment', '-proxy-gpu-a').spec.template.spec.containers[0];
    for (const i of SERVERS) doubles.push(await startOllamaDouble({ host: doubleIp(i), port: 11434, chunks: 4 }));
    startProxy = async (i: number) => {
      const vars = {
        K8S_POD_NAME: `ollama-${i}`,
        K8S_POD_UID: `uid-ollama-${i}`,
        K8S_NAMESPACE_NAME: 'ollama',
        K8S_NODE_NAME: 'node-b',
        HOST_IP: ip.agentB,
        MY_POD_IP: proxyIp(i),
      };
      const env: Record<string, string> = {
        ...vars,
        OTEL_SERVICE_NAME: 'ollama-otel-proxy', // the image's ENV
        OTEL_BSP_SCHEDULE_DELAY: '100',
        OLLAMA_OTEL_SERVER_METRICS_MIN_INTERVAL: '500',
      };
      for (const { name, value } of container.env) if (value !== undefined) env[name] = expand(value, vars);
      const args = (container.args as string[]).map((arg) =>
        // The chart's drain delay, shortened: the simulation stops the proxies itself.
        arg.startsWith('--drain-delay=')
          ? '--drain-delay=1s'
          : arg.startsWith('--listen=')
            ? `--listen=${proxyIp(i)}:11435`
            : arg.startsWith('--upstream=')
              ? `--upstream=http://${doubleIp(i)}:11434`
              : arg,
      );
      const proxy = child(process.execPath, [CLI, ...args], env);
      const deadline = Date.now() + 20_000;
      while (!proxy.output().includes('listening on')) {
        if (proxy.proc.exitCode !== null || Date.now() > deadline) {
          throw new Error(`proxy ${i} did not start:\n${proxy.output()}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      proxies[i] = proxy;
      return proxy;
    };
    for (const i of SERVERS) await startProxy(i);

    // The app on node-a: calls every proxy, polls every one's /api/ps (OLLAMA_OTEL_SERVER_METRICS_HOSTS).
    const port = await freePort();
    appBase = `http://127.0.0.1:${port}`;
    const servers = SERVERS.map(proxyUrl).join(',');
    app = child(
      process.execPath,
      ['--import', '@ollama-otel/node/register', APP],
      {
        PORT: String(port),
        FLEET_SERVERS: servers,
        OLLAMA_OTEL_SERVER_METRICS_HOSTS: servers,
        OLLAMA_OTEL_SERVER_METRICS_MIN_INTERVAL: '0',
        OLLAMA_OTEL_SERVER_METRICS_TIMEOUT: '500',
        OTEL_SERVICE_NAME: 'fleet-app',
        OTEL_RESOURCE_ATTRIBUTES:
          'service.namespace=ollama-otel,k8s.pod.name=app-0,k8s.namespace.name=apps,k8s.node.name=node-a',
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://${ip.agentA}:4317`,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
        OTEL_METRICS_EXPORTER: 'otlp,prometheus',
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(appMetricsPort),
        OTEL_METRIC_EXPORT_INTERVAL: '1000',
        OTEL_BSP_SCHEDULE_DELAY: '100',
        OLLAMA_OTEL_HOST_METRICS: 'false',
        OLLAMA_OTEL_RUNTIME_METRICS: 'false',
      },
      exampleDir,
    );
    await waitForHealthy(`${appBase}/healthz`, app.proc, app.output);

    // Traffic to all three, one call every 100 ms, round robin, for as long as the test runs.
    traffic = (async () => {
      for (let n = 0; running; n++) {
        const server = n % SERVERS.length;
        const at = Date.now();
        try {
          const body = (await (
            await fetch(`${appBase}/call?server=${server}`, { signal: AbortSignal.timeout(15_000) })
          ).json()) as Call;
          calls.push({ server, at, ok: body.ok, traceId: body.traceId });
        } catch {
          calls.push({ server, at, ok: false });
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    await prom.waitFor(
      `count(count by (server_address) (gen_ai_client_operation_duration_seconds_count{job="${APP_JOB}"})) == 3`,
      60_000,
    );
    await prom.waitFor(`count(ollama_up{job="${APP_JOB}"} == 1) == 3`, 30_000);
  }, 180_000);

  afterAll(async () => {
    running = false;
    await traffic;
    await app?.stop();
    for (const proxy of proxies) await proxy?.stop();
    for (const agent of agents) await agent.close();
    await gateway?.close();
    for (const double of doubles) await double.close();
    await prom?.stop();
    await jaeger?.close();
    await metricsSink?.close();
    if (promDir) rmSync(promDir, { recursive: true, force: true });
  });

  it('per-server panels: every query returns one series per server', async () => {
    for (const job of [APP_JOB, PROXY_JOB]) {
      const expressions = dashboardExpressions({ job }, { onlyRows: [FLEET_ROW] }).filter(
        (e) => !e.raw.startsWith('quantile('), // the fleet median: one series
      );
      expect(expressions.length).toBeGreaterThanOrEqual(7);
      for (const { where, expr } of expressions) {
        const samples = await seriesOf(prom, expr, SERVERS.length);
        const servers = new Set(samples.map((s) => `${s.metric.server_address}:${s.metric.server_port}`));
        // The app sees the proxies (its server.address); the proxies see the doubles behind them.
        const expected = SERVERS.map((i) => (job === APP_JOB ? `${proxyIp(i)}:11435` : `${doubleIp(i)}:11434`));
        expect([...servers].sort(), `${job} ${where}: ${expr}`).toEqual(expected.sort());
      }
    }
  });

  it('one double stopped: OllamaInstanceDown fires for that server only, and resolves once it is back', async () => {
    await doubles[0]!.close();
    // The app polls it through proxy 0; proxy 0 polls the double itself: both name server 0.
    await expectFiring(prom, { OllamaInstanceDown: [`${doubleIp(0)}:11434`, `${proxyIp(0)}:11435`] });
    doubles[0] = await startOllamaDouble({ host: doubleIp(0), port: 11434, chunks: 4 });
    await resolved(prom, ['OllamaInstanceDown']);
  }, 240_000);

  it('one proxy stopped: OllamaProxyDown and OllamaInstanceDown for that one only, resolved once it is back', async () => {
    await proxies[1]!.stop();
    await expectFiring(prom, {
      OllamaProxyDown: [`${proxyIp(1)}:11435`],
      OllamaInstanceDown: [`${proxyIp(1)}:11435`],
    });
    await startProxy(1);
    await resolved(prom, ['OllamaProxyDown', 'OllamaInstanceDown']);
  }, 240_000);

  it("gateway down 10 s: the agents queue and retry; every call's trace arrives complete, pods named", async () => {
    const selfMetric = async (name: string) =>
      (await Promise.all(agents.map((agent) => agent.selfMetrics()))).reduce((sum, m) => sum + (m[name] ?? 0), 0);
    await gateway.stop();
    const downAt = Date.now();
    let queuePeak = 0;
    while (Date.now() - downAt < 10_000) {
      queuePeak = Math.max(queuePeak, await selfMetric('otelcol_exporter_queue_size'));
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const upAt = Date.now();
    await gateway.start();

    const complete = (call: Call) => {
      const trace = jaeger.store.spans.filter((span) => span.traceId === call.traceId);
      const app = trace.some(
        (span) =>
          span.resource['service.name'] === 'fleet-app' &&
          span.resource['k8s.pod.name'] === 'app-0' &&
          span.resource['k8s.node.name'] === 'node-a' &&
          span.resource['k8s.namespace.name'] === 'apps',
      );
      const proxy = trace.some(
        (span) =>
          span.resource['service.name'] === 'ollama-otel-proxy' &&
          span.resource['service.instance.id'] === `ollama-${call.server}` &&
          span.resource['k8s.pod.name'] === `ollama-${call.server}` &&
          span.resource['k8s.pod.uid'] === `uid-ollama-${call.server}` &&
          span.resource['k8s.node.name'] === 'node-b' &&
          span.resource['k8s.namespace.name'] === 'ollama',
      );
      return app && proxy;
    };
    const answered = calls.filter((call) => call.ok && call.traceId && call.at < upAt);
    const during = answered.filter((call) => call.at >= downAt);
    const deadline = Date.now() + 60_000;
    while (answered.some((call) => !complete(call)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const deliveredAfterMs = Date.now() - upAt;
    const lost = answered.filter((call) => !complete(call));
    const figures = {
      callsWhileGatewayDown: during.length,
      tracesLostWhileGatewayDown: during.filter((call) => !complete(call)).length,
      tracesLostInAll: lost.length,
      tracesChecked: answered.length,
      agentQueuePeak: queuePeak,
      deliveredWithinMsOfRestart: deliveredAfterMs,
      agentSendFailedSpans: await selfMetric('otelcol_exporter_send_failed_spans'),
      agentEnqueueFailedSpans: await selfMetric('otelcol_exporter_enqueue_failed_spans'),
      agentSendFailedMetricPoints: await selfMetric('otelcol_exporter_send_failed_metric_points'),
    };
    console.log(`fleet: gateway down 10 s: ${JSON.stringify(figures)}`);
    expect(during.length).toBeGreaterThan(20);
    expect(queuePeak).toBeGreaterThan(0);
    const shapes = lost.slice(0, 5).map((call) => ({
      ...call,
      spans: jaeger.store.spans
        .filter((span) => span.traceId === call.traceId)
        .map((span) => `${span.name} ${span.resource['service.name']} ${span.resource['k8s.pod.name']}`),
    }));
    expect(
      lost.map((call) => call.traceId),
      JSON.stringify(shapes, null, 1),
    ).toEqual([]);
    expect(figures.agentEnqueueFailedSpans).toBe(0);
    expect(figures.agentSendFailedSpans).toBe(0);
  }, 120_000);
});
