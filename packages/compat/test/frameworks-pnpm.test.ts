/**
 * LangChain, LlamaIndex and the Vercel AI SDK in this workspace's pnpm layout, where `ollama` is only the
 * frameworks' dependency (the app cannot resolve it) and every framework has its own copy: LlamaIndex's 0.5 and
 * LangChain's 0.6, reached through `ollama/browser`. Every way of turning the instrumentation on, in child
 * processes, ESM and CommonJS.
 */
import { fileURLToPath } from 'node:url';
import { type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTIVATIONS, bareResult, expectTraced, genAiSpans, runFrameworks } from './helpers/frameworks.js';
import { printed, run } from './helpers/node-child.js';
import { type OtlpReceiver, startOtlpReceiver } from './helpers/otlp-receiver.js';

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

let double: OllamaDouble;
let receiver: OtlpReceiver;
const bare: Record<string, unknown> = {};

beforeAll(async () => {
  double = await startOllamaDouble({ chunks: 4 });
  receiver = await startOtlpReceiver();
  for (const app of ['frameworks.mjs', 'frameworks.cjs']) bare[app] = await bareResult({ cwd: fixtures, app, double });
});

afterAll(async () => {
  await receiver?.close();
  await double?.close();
});

/** What a child process in the app's folder resolves: the app's own `ollama` (none), and each framework's. */
async function layout(): Promise<Record<string, string>> {
  const script = `
    const { createRequire } = require('node:module');
    const found = {};
    try { found.app = require('ollama/package.json').version; } catch { found.app = 'none'; }
    for (const framework of ['@llamaindex/ollama', '@langchain/ollama', 'ai-sdk-ollama']) {
      const from = createRequire(require.resolve(framework));
      found[framework] = from('ollama/package.json').version;
    }
    console.log('RESULT ' + JSON.stringify(found));`;
  return printed(await run(['-e', script], { cwd: fixtures }));
}

describe('frameworks in a pnpm layout', () => {
  it('is the layout in question: no `ollama` for the app, one copy per framework', async () => {
    expect(await layout()).toEqual({
      app: 'none',
      '@llamaindex/ollama': expect.stringMatching(/^0\.5\./),
      '@langchain/ollama': expect.stringMatching(/^0\.6\./),
      'ai-sdk-ollama': expect.stringMatching(/^0\.6\./),
    });
  });

  it.each(ACTIVATIONS)(
    '$label: one span per call, traceparent on every request, same results',
    async ({ args, app }) => {
      const outcome = await runFrameworks({ cwd: fixtures, args, app, double, receiver });
      expect(outcome.child.stderr).not.toMatch(/no original to unwrap|Error:/);
      expectTraced(outcome, bare[app]);
    },
  );

  it('says through the diag logger when copies loaded later cannot be instrumented (no module.registerHooks)', async () => {
    const outcome = await runFrameworks({
      cwd: fixtures,
      args: ['--import', './manual.mjs'],
      app: 'frameworks.mjs',
      double,
      receiver,
      env: { DROP_REGISTER_HOOKS: '1' },
    });
    expect(outcome.result).toEqual(bare['frameworks.mjs']);
    // No copy was loaded before the call, and none after it could be seen: nothing is traced, and the user is told.
    expect(genAiSpans(outcome.spans)).toEqual([]);
    expect(outcome.child.stdout + outcome.child.stderr).toContain(
      'module.registerHooks() is not available: copies of `ollama` loaded from now on are not instrumented',
    );
  });
});
