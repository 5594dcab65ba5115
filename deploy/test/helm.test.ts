/*
 * deploy/helm/ollama-otel with real tools (deploy/tools/fleet.sh): `helm lint` and `helm template` with each values
 * file, every rendered object under `kubeconform -strict` (Kubernetes and Prometheus Operator schemas), every rendered
 * collector config under `otelcol-fleet validate` (the Collector built with exactly the chart's components), and
 * the drift tests: the PrometheusRule and the dashboard ConfigMap equal deploy/'s files, the sidecar example equals
 * the container the chart renders.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOtlpGrpcReceiver } from '../../packages/node/test/helpers/otlp-grpc-receiver.js';
import { KINDS, startCollector, typeOf } from './collector.js';
import { dashboardsDir } from './dashboard.js';
import {
  chartDir,
  collectorConfigs,
  configAt,
  findObject,
  fleetSkipReason,
  fleetTools,
  loopbackNet,
  render,
  schemaDir,
  template,
  valuesFiles,
} from './helm.js';
import { freePort } from './prometheus.js';
import { deployDir, run } from './tools.js';
import { loadYaml, parseYaml } from './yaml.js';

const defaults = join(chartDir, 'values.yaml');
const cases = [defaults, ...valuesFiles];
let dir: string;

function kubeconform(manifests: string): string {
  const file = join(dir, `manifests-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, manifests);
  return run(fleetTools.kubeconform, [
    '-strict',
    '-summary',
    '-schema-location',
    join(schemaDir, 'kubernetes', '{{ .ResourceKind }}{{ .KindSuffix }}.json'),
    '-schema-location',
    join(schemaDir, 'crds', '{{ .Group }}', '{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json'),
    file,
  ]);
}

/** `otelcol-fleet validate` on a rendered config: exit status and output. */
function validate(text: string): { status: number; output: string } {
  const file = join(dir, `config-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, text);
  try {
    const output = execFileSync(fleetTools.otelcolFleet, ['validate', `--config=${file}`], {
      encoding: 'utf8',
      stdio: 'pipe',
      env: { PATH: process.env.PATH, MY_POD_IP: '127.0.0.1', K8S_NODE_NAME: 'node-a' },
    });
    return { status: 0, output };
  } catch (error) {
    const e = error as { status: number; stdout: string; stderr: string };
    return { status: e.status, output: `${e.stdout}${e.stderr}` };
  }
}

describe.skipIf(fleetSkipReason)('the Helm chart deploy/helm/ollama-otel', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ollama-otel-helm-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  for (const values of cases) {
    const name = basename(values);
    it(`${name}: helm lint --strict, and kubeconform -strict accepts every rendered object`, () => {
      expect(run(fleetTools.helm, ['lint', '--strict', chartDir, '-f', values])).toMatch(/1 chart\(s\) linted, 0/);
      const out = kubeconform(template([values]));
      const summary = /Valid: (\d+), Invalid: (\d+), Errors: (\d+), Skipped: (\d+)/.exec(out);
      expect(summary?.slice(2).map(Number), out).toEqual([0, 0, 0]);
      expect(Number(summary?.[1])).toBe(render([values]).length);
    });

    it(`${name}: every rendered collector config is valid for otelcol-fleet`, () => {
      const configs = collectorConfigs(render([values]));
      expect(Object.keys(configs)).toEqual(expect.arrayContaining(['agent', 'gateway']));
      for (const [tier, { text }] of Object.entries(configs)) {
        const result = validate(text);
        expect(result.status, `${tier}: ${result.output}`).toBe(0);
      }
    });
  }

  it('kubeconform rejects what the API server would (the check can fail)', () => {
    const deployment = findObject(render([valuesFiles[1]!]), 'Deployment', '-proxy-gpu-a');
    deployment.spec.template.spec.containers[0].readinessProbe.httpGet.pathh = '/healthz';
    expect(() => kubeconform(JSON.stringify(deployment))).toThrow(/additional properties 'pathh' not allowed/);
  });

  it('otelcol-fleet rejects a component it was not built with (the check can fail)', () => {
    const { gateway } = collectorConfigs(render([defaults]));
    const config = gateway!.config;
    config.processors.transform = {};
    config.service.pipelines.traces.processors.push('transform');
    expect(validate(JSON.stringify(config)).output).toMatch(/unknown type: "transform"/);
  });

  it('otelcol-fleet is built with exactly the components the rendered configs use', () => {
    const listing = parseYaml(execFileSync(fleetTools.otelcolFleet, ['components'], { encoding: 'utf8' }));
    const built = KINDS.flatMap((kind) => (listing[kind] ?? []).map((c: any) => `${kind}/${c.name}`)).sort();
    const used = new Set<string>();
    for (const values of cases) {
      for (const { config } of Object.values(collectorConfigs(render([values])))) {
        for (const kind of KINDS) for (const id of Object.keys(config[kind] ?? {})) used.add(`${kind}/${typeOf(id)}`);
      }
    }
    expect(built).toEqual([...used].sort());
  });

  it('agents add pod, node and namespace (k8sattributes, own node only) and forward to the next tier', () => {
    const { agent } = collectorConfigs(render([defaults]));
    const k8s = agent!.config.processors.k8s_attributes;
    expect(k8s.filter.node_from_env_var).toBe('K8S_NODE_NAME');
    expect(k8s.extract.metadata).toEqual(
      expect.arrayContaining(['k8s.pod.name', 'k8s.node.name', 'k8s.namespace.name']),
    );
    for (const pipeline of Object.values<any>(agent!.config.service.pipelines)) {
      expect(pipeline.processors).toEqual(['memory_limiter', 'k8s_attributes', 'batch']);
      expect(pipeline.exporters).toEqual(['otlp_grpc/next']);
    }
    expect(agent!.config.exporters['otlp_grpc/next'].endpoint).toBe('fleet-ollama-otel-gateway:4317');
    const daemonSet = findObject(render([defaults]), 'DaemonSet', '-agent');
    const ports = daemonSet.spec.template.spec.containers[0].ports;
    expect(ports.filter((p: any) => p.hostPort).map((p: any) => p.hostPort)).toEqual([4317, 4318]);
  });

  it('with tail sampling: agents -> trace-ID load balancer -> gateways that keep errors and slow calls', () => {
    const objects = render([valuesFiles[2]!]);
    const { agent, loadbalancer, gateway } = collectorConfigs(objects);
    expect(agent!.config.exporters['otlp_grpc/next'].endpoint).toBe('fleet-ollama-otel-loadbalancer:4317');
    const lb = loadbalancer!.config.exporters.load_balancing;
    expect(lb.routing_key).toBe('traceID');
    expect(lb.resolver.dns.hostname).toBe('fleet-ollama-otel-gateway-headless.observability.svc.cluster.local');
    expect(findObject(objects, 'Service', '-gateway-headless').spec.clusterIP).toBe('None');
    const policies = gateway!.config.processors.tail_sampling.policies.map((p: any) => p.type);
    expect(policies).toEqual(['status_code', 'latency', 'probabilistic']);
    expect(gateway!.config.service.pipelines.traces.processors).toEqual(['memory_limiter', 'tail_sampling', 'batch']);
  });

  it("the gateway runs deploy/collector/config.yaml's pipelines (the Compose stack's), with the cluster's endpoints", () => {
    const compose = loadYaml(join(deployDir, 'collector', 'config.yaml'));
    const { gateway } = collectorConfigs(render([defaults]));
    expect(gateway!.config.service.pipelines).toEqual(compose.service.pipelines);
    expect(Object.keys(gateway!.config.exporters).sort()).toEqual(Object.keys(compose.exporters).sort());
    expect(gateway!.config.processors).toEqual(compose.processors);
  });

  it('standalone proxies: readiness on /healthz, drain and grace periods fit terminationGracePeriodSeconds', () => {
    const objects = render([valuesFiles[1]!]);
    const deployment = findObject(objects, 'Deployment', '-proxy-gpu-b');
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    expect(container.args).toEqual([
      '--listen=0.0.0.0:11435',
      '--upstream=http://ollama-b.ollama.svc:11434',
      '--drain-delay=5s',
      '--grace-period=20s',
    ]);
    expect(container.readinessProbe.httpGet.path).toBe('/healthz');
    expect(container.lifecycle).toBeUndefined(); // no preStop sleep: the proxy keeps accepting while it drains
    expect(pod.terminationGracePeriodSeconds).toBe(5 + 20 + 5);
    const monitor = findObject(objects, 'ServiceMonitor', '-proxy');
    expect(monitor.spec.selector.matchLabels['ollama-otel.io/proxy']).toBe('true');
    expect(findObject(objects, 'Service', '-proxy-gpu-b').metadata.labels['ollama-otel.io/proxy']).toBe('true');
  });

  it("the proxies' scrape uses prometheus-scrape.yml's metric relabelling (the same names as the OTLP path)", () => {
    const monitor = findObject(render([valuesFiles[0]!]), 'PodMonitor', '-proxy');
    const scrape = loadYaml(join(deployDir, 'prometheus', 'prometheus-scrape.yml'));
    const apps = scrape.scrape_configs.find((c: any) => c.job_name === 'ollama-apps');
    const expected = apps.metric_relabel_configs.map((r: any) =>
      Object.fromEntries(
        Object.entries({
          sourceLabels: r.source_labels,
          regex: r.regex,
          targetLabel: r.target_label,
          replacement: r.replacement,
          action: r.action,
        }).filter(([, v]) => v !== undefined),
      ),
    );
    expect(monitor.spec.podMetricsEndpoints[0].metricRelabelings).toEqual(expected);
  });

  it('drift: the PrometheusRule holds exactly the groups of deploy/prometheus/rules/*.yml', () => {
    const rule = findObject(render([defaults]), 'PrometheusRule', 'ollama-otel');
    const rulesDir = join(deployDir, 'prometheus', 'rules');
    const files = readdirSync(rulesDir)
      .filter((f) => f.endsWith('.yml'))
      .sort();
    expect(rule.spec.groups).toEqual(files.flatMap((f) => loadYaml(join(rulesDir, f)).groups));
  });

  it('drift: the dashboards ConfigMap holds exactly deploy/grafana/dashboards/*.json', () => {
    const configMap = findObject(render([defaults]), 'ConfigMap', '-dashboards');
    expect(configMap.metadata.labels.grafana_dashboard).toBe('1');
    const files = readdirSync(dashboardsDir).filter((f) => f.endsWith('.json'));
    expect(Object.keys(configMap.data).sort()).toEqual(files.sort());
    for (const file of files) {
      expect(configMap.data[file]).toBe(readFileSync(join(dashboardsDir, file), 'utf8').trimEnd());
    }
  });

  it("drift: examples/otwld-ollama-values.yaml's sidecar is the container the chart renders", () => {
    const example = loadYaml(join(chartDir, 'examples', 'otwld-ollama-values.yaml'));
    const objects = render([valuesFiles[1]!], {
      'proxy.standalone.servers[0].upstream': 'http://$(K8S_POD_NAME):11434',
    });
    const pod = findObject(objects, 'Deployment', '-proxy-gpu-a').spec.template.spec;
    const rendered = structuredClone(pod.containers[0]);
    // The sidecar ships its metrics the same way (scrape by the PodMonitor).
    expect(example.extraContainers).toEqual([rendered]);
    expect(example.terminationGracePeriodSeconds).toBe(pod.terminationGracePeriodSeconds);
  });

  it('DCGM: a ServiceMonitor on the GPU Operator exporter that keeps its pod labels and adds the node', () => {
    const monitor = findObject(render([valuesFiles[3]!]), 'ServiceMonitor', '-dcgm');
    expect(monitor.spec.namespaceSelector.matchNames).toEqual(['gpu-operator']);
    expect(monitor.spec.selector.matchLabels).toEqual({ app: 'nvidia-dcgm-exporter' });
    const endpoint = monitor.spec.endpoints[0];
    expect(endpoint.honorLabels).toBe(true);
    expect(endpoint.relabelings).toContainEqual({
      sourceLabels: ['__meta_kubernetes_pod_node_name'],
      targetLabel: 'node',
    });
    const chart = findObject(
      render([valuesFiles[3]!], { 'dcgm.source': 'chart', 'dcgm.namespace': 'monitoring' }),
      'ServiceMonitor',
      '-dcgm',
    );
    expect(chart.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'dcgm-exporter' });
  });
});

describe.skipIf(fleetSkipReason)('the rendered load balancer and tail-sampling gateway, running', () => {
  it('keep the traces with an error and the slow ones, and drop the rest', async () => {
    const jaeger = await startOtlpGrpcReceiver();
    const net = loopbackNet();
    const [lbIp, gatewayIp] = [`${net}.2`, `${net}.10`];
    const configs = collectorConfigs(
      render([valuesFiles[2]!], {
        'collector.loadBalancer.gatewayHostname': gatewayIp, // the headless Service's DNS name, resolved to the pod
        'collector.gateway.traces.endpoint': `127.0.0.1:${jaeger.port}`,
        'collector.gateway.metrics.endpoint': `http://127.0.0.1:${await freePort()}`,
        'collector.gateway.tailSampling.decisionWait': '1s',
        'collector.gateway.tailSampling.slowThresholdMs': 500,
        'collector.gateway.tailSampling.keepPercent': 0,
      }),
    );
    const gateway = await startCollector(configAt(configs.gateway!.text, gatewayIp), fleetTools.otelcolFleet);
    const lb = await startCollector(configAt(configs.loadbalancer!.text, lbIp), fleetTools.otelcolFleet);
    try {
      const now = BigInt(Date.now()) * 1_000_000n;
      const span = (traceId: string, ms: number, error: boolean) => ({
        traceId,
        spanId: traceId.slice(0, 16),
        name: 'chat llama3.2',
        kind: 3,
        startTimeUnixNano: String(now),
        endTimeUnixNano: String(now + BigInt(ms) * 1_000_000n),
        status: { code: error ? 2 : 1 },
      });
      const traces = { error: 'a'.repeat(32), slow: 'b'.repeat(32), fast: 'c'.repeat(32) };
      const body = {
        resourceSpans: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'router' } }] },
            scopeSpans: [
              { spans: [span(traces.error, 20, true), span(traces.slow, 2000, false), span(traces.fast, 20, false)] },
            ],
          },
        ],
      };
      const res = await fetch(`http://${lbIp}:4318/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(200);
      const deadline = Date.now() + 20_000;
      while (jaeger.store.spans.length < 2 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      // One more decision period: the fast trace's "drop" is a decision too.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      expect(jaeger.store.spans.map((s) => s.traceId).sort()).toEqual([traces.error, traces.slow]);
    } finally {
      await lb.close();
      await gateway.close();
      await jaeger.close();
    }
  });
});
