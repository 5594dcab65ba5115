// Proxy peers: the same OpenAI-compatible chat traffic straight to Ollama (the test double), through
// ollama-otel-proxy with telemetry off and on, and through LiteLLM's proxy in front of Ollama (the setup people use
// today; pinned 1.75.8 in python/litellm.txt, never 1.107.0 or later).
//
//   pnpm bench:peers:proxy          (BENCH_ROUNDS, default 3; BENCH_CONCURRENCY, default 1,10,50)
//
// Part 1, cost: a non-streamed chat and a 200-chunk stream at each concurrency; p50, p99 and time to first byte seen
// by the client, CPU per request of the proxy's process tree (/proc), its RSS after the run; every number also as a
// ratio to direct (latency) or to our proxy with telemetry on (CPU, RSS), all from this one run. The double runs in a
// process of its own; arms alternate in rotating order; medians of the rounds.
// Part 2, telemetry: the same 20 calls through each proxy that exports telemetry (12 chats, 6 streams, one call for a
// model Ollama does not have, one stream Ollama cuts after 3 chunks), spans decoded by python/otlp_sink.py and each
// proxy's /metrics, against the double's truth (the usage it reports for the same calls made directly).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { child, cpuMicros, fmt, median, quantile, rssMiB } from '../load.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CHUNKS = 200;
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '1,10,50').split(',').map(Number);
const root = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(root, 'packages/proxy/dist/esm/cli.js');
const TESTING = join(root, 'packages/testing/dist/esm/index.js');
const venv = (file) =>
  execFileSync('bash', [join(root, 'deploy/tools/python.sh'), join(root, 'bench/peers/python', file)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
const litellmVenv = venv('litellm.txt');
const sinkVenv = venv('openllmetry.txt');
const ready = /listening on (http:\/\/\S+?),/;
const quiet = {
  OLLAMA_OTEL_HOST_METRICS: 'false',
  OLLAMA_OTEL_RUNTIME_METRICS: 'false',
  OLLAMA_OTEL_SERVER_METRICS: 'false',
};
const started = [];
const track = async (promise) => {
  const running = await promise;
  started.push(running.proc);
  return running;
};

const sink = await track(
  child([join(root, 'bench/peers/python/otlp_sink.py')], {}, /otlp-sink (http:\S+)/, join(sinkVenv, 'bin/python')),
);

/** A double in its own process; `control` lets part 2 script faults through stdin. */
const startDouble = () =>
  track(
    child(
      [
        '--input-type=module',
        '-e',
        `import { startOllamaDouble } from ${JSON.stringify(TESTING)};
         const d = await startOllamaDouble({ chunks: ${CHUNKS}, recordRequests: false });
         process.stdin.on('data', (line) => d.script(...JSON.parse(line)));
         console.log('double ' + d.url);`,
      ],
      {},
      /double (http:\S+)/,
      process.execPath,
      { stdio: ['pipe', 'pipe', 'inherit'] },
    ),
  );

function startOurs(upstream, telemetry, service = 'ollama-otel-proxy') {
  const env = telemetry
    ? {
        ...quiet,
        OTEL_SERVICE_NAME: service,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
        OTEL_METRICS_EXPORTER: 'none',
        OTEL_LOGS_EXPORTER: 'none',
        OTEL_BSP_SCHEDULE_DELAY: '200',
      }
    : { ...quiet, OTEL_SDK_DISABLED: 'true' };
  const args = [CLI, '--listen', '127.0.0.1:0', '--upstream', upstream, ...(telemetry ? [] : ['--metrics', 'off'])];
  return track(child(args, env, ready));
}

/** LiteLLM's proxy as its Ollama guide sets it up (ollama_chat provider), OpenTelemetry callback to the sink. */
async function startLiteLLM(upstream, service = 'litellm') {
  const dir = mkdtempSync(join(tmpdir(), 'bench-litellm-'));
  const models = ['llama3.2', 'no-such-model'].map(
    (name) => `  - model_name: ${name}\n    litellm_params: { model: ollama_chat/${name}, api_base: "${upstream}" }\n`,
  );
  writeFileSync(
    join(dir, 'config.yaml'),
    `model_list:\n${models.join('')}litellm_settings:\n  callbacks: ["otel"]\n  drop_params: true\n  num_retries: 0\n`,
  );
  const port = 40000 + Math.floor(Math.random() * 20000);
  const log = openSync(join(dir, 'litellm.log'), 'w');
  const proc = spawn(
    join(litellmVenv, 'bin/litellm'),
    ['--config', join(dir, 'config.yaml'), '--host', '127.0.0.1', '--port', String(port), '--num_workers', '1'],
    {
      cwd: dir,
      stdio: ['ignore', log, log],
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        OTEL_EXPORTER: 'otlp_http',
        OTEL_ENDPOINT: `${sink.url}/v1/traces`,
        OTEL_SERVICE_NAME: service,
        OTEL_BSP_SCHEDULE_DELAY: '200',
        LITELLM_LOG: 'ERROR',
        LITELLM_TELEMETRY: 'False',
      },
    },
  );
  started.push(proc);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600 && proc.exitCode === null; i++) {
    if (
      await fetch(`${url}/health/liveliness`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return { proc, url };
    await new Promise((r) => setTimeout(r, 200));
  }
  console.error(readFileSync(join(dir, 'litellm.log'), 'utf8').slice(-3000));
  throw new Error('litellm did not answer /health/liveliness');
}

const chatBody = (stream, model = 'llama3.2', extra = {}) =>
  JSON.stringify({ model, messages: [{ role: 'user', content: 'Why is the sky blue?' }], stream, ...extra });

/** One OpenAI-compatible request: latency (to the end of the body), time to first byte, the body. */
function once(agent, url, body) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = request(
      `${url}/v1/chat/completions`,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: 'Bearer sk-bench',
        },
      },
      (res) => {
        let firstByte = 0;
        const chunks = [];
        res.on('data', (chunk) => {
          if (firstByte === 0) firstByte = performance.now() - t0;
          chunks.push(chunk);
        });
        const done = (cut) => () =>
          resolve({
            latency: performance.now() - t0,
            ttfb: firstByte,
            status: res.statusCode,
            text: Buffer.concat(chunks).toString(),
            cut,
          });
        res.on('end', done(false));
        res.on('error', done(true));
      },
    );
    req.on('error', (error) => resolve({ status: 0, text: String(error), cut: true, latency: 0, ttfb: 0 }));
    req.end(body);
  });
}

