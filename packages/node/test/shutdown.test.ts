/**
 * Graceful shutdown through the register entry, in child processes: what is buffered gets out on SIGTERM, SIGINT
 * and beforeExit, and the process then ends as it would have without us. Batching and the metric interval are set
 * to a minute, so anything the receiver gets was sent by the shutdown flush.
 */

import { join } from 'node:path';
import { type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FIXTURES, runNode, spawnNode } from './helpers/child.js';
import { startSilentServer } from './helpers/dead-collectors.js';
import { type OtlpGrpcReceiver, startOtlpGrpcReceiver } from './helpers/otlp-grpc-receiver.js';

let double: OllamaDouble;
let grpc: OtlpGrpcReceiver;

beforeAll(async () => {
  [double, grpc] = await Promise.all([startOllamaDouble(), startOtlpGrpcReceiver()]);
});
afterAll(async () => {
  await Promise.all([double?.close(), grpc?.close()]);
});
beforeEach(() => {
  grpc.store.clear();
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    OLLAMA_HOST: double.url,
    OTEL_EXPORTER_OTLP_ENDPOINT: grpc.endpoint,
    OTEL_BSP_SCHEDULE_DELAY: '60000',
    OTEL_METRIC_EXPORT_INTERVAL: '60000',
    OLLAMA_OTEL_HOST_METRICS: 'false',
    OLLAMA_OTEL_RUNTIME_METRICS: 'false',
    ...extra,
  };
}

const SERVICE = ['--import', '@ollama-otel/node/register', join(FIXTURES, 'service.mjs')];

describe('signals, with no handler of the app', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('%s: flushes, then the process dies of that signal', async (signal) => {
    const app = spawnNode(SERVICE, { env: env() });
    await app.waitForStdout('ready');
    app.child.kill(signal);
    const result = await app.result;
    expect(result.signal).toBe(signal);
    expect(result.code).toBeNull();
    expect(result.stderr).toBe('');
    expect(grpc.store.operations()).toEqual(['chat']);
    expect(grpc.store.lastPoint('ollama.up')?.value).toBe(1);
  });

  it('the flush is bounded: a collector that never answers delays the end by the shutdown timeout at most', async () => {
    const silent = await startSilentServer();
    try {
      const app = spawnNode(SERVICE, {
        env: env({
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${silent.port}`,
          OLLAMA_OTEL_SHUTDOWN_TIMEOUT: '800',
        }),
      });
      await app.waitForStdout('ready');
      const sent = Date.now();
      app.child.kill('SIGTERM');
      const result = await app.result;
      expect(result.signal).toBe('SIGTERM');
      const took = Date.now() - sent;
      expect(took).toBeGreaterThanOrEqual(700);
      expect(took).toBeLessThan(4000);
    } finally {
      await silent.close();
    }
  });

  it('a second signal while flushing ends the process at once', async () => {
    const silent = await startSilentServer();
    try {
      const app = spawnNode(SERVICE, {
        env: env({
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${silent.port}`,
          OLLAMA_OTEL_SHUTDOWN_TIMEOUT: '20000',
        }),
      });
      await app.waitForStdout('ready');
      const sent = Date.now();
      app.child.kill('SIGINT');
      await new Promise((resolve) => setTimeout(resolve, 300));
      app.child.kill('SIGINT');
      const result = await app.result;
      expect(result.signal).toBe('SIGINT');
      expect(Date.now() - sent).toBeLessThan(5000);
    } finally {
      await silent.close();
    }
  });
});

describe('signals the app handles itself', () => {
  it("the app's handler runs and decides the exit code; telemetry is flushed", async () => {
    const app = spawnNode(SERVICE, { env: env({ APP_SIGNAL_HANDLER: 'exit-code' }) });
    await app.waitForStdout('ready');
    app.child.kill('SIGTERM');
    const result = await app.result;
    expect(result.signal).toBeNull();
    expect(result.code).toBe(7);
    expect(result.stdout).toBe('ready\napp: SIGTERM\napp: closed\n');
    expect(grpc.store.operations()).toEqual(['chat']);
  });

  it('a handler that calls process.exit keeps its exit code', async () => {
    const app = spawnNode(SERVICE, { env: env({ APP_SIGNAL_HANDLER: 'exit-now' }) });
    await app.waitForStdout('ready');
    app.child.kill('SIGINT');
    const result = await app.result;
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('ready\napp: SIGINT, exiting\n');
  });
});

describe('beforeExit', () => {
  it('flushes when the event loop runs dry, keeping process.exitCode', async () => {
    const result = await runNode(['--import', '@ollama-otel/node/register', join(FIXTURES, 'app.mjs')], {
      env: env({ APP_EXIT_CODE: '5' }),
    });
    expect(result.code).toBe(5);
    expect(result.stderr).toBe('');
    expect(grpc.store.operations()).toEqual(['chat', 'embeddings']);
    expect(grpc.store.metric('gen_ai.client.operation.duration')).toBeDefined();
    expect(grpc.store.lastPoint('ollama.up')?.value).toBe(1);
  });

  it('OLLAMA_OTEL_GRACEFUL_SHUTDOWN=false installs nothing: buffered spans are lost, signals act as by default', async () => {
    const result = await runNode(['--import', '@ollama-otel/node/register', join(FIXTURES, 'app.mjs')], {
      env: env({ OLLAMA_OTEL_GRACEFUL_SHUTDOWN: 'false' }),
    });
    expect(result.code).toBe(0);
    expect(grpc.store.spans).toEqual([]);
  });
});
