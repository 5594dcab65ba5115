/*
 * The real OpenTelemetry Collector in the tests: otelcorecol (core components, built from Debian's sources by
 * deploy/tools/otelcol.sh) on loopback ports, running deploy/collector/config.yaml with only what a test machine
 * must change: the contrib components taken out, the endpoints pointed at 127.0.0.1.
 *
 *   const collector = await startCollector(loopbackConfig(shippedConfig(), { traces: grpc.port, metrics: http.endpoint }));
 *   // OTEL_EXPORTER_OTLP_ENDPOINT=collector.grpcEndpoint (or collector.httpEndpoint for http/protobuf)
 *   await collector.stop();  await collector.start();  await collector.reload(otherConfig);
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { restartablePort } from './prometheus.js';
import { checkTools, deployDir, skipReason, toolsDir } from './tools.js';
import { parseYaml } from './yaml.js';

export const otelcol = join(toolsDir, 'bin', 'otelcorecol');

/** Why the tests with a real collector cannot run here, or undefined (CI: a missing collector fails them). */
export const collectorSkipReason = skipReason(
  'the OpenTelemetry Collector (otelcorecol)',
  checkTools({ otelcorecol: otelcol }),
  'bash deploy/tools/install.sh',
);

export const KINDS = ['receivers', 'processors', 'exporters', 'connectors', 'extensions'] as const;
export type Kind = (typeof KINDS)[number];

/**
 * The components deploy/collector/config.yaml may use that the core build lacks: the compose stack runs the
 * contrib image, which has them. Anything else the shipped config uses must be in the core build.
 */
export const CONTRIB_COMPONENTS: Record<Kind, string[]> = {
  receivers: [],
  processors: [],
  exporters: [],
  connectors: [],
  // Liveness for `docker compose` watchers and load balancers (the image has no shell for a healthcheck).
  extensions: ['health_check'],
};

export const typeOf = (id: string) => id.split('/')[0]!;

/** `otelcorecol components`: the component types the binary was built with. */
export function builtComponents(): Record<Kind, string[]> {
  const listing = parseYaml(execFileSync(otelcol, ['components'], { encoding: 'utf8', timeout: 10_000 }));
  return Object.fromEntries(
    KINDS.map((kind) => [kind, (listing[kind] ?? []).map((c: any) => c.name as string)]),
  ) as any;
}

export function shippedConfig(): any {
  return parseYaml(readFileSync(join(deployDir, 'collector', 'config.yaml'), 'utf8'));
}

/** The config without the CONTRIB_COMPONENTS: their definitions, and their uses in pipelines and service.extensions. */
export function withoutContrib(config: any): any {
  const copy = structuredClone(config);
  const contrib = (kind: Kind, id: string) => CONTRIB_COMPONENTS[kind].includes(typeOf(id));
  for (const kind of KINDS) {
    for (const id of Object.keys(copy[kind] ?? {})) if (contrib(kind, id)) delete copy[kind][id];
  }
  copy.service.extensions = (copy.service.extensions ?? []).filter((id: string) => !contrib('extensions', id));
  for (const pipeline of Object.values<any>(copy.service.pipelines)) {
    pipeline.receivers = pipeline.receivers.filter((id: string) => !contrib('receivers', id));
    pipeline.processors = (pipeline.processors ?? []).filter((id: string) => !contrib('processors', id));
    pipeline.exporters = pipeline.exporters.filter((id: string) => !contrib('exporters', id));
  }
  return copy;
}

export interface LoopbackTargets {
  /** Port of the OTLP/gRPC receiver that stands in for Jaeger (the traces exporter's `jaeger:4317`). */
  traces: number;
  /** Base URL of the OTLP/HTTP receiver that stands in for Prometheus (`http://prometheus:9090`). */
  metrics: string;
}

/**
 * The shipped config, runnable here: contrib components out, receivers and the collector's own metrics on free
 * 127.0.0.1 ports, Jaeger and Prometheus replaced by the test's receivers. Processors and pipelines stay as shipped.
 */