const WORKLOADS = [
  { name: 'chat (non-streamed)', body: chatBody(false), total: (c) => Math.max(40, 4 * c), stream: false },
  { name: `stream of ${CHUNKS} chunks`, body: chatBody(true), total: (c) => Math.max(10, c), stream: true },
];

async function measure(arm, workload, concurrency) {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  for (let i = 0; i < concurrency; i++) await once(agent, arm.url, workload.body);
  const samples = [];
  const perClient = Math.ceil(workload.total(concurrency) / concurrency);
  const cpuBefore = arm.pid ? cpuMicros(arm.pid) : 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = 0; i < perClient; i++) {
        const sample = await once(agent, arm.url, workload.body);
        if (sample.status !== 200)
          throw new Error(`${arm.name}: status ${sample.status}: ${sample.text.slice(0, 300)}`);
        // A stream that ends without its [DONE] (or is cut) is counted, not retried: the client saw it so.
        sample.incomplete = sample.cut || (workload.stream && !sample.text.trimEnd().endsWith('data: [DONE]'));
        samples.push(sample);
      }
    }),
  );
  const cpu = arm.pid ? (cpuMicros(arm.pid) - cpuBefore) / samples.length : undefined;
  agent.destroy();
  const latencies = samples.map((s) => s.latency).sort((a, b) => a - b);
  return {
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    ttfb: median(samples.map((s) => s.ttfb)),
    cpu,
    incomplete: samples.filter((s) => s.incomplete).length,
    requests: samples.length,
  };
}

