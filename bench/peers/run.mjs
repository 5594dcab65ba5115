// `pnpm bench:peers`: bare ollama-js vs the SDK floor vs OpenLIT and Langtrace vs @ollama-otel/instrumentation,
// over loopback HTTP. Coordinates; measures nothing itself: the test double and each arm run in processes of their
// own, one arm busy at a time, in an order that rotates every round. See README.md here.
//
//   node bench/peers/run.mjs [--arms a,b,...] [--workloads chat,embed,stream] [--rounds 7] [--calls 2000]
//   node bench/peers/run.mjs --profile bare,ours-defaults [--workload chat] [--ops 4000] [--interval 50]
//                            [--profile-kind cpu|alloc]
//   node bench/peers/run.mjs --heap [--heap-calls 100000] [--heap-every 10000] [--arms bare,ours-defaults]
//   node bench/peers/run.mjs --from-json results.json   (the tables of a run saved with --json, again)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as report from './report.mjs';

const here = dirname(fileURLToPath(import.meta.url));

const DEFAULT_ARMS = ['bare', 'bare-again', 'sdk', 'floor', 'openlit', 'langtrace', 'ours-defaults', 'ours-extras-off'];
const DEFAULT_WORKLOADS = ['chat', 'embed', 'stream'];

const { values: args } = parseArgs({
  allowNegative: true,
  options: {
    arms: { type: 'string', default: process.env.BENCH_ARMS ?? DEFAULT_ARMS.join(',') },
    workloads: { type: 'string', default: process.env.BENCH_WORKLOADS ?? DEFAULT_WORKLOADS.join(',') },
    rounds: { type: 'string', default: process.env.BENCH_ROUNDS ?? '7' },
    calls: { type: 'string', default: process.env.BENCH_CALLS ?? '500' },
    streams: { type: 'string', default: process.env.BENCH_STREAMS },
    json: { type: 'string', default: process.env.BENCH_JSON },
    profile: { type: 'string' },
    workload: { type: 'string', default: 'chat' },
    ops: { type: 'string' },
    interval: { type: 'string', default: '50' },
    'profile-kind': { type: 'string', default: 'cpu' },
    heap: { type: 'boolean', default: false },
    'heap-calls': { type: 'string', default: '100000' },
    'heap-every': { type: 'string', default: '10000' },
    'skip-install': { type: 'boolean', default: false },
    'from-json': { type: 'string' },
    nice: { type: 'string', default: process.env.BENCH_NICE ?? '-10' },
    pin: { type: 'boolean', default: process.env.BENCH_PIN !== '0' },
  },
});

/** `npm ci` into bench/peers when its node_modules is missing or older than the lockfile. */
function ensureInstalled() {
  const lock = join(here, 'package-lock.json');
  const installed = join(here, 'node_modules', '.package-lock.json');
  if (existsSync(installed) && statSync(installed).mtimeMs >= statSync(lock).mtimeMs) return;
  console.log('bench/peers: installing the peers (npm ci) ...');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const { status } = spawnSync(npm, ['ci', '--no-audit', '--no-fund', '--prefix', here], { stdio: 'inherit' });
  if (status !== 0) throw new Error('npm ci in bench/peers failed');
}

function requireBuilt() {
  for (const pkg of ['instrumentation', 'testing']) {
    if (!existsSync(join(here, '..', '..', 'packages', pkg, 'dist', 'esm', 'index.js'))) {
      throw new Error(`packages/${pkg}/dist is missing: run \`pnpm build\` (pnpm bench:peers does)`);
    }
  }
}

/**
 * The machine is shared and has 2 cores: the arm runs pinned to one, the double to the other (no migrations), both
 * at a raised priority (nice -10 when allowed) so that other processes disturb the measured windows less.
 * Children inherit both before any of their threads start. `--nice 0` and `--no-pin` turn this off.
 */
