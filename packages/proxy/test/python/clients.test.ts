/*
 * The Python `ollama`, `openai` and `anthropic` clients through the proxy (calls.py, in a venv made from the pinned
 * clients.txt): every call returns what the same call returns straight from Ollama, each span names the operation
 * and model and carries the tokens the client saw, the metrics add up, no key reaches the telemetry, and a client
 * that breaks out of a stream and closes it aborts the upstream request.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SpanStatusCode } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pythonEnv } from '../../../../deploy/test/python.js';
import { clientSpans, points, type Rig, serverSpans, settled, startRig } from '../setup.js';

const env = pythonEnv('packages/proxy/test/python/clients.txt');
const CALLS = fileURLToPath(new URL('./calls.py', import.meta.url));

type Result = any;
type Tokens = [input: number | undefined, output: number | undefined];

async function python(base: string, mode: 'calls' | 'walk-away'): Promise<Record<string, Result>> {
  const { stdout } = await promisify(execFile)(env.python!, [CALLS, base, mode], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_PROXY: '*' },
    timeout: 60_000,
    maxBuffer: 64 << 20,
  });
  return JSON.parse(stdout);
}

const native = (r: Result): Tokens => [r.prompt_eval_count, r.eval_count];
const openai = (r: Result): Tokens => [r.usage.prompt_tokens, r.usage.completion_tokens];
const messages = (r: Result): Tokens => [r.usage.input_tokens, r.usage.output_tokens];
const none = (): Tokens => [undefined, undefined];

/** Each call of calls.py, in order: the span it must produce and where the client found its token counts. */
const EXPECTED: [call: string, span: string, tokens: (r: Result, all: Record<string, Result>) => Tokens][] = [
  ['ollama.chat', 'chat llama3.2', native],
  ['ollama.chat.stream', 'chat llama3.2', (r) => native(r.at(-1))],
  ['ollama.chat.think', 'chat qwen3', native],
  ['ollama.chat.tools', 'chat llama3.2', native],
  ['ollama.generate', 'text_completion llama3.2', native],
  ['ollama.generate.stream', 'text_completion llama3.2', (r) => native(r.at(-1))],
  ['ollama.embed', 'embeddings all-minilm', (r) => [r.prompt_eval_count, undefined]],
  ['ollama.list', 'ollama.list', none],
  ['ollama.show', 'ollama.show llama3.2', none],
  ['openai.chat', 'chat llama3.2', openai],
  // Without include_usage the client sees no usage; the proxy asks for it upstream and records it anyway.
  ['openai.chat.stream', 'chat llama3.2', (_, all) => openai(all['openai.chat.stream.usage'].at(-1))],
  ['openai.chat.stream.usage', 'chat llama3.2', (r) => openai(r.at(-1))],
  ['openai.completions', 'text_completion llama3.2', openai],
  ['openai.completions.stream.usage', 'text_completion llama3.2', (r) => openai(r.at(-1))],
  ['openai.embeddings', 'embeddings all-minilm', (r) => [r.usage.prompt_tokens, undefined]],
  ['openai.models', 'ollama.list', none],
  ['openai.models.retrieve', 'ollama.show llama3.2', none],
  ['openai.responses', 'chat llama3.2', messages],
  ['openai.responses.stream', 'chat llama3.2', (r) => messages(r.at(-1).response)],
  ['anthropic.messages', 'chat llama3.2', messages],
  ['anthropic.messages.stream', 'chat llama3.2', (r) => messages(r.final)],
  ['anthropic.messages.thinking', 'chat qwen3', messages],
  ['anthropic.messages.tools', 'chat llama3.2', messages],
];

describe.skipIf(env.skip)('the Python clients through the proxy', () => {
  let rig: Rig;
  let direct: Record<string, Result>;
  let proxied: Record<string, Result>;

  beforeAll(async () => {
    rig = await startRig({ double: { chunks: 5 } });
    direct = await python(rig.double.url, 'calls');
    rig.telemetry.reset();
    proxied = await python(rig.proxy.url, 'calls');
    await settled(rig, EXPECTED.length);
  }, 120_000);
  afterAll(() => rig?.close());

  it('every call returns what it returns directly', () => {
    expect(Object.keys(proxied)).toEqual(EXPECTED.map(([call]) => call));
    for (const call of Object.keys(direct)) {
      expect({ call, result: proxied[call] }).toEqual({ call, result: direct[call] });
    }
  });

  it('one span per call, with the model and the tokens the client got', () => {
    const spans = clientSpans(rig.telemetry).sort(
      (a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1],
    );
    const seen = spans.map((s) => ({
      span: s.name,
      status: s.status.code,
      tokens: [s.attributes['gen_ai.usage.input_tokens'], s.attributes['gen_ai.usage.output_tokens']],
      content: s.attributes['gen_ai.input.messages'] ?? s.attributes['gen_ai.output.messages'],
    }));
    const wanted = EXPECTED.map(([call, span, tokens]) => ({
      span,
      status: SpanStatusCode.UNSET,
      tokens: tokens(direct[call], direct),
      content: undefined,
    }));
    expect(seen).toEqual(wanted);
    for (const s of spans.filter((s) => s.attributes['gen_ai.operation.name'])) {
      expect(s.attributes['gen_ai.provider.name']).toBe('ollama');
      expect(s.attributes['gen_ai.response.model']).toBe(s.attributes['gen_ai.request.model']);
    }
  });

  it('the metrics add up to the same calls and tokens', async () => {
    const metrics = await rig.telemetry.collectMetrics();
    const sum = (type: string) =>
      points(metrics, 'gen_ai.client.token.usage', { 'gen_ai.token.type': type }).reduce((t, p) => t + p.value.sum, 0);
    const total = (i: 0 | 1) => EXPECTED.reduce((t, [call, , tokens]) => t + (tokens(direct[call], direct)[i] ?? 0), 0);
    expect(sum('input')).toBe(total(0));
    expect(sum('output')).toBe(total(1));
    const calls = points(metrics, 'gen_ai.client.operation.duration').reduce((t, p) => t + p.value.count, 0);
    expect(calls).toBe(EXPECTED.filter(([, span]) => !span.startsWith('ollama.')).length);
    const management = points(metrics, 'ollama.client.operation.duration').reduce((t, p) => t + p.value.count, 0);
    expect(management).toBe(4);
    expect(JSON.stringify({ metrics, spans: rig.telemetry.spans().map((s) => s.attributes) })).not.toMatch(/sk-/);
  });

  it('a client that breaks out of a stream and closes it aborts the upstream request', async () => {
    rig.telemetry.reset();
    rig.double.script({ path: '/v1/chat/completions', fault: { kind: 'stream', chunks: 200, chunkDelayMs: 10 } });
    expect(await python(rig.proxy.url, 'walk-away')).toEqual({ seen: 3 });
    await settled(rig, 1);
    const [span] = clientSpans(rig.telemetry);
    expect(span!.attributes['error.type']).toBe('cancelled');
    expect(serverSpans(rig.telemetry)[0]!.attributes['error.type']).toBe('cancelled');
  });
});
