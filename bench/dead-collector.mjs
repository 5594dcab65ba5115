// What a dead collector costs the app while it runs: per-call latency of `ollama.chat()` (loopback HTTP against
// the Ollama test double) in an app started with `node --import @ollama-otel/node/register`, with the collector up
// (a real OTLP receiver that answers OK) and down in three ways: a closed port, a receiver that answers every
// export with an error (HTTP 503 / gRPC UNAVAILABLE), and a socket that accepts connections and never answers.
// Both OTLP transports (gRPC, http/protobuf), short export intervals (metrics every BENCH_DEAD_METRIC_INTERVAL ms,
// default 200, spans every 50 ms), so the exporters are busy failing the whole time.
//
// Each arm is a fresh child process that warms up, then times BENCH_DEAD_CALLS calls one after the other
// (sequential, as a request handler would) and prints the median and p90 in µs. Arms run alternately, in rotating
// order, over BENCH_DEAD_ROUNDS rounds; reported: the median of the per-run medians and the ratio down / up.
// Also reported: the CPU time of the whole process per call, and how long each child took to exit after its last
// call (the bounded shutdown at exit; OLLAMA_OTEL_SHUTDOWN_TIMEOUT=2000 here).
// Needs `pnpm build` first.
import { spawn } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { createRequire } from 'node:module';
import { createServer as createNetServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const packageDir = fileURLToPath(new URL('../packages/node/', import.meta.url));
const requireFromPackage = createRequire(new URL('../packages/node/package.json', import.meta.url));

if (process.argv[2] === '--child') await child();
else await parent();

async function child() {
  const { Ollama } = requireFromPackage('ollama');
  const client = new Ollama({ host: process.env.OLLAMA_HOST });
  const messages = [{ role: 'user', content: 'Why is the sky blue?' }];
  const call = () => client.chat({ model: 'llama3.2', messages });
  const warmUntil = performance.now() + Number(process.env.BENCH_DEAD_WARMUP_MS ?? 5000);
  while (performance.now() < warmUntil) await call(); // also lets the first exports fail and the retries pile up
  const samples = [];
  const cpuBefore = process.cpuUsage();
  const calls = Number(process.env.BENCH_DEAD_CALLS ?? 2000);
  const windowStarted = performance.now();
  for (let i = 0; i < calls; i++) {
    const started = performance.now();
    await call();
    samples.push((performance.now() - started) * 1000);
  }
  const cpu = process.cpuUsage(cpuBefore);
  const windowMs = performance.now() - windowStarted;
  samples.sort((a, b) => a - b);
  const at = (q) => samples[Math.min(samples.length - 1, Math.floor(samples.length * q))];
  // CPU time of the whole process per call (the app's own work plus the telemetry's, the exporters' included)
  const cpuPerCall = (cpu.user + cpu.system) / calls;
  const result = { p50: at(0.5), p90: at(0.9), cpuPerCall, windowMs, doneAt: Date.now() };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

async function parent() {
  const { startOllamaDouble } = await import('../packages/testing/dist/esm/index.js');
  const grpc = requireFromPackage('@grpc/grpc-js');
  const ROUNDS = Number(process.env.BENCH_DEAD_ROUNDS ?? 5);
  const METRIC_INTERVAL = process.env.BENCH_DEAD_METRIC_INTERVAL ?? '200';

  const listen = (server) =>
    new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));

  const double = await startOllamaDouble({ recordRequests: false });
  const closers = [() => double.close()];

  // OTLP/HTTP: an empty body is a valid (empty) protobuf Export*ServiceResponse.
  const httpUp = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  const http503 = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(503).end());
  });
  const sockets = new Set();
  const silent = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  const grpcServer = (code) => {
    const server = new grpc.Server();
    for (const [pkg, service] of [
      ['trace', 'TraceService'],
      ['metrics', 'MetricsService'],
      ['logs', 'LogsService'],
    ]) {
      const path = `/opentelemetry.proto.collector.${pkg}.v1.${service}/Export`;
      const identity = (value) => value;
      server.addService(
        {
          Export: {
            path,
            requestStream: false,
            responseStream: false,
            requestSerialize: identity,
            requestDeserialize: identity,
            responseSerialize: identity,
            responseDeserialize: identity,
          },
        },
        {
          Export: (_call, callback) =>
            code === 0 ? callback(null, Buffer.alloc(0)) : callback({ code, details: 'down' }),
        },
      );
    }
    return new Promise((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
        if (err) reject(err);
        else {
          closers.push(() => server.forceShutdown());
          resolve(port);
        }
      }),
    );
  };
  const closedPort = async () => {
    const server = createNetServer();
    const port = await listen(server);
    await new Promise((resolve) => server.close(resolve));
    return port;
  };

  const ports = {
    'http/protobuf': { up: await listen(httpUp), closed: await closedPort(), error: await listen(http503) },
    grpc: { up: await grpcServer(0), closed: await closedPort(), error: await grpcServer(grpc.status.UNAVAILABLE) },
  };
  const silentPort = await listen(silent);
  ports['http/protobuf'].silent = silentPort;
  ports.grpc.silent = silentPort;
  closers.push(
    () => new Promise((resolve) => httpUp.close(resolve)),
    () => new Promise((resolve) => http503.close(resolve)),
    () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        silent.close(resolve);
      }),
  );

  const KINDS = ['up', 'closed', 'error', 'silent'];
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (/^(OTEL_|OLLAMA_|NODE_OPTIONS$)/.test(key)) delete env[key];
  Object.assign(env, {
    OLLAMA_HOST: double.url,
    OTEL_METRIC_EXPORT_INTERVAL: METRIC_INTERVAL,
    OTEL_BSP_SCHEDULE_DELAY: '50',
    OTEL_BLRP_SCHEDULE_DELAY: '50',
    OTEL_NODE_RESOURCE_DETECTORS: 'env,host,os,process,serviceinstance',
    OLLAMA_OTEL_SHUTDOWN_TIMEOUT: '2000',
  });

  const runOnce = (protocol, kind) =>
    new Promise((resolve, reject) => {
      const started = Date.now();
      const proc = spawn(
        process.execPath,
        ['--import', '@ollama-otel/node/register', fileURLToPath(import.meta.url), '--child'],
        {
          cwd: packageDir,
          env: {
            ...env,
            OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
            OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${ports[protocol][kind]}`,
          },
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      let out = '';
      proc.stdout.setEncoding('utf8').on('data', (chunk) => {
        out += chunk;
      });
      const killer = setTimeout(() => proc.kill('SIGKILL'), Number(process.env.BENCH_DEAD_KILL_MS ?? 120_000));
      proc.on('error', reject);
      proc.on('close', (code, signal) => {
        clearTimeout(killer);
        const ended = Date.now();
        try {
          const result = JSON.parse(out);
          resolve({ ...result, exitMs: ended - result.doneAt, totalMs: ended - started, code, signal });
        } catch {
          reject(new Error(`${protocol} ${kind}: no result (exit ${code ?? signal}): ${out}`));
        }
      });
    });

  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(s.length / 2);
    return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  };

  console.log(
    `dead collector: node ${process.version}, ${ROUNDS} rounds, metrics every ${METRIC_INTERVAL} ms, spans every 50 ms; per-call µs (median of runs)`,
  );
  try {
    for (const protocol of ['grpc', 'http/protobuf']) {
      const samples = new Map(KINDS.map((kind) => [kind, []]));
      for (let round = 0; round < ROUNDS; round++) {
        for (let i = 0; i < KINDS.length; i++) {
          const kind = KINDS[(round + i) % KINDS.length];
          samples.get(kind).push(await runOnce(protocol, kind));
        }
      }
      const upP50 = median(samples.get('up').map((s) => s.p50));
      const upCpu = median(samples.get('up').map((s) => s.cpuPerCall));
      for (const kind of KINDS) {
        const runs = samples.get(kind);
        const p50 = median(runs.map((s) => s.p50));
        const p90 = median(runs.map((s) => s.p90));
        const exit = median(runs.map((s) => s.exitMs));
        const cpu = median(runs.map((s) => s.cpuPerCall));
        const codes = [...new Set(runs.map((s) => s.code ?? s.signal))].join(',');
        console.log(
          `${protocol.padEnd(14)} ${kind.padEnd(7)} p50 ${p50.toFixed(0).padStart(6)}  p90 ${p90.toFixed(0).padStart(6)}  ` +
            `ratio ${(p50 / upP50).toFixed(2)}  cpu/call ${cpu.toFixed(0).padStart(5)} µs (${(cpu / upCpu).toFixed(2)})  exit after last call ${String(exit).padStart(6)} ms (max ${Math.max(...runs.map((s) => s.exitMs))}, exit ${codes})`,
        );
      }
    }
  } finally {
    for (const close of closers) await close();
  }
}
