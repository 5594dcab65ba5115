// Added cost of @ollama-otel/instrumentation per call and per streamed chunk.
//
// Arms run alternately in the same process, in rotating order, over several rounds: bare client, instrumented
// (real SDK providers, spans to a no-op exporter through the BatchSpanProcessor, metrics aggregated by a real
// MeterProvider), and instrumented with content capture on. Reported: median µs per operation (or per chunk),
// the difference to bare and the ratio.
//
// Two transports: loopback HTTP against the Ollama test double (what an app sees), and an in-process `fetch`
// that answers from memory (no socket noise, so our own overhead stands out).
import { createRequire } from 'node:module';

const requireFromPackage = createRequire(new URL('../packages/instrumentation/package.json', import.meta.url));
const { Ollama } = requireFromPackage('ollama');
const { BatchSpanProcessor, TracerProvider } = requireFromPackage('@opentelemetry/sdk-trace');
const { MeterProvider, MetricReader } = requireFromPackage('@opentelemetry/sdk-metrics');
const { instrumentOllama } = await import('../packages/instrumentation/dist/esm/index.js');
const { startOllamaDouble } = await import('../packages/testing/dist/esm/index.js');

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const STREAM_CHUNKS = 500;

class IdleReader extends MetricReader {
  async onShutdown() {}
  async onForceFlush() {}
}
const noopExporter = {
  export: (_spans, done) => done({ code: 0 }),
  shutdown: async () => {},
  forceFlush: async () => {},
};
const tracerProvider = new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter: noopExporter })] });
const meterProvider = new MeterProvider({ readers: [new IdleReader()] });

const ARMS = [
  { name: 'bare', config: undefined },
  { name: 'instrumented', config: {} },
  { name: 'instrumented + content capture', config: { captureMessageContent: true } },
];

const question = [{ role: 'user', content: 'Why is the sky blue?' }];

// --- in-process transport: canned Ollama bodies, no sockets ---
const chatBody = JSON.stringify({
  model: 'llama3.2',
  created_at: '2025-10-17T23:14:07.414671Z',
  message: { role: 'assistant', content: 'The sky is blue because of Rayleigh scattering.' },
  done: true,
  done_reason: 'stop',
  total_duration: 174560334,
  load_duration: 101397084,
  prompt_eval_count: 11,
  prompt_eval_duration: 13074791,
  eval_count: 18,
  eval_duration: 52479709,
});
const embedBody = JSON.stringify({
  model: 'all-minilm',
  embeddings: [Array.from({ length: 384 }, (_, i) => Math.sin(i) / 10)],
  total_duration: 14143917,
  load_duration: 1019500,
  prompt_eval_count: 8,
});
const streamLines = (() => {
  const lines = [];
  for (let i = 0; i < STREAM_CHUNKS - 1; i++) {
    lines.push(
      `${JSON.stringify({ model: 'llama3.2', created_at: '2025-10-26T17:15:24.097767Z', message: { role: 'assistant', content: ` tok${i}` }, done: false })}\n`,
    );
  }
  lines.push(`${chatBody.replace('"done":true', '"done":true')}\n`);
  return new TextEncoder().encode(lines.join(''));
})();
const jsonHeaders = { 'content-type': 'application/json; charset=utf-8' };
const inProcessFetch = async (url, init) => {
  if (url.endsWith('/api/embed')) return new Response(embedBody, { headers: jsonHeaders });
  if (JSON.parse(init.body).stream) {
    return new Response(streamLines, { headers: { 'content-type': 'application/x-ndjson' } });
  }
  return new Response(chatBody, { headers: jsonHeaders });
};

async function drain(stream) {
  let chunks = 0;
  for await (const _chunk of stream) chunks++;
  if (chunks !== STREAM_CHUNKS) throw new Error(`expected ${STREAM_CHUNKS} chunks, got ${chunks}`);
}