const launcher = (() => {
  const prefix = { arm: [], double: [] };
  const nice = Number(args.nice);
  // `nice -n N nice` prints the niceness it got: N where raising priority is allowed (root), 0 elsewhere.
  if (
    nice !== 0 &&
    spawnSync('nice', ['-n', String(nice), 'nice'])
      .stdout?.toString()
      .trim() === String(nice)
  ) {
    prefix.arm.push('nice', '-n', String(nice));
    prefix.double.push('nice', '-n', String(nice));
  }
  if (args.pin && spawnSync('taskset', ['-c', '0', 'true']).status === 0) {
    prefix.arm.unshift('taskset', '-c', '0');
    prefix.double.unshift('taskset', '-c', '1');
  }
  return {
    describe: () => `arm: ${prefix.arm.join(' ') || 'as is'}; double: ${prefix.double.join(' ') || 'as is'}`,
    start(role, script, execArgv, options) {
      const command = [...prefix[role], process.execPath, ...execArgv, script];
      return spawn(command[0], command.slice(1), options);
    },
  };
})();

function startDouble() {
  const child = launcher.start('double', join(here, 'double.mjs'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (message) => resolve({ url: message.url, close: () => child.disconnect() }));
    child.once('exit', (code) => reject(new Error(`the test double exited (${code})`)));
  });
}

let armModule;
async function armSpecs(list) {
  armModule ??= await import('./arms.mjs');
  return list
    .split(',')
    .filter(Boolean)
    .map((spec) => armModule.parseArmSpec(spec));
}

/** Forks one arm; `call(type, payload)` sends it a command and resolves with its result. */
function startArm(spec, doubleUrl) {
  const child = launcher.start('arm', join(here, 'arm.mjs'), ['--expose-gc', ...spec.flags], {
    env: { ...process.env, BENCH_ARM: spec.id, BENCH_DOUBLE_URL: doubleUrl },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const prefix = (stream) => (data) => {
    for (const line of String(data).split('\n')) if (line.trim()) stream.write(`  [${spec.id}] ${line}\n`);
  };
  child.stdout.on('data', prefix(process.stdout));
  child.stderr.on('data', prefix(process.stderr));
  let nextId = 0;
  const pending = new Map();
  let onReady;
  const ready = new Promise((resolve, reject) => {
    onReady = resolve;
    child.once('exit', (code) => reject(new Error(`arm ${spec.id} exited during set-up (${code})`)));
  });
  child.on('message', (message) => {
    if (message.type === 'ready') onReady(message);
    if (message.type === 'result') {
      const { resolve, reject } = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) reject(new Error(`arm ${spec.id}: ${message.error}`));
      else resolve(message.result);
    }
    if (message.type === 'bye') child.foreignConnections = message.foreignConnections;
  });
  child.on('exit', (code) => {
    for (const { reject } of pending.values()) reject(new Error(`arm ${spec.id} exited (${code})`));
  });
  return {
    spec,
    ready,
    call(type, payload = {}) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ type, id, ...payload });
      });
    },
    exit() {
      return new Promise((resolve) => {
        child.once('exit', () => resolve(child.foreignConnections ?? []));
        child.send({ type: 'exit' });
      });
    },
  };
}

async function startArms(specs, doubleUrl) {
  const arms = [];
  for (const spec of specs) {
    const arm = startArm(spec, doubleUrl);
    await arm.ready; // one at a time: start-up is CPU-heavy
    arms.push(arm);
  }
  return arms;
}

async function closeArms(arms) {
  for (const arm of arms) {
    const foreign = await arm.exit();
    if (foreign.length) throw new Error(`arm ${arm.spec.id} opened connections other than to the double: ${foreign}`);
  }
}

/**
 * Probes each arm on each workload, then warms it up (JIT, connection). An arm more than SLOW_FACTOR times slower
 * than bare on a workload gets as many operations per round as take bare's window time (OpenLIT's embed builds a
 * tiktoken encoder per call, ~0.1 s), so that no arm holds a round up; its figures stay per operation.
 */
const SLOW_FACTOR = 10;
async function calibrate(arms, workloadNames, ops) {
  const probe = (name) => Math.max(1, Math.round(ops[name] / 20));
  const wallPerOp = new Map();
  for (const arm of arms) {
    const walls = {};
    for (const name of workloadNames) {
      const { wallUs } = await arm.call('batch', { workload: name, ops: probe(name), warmup: 0 });
      walls[name] = wallUs / probe(name);
    }
    wallPerOp.set(arm.spec.id, walls);
  }
  const reference = wallPerOp.get('bare') ?? wallPerOp.get(arms[0].spec.id);
  const armOps = new Map();
  for (const arm of arms) {
    const counts = {};
    for (const name of workloadNames) {
      const slowdown = wallPerOp.get(arm.spec.id)[name] / reference[name];
      counts[name] = slowdown > SLOW_FACTOR ? Math.max(5, Math.round(ops[name] / slowdown)) : ops[name];
      await arm.call('batch', { workload: name, ops: Math.ceil(counts[name] / 2), warmup: 0 });
    }
    armOps.set(arm.spec.id, counts);
  }
  return armOps;
}

