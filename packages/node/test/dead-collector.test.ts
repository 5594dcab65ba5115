/**
 * A finished app exits within the shutdown time limit whatever the collector does (issue 12): child processes
 * under the register entry run a short job (chat calls for a while, so that exports fail and retry during the run,
 * with metrics every 200 ms and spans every 50 ms), then let the event loop run dry. The collector is a closed
 * port, a receiver that answers every export with an error (HTTP 503 / gRPC UNAVAILABLE), or a socket that accepts
 * connections and never answers; over gRPC and http/protobuf, with the exporters' default 10 s time limit, so the
 * exports and their retries outlive the app. Measured: from the app's last line to the process end.
 */
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ChildResult, closedPort, FIXTURES, spawnNode } from './helpers/child.js';
import { type DeadCollector, startSilentServer, startUnavailableHttpServer } from './helpers/dead-collectors.js';
import { type OtlpGrpcReceiver, startOtlpGrpcReceiver } from './helpers/otlp-grpc-receiver.js';
import { type OtlpHttpReceiver, startOtlpHttpReceiver } from './helpers/otlp-http-receiver.js';

const SHUTDOWN_TIMEOUT_MS = 1000;
/** Margin for a slow, shared machine: process teardown, a busy event loop. */
const MARGIN_MS = 2000;
const JOB = ['--import', '@ollama-otel/node/register', join(FIXTURES, 'job-app.mjs')];

let double: OllamaDouble;
let closed: number;
let silent: DeadCollector;
let unavailableHttp: DeadCollector;
let unavailableGrpc: OtlpGrpcReceiver;
let hungGrpc: OtlpGrpcReceiver;
let grpc: OtlpGrpcReceiver;
let http: OtlpHttpReceiver;

beforeAll(async () => {
  [double, closed, silent, unavailableHttp, unavailableGrpc, hungGrpc, grpc, http] = await Promise.all([
    startOllamaDouble(),
    closedPort(),
    startSilentServer(),
    startUnavailableHttpServer(),
    startOtlpGrpcReceiver(),
    startOtlpGrpcReceiver(),
    startOtlpGrpcReceiver(),
    startOtlpHttpReceiver(),
  ]);
  unavailableGrpc.failWith = status.UNAVAILABLE;
  hungGrpc.neverAnswer = true;
});
afterAll(async () => {
  await Promise.all([
    double?.close(),
    silent?.close(),
    unavailableHttp?.close(),
    unavailableGrpc?.close(),
    hungGrpc?.close(),
    grpc?.close(),
    http?.close(),
  ]);
});
beforeEach(() => {
  grpc.store.clear();
  http.store.clear();
});

type Protocol = 'grpc' | 'http/protobuf';
type Kind = 'closed port' | 'errors only' | 'never answers';

function endpoint(protocol: Protocol, kind: Kind): string {
  if (kind === 'closed port') return `http://127.0.0.1:${closed}`;
  if (kind === 'never answers') return `http://127.0.0.1:${silent.port}`;
  return protocol === 'grpc' ? unavailableGrpc.endpoint : `http://127.0.0.1:${unavailableHttp.port}`;
}

interface JobRun extends ChildResult {
  /** From the app's last line ("done after N calls") to the end of the process. */
  exitMs: number;
}

async function runJob(env: Record<string, string>): Promise<JobRun> {
  const app = spawnNode(JOB, {
    env: {
      OLLAMA_HOST: double.url,
      APP_RUN_MS: '1200',
      APP_EXIT_CODE: '4',
      OTEL_METRIC_EXPORT_INTERVAL: '200',
      OTEL_BSP_SCHEDULE_DELAY: '50',
      OTEL_BLRP_SCHEDULE_DELAY: '50',
      OLLAMA_OTEL_SHUTDOWN_TIMEOUT: String(SHUTDOWN_TIMEOUT_MS),
      ...env,
    },
    // Killed before the test's own time limit, so that a hanging child never outlives the test run.
    timeoutMs: 25_000,
  });
  await app.waitForStdout('done after', 20_000);
  const done = Date.now();
  const result = await app.result;
  return { ...result, exitMs: Date.now() - done };
}

