// Cost of content capture on long chat histories: how long recording a call's content takes as the history grows
// (400, 5,000 and 50,000 short messages, and a few long ones), and how much of it reaches the span.
//
// Arms alternate in one process: bare client vs instrumented with `captureMessageContent: 'SPAN_AND_EVENT'`, over an
// in-process `fetch` that answers from memory, so that the difference is our recording work (mapping the history to
// semconv messages, bounding it to 16 KiB, the span attribute and the log record). Median of several rounds.
import { createRequire } from 'node:module';

const requireFromPackage = createRequire(new URL('../packages/instrumentation/package.json', import.meta.url));
const { Ollama } = requireFromPackage('ollama');
const { BatchSpanProcessor, TracerProvider, InMemorySpanExporter, SimpleSpanProcessor } =
  requireFromPackage('@opentelemetry/sdk-trace');
const { MeterProvider, MetricReader } = requireFromPackage('@opentelemetry/sdk-metrics');
const { LoggerProvider } = requireFromPackage('@opentelemetry/sdk-logs');
const { instrumentOllama } = await import('../packages/instrumentation/dist/esm/index.js');

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);

class IdleReader extends MetricReader {
  async onShutdown() {}
  async onForceFlush() {}
}
const noopExporter = {
  export: (_items, done) => done({ code: 0 }),
  shutdown: async () => {},
  forceFlush: async () => {},
};
const tracerProvider = new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter: noopExporter })] });
const meterProvider = new MeterProvider({ readers: [new IdleReader()] });
const loggerProvider = new LoggerProvider();

const answer = JSON.stringify({
  model: 'llama3.2',
  created_at: '2025-10-17T23:14:07.414671Z',
  message: { role: 'assistant', content: 'The sky is blue because of Rayleigh scattering.' },
  done: true,
  done_reason: 'stop',
  total_duration: 174560334,
  prompt_eval_count: 11,
  eval_count: 18,
});
const client = new Ollama({
  host: 'http://127.0.0.1:11434',
  fetch: async () => new Response(answer, { headers: { 'content-type': 'application/json' } }),
});

const shortHistory = (count) =>
  Array.from({ length: count }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `turn ${i}: ok, thanks` }));
const longHistory = (count) =>
  Array.from({ length: count }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `${i} `.repeat(20_000) }));
const WORKLOADS = [
  { name: '400 short messages', messages: shortHistory(400), calls: 200 },
  { name: '5,000 short messages', messages: shortHistory(5_000), calls: 40 },
  { name: '50,000 short messages', messages: shortHistory(50_000), calls: 8 },
  { name: '20 messages of 100 KB', messages: longHistory(20), calls: 20 },
];

async function timeArm(capture, workload) {
  const handle = capture
    ? instrumentOllama(Ollama, {
        tracerProvider,
        meterProvider,
        loggerProvider,
        captureMessageContent: 'SPAN_AND_EVENT',
      })
    : undefined;
  try {
    const started = performance.now();
    for (let i = 0; i < workload.calls; i++) await client.chat({ model: 'llama3.2', messages: workload.messages });
    return (performance.now() - started) / workload.calls;
  } finally {
    handle?.uninstrument();
  }
}

/** What one call records: the span attribute's length and how many messages it kept. */
async function recorded(workload) {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const handle = instrumentOllama(Ollama, { tracerProvider: provider, meterProvider, captureMessageContent: true });
  try {
    await client.chat({ model: 'llama3.2', messages: workload.messages });
  } finally {
    handle.uninstrument();
  }
  const input = exporter.getFinishedSpans()[0].attributes['gen_ai.input.messages'];
  return { length: input.length, kept: JSON.parse(input).length };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

console.log(`content capture on long histories: node ${process.version}, ${ROUNDS} rounds, median ms per call\n`);
for (const workload of WORKLOADS) {
  const samples = { bare: [], capture: [] };
  await timeArm(false, workload);
  await timeArm(true, workload);
  for (let round = 0; round < ROUNDS; round++) {
    for (const capture of round % 2 ? [true, false] : [false, true]) {
      samples[capture ? 'capture' : 'bare'].push(await timeArm(capture, workload));
    }
  }
  const bare = median(samples.bare);
  const capture = median(samples.capture);
  const { length, kept } = await recorded(workload);
  console.log(
    `${workload.name.padEnd(24)} bare ${bare.toFixed(3).padStart(8)} ms  capture ${capture.toFixed(3).padStart(8)} ms  ` +
      `added ${(capture - bare).toFixed(3).padStart(8)} ms  gen_ai.input.messages ${String(length).padStart(5)} chars, ` +
      `${kept} of ${workload.messages.length} messages kept`,
  );
}
await tracerProvider.shutdown();
await meterProvider.shutdown();
