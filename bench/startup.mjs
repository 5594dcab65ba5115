// Start-up cost of the register entries: how long `node <entry> app.mjs` takes from spawn to exit, where the app
// only imports `ollama` and builds a client.
//
//   bare          node app.mjs
//   ollama-otel   node --import @ollama-otel/node/register app.mjs
//   auto-instr    node --import @opentelemetry/auto-instrumentations-node/register app.mjs
//
// The variants run alternately (rotating order each round) in fresh processes from this one process, after a
// warm-up round. Exporters are `none` for all of them and both SDKs use the same local resource detectors
// (no cloud metadata look-ups), so what is measured is loading and starting the telemetry, not exporting.
// Reported: median and min wall time in ms, the difference to bare and the ratio.
// Needs `pnpm build` first. BENCH_STARTUP_ROUNDS (default 15) sets the number of rounds.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const packageDir = fileURLToPath(new URL('../packages/node/', import.meta.url));
const app = fileURLToPath(new URL('../packages/node/test/fixtures/startup-app.mjs', import.meta.url));
const ROUNDS = Number(process.env.BENCH_STARTUP_ROUNDS ?? 15);

if (!existsSync(new URL('../packages/node/dist/esm/register.js', import.meta.url))) {
  console.error('bench/startup.mjs: packages/node is not built; run `pnpm build` first');
  process.exit(1);
}

const variants = [
  { name: 'bare', args: [app] },
  { name: 'ollama-otel', args: ['--import', '@ollama-otel/node/register', app] },
  { name: 'auto-instr', args: ['--import', '@opentelemetry/auto-instrumentations-node/register', app] },
];

const env = { ...process.env };
for (const key of Object.keys(env)) if (/^(OTEL_|OLLAMA_|NODE_OPTIONS$)/.test(key)) delete env[key];
Object.assign(env, {
  OTEL_TRACES_EXPORTER: 'none',
  OTEL_METRICS_EXPORTER: 'none',
  OTEL_LOGS_EXPORTER: 'none',
  OTEL_NODE_RESOURCE_DETECTORS: 'env,host,os,process,serviceinstance',
});

function runOnce(variant) {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, variant.args, { cwd: packageDir, env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) {
    throw new Error(`${variant.name} exited with ${result.status ?? result.signal}: ${result.stderr}`);
  }
  return ms;
}

for (const variant of variants) runOnce(variant); // warm-up: file system caches
const samples = new Map(variants.map((v) => [v.name, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (let i = 0; i < variants.length; i++) {
    const variant = variants[(round + i) % variants.length];
    samples.get(variant.name).push(runOnce(variant));
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const bare = median(samples.get('bare'));
const row = (cells) => cells.map((cell, i) => (i === 0 ? cell.padEnd(14) : cell.padStart(10))).join('');
console.log(`start-up time, node ${process.version}, ${ROUNDS} rounds (ms, spawn to exit)`);
console.log(row(['variant', 'median', 'min', '+ vs bare', 'ratio']));
for (const variant of variants) {
  const xs = samples.get(variant.name);
  const m = median(xs);
  const min = Math.min(...xs);
  console.log(row([variant.name, m.toFixed(1), min.toFixed(1), (m - bare).toFixed(1), `${(m / bare).toFixed(2)}x`]));
}
const ours = median(samples.get('ollama-otel'));
const auto = median(samples.get('auto-instr'));
console.log(`ollama-otel / auto-instr: ${(ours / auto).toFixed(2)}x`);
