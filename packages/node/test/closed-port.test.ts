/**
 * The apps with every exporter pointed at a port nothing listens on: they must run exactly as without telemetry
 * (same stdout, same stderr, same exit code), with no unhandled rejection (the children run with
 * `--unhandled-rejections=strict`, which would crash them), in bounded time; and memory stays bounded over 5,000
 * calls while every export fails.
 */
import { join } from 'node:path';
import { type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, FAST_EXPORT_ENV, FIXTURES, runNode } from './helpers/child.js';

let double: OllamaDouble;
let port: number;

beforeAll(async () => {
  double = await startOllamaDouble();
  port = await closedPort();
});
afterAll(async () => {
  await double?.close();
});

const STRICT = ['--unhandled-rejections=strict'];

describe.each([
  ['ESM app', 'app.mjs', '--import'],
  ['CommonJS app', 'app.cjs', '--require'],
])('%s with the collector down', (_name, app, flag) => {
  it.each(['grpc', 'http/protobuf', 'http/json'])(
    '%s: same output and exit code as without telemetry',
    async (protocol) => {
      const appEnv = { OLLAMA_HOST: double.url, APP_CALLS: '3', APP_EXIT_CODE: '6' };
      const bare = await runNode([...STRICT, join(FIXTURES, app)], { env: appEnv });
      expect(bare.code).toBe(6);

      const instrumented = await runNode([...STRICT, flag, '@ollama-otel/node/register', join(FIXTURES, app)], {
        env: {
          ...appEnv,
          ...FAST_EXPORT_ENV,
          OTEL_METRIC_EXPORT_INTERVAL: '200',
          OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
          OLLAMA_OTEL_SHUTDOWN_TIMEOUT: '1000',
        },
        timeoutMs: 20_000,
      });
      expect(instrumented.timedOut).toBe(false);
      expect(instrumented.stdout).toBe(bare.stdout);
      expect(instrumented.stderr).toBe(bare.stderr);
      expect(instrumented.code).toBe(bare.code);
      expect(instrumented.signal).toBeNull();
      // bounded: at most the shutdown timeout on top of the app's own time (generous margin for slow machines)
      expect(instrumented.durationMs).toBeLessThan(bare.durationMs + 6000);
    },
  );
});

describe('memory with the collector down', () => {
  it('stays bounded over 5,000 calls', { timeout: 180_000 }, async () => {
    const result = await runNode(
      ['--expose-gc', ...STRICT, '--import', '@ollama-otel/node/register', join(FIXTURES, 'memory-app.mjs')],
      {
        env: {
          OLLAMA_HOST: double.url,
          APP_CALLS: '5000',
          APP_SAMPLE_EVERY: '250',
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
          OTEL_METRIC_EXPORT_INTERVAL: '200',
          OTEL_BSP_SCHEDULE_DELAY: '50',
          OLLAMA_OTEL_SERVER_METRICS_MIN_INTERVAL: '0',
          OLLAMA_OTEL_SHUTDOWN_TIMEOUT: '1000',
        },
        timeoutMs: 170_000,
      },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const { calls, samples } = JSON.parse(result.stdout) as { calls: number; samples: number[] };
    expect(calls).toBe(5000);
    expect(samples).toHaveLength(20);
    const mb = (bytes: number) => bytes / (1024 * 1024);
    const half = samples.slice(samples.length / 2);
    const growthOverSecondHalf = mb(Math.max(...half) - half[0]!);
    const spread = mb(Math.max(...samples) - Math.min(...samples));
    // The span queue (2,048 spans at most), metric series and caches fill during the first half; after that the
    // heap must not keep growing with the number of calls.
    expect(growthOverSecondHalf, `heap samples (MiB): ${samples.map((s) => mb(s).toFixed(1)).join(' ')}`).toBeLessThan(
      2,
    );
    expect(spread).toBeLessThan(16);
  });
});
