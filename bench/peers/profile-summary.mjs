// Summarises .cpuprofile files (V8 sampling profiles, as `--cpu-prof` or `run.mjs --profile` write them): self
// time by area (our code, OTel SDK, peers, ollama-js, undici, Node's net/streams, GC, ...) and the top functions.
// Given several profiles (e.g. bare and ours), prints the areas side by side, in µs per operation when a
// `.meta.json` next to the profile says how many operations it covers.
//
// Also reads .heapprofile files (run.mjs --profile-kind alloc): bytes allocated instead of time.
//
//   node bench/peers/profile-summary.mjs a.cpuprofile [b.cpuprofile ...] [--top 30]
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

const AREAS = [
  ['idle', (f) => f.functionName === '(idle)'],
  ['GC', (f) => f.functionName === '(garbage collector)'],
  ['(program): VM, not attributed', (f) => f.functionName === '(program)'],
  ['ours (@ollama-otel/instrumentation)', (f) => f.url.includes('packages/instrumentation/dist')],
  ['OpenLIT', (f) => f.url.includes('/openlit/')],
  ['Langtrace', (f) => f.url.includes('@langtrase/')],
  ['OTel sdk-trace', (f) => /@opentelemetry\/sdk-trace/.test(f.url)],
  ['OTel sdk-metrics', (f) => f.url.includes('@opentelemetry/sdk-metrics')],
  ['OTel sdk-logs', (f) => f.url.includes('@opentelemetry/sdk-logs')],
  ['OTel context-async-hooks', (f) => f.url.includes('@opentelemetry/context-async-hooks')],
  ['OTel api/core/other', (f) => f.url.includes('@opentelemetry/')],
  ['ollama-js', (f) => /\/ollama\/dist\//.test(f.url)],
  ['undici (fetch)', (f) => f.url.startsWith('node:internal/deps/undici')],
  [
    'node net/streams/http',
    (f) => /^node:(net|_http|http|internal\/(stream_base_commons|streams|net|http|webstreams))/.test(f.url),
  ],
  [
    'node async context/hooks',
    (f) => /^node:(async_hooks|internal\/(async_hooks|async_context_frame|async_local))/.test(f.url),
  ],
  [
    'node timers/promises/microtasks',
    (f) => /^node:internal\/(timers|process\/task_queues|process\/promises)/.test(f.url),
  ],
  ['node other', (f) => f.url.startsWith('node:')],
  ['benchmark harness', (f) => f.url.includes('bench/peers/') && !f.url.includes('node_modules')],
  ['native (C++ bindings, builtins)', (f) => f.url === ''],
  ['other JS', () => true],
];

export function areaOf(callFrame) {
  return AREAS.find(([, match]) => match(callFrame))[0];
}

/** Self time (µs) per node id: each sample is charged the interval up to the next sample. */
function selfTimes(profile) {
  const self = new Map();
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    const delta = timeDeltas[i + 1] ?? timeDeltas[i] ?? 0;
    self.set(samples[i], (self.get(samples[i]) ?? 0) + delta);
  }
  return self;
}

/** A heap profile's call tree as a flat node list whose `self` is the bytes allocated in that frame. */
function heapNodes(profile) {
  const nodes = [];
  const walk = (node, parent) => {
    nodes.push({ id: node.id, callFrame: node.callFrame, self: node.selfSize, parent });
    for (const child of node.children ?? []) walk(child, node.id);
  };
  walk(profile.head, undefined);
  return nodes;
}

/**
 * Native frames (builtins such as Array.prototype.sort, Map, WeakSet; C++ bindings) are charged to the area of the
 * nearest JS frame that called them, e.g. `sort` under sdk-metrics counts as "OTel sdk-metrics (native)".
 */
function areasWithCallers(nodes) {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const area = new Map();
  const resolve = (node) => {
    if (area.has(node.id)) return area.get(node.id);
    let value = areaOf(node.callFrame);
    if (value === 'native (C++ bindings, builtins)' && !node.callFrame.functionName.startsWith('(')) {
      const parent = byId.get(node.parent);
      const callerArea = parent ? resolve(parent) : undefined;
      if (callerArea && !callerArea.startsWith('native') && !callerArea.startsWith('('))
        value = `${callerArea} (native)`;
    }
    area.set(node.id, value);
    return value;
  };
  for (const node of nodes) resolve(node);
  return area;
}

