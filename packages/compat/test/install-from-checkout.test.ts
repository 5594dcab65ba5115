/**
 * The root README's "Install from a checkout", run as written: `pnpm pack:all` in this repository, then the app's
 * `npm install` of the tarballs into a fresh npm project and `node --import @ollama-otel/node/register app.mjs`,
 * then the proxy through `npx` with the three tarballs. Two liberties, both because `pnpm test` has done them
 * already (and redoing them would rebuild `dist` under the feet of tests running in parallel): `pnpm install` is
 * skipped, and `pnpm pack:all` runs its script without the leading `pnpm build`. The proxy's upstream and listen
 * address are swapped for the test double and a free port.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { genAiSpans, telemetryEnv } from './helpers/frameworks.js';
import { printed, run } from './helpers/node-child.js';
import { NPM_CACHE, type NpmProject, npmProject, REPOSITORY, registrySkipReason } from './helpers/npm-project.js';
import { type OtlpReceiver, startOtlpReceiver } from './helpers/otlp-receiver.js';
import { codeBlocks } from './helpers/readme.js';

const consumers = fileURLToPath(new URL('./fixtures/consumers/', import.meta.url));
const skipReason = await registrySkipReason();

const readme = readFileSync(join(REPOSITORY, 'README.md'), 'utf8');
const section = /^## Install from a checkout\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(readme)?.[1] ?? '';
const [checkout, app, proxy] = codeBlocks(section)
  .filter((block) => block.language === 'sh')
  .map((block) => block.code);

/** npm as the other compat tests run it: the shared cache, preferred over the registry. */
const NPM_ENV = { npm_config_cache: NPM_CACHE, npm_config_prefer_offline: 'true' };

/** bash running `script`; resolves with its exit code and output. */
function bash(script: string, cwd: string, env: Record<string, string> = {}, timeoutMs = 300_000) {
  return run(['-ec', script], { cwd, env: { ...NPM_ENV, ...env }, timeoutMs, command: 'bash' });
}

let double: OllamaDouble;
let receiver: OtlpReceiver;
let project: NpmProject;

beforeAll(async () => {
  if (skipReason !== undefined) return;
  double = await startOllamaDouble({ chunks: 3 });
  receiver = await startOtlpReceiver();
  project = await npmProject('install-from-checkout', { ollama: '0.6.4' });
  project.copy(consumers, ['app.mjs']);
}, 300_000);
afterAll(async () => {
  await receiver?.close();
  await double?.close();
  project?.remove();
});

describe('README: Install from a checkout', () => {
  it('has the three blocks: the clone, the app, the proxy', () => {
    expect(checkout).toContain('pnpm pack:all');
    expect(app).toContain('npm install "$OLLAMA_OTEL/dist/packages/ollama-otel-instrumentation.tgz"');
    expect(app).toContain('node --import @ollama-otel/node/register app.mjs');
    expect(proxy).toMatch(/^npx .*ollama-otel-proxy/);
  });

  describe.skipIf(skipReason)('run as written', () => {
    let ollamaOtel: string;

    it('in the clone: pnpm pack:all writes the three tarballs', { timeout: 300_000 }, async () => {
      const script = JSON.parse(readFileSync(join(REPOSITORY, 'package.json'), 'utf8')).scripts['pack:all'] as string;
      expect(script.startsWith('pnpm build && ')).toBe(true);
      const commands = checkout!
        .split('\n')
        .filter((line) => line.trim() !== 'pnpm install')
        .map((line) => line.replace(/^pnpm pack:all\b.*$/, script.slice('pnpm build && '.length)))
        .join('\n');
      const result = await bash(`${commands}\necho "OLLAMA_OTEL=$OLLAMA_OTEL"`, REPOSITORY);
      expect(result.code, result.stderr).toBe(0);
      ollamaOtel = /^OLLAMA_OTEL=(.*)$/m.exec(result.stdout)?.[1] ?? '';
      expect(ollamaOtel).toBe(REPOSITORY.replace(/\/$/, ''));
      for (const name of ['instrumentation', 'node', 'proxy']) {
        expect(existsSync(join(ollamaOtel, 'dist', 'packages', `ollama-otel-${name}.tgz`)), name).toBe(true);
      }
    });

    it('in an app: the install, and the app under the register entry', { timeout: 300_000 }, async () => {
      expect(ollamaOtel, 'the tarballs').toBeDefined();
      const service = 'install-from-checkout-app';
      const result = await bash(app!, project.dir, {
        OLLAMA_OTEL: ollamaOtel,
        OLLAMA_DOUBLE_URL: double.url,
        ...telemetryEnv(receiver, service),
      });
      expect(result.code, result.stderr).toBe(0);
      expect(printed<unknown[]>(result)).toHaveLength(4); // the app's four answers
      expect(project.installedVersions('@ollama-otel/node')).toEqual(['0.1.0']);
      const deadline = Date.now() + 5_000;
      while (genAiSpans(receiver.spansOf(service)).length < 4 && Date.now() < deadline) await sleep(50);
      expect(
        genAiSpans(receiver.spansOf(service))
          .map((span) => span.name)
          .sort(),
      ).toEqual(['chat llama3.2', 'chat llama3.2', 'embeddings all-minilm', 'text_completion llama3.2']);
    });

    it('the proxy through npx', { timeout: 300_000 }, async () => {
      expect(ollamaOtel, 'the tarballs').toBeDefined();
      const listen = `127.0.0.1:${await freePort()}`;
      const command = proxy!
        .replace('--upstream http://127.0.0.1:11434', `--upstream ${double.url}`)
        .replace('--listen 127.0.0.1:11435', `--listen ${listen}`);
      expect(command).not.toBe(proxy);
      const service = 'install-from-checkout-proxy';
      const elsewhere = mkdtempSync(join(tmpdir(), 'ollama-otel-npx-')); // not the app's project: "anywhere"
      const child = spawn('bash', ['-ec', command], {
        cwd: elsewhere,
        detached: true, // its own process group: npx and the proxy end together
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '',
          ...NPM_ENV,
          OLLAMA_OTEL: ollamaOtel,
          ...telemetryEnv(receiver, service),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk) => {
        output += chunk;
      });
      child.stderr.on('data', (chunk) => {
        output += chunk;
      });
      try {
        const deadline = Date.now() + 240_000;
        while (!output.includes(`listening on http://${listen}`)) {
          if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the proxy did not start:\n${output}`);
          await sleep(100);
        }
        const response = await fetch(`http://${listen}/api/chat`, {
          method: 'POST',
          body: JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: false }),
        });
        expect(response.status).toBe(200);
        const answer = (await response.json()) as { message: { content: string } };
        expect(answer.message.content.length).toBeGreaterThan(0);
        const deadline2 = Date.now() + 10_000;
        while (genAiSpans(receiver.spansOf(service)).length < 1 && Date.now() < deadline2) await sleep(50);
        expect(genAiSpans(receiver.spansOf(service)).map((span) => span.name)).toEqual(['chat llama3.2']);
      } finally {
        if (child.exitCode === null && child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
        rmSync(elsewhere, { recursive: true, force: true });
      }
    });
  });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
