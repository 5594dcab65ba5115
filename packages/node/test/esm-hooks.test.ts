import { OllamaInstrumentation } from '@ollama-otel/instrumentation';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { describe, expect, it } from 'vitest';
import { includePatterns, instrumentedModuleNames } from '../src/esm-hooks.js';

describe('ESM loader hook scope', () => {
  it('takes the module names from the instrumentations', () => {
    const ollama = new OllamaInstrumentation({ enabled: false });
    const other = {
      getModuleDefinitions: () => [{ name: '@scope/pkg' }, { name: 'ollama' }],
    } as unknown as Instrumentation;
    const none = {} as Instrumentation;
    expect(instrumentedModuleNames([ollama, other, none])).toEqual(['ollama', '@scope/pkg']);
  });

  it('includes each package by name and every file inside it, and nothing else', () => {
    const patterns = includePatterns(['ollama', '@scope/pkg.js']);
    expect(patterns.filter((p) => typeof p === 'string')).toEqual(['ollama', '@scope/pkg.js']);
    const regexps = patterns.filter((p): p is RegExp => p instanceof RegExp);
    const matches = (url: string) => regexps.some((r) => r.test(url));
    expect(matches('file:///app/node_modules/.pnpm/ollama@0.6.4/node_modules/ollama/dist/browser.mjs')).toBe(true);
    expect(matches('file:///app/node_modules/ollama/dist/index.mjs')).toBe(true);
    expect(matches('file:///app/node_modules/@scope/pkg.js/index.mjs')).toBe(true);
    expect(matches('file:///app/node_modules/@scope/pkgXjs/index.mjs')).toBe(false);
    expect(matches('file:///app/node_modules/ollama-ai-provider/index.mjs')).toBe(false);
    expect(matches('file:///app/src/ollama/client.mjs')).toBe(false);
  });
});
