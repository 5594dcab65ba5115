/*
 * Arize Phoenix (pinned in deploy/phoenix/phoenix.txt, SQLite, loopback) as a real target: the example service's
 * traffic (content capture off) and the proxy's (capture on) exported to it over OTLP/HTTP, then read back through
 * Phoenix's own REST API. Phoenix converts `gen_ai.*` to its OpenInference conventions at ingest: every chat and
 * completion must show as an LLM span with model and token counts, every embedding as an EMBEDDING span, in the
 * project the resource names, with messages only where capture is on.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPhoenix } from '../phoenix/phoenix.mjs';
import { type CallResult, call, type ExampleService, startExampleService } from './app.js';
import { freePort } from './prometheus.js';
import { pythonEnv } from './python.js';

const env = pythonEnv('deploy/phoenix/phoenix.txt');
const CLI = fileURLToPath(new URL('../../packages/proxy/dist/esm/cli.js', import.meta.url));
const EXAMPLE_PROJECT = 'express-chat';
const PROXY_PROJECT = 'ollama-otel-proxy';
const QUESTION = 'Why is the sky blue?';

type PhoenixSpan = {
  name: string;
  span_kind: string;
  status_code: string;
  context: { trace_id: string };
  attributes: Record<string, any>;
};

const otlpTo = (url: string, project: string, capture: boolean) => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: url,
  OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
  OTEL_METRICS_EXPORTER: 'none',
  OTEL_LOGS_EXPORTER: 'none',
  OTEL_BSP_SCHEDULE_DELAY: '200',
  OTEL_RESOURCE_ATTRIBUTES: `openinference.project.name=${project}`,
  OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: String(capture),
  OLLAMA_OTEL_HOST_METRICS: 'false',
  OLLAMA_OTEL_RUNTIME_METRICS: 'false',
});

const isGenAi = (s: PhoenixSpan) => typeof s.attributes['gen_ai.operation.name'] === 'string';
const hasContent = (s: PhoenixSpan) =>
  Object.keys(s.attributes).some((k) =>
    /^(llm\.(input|output)_messages|gen_ai\.(input|output)\.messages|input\.value)/.test(k),
  );

/** What Phoenix made of one GenAI span: its kind, model and tokens, next to what our span said. */
function converted(s: PhoenixSpan) {
  const a = s.attributes;
  const embedding = a['gen_ai.operation.name'] === 'embeddings';
  return {
    name: s.name,
    kind: s.span_kind,
    model: embedding ? a['embedding.model_name'] : a['llm.model_name'],
    prompt: a['llm.token_count.prompt'],
    completion: a['llm.token_count.completion'],
    ours: {
      name: s.name,
      kind: embedding ? 'EMBEDDING' : 'LLM',
      model: a['gen_ai.response.model'] ?? a['gen_ai.request.model'],
      prompt: a['gen_ai.usage.input_tokens'],
      completion: a['gen_ai.usage.output_tokens'],
    },
  };
}

