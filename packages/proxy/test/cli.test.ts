/*
 * The command line as a user runs it (the built `ollama-otel-proxy` in a child process, configured by flags and
 * `OTEL_*` variables): the ready line, /metrics and /healthz, OTLP export with no credential in any payload,
 * SIGTERM while streams are running, --help and bad flags.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type OllamaDouble, scrapeBackToBack, startOllamaDouble } from '@ollama-otel/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, type CliProcess, childEnv, QUESTION, startProxyCli } from './setup.js';

const SECRET = 'sk-proxy-test-secret-4242';

interface Receiver {
  endpoint: string;
  bodies: string[];
  close(): Promise<void>;
}

/** Collects OTLP/HTTP JSON payloads as the raw text that left the proxy. */
async function startReceiver(): Promise<Receiver> {
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      bodies.push(`${req.url} ${Buffer.concat(chunks).toString('utf8')}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bodies,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function cleanEnv(extra: Record<string, string>): Record<string, string> {
  return childEnv({ OLLAMA_OTEL_HOST_METRICS: 'false', OLLAMA_OTEL_RUNTIME_METRICS: 'false', ...extra });
}

function startCli(args: string[], env: Record<string, string>): Promise<CliProcess> {
  return startProxyCli(args, { env: cleanEnv(env) });
}

let double: OllamaDouble;
let receiver: Receiver;

beforeAll(async () => {
  double = await startOllamaDouble({ chunks: 20, chunkDelayMs: 20 });
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver.close();
  await double.close();
});

describe('ollama-otel-proxy', () => {
  let proxy: CliProcess;

  beforeAll(async () => {
    proxy = await startCli(['--listen', '127.0.0.1:0', '--upstream', double.url, '--grace-period', '10s'], {
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'SPAN_AND_EVENT',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_METRIC_EXPORT_INTERVAL: '200',
    });
  });
  afterAll(() => {
    if (proxy.child.exitCode === null) proxy.child.kill('SIGKILL');
  });

  it('prints its ready line, serves /metrics and /healthz on its listener', async () => {
    expect(proxy.output()).toMatch(
      /^ollama-otel-proxy \d+\.\d+\.\d+ listening on http:\/\/127\.0\.0\.1:\d+, forwarding to /m, // after @ollama-otel/node's start line
    );
    const answer = await fetch(`${proxy.url}/api/chat`, {
      method: 'POST',
      body: JSON.stringify({ model: 'llama3.2', messages: QUESTION, stream: false }),
    });
    expect(answer.status).toBe(200);
    const metrics = await (await fetch(`${proxy.url}/metrics`)).text();
    expect(metrics).toMatch(/^gen_ai_client_operation_duration_bucket\{.*gen_ai_request_model="llama3.2"/m);
    expect(metrics).toMatch(/^http_server_request_duration_count\{.*http_route="\/api\/chat"/m);
    expect(metrics).toMatch(/^ollama_up\{/m);
    const health = await fetch(`${proxy.url}/healthz`);
    expect(health.status).toBe(200);
  });

  it('drains streams on SIGTERM, flushes telemetry with no credential in it, and exits 0', async () => {
    const headers = {
      authorization: `Bearer ${SECRET}`,
      'x-api-key': SECRET,
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    };
    const streams = Array.from({ length: 5 }, () =>
      fetch(`${proxy.url}/v1/chat/completions?api_key=${SECRET}`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          model: 'llama3.2',
          messages: [{ role: 'user', content: 'What is the capital of Japan?' }],
          stream: true,
        }),
      }).then((response) => response.text()),
    );
    // SIGTERM once all five are in flight (a fixed delay is not enough on a busy machine).
    const deadline = Date.now() + 20_000;
    while (double.requests.filter((r) => r.path === '/v1/chat/completions').length < 5 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    proxy.child.kill('SIGTERM');
    const bodies = await Promise.all(streams);
    for (const body of bodies) expect(body.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(await proxy.exited).toBe(0);
    expect(proxy.output()).toMatch(/SIGTERM, draining 5 request/);
    expect(double.requests.filter((r) => r.path === '/v1/chat/completions')).toHaveLength(5);
    expect(double.requests.find((r) => r.path === '/v1/chat/completions')!.headers.authorization).toBe(
      `Bearer ${SECRET}`,
    );
    const exported = receiver.bodies.join('\n');
    expect(exported).toContain('/v1/traces');
    expect(exported).toContain('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(exported).toContain('gen_ai.input.messages');
    expect(exported).toContain('/v1/logs');
    expect(exported).not.toContain(SECRET);
  }, 30_000);
});

describe('command line', () => {
  it('prints --help with every flag and its variable', async () => {
    const child = spawn(process.execPath, [CLI, '--help'], { env: cleanEnv({}) });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(0);
    for (const text of ['--listen', '--upstream', '--metrics', '--grace-period', '--max-body-size', '--inject-usage']) {
      expect(out).toContain(text);
    }
    expect(out).toContain('OLLAMA_OTEL_PROXY_LISTEN');
  });

  it('exits 2 with a message for a bad flag', async () => {
    const child = spawn(process.execPath, [CLI, '--listen', 'nowhere:99999'], { env: cleanEnv({}) });
    let err = '';
    child.stderr.on('data', (chunk) => {
      err += chunk;
    });
    expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(2);
    expect(err).toMatch(/invalid port/);
  });

  it('works with telemetry disabled, and serves /metrics on its own port when asked', async () => {
    const disabled = await startCli(['--listen', '127.0.0.1:0', '--upstream', double.url], {
      OTEL_SDK_DISABLED: 'true',
    });
    try {
      const response = await fetch(`${disabled.url}/api/chat`, {
        method: 'POST',
        headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
        body: JSON.stringify({ model: 'llama3.2', messages: QUESTION, stream: false }),
      });
      expect(response.status).toBe(200);
      // No propagator: the caller's trace context reaches Ollama untouched.
      expect(double.requests.at(-1)!.headers.traceparent).toBe(
        '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      );
    } finally {
      disabled.child.kill('SIGTERM');
      expect(await disabled.exited).toBe(0);
    }
    const own = await startCli(['--listen', '127.0.0.1:0', '--upstream', double.url, '--metrics', '127.0.0.1:0'], {
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_LOGS_EXPORTER: 'none',
    });
    try {
      const metricsUrl = /metrics: (http:\/\/\S+)\)/.exec(own.output())![1]!;
      expect(metricsUrl).not.toContain(new URL(own.url).port);
      expect((await fetch(metricsUrl)).status).toBe(200);
      expect((await fetch(`${own.url}/metrics`)).status).toBe(404);
    } finally {
      own.child.kill('SIGINT');
      expect(await own.exited).toBe(0);
    }
  }, 30_000);

  it('exits on SIGTERM while a scraper keeps scraping its own metrics port (a scrape in flight)', async () => {
    // A slow /api/ps makes every scrape slow (the Ollama gauges poll it during the collection): one is in flight.
    double.script({ path: '/api/ps', times: 1000, fault: { kind: 'slow-headers', delayMs: 100 } });
    const own = await startCli(['--listen', '127.0.0.1:0', '--upstream', double.url, '--metrics', '127.0.0.1:0'], {
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_LOGS_EXPORTER: 'none',
      OLLAMA_OTEL_SERVER_METRICS_MIN_INTERVAL: '0',
    });
    const metricsUrl = /metrics: (http:\/\/\S+)\)/.exec(own.output())![1]!;
    const scraper = scrapeBackToBack(metricsUrl);
    await scraper.waitFor(5);
    own.child.kill('SIGTERM');
    const code = await Promise.race([own.exited, new Promise((resolve) => setTimeout(() => resolve('running'), 8000))]);
    if (code === 'running') own.child.kill('SIGKILL');
    await scraper.stop();
    double.reset();
    expect(code, own.output()).toBe(0);
  }, 30_000);
});
