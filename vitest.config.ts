import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const fromRoot = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    alias: {
      // In-process tests use the test double's sources; child-process tests use the built packages.
      '@ollama-otel/testing': fromRoot('./packages/testing/src/index.ts'),
    },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts', 'deploy/test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // The JSON summary lets .ci/run print a plain "N passed, N failed" closing line (bench/proxy-stress.sh gives
    // each of its runs a file of its own).
    reporters: [
      'default',
      ['json', { outputFile: process.env.OLLAMA_OTEL_VITEST_JSON ?? 'node_modules/.vitest/results.json' }],
    ],
  },
});
