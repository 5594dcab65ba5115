import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const requireFromTest = createRequire(import.meta.url);

interface ChildOutput {
  spans: Array<{ name: string; kind?: number; attributes?: Record<string, unknown> }>;
  result: unknown[] | undefined;
  version: string | undefined;
}

let double: OllamaDouble;
let ollama05App: string;

beforeAll(async () => {
  double = await startOllamaDouble({ chunks: 3 });
  // An app folder whose `ollama` is 0.5.18, as an app that depends on that version would have it.
  ollama05App = mkdtempSync(join(tmpdir(), 'ollama-otel-05-'));
  mkdirSync(join(ollama05App, 'node_modules'));
  const ollama05 = realpathSync(dirname(requireFromTest.resolve('ollama-05/package.json')));
  symlinkSync(ollama05, join(ollama05App, 'node_modules', 'ollama'), 'dir');
  for (const app of ['app.cjs', 'app.mjs']) copyFileSync(join(fixtures, app), join(ollama05App, app));
});

afterAll(async () => {
  await double.close();
  rmSync(ollama05App, { recursive: true, force: true });
});

async function runNode(args: string[], env: Record<string, string> = {}): Promise<ChildOutput> {
  const { stdout } = await run(process.execPath, args, {
    cwd: fixtures,
    // NODE_PATH: pnpm's bin shims set one that reaches every hoisted package, hiding what the fixtures resolve.
    env: { ...process.env, OLLAMA_DOUBLE_URL: double.url, NODE_OPTIONS: '', NODE_PATH: '', ...env },
    timeout: 20_000,
  });
  const line = (prefix: string) =>
    stdout
      .split('\n')
      .find((each) => each.startsWith(prefix))
      ?.slice(prefix.length);
  const spans = line('SPANS ');
  const result = line('RESULT ');
  if (spans === undefined) throw new Error(`child printed no spans:\n${stdout}`);
  // Keep the client spans (SpanKind.CLIENT = 2), not the `ollama.*` server-phase children.
  const parsed = (JSON.parse(spans) as ChildOutput['spans']).filter(
    (span) => span.kind === undefined || span.kind === 2,
  );
  return {
    spans: parsed,
    result: result === undefined ? undefined : JSON.parse(result),
    version: line('VERSION '),
  };
}

const EXPECTED_SPANS = ['chat llama3.2', 'text_completion gemma4', 'embeddings all-minilm', 'chat llama3.2'];

describe('OllamaInstrumentation through the loader hooks (child processes)', () => {
  const cases = [
    {
      label: 'CommonJS app, node --require',
      version: '0.6.',
      args: () => ['--require', join(fixtures, 'telemetry.cjs'), join(fixtures, 'app.cjs')],
    },
    {
      label: 'ESM app, node --import',
      version: '0.6.',
      args: () => ['--import', join(fixtures, 'register.mjs'), join(fixtures, 'app.mjs')],
    },
    {
      label: 'CommonJS app on ollama 0.5',
      version: '0.5.',
      args: () => ['--require', join(fixtures, 'telemetry.cjs'), join(ollama05App, 'app.cjs')],
    },
    {
      label: 'ESM app on ollama 0.5',
      version: '0.5.',
      args: () => ['--import', join(fixtures, 'register.mjs'), join(ollama05App, 'app.mjs')],
    },
  ];

  it.each(cases)('$label: every entry point and the default instance are traced', async ({ args, version }) => {
    const { spans, result, version: loaded } = await runNode(args());
    expect(loaded?.startsWith(version)).toBe(true);
    expect(result).toEqual(['assistant', true, 1, 4]);
    expect(spans.map((span) => span.name)).toEqual(EXPECTED_SPANS);
    expect(spans[3]?.attributes?.['gen_ai.request.stream']).toBe(true);
    expect(spans[1]?.attributes?.['server.port']).toBe(double.port);
  });

  it.each(cases.slice(0, 2))('$label: disable() restores the client', async ({ args }) => {
    const { spans, result } = await runNode(args(), { DISABLE_THEN_CALL: '1' });
    expect(result).toEqual(['assistant', true, 1, 4, true]);
    expect(spans.map((span) => span.name)).toEqual(EXPECTED_SPANS);
  });
});

describe('instrumentOllama() with no target (no loader hooks)', () => {
  it('ESM app: instruments the ESM and the CommonJS copy; uninstrument() stops it', async () => {
    const { spans } = await runNode([join(fixtures, 'manual.mjs')]);
    expect(spans.map((span) => span.name)).toEqual(['embeddings all-minilm', 'embeddings all-minilm']);
  });

  it('CommonJS app: the same from require', async () => {
    const { spans } = await runNode([join(fixtures, 'manual.cjs')]);
    expect(spans.map((span) => span.name)).toEqual(['embeddings all-minilm', 'embeddings all-minilm']);
  });
});

describe('propagation default by runtime', () => {
  it('in a browser-like global scope, no traceparent unless propagateContext is true', async () => {
    const out = await runNode([join(fixtures, 'browser-runtime.mjs')]);
    expect(out.spans.map((span) => span.name)).toEqual(['ollama.list', 'ollama.list']);
    expect(out.result).toEqual([false, true]);
  });
});