async function partOne() {
  const double = await startDouble();
  const arms = [
    { name: 'direct', url: double.url },
    { name: 'ollama-otel-proxy, telemetry off', ...(await startOurs(double.url, false)) },
    { name: 'ollama-otel-proxy, telemetry on', ...(await startOurs(double.url, true)) },
    { name: 'LiteLLM 1.75.8 proxy', ...(await startLiteLLM(double.url)) },
  ];
  for (const arm of arms) arm.pid = arm.proc?.pid;
  const lines = [
    `Part 1: rounds ${ROUNDS}, medians of the rounds; latency in ms; "×direct" = arm / direct; CPU and RSS of the proxy's process tree, "×ours" = arm / ollama-otel-proxy with telemetry on.`,
    '',
    '| workload | clients | arm | p50 ms | ×direct | p99 ms | ×direct | TTFB ms | ×direct | CPU µs/req | ×ours | incomplete |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const workload of WORKLOADS) {
    for (const concurrency of CONCURRENCY) {
      const results = new Map(arms.map((arm) => [arm.name, []]));
      for (let round = 0; round < ROUNDS; round++) {
        for (let i = 0; i < arms.length; i++) {
          const arm = arms[(i + round) % arms.length];
          results.get(arm.name).push(await measure(arm, workload, concurrency));
        }
      }
      const pick = (name, key) => median(results.get(name).map((r) => r[key]));
      const direct = (key) => pick('direct', key);
      for (const arm of arms) {
        const value = (key) => pick(arm.name, key);
        const ours = pick('ollama-otel-proxy, telemetry on', 'cpu');
        lines.push(
          `| ${workload.name} | ${concurrency} | ${arm.name} | ${fmt(value('p50'), 2)} | ${fmt(value('p50') / direct('p50'), 1)} | ${fmt(value('p99'), 2)} | ${fmt(value('p99') / direct('p99'), 1)} | ${fmt(value('ttfb'), 2)} | ${fmt(value('ttfb') / direct('ttfb'), 1)} | ${fmt(value('cpu'), 0)} | ${value('cpu') === undefined ? '–' : fmt(value('cpu') / ours, 1)} | ${sum(results.get(arm.name).map((r) => r.incomplete))} of ${sum(results.get(arm.name).map((r) => r.requests))} |`,
        );
      }
      console.error(`done: ${workload.name}, ${concurrency} clients`);
    }
  }
  lines.push('', '| arm | RSS after the run, MiB |', '|---|---|');
  for (const arm of arms.filter((a) => a.pid)) lines.push(`| ${arm.name} | ${fmt(rssMiB(arm.pid), 0)} |`);
  for (const arm of arms) arm.proc?.kill('SIGTERM');
  double.proc.kill('SIGTERM');
  return lines;
}

// ---- Part 2: the telemetry each gives for the same 20 calls ----

const CALLS = [
  ...Array.from({ length: 12 }, () => ({ kind: 'chat', body: chatBody(false) })),
  ...Array.from({ length: 6 }, () => ({
    kind: 'stream',
    body: chatBody(true, 'llama3.2', { stream_options: { include_usage: true } }),
  })),
  { kind: 'missing model', body: chatBody(false, 'no-such-model') },
  { kind: 'stream cut by Ollama', body: chatBody(true), fault: true },
];

function usageOf(text) {
  if (!text.startsWith('data:')) return JSON.parse(text).usage;
  const events = text
    .split('\n')
    .filter((l) => l.startsWith('data: {'))
    .map((l) => JSON.parse(l.slice(6)));
  return events.findLast((e) => e.usage)?.usage;
}

async function sendCalls(double, url, faultPath) {
  const agent = new Agent({ keepAlive: true });
  const out = [];
  for (const call of CALLS) {
    if (call.fault)
      double.proc.stdin.write(`${JSON.stringify([{ path: faultPath, fault: { kind: 'reset', afterChunks: 3 } }])}\n`);
    await new Promise((r) => setTimeout(r, call.fault ? 100 : 0));
    const r = await once(agent, url, call.body);
    out.push({
      kind: call.kind,
      status: r.status,
      cut: r.cut,
      usage: r.status === 200 && !r.cut ? usageOf(r.text) : undefined,
      text: r.text,
    });
  }
  agent.destroy();
  return out;
}

const sum = (values) => values.reduce((t, v) => t + (Number(v) || 0), 0);
const spansOf = async (service) => (await (await fetch(sink.url)).json()).filter((s) => s.service === service);

async function partTwo() {
  const double = await startDouble();
  const truth = await sendCalls(double, double.url, '/v1/chat/completions');
  const ok = truth.filter((c) => c.usage);
  const truthTokens = {
    input: sum(ok.map((c) => c.usage.prompt_tokens)),
    output: sum(ok.map((c) => c.usage.completion_tokens)),
  };
  const ours = await startOurs(double.url, true, 'ollama-otel-proxy-20-calls');
  const litellm = await startLiteLLM(double.url, 'litellm-20-calls');
  const seen = {
    ours: await sendCalls(double, ours.url, '/v1/chat/completions'),
    litellm: await sendCalls(double, litellm.url, '/api/chat'),
  };
  await new Promise((r) => setTimeout(r, 6000)); // batch processors flush
  const metrics = {
    ours: await fetch(`${ours.url}/metrics`).then((r) => r.text()),
    litellm: await fetch(`${litellm.url}/metrics`).then(
      async (r) => `HTTP ${r.status}: ${(await r.text()).slice(0, 200)}`,
    ),
  };
  const spans = { ours: await spansOf('ollama-otel-proxy-20-calls'), litellm: await spansOf('litellm-20-calls') };
  for (const p of [ours, litellm, double]) p.proc.kill('SIGTERM');
  return { truth, truthTokens, seen, metrics, spans };
}