describe.skipIf(env.skip)('Phoenix as a target', () => {
  let phoenix: any;
  let double: OllamaDouble;
  let service: ExampleService;
  let calls: CallResult[];
  let exampleSpans: PhoenixSpan[];
  let proxySpans: PhoenixSpan[];

  beforeAll(async () => {
    [phoenix, double] = await Promise.all([
      startPhoenix(env.python, { port: await freePort(), grpcPort: await freePort() }),
      startOllamaDouble({ chunks: 5 }),
    ]);
    service = await startExampleService({
      OLLAMA_HOST: double.url,
      OTEL_SERVICE_NAME: 'express-chat',
      ...otlpTo(phoenix.url, EXAMPLE_PROJECT, false),
    });
    calls = [];
    for (const kind of ['ask', 'stream', 'embed', 'missing-model'] as const) calls.push(await call(service.base, kind));
    await service.stop();

    const proxy = spawn(process.execPath, [CLI, '--listen', '127.0.0.1:0', '--upstream', double.url], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        OTEL_SERVICE_NAME: 'ollama-otel-proxy',
        ...otlpTo(phoenix.url, PROXY_PROJECT, true),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    proxy.stdout!.on('data', (c) => (output += c));
    proxy.stderr!.on('data', (c) => (output += c));
    const exited = new Promise((resolve) => proxy.once('exit', resolve));
    while (!/listening on (http:\/\/\S+?),/.test(output)) {
      if (proxy.exitCode !== null) throw new Error(`the proxy did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const base = /listening on (http:\/\/\S+?),/.exec(output)![1]!;
    const post = (path: string, body: unknown) =>
      fetch(`${base}${path}`, { method: 'POST', body: JSON.stringify(body) }).then((r) => r.text());
    const messages = [{ role: 'user', content: QUESTION }];
    await post('/api/chat', { model: 'llama3.2', messages, stream: false });
    await post('/api/chat', { model: 'llama3.2', messages });
    await post('/api/generate', { model: 'llama3.2', prompt: QUESTION, stream: false });
    await post('/api/embed', { model: 'all-minilm', input: ['sky', 'grass'] });
    await post('/v1/chat/completions', { model: 'qwen3', messages });
    proxy.kill('SIGTERM');
    await exited;

    exampleSpans = await phoenix.waitForSpans(EXAMPLE_PROJECT, 4, isGenAi);
    proxySpans = await phoenix.waitForSpans(PROXY_PROJECT, 5, isGenAi);
  }, 240_000);
  afterAll(async () => {
    await service?.stop();
    await double?.close();
    await phoenix?.close();
  });

  it('puts each service in the project its resource names', async () => {
    const projects = (await (await fetch(`${phoenix.url}/v1/projects`)).json()).data.map((p: any) => p.name);
    expect(projects).toEqual(expect.arrayContaining([EXAMPLE_PROJECT, PROXY_PROJECT]));
    expect(await phoenix.spans('default')).toEqual([]);
  });

  it("shows every call of the example service as an LLM or embedding span, in the call's trace", () => {
    for (const c of calls) {
      const genAi = exampleSpans.filter((s) => s.context.trace_id === c.traceId && isGenAi(s));
      expect({ kind: c.kind, spans: genAi.length }).toEqual({ kind: c.kind, spans: 1 });
    }
    for (const s of exampleSpans.filter(isGenAi)) {
      const { ours, ...phoenixMade } = converted(s);
      expect(phoenixMade).toEqual(ours);
      expect(ours.model).toMatch(/\S/);
    }
    const failed = exampleSpans.find((s) => isGenAi(s) && s.attributes['gen_ai.request.model'] === 'no-such-model');
    expect(failed!.status_code).toBe('ERROR');
    const ok = exampleSpans.filter((s) => isGenAi(s) && s !== failed);
    for (const s of ok) expect(s.attributes['llm.token_count.prompt']).toBeGreaterThan(0);
  });

  it('shows no prompt or completion from the example service, whose capture is off', () => {
    expect(exampleSpans.filter(hasContent).map((s) => s.name)).toEqual([]);
  });

  it("shows the proxy's calls with their messages, its capture being on", () => {
    const genAi = proxySpans.filter(isGenAi);
    expect(genAi.map((s) => s.name).sort()).toEqual([
      'chat llama3.2',
      'chat llama3.2',
      'chat qwen3',
      'embeddings all-minilm',
      'text_completion llama3.2',
    ]);
    for (const s of genAi) {
      const { ours, ...phoenixMade } = converted(s);
      expect(phoenixMade).toEqual(ours);
      expect(s.attributes['llm.token_count.prompt']).toBeGreaterThan(0);
    }
    for (const s of genAi.filter((s) => s.attributes['gen_ai.operation.name'] === 'chat')) {
      expect(s.attributes['llm.input_messages.0.message.content']).toBe(QUESTION);
      expect(s.attributes['llm.output_messages.0.message.content']).toMatch(/\S/);
    }
  });
});