function workloads(loopbackUrl) {
  const loopback = new Ollama({ host: loopbackUrl });
  const inProcess = new Ollama({ host: 'http://127.0.0.1:11434', fetch: inProcessFetch });
  return [
    {
      name: 'chat, loopback',
      unit: 'call',
      ops: 300,
      perOp: 1,
      run: () => loopback.chat({ model: 'llama3.2', messages: question }),
    },
    {
      name: 'embed, loopback',
      unit: 'call',
      ops: 300,
      perOp: 1,
      run: () => loopback.embed({ model: 'all-minilm', input: 'Why is the sky blue?' }),
    },
    {
      name: `stream of ${STREAM_CHUNKS} chunks, loopback`,
      unit: 'chunk',
      ops: 8,
      perOp: STREAM_CHUNKS,
      run: async () => drain(await loopback.chat({ model: 'llama3.2', messages: question, stream: true })),
    },
    {
      name: 'chat, in-process fetch',
      unit: 'call',
      ops: 3000,
      perOp: 1,
      run: () => inProcess.chat({ model: 'llama3.2', messages: question }),
    },
    {
      name: 'embed, in-process fetch',
      unit: 'call',
      ops: 3000,
      perOp: 1,
      run: () => inProcess.embed({ model: 'all-minilm', input: 'Why is the sky blue?' }),
    },
    {
      name: `stream of ${STREAM_CHUNKS} chunks, in-process fetch`,
      unit: 'chunk',
      ops: 40,
      perOp: STREAM_CHUNKS,
      run: async () => drain(await inProcess.chat({ model: 'llama3.2', messages: question, stream: true })),
    },
  ];
}

async function timeArm(arm, workload) {
  const handle = arm.config ? instrumentOllama(Ollama, { tracerProvider, meterProvider, ...arm.config }) : undefined;
  try {
    const started = performance.now();
    for (let i = 0; i < workload.ops; i++) await workload.run();
    return ((performance.now() - started) * 1000) / (workload.ops * workload.perOp);
  } finally {
    handle?.uninstrument();
  }
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

async function measure(workload) {
  const samples = new Map(ARMS.map((arm) => [arm.name, []]));
  for (const arm of ARMS) await timeArm(arm, { ...workload, ops: Math.ceil(workload.ops / 5) }); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    const order = ARMS.map((_, i) => ARMS[(i + round) % ARMS.length]);
    for (const arm of order) samples.get(arm.name).push(await timeArm(arm, workload));
  }
  return new Map([...samples].map(([name, values]) => [name, median(values)]));
}

const double = await startOllamaDouble({ chunks: STREAM_CHUNKS - 1, recordRequests: false });
console.log(`@ollama-otel/instrumentation overhead: node ${process.version}, ${ROUNDS} rounds, median per operation\n`);
const rows = [];
try {
  for (const workload of workloads(double.url)) {
    const medians = await measure(workload);
    const bare = medians.get('bare');
    for (const arm of ARMS.slice(1)) {
      const value = medians.get(arm.name);
      rows.push({
        workload: workload.name,
        arm: arm.name,
        [`bare µs/${workload.unit}`]: bare.toFixed(2),
        [`µs/${workload.unit}`]: value.toFixed(2),
        'added µs': (value - bare).toFixed(2),
        ratio: (value / bare).toFixed(3),
      });
    }
  }
} finally {
  await double.close();
  await tracerProvider.shutdown();
  await meterProvider.shutdown();
}
for (const row of rows) {
  const unit = Object.keys(row)
    .find((key) => key.startsWith('bare µs/'))
    .slice('bare '.length);
  console.log(
    `${row.workload.padEnd(36)} ${row.arm.padEnd(31)} bare ${row[`bare ${unit}`].padStart(8)} ${unit}  ` +
      `instrumented ${row[unit].padStart(8)}  added ${row['added µs'].padStart(7)} µs  ratio ${row.ratio}`,
  );
}
