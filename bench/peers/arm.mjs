// One arm, in its own long-lived process (peers patch globally and cannot be unpatched). Driven by run.mjs over IPC:
// it sets the arm up once, then runs the batches it is sent, one at a time, and reports what each cost.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import net from 'node:net';
import { parseArmSpec } from './arms.mjs';
import { measureBatch } from './measure.mjs';
import { sink, startNodeSdkLike } from './telemetry.mjs';
import { CONTENT_MARKERS, inProcessFetch, inProcessIdleFetch, inProcessShortFetch, WORKLOADS } from './workloads.mjs';

const arm = parseArmSpec(process.env.BENCH_ARM);
const doubleUrl = process.env.BENCH_DOUBLE_URL;
const doublePort = Number(new URL(doubleUrl).port);

// Any connection other than to the double would be telemetry (or a peer's start-up check) leaving the process.
const foreignConnections = [];
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function connectWatched(...args) {
  const target = typeof args[0] === 'object' && args[0] !== null ? args[0] : { port: args[0], host: args[1] };
  const options = Array.isArray(target) ? target[0] : target;
  if (Number(options?.port) !== doublePort) foreignConnections.push(`${options?.host ?? '?'}:${options?.port ?? '?'}`);
  return connect.apply(this, args);
};

const ollama = await import('ollama');
const sdk = arm.sdk === false ? undefined : startNodeSdkLike();
const ctx = { ollama, sdk, spanName: 'chat llama3.2' };
const hooks = (await arm.setup(ctx)) ?? {};
const clients = {
  loopback: new ollama.Ollama({ host: doubleUrl }),
  inproc: new ollama.Ollama({ host: 'http://127.0.0.1:11434', fetch: inProcessFetch }),
  'inproc-idle': new ollama.Ollama({ host: 'http://127.0.0.1:11434', fetch: inProcessIdleFetch }),
  'inproc-short': new ollama.Ollama({ host: 'http://127.0.0.1:11434', fetch: inProcessShortFetch }),
};
for (const client of Object.values(clients)) hooks.wrapClient?.(client);

const around = hooks.around ?? ((fn) => fn());
function operation(workloadName) {
  const workload = WORKLOADS[workloadName];
  if (!workload) throw new Error(`unknown workload ${workloadName}`);
  const client = clients[workload.transport];
  return () => around(() => workload.run(client));
}

async function runOps(op, count) {
  for (let i = 0; i < count; i++) await op();
}

const flush = async () => sdk?.flush();

async function batch({ workload, ops, warmup }) {
  const op = operation(workload);
  await runOps(op, warmup);
  await flush();
  const spans0 = sink.spans;
  const logs0 = sink.logRecords;
  const result = await measureBatch(() => runOps(op, ops));
  await flush(); // outside the window: the discarding exporters cost nothing anyway
  return { ...result, spans: sink.spans - spans0, logRecords: sink.logRecords - logs0 };
}

/** A few calls with the exporters recording: what they produced, and whether any content leaked into it. */
async function verify({ workload, ops }) {
  const op = operation(workload);
  await flush();
  sink.record = true;
  sink.recorded = { spans: [], logRecords: [], metrics: [] };
  const spans0 = sink.spans;
  await runOps(op, ops);
  await flush();
  await sdk?.collectMetrics();
  sink.record = false;
  const { spans, logRecords, metrics } = sink.recorded;
  const text = JSON.stringify(
    {
      spans: spans.map((s) => ({ name: s.name, attributes: s.attributes, events: s.events })),
      logRecords: logRecords.map((r) => ({ body: r.body, attributes: r.attributes })),
    },
    (_key, value) => (typeof value === 'bigint' ? String(value) : value),
  );
  const leaks = CONTENT_MARKERS.filter((marker) => text.includes(marker));
  const points = metrics.flatMap((rm) =>
    rm.scopeMetrics.flatMap((sm) => sm.metrics.map((m) => `${sm.scope.name} ${m.descriptor.name}`)),
  );
  return {
    spansPerOp: (sink.spans - spans0) / ops,
    spanNames: [...new Set(spans.map((s) => s.name))],
    scopes: [...new Set(spans.map((s) => s.instrumentationScope?.name ?? s.instrumentationLibrary?.name))],
    services: [...new Set(spans.map((s) => s.resource?.attributes?.['service.name']))],
    logRecords: logRecords.length,
    metrics: [...new Set(points)],
    leaks,
  };
}

/**
 * A V8 CPU profile (sampling every `intervalUs`) or, with kind 'alloc', a sampling heap profile of everything
 * allocated (collected or not) over `ops` operations after `warmup` more, written to `file` with a .meta.json.
 */
async function profile({ workload, ops, warmup, file, intervalUs, kind }) {
  const op = operation(workload);
  await runOps(op, warmup);
  await flush();
  const session = new Session();
  session.connect();
  let data;
  if (kind === 'alloc') {
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 512,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    await runOps(op, ops);
    data = (await session.post('HeapProfiler.stopSampling')).profile;
  } else {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: intervalUs });
    await session.post('Profiler.start');
    await runOps(op, ops);
    data = (await session.post('Profiler.stop')).profile;
  }
  session.disconnect();
  writeFileSync(file, JSON.stringify(data));
  writeFileSync(file.replace(/\.\w+$/, '.meta.json'), JSON.stringify({ arm: arm.id, workload, ops, kind }));
  return { file };
}

/** Heap used after a full GC (and a flush of the span and log queues, which are bounded anyway). */
async function heapNow() {
  await flush();
  globalThis.gc();
  globalThis.gc();
  return { heapUsed: process.memoryUsage().heapUsed };
}

async function heapRun({ workload, calls }) {
  await runOps(operation(workload), calls);
  return heapNow();
}

const handlers = { batch, verify, profile, heapNow, heapRun };

process.on('message', async (message) => {
  if (message.type === 'exit') {
    await sdk?.shutdown();
    process.send({ type: 'bye', foreignConnections }, () => process.exit(0));
    return;
  }
  try {
    const result = await handlers[message.type](message);
    process.send({ type: 'result', id: message.id, result });
  } catch (error) {
    process.send({ type: 'result', id: message.id, error: error?.stack ?? String(error) });
  }
});
process.send({ type: 'ready', foreignConnections });
