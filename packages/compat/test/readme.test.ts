/**
 * The package READMEs' samples are the tested ones: every JavaScript block and every shell command is extracted
 * (helpers/readme.ts) and run in a fresh npm project that installs what the README's install lines say (this
 * repository's packages from their tarballs), against the Ollama test double and an OTLP receiver. Hosts in the
 * samples are swapped for the test's servers; apps the commands name (`app.mjs`, `server.cjs`...) and no block
 * provides are small fixtures that call Ollama.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type OllamaDouble, startOllamaDouble } from '@ollama-otel/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { genAiSpans, inferenceRequests, telemetryEnv } from './helpers/frameworks.js';
import { run } from './helpers/node-child.js';
import { type NpmProject, npmProject, packPackages, REPOSITORY, registrySkipReason } from './helpers/npm-project.js';
import { type OtlpReceiver, SPAN_KIND, startOtlpReceiver } from './helpers/otlp-receiver.js';
import { codeBlocks, importedPackages, isJavaScript, shellCommands } from './helpers/readme.js';

const consumers = fileURLToPath(new URL('./fixtures/consumers/', import.meta.url));
const OURS: Record<string, 'instrumentation' | 'node'> = {
  '@ollama-otel/instrumentation': 'instrumentation',
  '@ollama-otel/node': 'node',
};
/** Apps the commands run when no block provides them. */
const APPS = ['app.mjs', 'app.cjs', 'server.mjs', 'server.cjs'];

interface Run {
  label: string;
  readme: string;
  argv: string[];
  env: Record<string, string>;
}

const readmes = ['instrumentation', 'node'].map((name) => {
  const blocks = codeBlocks(readFileSync(join(REPOSITORY, 'packages', name, 'README.md'), 'utf8'));
  const commands = blocks.filter((block) => block.language === 'sh').flatMap((block) => shellCommands(block.code));
  const files = blocks.filter((block) => isJavaScript(block) && block.file !== undefined);
  const installed = commands
    .filter((command) => command.argv[0] === 'npm' && command.argv[1] === 'install')
    .flatMap((command) => command.argv.slice(2));
  const runs: Run[] = commands
    .filter((command) => command.argv[0] === 'node' || command.argv.join(' ') === 'npm start')
    .map((command) => ({ label: command.text, readme: name, argv: command.argv, env: command.env }));
  // Blocks no command runs: a telemetry file is preloaded into a service, any other file is run itself.
  for (const { file } of files) {
    if (runs.some((each) => each.argv.some((word) => word.endsWith(file!)))) continue;
    const preload = file!.startsWith('telemetry');
    const argv = preload
      ? [
          'node',
          file!.endsWith('.cjs') ? '--require' : '--import',
          `./${file}`,
          file!.endsWith('.cjs') ? 'server.cjs' : 'server.mjs',
        ]
      : ['node', file!];
    runs.push({ label: `${argv.join(' ')} (block ${file})`, readme: name, argv, env: {} });
  }
  return { name, blocks, commands, files, installed, runs };
});

describe('README code blocks', () => {
  it.each(readmes)('$name: every JavaScript block names its file, or says why it is not run', ({ blocks }) => {
    const unnamed = blocks.filter(
      (block) => isJavaScript(block) && block.file === undefined && block.notRun === undefined,
    );
    expect(unnamed.map((block) => `line ${block.line}: ${block.code.split('\n')[0]}`)).toEqual([]);
    // Anything else is output shown to the reader (`text`), never code to paste.
    expect(blocks.every((block) => isJavaScript(block) || block.language === 'sh' || block.language === 'text')).toBe(
      true,
    );
  });

  it.each(readmes)('$name: every shell command is an install line or a command the test runs', ({ commands }) => {
    const other = commands.filter(
      (command) =>
        !['node', 'npm'].includes(command.argv[0]!) ||
        (command.argv[0] === 'npm' && !['install', 'start'].includes(command.argv[1]!)),
    );
    expect(other.map((command) => command.text)).toEqual([]);
  });

  it.each(readmes)('$name: the install lines name every package the samples import', ({ files, installed }) => {
    const imported = files.flatMap((block) => importedPackages(block.code)).filter((name) => name !== 'ollama');
    expect([...new Set(imported)].filter((name) => !installed.includes(name))).toEqual([]);
  });
});

