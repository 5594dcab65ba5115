// Added cost of @ollama-otel/proxy: direct to the Ollama test double vs through the proxy with telemetry off
// (OTEL_SDK_DISABLED) vs on (as the CLI sets it up: NodeSDK, spans over OTLP/HTTP to a local sink through the
// batch processor, metrics aggregated for the /metrics endpoint), at 1, 10 and 100 concurrent clients, for a
// non-streamed chat and a 200-chunk NDJSON stream.
//
// The double and each proxy run in their own processes (the built CLI, as users run it); this process is the load
// generator (keep-alive node:http clients). Arms alternate in rotating order over several rounds; medians of the
// rounds are reported, with the differences to direct and the ratios on/off, all from this one run. CPU per
// request is the proxy process's own CPU time (from /proc) divided by the requests it served.
//
// BENCH_PROXY_BEFORE=path/to/an/older/dist/esm/cli.js adds that build's two arms ("before, off/on") to the same
// rotation, and a "vs before" throughput ratio for each of this build's arms: a change's cost, measured in one run.
import { Agent, createServer, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { child, cpuMicros, fmt, median, quantile } from './load.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CHUNKS = 200;
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '1,10,100').split(',').map(Number);
const CLI = fileURLToPath(new URL('../packages/proxy/dist/esm/cli.js', import.meta.url));
const TESTING = new URL('../packages/testing/dist/esm/index.js', import.meta.url).href;

const sink = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
});
await new Promise((resolve) => sink.listen(0, '127.0.0.1', resolve));
const sinkUrl = `http://127.0.0.1:${sink.address().port}`;

const double = await child(
  [
    '--input-type=module',
    '-e',
    `import { startOllamaDouble } from ${JSON.stringify(TESTING)};
   const d = await startOllamaDouble({ chunks: ${CHUNKS}, recordRequests: false }); console.log('double ' + d.url);`,
  ],
  {},
  /double (http:\S+)/,
);
const quiet = {
  OLLAMA_OTEL_HOST_METRICS: 'false',
  OLLAMA_OTEL_RUNTIME_METRICS: 'false',
  OLLAMA_OTEL_SERVER_METRICS: 'false',
};
const ready = /listening on (http:\/\/\S+?),/;
/** A proxy CLI with telemetry off and one with it on, as users run it. */
async function proxyArms(label, cli) {
  const off = await child(
    [cli, '--listen', '127.0.0.1:0', '--upstream', double.url, '--metrics', 'off'],
    { ...quiet, OTEL_SDK_DISABLED: 'true' },
    ready,
  );
  const on = await child(
    [cli, '--listen', '127.0.0.1:0', '--upstream', double.url],
    {
      ...quiet,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl,
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_LOGS_EXPORTER: 'none',
    },
    ready,
  );
  return [
    { name: `${label}telemetry off`, url: off.url, pid: off.proc.pid, proc: off.proc },
    { name: `${label}telemetry on`, url: on.url, pid: on.proc.pid, proc: on.proc },
  ];
}
const BEFORE = process.env.BENCH_PROXY_BEFORE;
const ARMS = [
  { name: 'direct', url: double.url },
  ...(await proxyArms('proxy, ', CLI)),
  ...(BEFORE === undefined ? [] : await proxyArms('before, ', BEFORE)),
];

const chatBody = (stream) =>
  JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'Why is the sky blue?' }], stream });
/** BENCH_SCALE multiplies the requests per client and round (more requests, steadier per-request CPU figures). */
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const WORKLOADS = [
  { name: 'chat (non-streamed)', body: chatBody(false), perClient: 40 * SCALE, stream: false },
  { name: `stream of ${CHUNKS} chunks`, body: chatBody(true), perClient: 4 * SCALE, stream: true },
];

