import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OllamaInstrumentation } from '../src/index.js';
import { PACKAGE_NAME, PACKAGE_VERSION } from '../src/version.js';

describe('package identity', () => {
  it('version.ts matches package.json, so the instrumentation scope is named and versioned correctly', () => {
    const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect(PACKAGE_NAME).toBe(manifest.name);
    expect(PACKAGE_VERSION).toBe(manifest.version);
    const instrumentation = new OllamaInstrumentation({ enabled: false });
    expect(instrumentation.instrumentationName).toBe(manifest.name);
    expect(instrumentation.instrumentationVersion).toBe(manifest.version);
  });
});