export function loadProfile(file) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const metaFile = file.replace(/\.\w+$/, '.meta.json');
  const meta = existsSync(metaFile) ? JSON.parse(readFileSync(metaFile, 'utf8')) : undefined;
  const heap = file.endsWith('.heapprofile');
  const nodes = heap ? heapNodes(profile) : profile.nodes;
  const childParent = new Map();
  if (!heap) {
    for (const node of nodes) for (const child of node.children ?? []) childParent.set(child, node.id);
    for (const node of nodes) node.parent = childParent.get(node.id);
  }
  const self = heap ? new Map(nodes.map((n) => [n.id, n.self])) : selfTimes(profile);
  const areaById = areasWithCallers(nodes);
  const byArea = new Map();
  const byFunction = new Map();
  let total = 0;
  for (const node of nodes) {
    const time = self.get(node.id) ?? 0;
    if (time === 0) continue;
    const frame = node.callFrame;
    const area = areaById.get(node.id);
    byArea.set(area, (byArea.get(area) ?? 0) + time);
    if (area !== 'idle') total += time;
    const where = frame.url ? `${shortUrl(frame.url)}:${frame.lineNumber + 1}` : '';
    const key = `${frame.functionName || '(anonymous)'}\t${where}\t${area}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + time);
  }
  // Inclusive cost under each of our functions: a sample's self cost is charged to the innermost frame of ours on
  // its stack when only OTel or native frames lie between (so SDK calls are charged to the function of ours that
  // made them, and the ollama-js call that our wrapper makes is not).
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const oursFrame = new Map();
  const innermostOurs = (node) => {
    if (!node) return undefined;
    if (oursFrame.has(node.id)) return oursFrame.get(node.id);
    const frame = node.callFrame;
    const area = areaOf(frame);
    let value;
    if (area.startsWith('ours'))
      value = `${frame.functionName || '(anonymous)'}\t${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
    else if (area.startsWith('OTel') || area.startsWith('native')) value = innermostOurs(byId.get(node.parent));
    oursFrame.set(node.id, value);
    return value;
  };
  const underOurs = new Map();
  for (const node of nodes) {
    const time = self.get(node.id) ?? 0;
    const key = time && areaById.get(node.id) !== 'GC' ? innermostOurs(node) : undefined;
    if (key) underOurs.set(key, (underOurs.get(key) ?? 0) + time);
  }
  return { file, meta, byArea, byFunction, underOurs, total, heap };
}

function shortUrl(url) {
  return url
    .replace(/^file:\/\/.*?\/node_modules\//, '')
    .replace(/^file:\/\/.*?\/packages\//, 'packages/')
    .replace(/^file:\/\/.*?\/bench\//, 'bench/');
}

export function summariseProfiles(files, top = 30) {
  const profiles = files.map(loadProfile);
  const heap = profiles.every((p) => p.heap);
  const perOp = profiles.every((p) => p.meta?.ops);
  const unit = heap ? (perOp ? 'bytes/op' : 'bytes') : perOp ? 'µs/op' : 'ms';
  const us = (value, ops) => {
    if (heap) return ops ? `${Math.round(value / ops)}` : `${Math.round(value)}`;
    return ops ? `${(value / ops).toFixed(2)}` : `${(value / 1000).toFixed(1)} ms`;
  };
  const names = profiles.map((p) => (p.meta ? `${p.meta.arm}` : basename(p.file).replace(/\.\w+$/, '')));
  const what = heap ? 'Bytes allocated (sampled) by area' : 'Self time by area';
  const out = [`\n### ${what} (${unit}; busy = everything but idle)`];
  const areas = AREAS.flatMap(([name]) => [name, `${name} (native)`]).filter((a) =>
    profiles.some((p) => p.byArea.has(a)),
  );
  const width = Math.max(...areas.map((a) => a.length), 10);
  out.push(['area'.padEnd(width), ...names.map((n) => n.padStart(18))].join('  '));
  const rows = [...areas, 'busy'];
  for (const area of rows) {
    const cells = profiles.map((p) => {
      const time = area === 'busy' ? p.total : (p.byArea.get(area) ?? 0);
      const value = us(time, p.meta?.ops);
      const share = area === 'idle' || area === 'busy' ? '' : ` ${((100 * time) / p.total).toFixed(0).padStart(3)}%`;
      return `${value}${share}`.padStart(18);
    });
    out.push([area.padEnd(width), ...cells].join('  '));
  }
  for (const p of profiles.filter((each) => each.underOurs.size > 0)) {
    out.push(`\n### Under each function of ours, inclusive of the SDK calls it makes: ${basename(p.file)} (${unit})`);
    const sorted = [...p.underOurs].sort((a, b) => b[1] - a[1]);
    for (const [key, value] of sorted.slice(0, 20)) {
      const [fn, where] = key.split('\t');
      out.push(`${us(value, p.meta?.ops).padStart(9)}  ${fn.slice(0, 40).padEnd(40)} ${where}`);
    }
  }
  for (const p of profiles) {
    out.push(`\n### Top ${top} functions by ${heap ? 'bytes allocated' : 'self time'}: ${basename(p.file)} (${unit})`);
    const sorted = [...p.byFunction].filter(([key]) => !key.endsWith('\tidle')).sort((a, b) => b[1] - a[1]);
    for (const [key, time] of sorted.slice(0, top)) {
      const [fn, where, area] = key.split('\t');
      const share = ((100 * time) / p.total).toFixed(1);
      out.push(
        `${us(time, p.meta?.ops).padStart(9)} ${share.padStart(5)}%  ${fn.slice(0, 40).padEnd(40)} ${area.padEnd(22).slice(0, 22)} ${where}`,
      );
    }
  }
  return out.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const topIndex = argv.indexOf('--top');
  const top = topIndex >= 0 ? Number(argv.splice(topIndex, 2)[1]) : 30;
  if (argv.length === 0) {
    console.error('usage: node bench/peers/profile-summary.mjs a.cpuprofile [b.cpuprofile ...] [--top 30]');
    process.exit(2);
  }
  console.log(summariseProfiles(argv, top));
}