const skipReason = await registrySkipReason();
let project: NpmProject;
let double: OllamaDouble;
let receiver: OtlpReceiver;

function substituted(text: string): string {
  return text
    .replaceAll('http://collector:4317', receiver.endpoint)
    .replaceAll('http://gpu-box:11434', double.url)
    .replaceAll('http://127.0.0.1:11434', double.url);
}

beforeAll(async () => {
  if (skipReason !== undefined) return;
  const tarballs = await packPackages();
  const dependencies: Record<string, string> = { ollama: '0.6.4' };
  for (const name of new Set(readmes.flatMap((readme) => readme.installed))) {
    const ours = OURS[name];
    dependencies[name] = ours === undefined ? 'latest' : `file:${tarballs[ours]}`;
  }
  project = await npmProject('readmes', dependencies);
  double = await startOllamaDouble({ chunks: 3 });
  receiver = await startOtlpReceiver();
  for (const readme of readmes) {
    project.write(`${readme.name}/package.json`, JSON.stringify({ private: true, scripts: { start: 'node app.mjs' } }));
    for (const app of APPS) project.write(`${readme.name}/${app}`, readFileSync(join(consumers, app), 'utf8'));
    for (const block of readme.files) project.write(`${readme.name}/${block.file}`, substituted(block.code));
  }
}, 600_000);

afterAll(async () => {
  await receiver?.close();
  await double?.close();
  project?.remove();
});

describe.skipIf(skipReason)('README samples, run', () => {
  it.each(readmes.flatMap((readme) => readme.runs))('$readme README: $label', async ({ readme, argv, env }) => {
    double.clearRequests();
    receiver.clear();
    const [command, ...args] = argv.map(substituted);
    const variables: Record<string, string> = { OLLAMA_DOUBLE_URL: double.url, ...telemetryEnv(receiver, 'readme') };
    for (const [name, value] of Object.entries(env)) variables[name] = substituted(value);
    const result = await run(args, {
      cwd: join(project.dir, readme),
      env: variables,
      command: command === 'node' ? undefined : command,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/Error/);
    expect(result.stderr).not.toMatch(/no original to unwrap/);
    const calls = inferenceRequests(double.requests).length;
    expect(calls).toBeGreaterThan(0);
    const deadline = Date.now() + 5_000;
    while (genAiSpans(receiver.all()).length < calls && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(genAiSpans(receiver.all())).toHaveLength(calls);
    if (argv.includes('server.mjs') || argv.includes('server.cjs')) {
      // The service's one request: one HTTP server span, the parent of the GenAI span.
      const servers = receiver.all().filter((span) => span.kind === SPAN_KIND.SERVER);
      serverSpans.set(argv.join(' '), { count: servers.length, stderr: result.stderr });
    }
  });

  // Issue 10, item 7: startTelemetry() keeps one instrumentation per name, the user's: the sample's
  // HttpInstrumentation replaces the default one (one server span per request, nothing on stderr at shutdown).
  it(`node README: ${DUPLICATE_INSTRUMENTATION_SAMPLE} replaces the default HTTP instrumentation`, () => {
    const [outcome] = [...serverSpans].filter(([label]) => label.includes(DUPLICATE_INSTRUMENTATION_SAMPLE));
    expect(outcome?.[1].count).toBe(1);
    expect(outcome?.[1].stderr).not.toMatch(/no original to unwrap/);
  });
});

const DUPLICATE_INSTRUMENTATION_SAMPLE = 'telemetry-http.mjs';
const serverSpans = new Map<string, { count: number; stderr: string }>();
