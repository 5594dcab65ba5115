// Soak of @ollama-otel/proxy: 20,000 mixed requests at concurrency 50 through the built CLI (telemetry on, as
// users run it: NodeSDK, spans and metrics over OTLP/HTTP to a local sink, Prometheus /metrics), in front of the
// Ollama test double (in this process). The mix: NDJSON and SSE streams, non-streamed chats, embeddings,
// Ollama errors (HTTP errors, cut connections, error lines), and clients that walk away mid-stream.
//
// Printed before and after: the proxy's RSS, its heap after a forced GC (a preload runs gc() on SIGUSR2 and
// reports on stderr), its open descriptors (/proc/PID/fd); and requests/s with the outcome counts. A leak shows as
// heap or descriptors that do not come back after the run.
//
//   pnpm build && node bench/proxy-soak.mjs            SOAK_REQUESTS=20000 SOAK_CONCURRENCY=50
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REQUESTS = Number(process.env.SOAK_REQUESTS ?? 20_000);
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 50);
const SEED = Number(process.env.SOAK_SEED ?? 20261208);
const CLI = fileURLToPath(new URL('../packages/proxy/dist/esm/cli.js', import.meta.url));
const TESTING = new URL('../packages/testing/dist/esm/index.js', import.meta.url).href;
const { seededRandom, startOllamaDouble } = await import(TESTING);

const sink = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
});
await new Promise((resolve) => sink.listen(0, '127.0.0.1', resolve));
const double = await startOllamaDouble({ chunks: 12, chunkDelayMs: 1, recordRequests: false });