/** The 1-minute load average against the core count: on a shared machine, say how busy it was. */
function machineLoad() {
  const load = loadavg()[0];
  const cores = cpus().length;
  const warning =
    load > cores - 0.5 ? ' (busy: other processes compete with the arms; expect noise, see the A/A line)' : '';
  return `load average ${load.toFixed(2)} on ${cores} cores${warning}`;
}

const rotate = (list, by) => list.map((_, i) => list[(i + by) % list.length]);

async function bench(workloadsModule) {
  const { WORKLOADS, defaultOps } = workloadsModule;
  const specs = await armSpecs(args.arms);
  const workloadNames = args.workloads.split(',').filter(Boolean);
  for (const name of workloadNames) if (!WORKLOADS[name]) throw new Error(`unknown workload ${name}`);
  const rounds = Number(args.rounds);
  const calls = Number(args.calls);
  const ops = Object.fromEntries(
    workloadNames.map((name) => [
      name,
      WORKLOADS[name].unit === 'chunk' && args.streams ? Number(args.streams) : defaultOps(name, calls),
    ]),
  );
  const warmup = 1; // re-opens the keep-alive connection if the double closed it while the arm waited
  const { allocationMethod } = await import('./measure.mjs');
  console.log(
    `peer benchmark: node ${process.version}, ${rounds} rounds, arms ${specs.map((s) => s.id).join(', ')}\n` +
      `CPU = process.cpuUsage() (user + system) of the arm process; bytes = V8 heap allocated (${allocationMethod})\n` +
      `processes: ${launcher.describe()}; at start: ${machineLoad()}`,
  );

  const started = Date.now();
  const double = await startDouble();
  const arms = await startArms(specs, double.url);
  try {
    const armOps = await calibrate(arms, workloadNames, ops);
    // A check that every arm produces spans and records no content.
    const verification = [];
    for (const arm of arms) {
      for (const name of workloadNames) {
        const v = await arm.call('verify', { workload: name, ops: WORKLOADS[name].unit === 'chunk' ? 3 : 20 });
        const gap = arm.spec.gaps?.[name];
        const instrumented = arm.spec.name === 'floor' || (arm.spec.kind !== 'baseline' && arm.spec.sdk !== false);
        if (instrumented && !gap && v.spansPerOp < 1) {
          throw new Error(`broken arm: ${arm.spec.id} produced ${v.spansPerOp} spans per ${name} operation`);
        }
        if (!instrumented && v.spansPerOp !== 0) throw new Error(`${arm.spec.id} produced spans on ${name}`);
        if (v.leaks.length) throw new Error(`${arm.spec.id} recorded message content on ${name}: ${v.leaks}`);
        verification.push({ arm: arm.spec.id, workload: name, ...v });
      }
    }
    console.log('\nverification (a few calls with the exporters recording):');
    for (const v of verification) {
      if (v.spansPerOp === 0 && v.metrics.length === 0) continue;
      console.log(
        `  ${v.arm.padEnd(16)} ${v.workload.padEnd(13)} spans/op ${v.spansPerOp.toFixed(2)} ` +
          `[${v.spanNames.join(', ')}] from ${v.scopes.join(', ') || '—'} (service ${v.services.join(', ')}); ` +
          `log records ${v.logRecords}; metric instruments ${v.metrics.length}; content: none`,
      );
    }

    const results = new Map(workloadNames.map((name) => [name, new Map(specs.map((s) => [s.id, []]))]));
    for (let round = 0; round < rounds; round++) {
      for (const name of workloadNames) {
        for (const arm of rotate(arms, round)) {
          const n = armOps.get(arm.spec.id)[name];
          const sample = await arm.call('batch', { workload: name, ops: n, warmup });
          results
            .get(name)
            .get(arm.spec.id)
            .push({ ops: n, ...sample });
        }
      }
      process.stdout.write(`round ${round + 1}/${rounds} done (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
    }
    const gapsFor = (spec, workload) => spec.gaps?.[workload];
    const summary = report.summarise(results, specs, WORKLOADS, gapsFor);
    console.log(report.formatSummary(summary, { ops, armOps, rounds }));
    if (specs.some((s) => s.kind === 'ours')) console.log(report.formatTargets(summary));
    if (args.json) {
      writeFileSync(
        args.json,
        JSON.stringify(
          {
            node: process.version,
            rounds,
            ops,
            armOps: [...armOps],
            results: [...results].map(([w, m]) => [w, [...m]]),
          },
          null,
          1,
        ),
      );
    }
  } finally {
    await closeArms(arms);
    double.close();
  }
  console.log(`\ntotal ${((Date.now() - started) / 1000).toFixed(0)} s; at the end: ${machineLoad()}`);
}

async function profile(workloadsModule) {
  const { WORKLOADS, defaultOps } = workloadsModule;
  const specs = await armSpecs(args.profile);
  const workload = args.workload;
  if (!WORKLOADS[workload]) throw new Error(`unknown workload ${workload}`);
  const ops = Number(args.ops ?? defaultOps(workload, 2 * Number(args.calls)));
  const folder = join(here, 'profiles', new Date().toISOString().replace(/[:.]/g, '-'));
  mkdirSync(folder, { recursive: true });
  const double = await startDouble();
  const arms = await startArms(specs, double.url);
  const files = [];
  try {
    for (const arm of arms) {
      const ext = args['profile-kind'] === 'alloc' ? 'heapprofile' : 'cpuprofile';
      const file = join(folder, `${arm.spec.id.replace(/[^\w-]+/g, '_')}-${workload}.${ext}`);
      await arm.call('profile', {
        workload,
        ops,
        warmup: ops,
        file,
        intervalUs: Number(args.interval),
        kind: args['profile-kind'],
      });
      files.push(file);
      console.log(`wrote ${file}`);
    }
  } finally {
    await closeArms(arms);
    double.close();
  }
  const { summariseProfiles } = await import('./profile-summary.mjs');
  console.log(summariseProfiles(files));
}

async function heap() {
  const specs = await armSpecs(args.arms === DEFAULT_ARMS.join(',') ? 'bare,ours-defaults' : args.arms);
  const calls = Number(args['heap-calls']);
  const every = Number(args['heap-every']);
  const double = await startDouble();
  const arms = await startArms(specs, double.url);
  const series = new Map(arms.map((arm) => [arm.spec.id, []]));
  try {
    for (const arm of arms) series.get(arm.spec.id).push({ calls: 0, ...(await arm.call('heapNow')) });
    // `every` calls per arm in turn, one arm busy at a time, so that all of them see the same machine.
    for (let done = every; done <= calls; done += every) {
      for (const arm of arms) {
        series
          .get(arm.spec.id)
          .push({ calls: done, ...(await arm.call('heapRun', { workload: 'chat', calls: every })) });
      }
      process.stdout.write(`${done} / ${calls} calls per arm\n`);
    }
  } finally {
    await closeArms(arms);
    double.close();
  }
  console.log(report.formatHeap(series, every));
}

/** Prints the tables of a run saved with --json again (e.g. after changing report.mjs). */
async function fromJson(file, workloadsModule) {
  const { readFileSync } = await import('node:fs');
  const saved = JSON.parse(readFileSync(file, 'utf8'));
  const results = new Map(saved.results.map(([workload, arms]) => [workload, new Map(arms)]));
  const specs = await armSpecs([...results.values().next().value.keys()].join(','));
  const summary = report.summarise(results, specs, workloadsModule.WORKLOADS, (spec, w) => spec.gaps?.[w]);
  const armOps = new Map(saved.armOps ?? []);
  console.log(report.formatSummary(summary, { ops: saved.ops, armOps, rounds: saved.rounds }));
  if (specs.some((s) => s.kind === 'ours')) console.log(report.formatTargets(summary));
}

if (args['from-json']) {
  await fromJson(args['from-json'], await import('./workloads.mjs'));
  process.exit(0);
}
if (!args['skip-install']) ensureInstalled();
requireBuilt();
const workloadsModule = await import('./workloads.mjs');
if (args.profile) await profile(workloadsModule);
else if (args.heap) await heap();
else await bench(workloadsModule);
