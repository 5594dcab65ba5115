/**
 * The demo (`pnpm demo --exit`, i.e. scripts/demo.mjs --exit once built; pnpm test builds first) as a newcomer
 * meets it: against the embedded double it draws the cold-start trace and the /api/ps gauges and names the next
 * steps; against a server that answers like Ollama but accepts a model it does not list, it names the telemetry
 * that is missing, what it saw instead, and the flag that uses the embedded double.
 */
import { execFile } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const DEMO = fileURLToPath(new URL('../scripts/demo.mjs', import.meta.url));

function runDemo(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^(OTEL_|OLLAMA_|NODE_OPTIONS$|NODE_PATH$|VITEST)/.test(key)),
  );
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [DEMO, ...args],
      { env: { ...clean, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? -1) : 0, stdout, stderr }),
    );
  });
}

/** An "Ollama" that accepts any model: the double behind a proxy that renames models the double does not know. */
async function startLenientOllama(double: OllamaDouble): Promise<Server & { url: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let body = Buffer.concat(chunks).toString();
      if (body !== '') {
        const parsed = JSON.parse(body);
        if (parsed.model === 'no-such-model') parsed.model = 'llama3.2';
        body = JSON.stringify(parsed);
      }
      const upstream = request(
        `${double.url}${req.url}`,
        { method: req.method, headers: { 'content-type': 'application/json' } },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(server, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
}

let double: OllamaDouble;
let lenient: Server & { url: string };

beforeAll(async () => {
  double = await startOllamaDouble();
  lenient = await startLenientOllama(double);
});
afterAll(async () => {
  lenient?.closeAllConnections();
  await new Promise((resolve) => lenient?.close(resolve));
  await double?.close();
});

describe('pnpm demo --exit', () => {
  it('with the embedded double: the cold-start trace, the /api/ps gauges, what to do next', async () => {
    const result = await runDemo(['--exit', '--double'], {});
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const out = result.stdout;
    expect(out).toContain('an OTLP receiver inside this demo');
    expect(out).toContain('Trace of the first request, a cold start');
    expect(out).toMatch(/└─ chat llama3\.2 .* cold start\n\s+├─ ollama\.load\s+\+\s*[\d.]+ ms\s+(\d+)\.\d ms/);
    const load = Number(/├─ ollama\.load\s+\+\s*[\d.]+ ms\s+([\d.]+) ms/.exec(out)?.[1]);
    expect(load).toBeGreaterThanOrEqual(600); // the double's simulated cold load, not a warm call's 0.0 ms
    expect(out).toMatch(/ollama\.up = 1, version /);
    expect(out).toMatch(/llama3\.2:latest\s+memory [\d.]+ GiB, VRAM [\d.]+ GiB, unloaded in \d+ s/);
    expect(out).toContain('OTEL_TRACES_EXPORTER=console OTEL_METRICS_EXPORTER=console node --import');
    expect(out).toContain('packages/proxy/README.md');
    expect(out).toContain('deploy/README.md');
  });

  it('against a server that accepts any model: names the missing 404 span, what it saw, and --double', async () => {
    const result = await runDemo(['--exit'], { OLLAMA_HOST: lenient.url });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`Using the Ollama at ${lenient.url}`);
    expect(result.stdout).toContain('POST /v1/chat (model: no-such-model)         → 200');
    const err = result.stderr;
    expect(err).toContain('demo failed: the telemetry is incomplete.');
    expect(err).toContain('Missing:\n  - the 404 span of the call with model "no-such-model" (error.type=404)\n');
    expect(err).toContain('  - a gen_ai.client.operation.duration point with error.type=404\n');
    expect(err).toMatch(/Seen instead:\n {2}- \d+ spans: .*chat llama3\.2 x\d/);
    expect(err).toContain('error.type on spans: none');
    expect(err).toContain(`The server at ${lenient.url} accepted model "no-such-model", which it does not list`);
    expect(err).toContain('does not behave like Ollama');
    expect(err).toContain('pnpm demo --double');
  });
});