// gc() and a heap report on SIGUSR2, preloaded into the proxy.
const dir = mkdtempSync(join(tmpdir(), 'proxy-soak-'));
const preload = join(dir, 'heap-report.cjs');
writeFileSync(
  preload,
  `process.on('SIGUSR2', () => { for (let i = 0; i < 3; i++) global.gc(); ` +
    `process.stderr.write('heap-after-gc ' + process.memoryUsage().heapUsed + '\\n'); });\n`,
);
const proxy = spawn(
  process.execPath,
  ['--expose-gc', '--require', preload, CLI, '--listen', '127.0.0.1:0', '--upstream', double.url],
  {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sink.address().port}`,
      OTEL_METRIC_EXPORT_INTERVAL: '5000',
      OLLAMA_OTEL_HOST_METRICS: 'false',
      OLLAMA_OTEL_RUNTIME_METRICS: 'false',
      OLLAMA_OTEL_SERVER_METRICS: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  },
);
let stdout = '';
let stderr = '';
proxy.stdout.on('data', (chunk) => {
  stdout += chunk;
});
proxy.stderr.on('data', (chunk) => {
  stderr += chunk;
});
const url = await new Promise((resolve, reject) => {
  const timer = setInterval(() => {
    const match = /listening on (http:\/\/\S+?),/.exec(stdout);
    if (match) {
      clearInterval(timer);
      resolve(match[1]);
    } else if (proxy.exitCode !== null) {
      clearInterval(timer);
      reject(new Error(`the proxy exited: ${stdout}${stderr}`));
    }
  }, 20);
});

async function heapAfterGc() {
  const seen = (stderr.match(/heap-after-gc \d+/g) ?? []).length;
  proxy.kill('SIGUSR2');
  const deadline = Date.now() + 10_000;
  for (;;) {
    const reports = stderr.match(/heap-after-gc (\d+)/g) ?? [];
    if (reports.length > seen) return Number(reports.at(-1).split(' ')[1]);
    if (Date.now() > deadline) return Number.NaN;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function sample() {
  const status = readFileSync(`/proc/${proxy.pid}/status`, 'utf8');
  return {
    rss: Number(/VmRSS:\s+(\d+)/.exec(status)[1]) * 1024,
    heap: await heapAfterGc(),
    fds: readdirSync(`/proc/${proxy.pid}/fd`).length,
  };
}

const QUESTION = [{ role: 'user', content: 'Why is the sky blue?' }];
const KINDS = [
  { weight: 30, path: '/api/chat', body: (model) => ({ model, messages: QUESTION, stream: true }) },
  { weight: 15, path: '/api/chat', body: (model) => ({ model, messages: QUESTION, stream: false }) },
  { weight: 20, path: '/v1/chat/completions', body: (model) => ({ model, messages: QUESTION, stream: true }) },
  { weight: 10, path: '/api/generate', body: (model) => ({ model, prompt: 'Why?', stream: true }) },
  {
    weight: 10,
    path: '/api/embed',
    body: (model) => ({ model: model === 'qwen3' ? model : 'all-minilm', input: ['sky'] }),
  },
  {
    weight: 5,
    path: '/api/chat',
    body: () => ({ model: `made-up-${Math.floor(Math.random() * 1e6)}`, messages: QUESTION }),
  },
];
const totalWeight = KINDS.reduce((sum, kind) => sum + kind.weight, 0);
const FAULTS = [
  { kind: 'http-error', status: 500, error: 'model runner crashed' },
  { kind: 'http-error', status: 503 },
  { kind: 'reset', afterChunks: 2 },
  { kind: 'stream-error', afterChunks: 2, error: 'out of memory' },
  { kind: 'no-done', afterChunks: 3 },
];

const random = seededRandom(SEED);
function plan() {
  const roll = random() * totalWeight;
  let sum = 0;
  const kind = KINDS.find((each) => {
    sum += each.weight;
    return roll < sum;
  });
  const fate = random();
  // Faults go to a model of their own, so that they hit the request they were scripted for.
  if (fate < 0.1) return { kind, model: 'qwen3', fault: FAULTS[Math.floor(random() * FAULTS.length)] };
  if (fate < 0.2 && kind.body('x').stream) return { kind, model: 'llama3.2', walkAway: true };
  return { kind, model: 'llama3.2' };
}

const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
const outcomes = new Map();
const count = (name) => outcomes.set(name, (outcomes.get(name) ?? 0) + 1);

function send({ kind, model, fault, walkAway }) {
  if (fault !== undefined) double.script({ path: kind.path, model, fault });
  const text = JSON.stringify(kind.body(model));
  return new Promise((resolve) => {
    const req = request(
      `${url}${kind.path}`,
      {
        method: 'POST',
        agent: walkAway ? false : agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
      },
      (res) => {
        let walked = false;
        res.on('data', () => {
          if (walkAway && !walked) {
            walked = true;
            req.destroy();
          }
        });
        res.on('error', () => {});
        res.on('close', () => {
          count(walked ? 'walked away' : res.complete ? `${res.statusCode}` : `${res.statusCode} cut`);
          resolve();
        });
      },
    );
    req.on('error', (error) => {
      if (!walkAway) count(`error ${error.code ?? error.message}`);
      resolve();
    });
    req.end(text);
  });
}

// Warm-up, then the baseline.
for (let i = 0; i < 200; i++) await send({ kind: KINDS[1], model: 'llama3.2' });
outcomes.clear();
const before = await sample();
const started = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (next < REQUESTS) {
      next++;
      await send(plan());
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
agent.destroy();
await new Promise((resolve) => setTimeout(resolve, 1000)); // let cut connections and spans settle
const after = await sample();
const metrics = await fetch(`${url}/metrics`).then((response) => response.text());

const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
console.log(`proxy soak: ${REQUESTS} requests, concurrency ${CONCURRENCY}, seed ${SEED} (node ${process.version})`);
console.log(`  requests/s            ${(REQUESTS / seconds).toFixed(0)} (${seconds.toFixed(1)} s)`);
console.log(`  RSS                   ${mib(before.rss)} -> ${mib(after.rss)}`);
console.log(`  heap after GC         ${mib(before.heap)} -> ${mib(after.heap)}`);
console.log(`  open descriptors      ${before.fds} -> ${after.fds}`);
console.log(`  /metrics              ${(Buffer.byteLength(metrics) / 1024).toFixed(0)} KiB`);
console.log(
  `  outcomes              ${[...outcomes]
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => `${name}: ${n}`)
    .join(', ')}`,
);
const alive = proxy.exitCode === null;
console.log(`  proxy alive           ${alive}`);

proxy.kill('SIGTERM');
await new Promise((resolve) => proxy.once('exit', resolve));
await double.close();
sink.close();
if (!alive || /uncaught|unhandled/i.test(stderr)) {
  console.error(stderr);
  process.exit(1);
}
