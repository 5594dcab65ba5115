/**
 * What the package says on stderr without being asked (issue 19): one line at start naming where each signal goes,
 * one warning the first time a signal cannot be delivered (and the total at shutdown), nothing else for a healthy
 * app; `OTEL_LOG_LEVEL=none` silences it. And a short app that prints its spans to the console exits promptly.
 */
import { join } from 'node:path';
import { type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, FAST_EXPORT_ENV, FIXTURES, runNode } from './helpers/child.js';
import { type OtlpHttpReceiver, startOtlpHttpReceiver } from './helpers/otlp-http-receiver.js';

let double: OllamaDouble;
let collector: OtlpHttpReceiver;
let closed: number;

beforeAll(async () => {
  [double, collector, closed] = await Promise.all([startOllamaDouble(), startOtlpHttpReceiver(), closedPort()]);
});
afterAll(async () => {
  await Promise.all([double?.close(), collector?.close()]);
});

const APP = join(FIXTURES, 'app.mjs');
const lines = (stderr: string) => stderr.split('\n').filter((line) => line !== '');

function run(env: Record<string, string | undefined>) {
  return runNode(['--import', '@ollama-otel/node/register', APP], {
    env: {
      ...FAST_EXPORT_ENV,
      OLLAMA_HOST: double.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_LOG_LEVEL: undefined,
      ...env,
    },
  });
}

describe('the start line and delivery warnings on stderr', () => {
  it('a healthy app prints the start line and nothing else', async () => {
    const result = await run({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, OTEL_TRACES_EXPORTER: 'otlp,console' });
    expect(result.code).toBe(0);
    expect(lines(result.stderr)).toEqual([
      '@ollama-otel/node: telemetry started: ' +
        `traces to otlp http/protobuf ${collector.endpoint}/v1/traces and console, ` +
        `metrics to otlp http/protobuf ${collector.endpoint}/v1/metrics, ` +
        `logs to otlp http/protobuf ${collector.endpoint}/v1/logs; ` +
        `Ollama server gauges from ${double.url} (OTEL_LOG_LEVEL=none silences this)`,
    ]);
    expect(collector.store.spans.length).toBeGreaterThan(0);
  });

  it('a closed collector port: one warning per failing signal, then the total at shutdown', async () => {
    const endpoint = `http://127.0.0.1:${closed}`;
    const result = await run({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OLLAMA_OTEL_SHUTDOWN_TIMEOUT: '2000' });
    expect(result.code).toBe(0);
    const [start, ...rest] = lines(result.stderr);
    expect(start).toMatch(/^@ollama-otel\/node: telemetry started: traces to otlp http\/protobuf /);
    const failing = (signal: string) =>
      `@ollama-otel/node: ${signal} exports to http/protobuf ${endpoint}/v1/${signal} fail (connect ECONNREFUSED 127.0.0.1:${closed}); ` +
      'what cannot be sent is dropped, and the total is reported at shutdown';
    const total = rest.pop();
    expect(total).toMatch(
      new RegExp(
        '^@ollama-otel/node: telemetry dropped because it could not be exported: \\d+ spans \\(traces to .*\\), ' +
          '\\d+ metric data points \\(metrics to .*\\)$',
      ),
    );
    expect(rest.sort()).toEqual([failing('metrics'), failing('traces')]);
  });

  it('OTEL_LOG_LEVEL=none: silent', async () => {
    const result = await run({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${closed}`, OTEL_LOG_LEVEL: 'none' });
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
  });

  it.each([
    ['the logLevel option', { APP_LOG_LEVEL: 'none' }],
    ["an app's own diag logger (at error)", { APP_OWN_LOGGER: '1' }],
  ])('%s: silent', async (_name, appEnv) => {
    const result = await runNode([join(FIXTURES, 'diag-app.mjs')], {
      env: {
        ...appEnv,
        OLLAMA_HOST: double.url,
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${closed}`,
        OTEL_LOG_LEVEL: undefined,
      },
    });
    expect(result.stdout).toContain('chat: ok');
    expect(result.stderr).toBe('');
  });
});

describe('a second start in the same process', () => {
  it("prints its start line too (the logger installed by the first is ours, not the app's)", async () => {
    const result = await runNode([join(FIXTURES, 'restart-app.mjs')], { env: { OTEL_LOG_LEVEL: undefined } });
    expect(result.code).toBe(0);
    const started =
      '@ollama-otel/node: telemetry started: traces to nowhere (off), metrics to nowhere (off), logs to nowhere (off); ' +
      'Ollama server gauges off (OTEL_LOG_LEVEL=none silences this)';
    // Only the start lines here: what else a restart prints (the API's globals are still registered) is not ours.
    expect(lines(result.stderr).filter((line) => line.startsWith('@ollama-otel/node:'))).toEqual([started, started]);
  });
});

describe('console exporter', () => {
  // Reported as 9 s on a newcomer's machine: OTEL_TRACES_EXPORTER=console leaves metrics on OTLP, and the exit
  // waited for a collector that is not there. Against the same app with nothing to deliver elsewhere, it may take
  // at most half the shutdown limit (5 s) longer: on a busy machine both runs slow down alike.
  it('a short app with OTEL_TRACES_EXPORTER=console and no collector exits promptly', async () => {
    const env = {
      OTEL_TRACES_EXPORTER: 'console',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${closed}`,
      OTEL_METRIC_EXPORT_INTERVAL: '60000',
    };
    const alone = await run({ ...env, OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' });
    const result = await run(env);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("name: 'chat llama3.2'");
    expect(result.durationMs - alone.durationMs).toBeLessThan(2500);
  });
});