describe.each<Protocol>(['grpc', 'http/protobuf'])('%s, collector down', (protocol) => {
  it.each<Kind>(['closed port', 'errors only', 'never answers'])(
    '%s: the finished app exits within the shutdown time limit, with its exit code and output',
    async (kind) => {
      const run = await runJob({
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint(protocol, kind),
      });
      expect(run.timedOut).toBe(false);
      expect(run.signal).toBeNull();
      expect(run.code).toBe(4);
      expect(run.stdout).toMatch(/^done after \d+ calls\n$/);
      expect(run.stderr).toBe('');
      expect(run.exitMs, `exit ${run.exitMs} ms after the app's last line`).toBeLessThan(
        SHUTDOWN_TIMEOUT_MS + MARGIN_MS,
      );
    },
  );
});

describe('a gRPC collector that takes calls and never answers them', () => {
  // grpc-js keeps the process alive while a call is active: such a collector holds a finished app until the
  // calls in flight reach their time limit (after a failure, the next export waits, with nothing in flight).
  it('holds a finished app up to the export time limit, then the shutdown (bounded) ends it', async () => {
    const exportTimeout = 2000;
    const run = await runJob({
      OTEL_EXPORTER_OTLP_ENDPOINT: hungGrpc.endpoint,
      OTEL_EXPORTER_OTLP_TIMEOUT: String(exportTimeout),
    });
    expect(run.code).toBe(4);
    expect(run.stderr).toBe('');
    expect(hungGrpc.store.requests.length).toBeGreaterThan(0);
    expect(run.exitMs).toBeLessThan(exportTimeout + SHUTDOWN_TIMEOUT_MS + MARGIN_MS);
  });
});

describe('what is dropped', () => {
  it('is reported in one diag warning at shutdown, with the counts per signal and the reason', async () => {
    const run = await runJob({
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${closed}`,
      OTEL_LOG_LEVEL: 'warn',
    });
    expect(run.code).toBe(4);
    const summaries = run.stderr.split('\n').filter((line) => line.includes('telemetry dropped'));
    expect(summaries).toHaveLength(1);
    expect(summaries[0]).toMatch(
      /^@ollama-otel\/node: telemetry dropped because it could not be exported: [1-9]\d* spans \(traces to http\/protobuf http:\/\/127\.0\.0\.1:\d+\/v1\/traces: .*ECONNREFUSED.*\), [1-9]\d* metric data points \(metrics to /,
    );
    // While it ran: one warning per failing signal, not one per failed export.
    const failing = run.stderr.split('\n').filter((line) => / exports to .* fail /.test(line));
    expect(failing.map((line) => line.split(' ')[1]).sort()).toEqual(['metrics', 'traces']);
  });

  it('a shutdown that runs into its time limit says so in that same warning', async () => {
    const run = await runJob({
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${silent.port}`,
      OTEL_LOG_LEVEL: 'warn',
    });
    expect(run.code).toBe(4);
    const lines = run.stderr.split('\n').filter((line) => line !== '' && !line.includes(': telemetry started: '));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^@ollama-otel/node: telemetry shutdown stopped at its ${SHUTDOWN_TIMEOUT_MS} ms time limit; telemetry dropped because it could not be exported: [1-9]\\d* spans `,
      ),
    );
  });
});

describe('an app that is still working is never cut short', () => {
  it.each<Protocol>(['grpc', 'http/protobuf'])(
    '%s, collector never answers: a timer of the app after its last call still runs, then the process exits',
    async (protocol) => {
      const run = await runJob({
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${silent.port}`,
        APP_LINGER_MS: '2500',
      });
      expect(run.code).toBe(4);
      expect(run.stdout).toMatch(/^done after \d+ calls\nlingered\n$/);
      expect(run.exitMs).toBeGreaterThanOrEqual(2400);
      expect(run.exitMs).toBeLessThan(2500 + SHUTDOWN_TIMEOUT_MS + MARGIN_MS);
    },
  );
});

describe('collector up', () => {
  it.each<Protocol>(['grpc', 'http/protobuf'])(
    '%s: every chat span of the job arrives, and the process ends right after its flush',
    async (protocol) => {
      const receiver = protocol === 'grpc' ? grpc : http;
      const run = await runJob({
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      });
      expect(run.code).toBe(4);
      const calls = Number(/done after (\d+) calls/.exec(run.stdout)?.[1]);
      expect(calls).toBeGreaterThan(5);
      expect(receiver.store.operations().filter((op) => op === 'chat')).toHaveLength(calls);
      expect(receiver.store.lastPoint('ollama.up')?.value).toBe(1);
      expect(run.exitMs).toBeLessThan(MARGIN_MS);
    },
  );
});