/** One request: latency (to the end of the body), time to first byte, body lines. */
function once(agent, url, body) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(
      `${url}/api/chat`,
      { method: 'POST', agent, headers: { 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let firstByte = 0;
        let lines = 0;
        res.on('data', (chunk) => {
          if (firstByte === 0) firstByte = performance.now() - started;
          for (let at = chunk.indexOf(10); at >= 0; at = chunk.indexOf(10, at + 1)) lines++;
        });
        res.on('end', () =>
          resolve({ latency: performance.now() - started, ttfb: firstByte, lines, status: res.statusCode }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function run(arm, workload, concurrency) {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const samples = [];
  for (let i = 0; i < concurrency; i++) await once(agent, arm.url, workload.body); // warm connections
  const cpuBefore = arm.pid ? cpuMicros(arm.pid) : 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = 0; i < workload.perClient; i++) {
        const sample = await once(agent, arm.url, workload.body);
        if (sample.status !== 200 || (workload.stream && sample.lines !== CHUNKS + 1)) {
          throw new Error(`${arm.name}: status ${sample.status}, ${sample.lines} lines`);
        }
        samples.push(sample);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = arm.pid ? (cpuMicros(arm.pid) - cpuBefore) / samples.length : undefined;
  agent.destroy();
  const latencies = samples.map((s) => s.latency).sort((a, b) => a - b);
  const ttfbs = samples.map((s) => s.ttfb).sort((a, b) => a - b);
  return {
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    ttfb: quantile(ttfbs, 0.5),
    throughput: samples.length / seconds,
    cpu,
  };
}

console.log(`rounds: ${ROUNDS}, arms alternate in rotating order; medians of the rounds. Latency in ms.`);
for (const workload of WORKLOADS) {
  for (const concurrency of CONCURRENCY) {
    const results = new Map(ARMS.map((arm) => [arm.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < ARMS.length; i++) {
        const arm = ARMS[(i + round) % ARMS.length];
        results.get(arm.name).push(await run(arm, workload, concurrency));
      }
    }
    const summary = new Map(
      ARMS.map((arm) => {
        const rounds = results.get(arm.name);
        const pick = (key) => median(rounds.map((r) => r[key]));
        return [
          arm.name,
          { p50: pick('p50'), p99: pick('p99'), ttfb: pick('ttfb'), throughput: pick('throughput'), cpu: pick('cpu') },
        ];
      }),
    );
    const direct = summary.get('direct');
    console.log(`\n${workload.name}, ${concurrency} concurrent client(s)`);
    console.log(
      `arm                     p50     p99   +p50    +p99    TTFB    +TTFB   req/s   vs off  CPU µs/req  vs off${BEFORE === undefined ? '' : '  req/s vs before'}`,
    );
    for (const arm of ARMS) {
      const s = summary.get(arm.name);
      const offArm = summary.get(arm.name.startsWith('before, ') ? 'before, telemetry off' : 'proxy, telemetry off');
      const before = summary.get(arm.name.replace('proxy, ', 'before, '));
      const versusBefore =
        BEFORE !== undefined && arm.name.startsWith('proxy, ') ? `  ${fmt(s.throughput / before.throughput, 2)}` : '';
      const perChunk = workload.stream ? ` (+${fmt(((s.p50 - direct.p50) * 1000) / CHUNKS, 1)} µs/chunk)` : '';
      console.log(
        `${arm.name.padEnd(22)} ${fmt(s.p50).padStart(7)} ${fmt(s.p99).padStart(7)} ${fmt(s.p50 - direct.p50).padStart(6)} ${fmt(s.p99 - direct.p99).padStart(7)} ${fmt(s.ttfb).padStart(7)} ${fmt(s.ttfb - direct.ttfb).padStart(7)} ${fmt(s.throughput, 0).padStart(7)} ${fmt(s.throughput / offArm.throughput, 2).padStart(7)}  ${fmt(s.cpu, 0).padStart(9)} ${s.cpu === undefined ? '' : fmt(s.cpu / offArm.cpu, 2).padStart(7)}${versusBefore}${perChunk}`,
      );
    }
  }
}

for (const arm of ARMS) arm.proc?.kill('SIGTERM');
double.proc.kill('SIGTERM');
sink.close();