export async function loopbackConfig(config: any, targets: LoopbackTargets): Promise<any> {
  const c = withoutContrib(config);
  const grpc = c.receivers.otlp.protocols.grpc;
  const http = c.receivers.otlp.protocols.http;
  if (!/:4317$/.test(grpc.endpoint) || !/:4318$/.test(http.endpoint)) throw new Error('unexpected OTLP receiver ports');
  // Tests stop and start collectors on the same ports.
  grpc.endpoint = `127.0.0.1:${await restartablePort()}`;
  http.endpoint = `127.0.0.1:${await restartablePort()}`;
  const backends: Record<string, string> = {
    'jaeger:4317': `127.0.0.1:${targets.traces}`,
    'http://prometheus:9090': targets.metrics,
  };
  for (const [id, exporter] of Object.entries<any>(c.exporters)) {
    if (exporter?.endpoint === undefined) continue;
    const backend = Object.keys(backends).find((prefix) => exporter.endpoint.startsWith(prefix));
    if (!backend) throw new Error(`exporter ${id}: no test stand-in for ${exporter.endpoint}`);
    exporter.endpoint = backends[backend] + exporter.endpoint.slice(backend.length);
  }
  const prometheus = c.service.telemetry.metrics.readers[0].pull.exporter.prometheus;
  prometheus.host = '127.0.0.1';
  prometheus.port = await restartablePort();
  return c;
}

/** A memory_limiter that refuses everything: its soft limit (1 MiB) is below any collector's heap. */
export function refusingMemoryLimiter(config: any): any {
  const copy = structuredClone(config);
  copy.processors.memory_limiter = { check_interval: '1s', limit_mib: 2, spike_limit_mib: 1 };
  return copy;
}

export interface RunningCollector {
  /** `http://127.0.0.1:<port>` of the OTLP/gRPC receiver. */
  readonly grpcEndpoint: string;
  /** `http://127.0.0.1:<port>` of the OTLP/HTTP receiver. */
  readonly httpEndpoint: string;
  readonly configFile: string;
  /** Everything the collector processes (one per start) wrote. */
  output(): string;
  /** The collector's own metrics (`otelcol_*`), summed per name over their label sets. */
  selfMetrics(): Promise<Record<string, number>>;
  /** SIGTERM (graceful: flushes its batches and queues) or SIGKILL; resolves once it exited. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts it again, same config and ports; resolves once it is ready. */
  start(): Promise<void>;
  /** Writes `config` and sends SIGHUP: the collector restarts its pipelines in-process with it. */
  reload(config: any): Promise<void>;
  /** Stops it and removes its temp dir. */
  close(): Promise<void>;
}

const READY = 'Everything is ready. Begin running and processing data.';

/** `binary`: another collector build (default otelcorecol), e.g. deploy/tools/fleet.sh's otelcol-fleet. */
export async function startCollector(config: any, binary = otelcol): Promise<RunningCollector> {
  const dir = mkdtempSync(join(tmpdir(), 'ollama-otel-otelcol-'));
  const configFile = join(dir, 'config.yaml');
  // JSON is YAML.
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const { host: telemetryHost = '127.0.0.1', port: telemetryPort } =
    config.service.telemetry.metrics.readers[0].pull.exporter.prometheus;
  let output = '';
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const readyCount = () => output.split(READY).length - 1;
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const waitReady = async (count: number) => {
    const deadline = Date.now() + 15_000;
    while (readyCount() < count) {
      if (!running() || Date.now() > deadline) {
        throw new Error(`${binary} did not become ready:\n${output.slice(-4000)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };
  const start = async () => {
    const ready = readyCount() + 1;
    const proc = spawn(binary, [`--config=${configFile}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout?.on('data', (chunk) => {
      output += chunk;
    });
    proc.stderr?.on('data', (chunk) => {
      output += chunk;
    });
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    await waitReady(ready);
  };
  const stop = async (signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM') => {
    if (!running()) return;
    child?.kill(signal);
    const timer = setTimeout(() => child?.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  await start();
  return {
    grpcEndpoint: `http://${config.receivers.otlp.protocols.grpc.endpoint}`,
    httpEndpoint: `http://${config.receivers.otlp.protocols.http.endpoint}`,
    configFile,
    output: () => output,
    async selfMetrics() {
      const text = await (await fetch(`http://${telemetryHost}:${telemetryPort}/metrics`)).text();
      const sums: Record<string, number> = {};
      for (const line of text.split('\n')) {
        const match = /^(otelcol_\w+)(?:\{[^}]*\})? (\S+)$/.exec(line);
        if (match) sums[match[1]!] = (sums[match[1]!] ?? 0) + Number(match[2]);
      }
      return sums;
    },
    stop,
    start,
    async reload(next) {
      const ready = readyCount() + 1;
      writeFileSync(configFile, JSON.stringify(next, null, 2));
      child?.kill('SIGHUP');
      await waitReady(ready);
    },
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