function telemetryReport({ truth, truthTokens, seen, metrics, spans }) {
  const lines = [
    '',
    'Part 2: the same 20 calls (12 chats, 6 streams with include_usage, a missing model, a stream Ollama cuts after 3 chunks).',
    '',
  ];
  lines.push(
    `Truth (straight from the double): ${truth.filter((c) => c.usage).length} calls with usage, ${truthTokens.input} input and ${truthTokens.output} output tokens; statuses ${truth.map((c) => c.status).join(',')}.`,
  );
  for (const who of ['ours', 'litellm']) {
    const calls = seen[who];
    lines.push(
      '',
      `${who === 'ours' ? 'ollama-otel-proxy' : 'LiteLLM 1.75.8'}: what the client got: statuses ${calls.map((c) => `${c.status}${c.cut ? ' (cut)' : ''}`).join(', ')}`,
    );
    const cutCall = calls.at(-1);
    lines.push(
      `  the cut stream, as the client saw its end: ${JSON.stringify(cutCall.text.trim().split('\n').filter(Boolean).slice(-2).join(' | ').slice(0, 240))}`,
    );
    const missing = calls.at(-2);
    lines.push(`  the missing model: HTTP ${missing.status} ${missing.text.slice(0, 160)}`);
    const s = spans[who];
    const names = {};
    for (const span of s) names[span.name] = (names[span.name] ?? 0) + 1;
    lines.push(
      `  spans: ${s.length} (${Object.entries(names)
        .map(([n, c]) => `${c}× ${n}`)
        .join(', ')})`,
    );
    const tokenKeys = [
      ['gen_ai.usage.input_tokens', 'gen_ai.usage.output_tokens'],
      ['gen_ai.usage.prompt_tokens', 'gen_ai.usage.completion_tokens'],
    ];
    for (const [inKey, outKey] of tokenKeys) {
      const withTokens = s.filter((x) => x.attributes[inKey] !== undefined);
      if (withTokens.length)
        lines.push(
          `  tokens on spans (${inKey}/${outKey.split('.').at(-1)}): ${sum(withTokens.map((x) => x.attributes[inKey]))} in, ${sum(withTokens.map((x) => x.attributes[outKey]))} out, on ${withTokens.length} spans (truth: ${truthTokens.input}/${truthTokens.output})`,
        );
    }
    const ttft = s.filter((x) => Object.keys(x.attributes).some((k) => /time_to_first|ttft|completion_start/i.test(k)));
    lines.push(
      `  spans with a time-to-first-token attribute: ${ttft.length} (${[...new Set(ttft.flatMap((x) => Object.keys(x.attributes).filter((k) => /time_to_first|ttft|completion_start/i.test(k))))].join(', ') || 'none'})`,
    );
    const errors = {};
    for (const span of s.filter((x) => x.status.code === 'STATUS_CODE_ERROR' || x.attributes['error.type'])) {
      const type = `${span.name}: ${span.attributes['error.type'] ?? span.status.message?.slice(0, 60) ?? 'ERROR'}`;
      errors[type] = (errors[type] ?? 0) + 1;
    }
    lines.push(`  errors by type on spans: ${JSON.stringify(errors)}`);
    if (who === 'ours') {
      const count = metrics.ours
        .split('\n')
        .filter((l) => /^gen_ai_client_operation_duration(_seconds)?_count/.test(l));
      lines.push(
        `  /metrics gen_ai_client_operation_duration_seconds_count: ${count.map((l) => l.replace(/server_address="[^"]*",?|server_port="[^"]*",?/g, '')).join('; ')}`,
      );
      const tokens = metrics.ours.split('\n').filter((l) => /^gen_ai_client_token_usage_sum/.test(l));
      lines.push(
        `  /metrics gen_ai_client_token_usage_sum: ${tokens.map((l) => `${/gen_ai_token_type="(\w+)"/.exec(l)?.[1]}=${l.split(' ').at(-1)}`).join(', ')}`,
      );
    } else {
      lines.push(`  /metrics: ${metrics.litellm.replace(/\s+/g, ' ')}`);
    }
  }
  return lines;
}

try {
  const cost = process.env.BENCH_SKIP_COST === '1' ? [] : await partOne();
  const report = [...cost, ...telemetryReport(await partTwo())];
  console.log(report.join('\n'));
} finally {
  for (const proc of started) proc.kill('SIGTERM');
}
