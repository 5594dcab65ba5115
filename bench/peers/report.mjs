// Turns per-round samples into the tables.
//
// CPU per operation = median over rounds of the mutator's time per op (the JS thread outside GC pauses) + the
// pooled rest (GC pauses and all other threads: Σ over all rounds / Σ ops). The shared machine's noise comes in
// bursts that inflate whole windows, which the median shrugs off; GC comes in lumps (one scavenge every few hundred
// calls, 5–25 ms each), which a median would drop or double depending on where they fall, while their pooled sum
// is exactly what the arm's allocations cost. "added" pairs each arm's mutator time with bare's in the same round
// (they ran seconds apart), takes the median of those differences, and adds the difference of the pooled rests;
// "vs floor" is added(arm) − added(floor).

export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const sum = (values) => values.reduce((a, b) => a + b, 0);
/** One figure per round, per operation. */
const perOp = (samples, key) => samples.map((s) => s[key] / s.ops);
const pooled = (samples, key) => sum(samples.map((s) => s[key])) / sum(samples.map((s) => s.ops));
const restPerOp = (samples) => sum(samples.map((s) => s.cpuUs - s.mutatorUs)) / sum(samples.map((s) => s.ops));

export function cpuPerOp(samples) {
  return median(perOp(samples, 'mutatorUs')) + restPerOp(samples);
}

function pairedAdded(samples, reference) {
  if (!reference) return undefined;
  const n = Math.min(samples.length, reference.length);
  const diffs = [];
  for (let i = 0; i < n; i++) {
    diffs.push(samples[i].mutatorUs / samples[i].ops - reference[i].mutatorUs / reference[i].ops);
  }
  return median(diffs) + restPerOp(samples) - restPerOp(reference);
}

/**
 * results: Map workload → Map armId → samples[] (one per round: ops, cpuUs, mutatorUs, wallUs, allocatedBytes,
 * gcCount, gcPauseUs, spans). Returns rows per workload with everything the tables and the targets need.
 */
export function summarise(results, arms, workloads, gapsFor) {
  const summary = new Map();
  for (const [workloadName, byArm] of results) {
    const workload = workloads[workloadName];
    const bare = byArm.get('bare');
    const rows = [];
    for (const arm of arms) {
      const samples = byArm.get(arm.id);
      if (!samples?.length) continue;
      const total = perOp(samples, 'cpuUs');
      rows.push({
        arm,
        gap: gapsFor(arm, workloadName),
        cpu: cpuPerOp(samples),
        cpuMin: Math.min(...total),
        cpuMax: Math.max(...total),
        rest: restPerOp(samples),
        wall: median(perOp(samples, 'wallUs')),
        added: arm.id === 'bare' ? 0 : pairedAdded(samples, bare),
        overFloor: undefined,
        bytes: median(perOp(samples, 'allocatedBytes')),
        addedBytes:
          arm.id === 'bare'
            ? 0
            : bare && median(perOp(samples, 'allocatedBytes')) - median(perOp(bare, 'allocatedBytes')),
        gcPause: pooled(samples, 'gcPauseUs'),
        gcPerMiB: sum(samples.map((s) => s.gcCount)) / (sum(samples.map((s) => s.allocatedBytes)) / 2 ** 20),
        pausePerGc: sum(samples.map((s) => s.gcPauseUs)) / Math.max(1, sum(samples.map((s) => s.gcCount))),
        spans: pooled(samples, 'spans'),
        bareCpu: bare ? cpuPerOp(bare) : undefined,
      });
    }
    const floorRow = rows.find((r) => r.arm.id === 'floor');
    for (const row of rows)
      row.overFloor = floorRow && row.added !== undefined ? row.added - floorRow.added : undefined;
    const peers = rows.filter((r) => r.arm.kind === 'peer' && !r.gap && r.spans > 0 && r.added !== undefined);
    const bestPeer = peers.sort((a, b) => a.added - b.added)[0];
    for (const row of rows)
      row.toBestPeer = bestPeer && row.added !== undefined ? row.added / bestPeer.added : undefined;
    summary.set(workloadName, { workload, rows, bestPeer });
  }
  return summary;
}

const fmt = (value, digits = 1, sign = false) => {
  if (value === undefined || Number.isNaN(value)) return '—';
  const text = value.toFixed(digits);
  return sign && value >= 0 ? `+${text}` : text;
};
const fmtBytes = (value, sign = false) => {
  if (value === undefined) return '—';
  const text = Math.abs(value) >= 10_000 ? `${(value / 1024).toFixed(1)} KiB` : `${Math.round(value)} B`;
  return sign && value >= 0 ? `+${text}` : text;
};

function table(header, lines) {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => String(l[i]).length)));
  const render = (cells) =>
    cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i])));
  return [
    render(header).join('  '),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...lines.map((l) => render(l).join('  ')),
  ]
    .map((l) => l.trimEnd())
    .join('\n');
}

/** One table per workload; a streamed workload also gets its per-chunk figures. */
export function formatSummary(summary, meta) {
  const out = [];
  for (const [name, { workload, rows, bestPeer }] of summary) {
    const op = workload.unit === 'chunk' ? 'stream' : 'call';
    const per = workload.perOp;
    out.push(
      `\n### ${workload.title} [${name}]: ${meta.ops[name]} ${op}s × ${meta.rounds} rounds; CPU µs per ${op}` +
        ` (median mutator + pooled GC and background threads; see README)` +
        (bestPeer ? `; best peer: ${bestPeer.arm.label}` : ''),
    );
    const header = [
      'arm',
      `µs/${op}`,
      'min–max',
      'added',
      '×bare',
      'vs floor',
      '÷best peer',
      `bytes/${op}`,
      'added bytes',
      `GC+bg µs`,
      `spans/${op}`,
    ];
    const lines = rows.map((r) => [
      r.arm.label + (r.arm.flags.length ? ` ${r.arm.flags.join(' ')}` : ''),
      fmt(r.cpu),
      `${fmt(r.cpuMin, 0)}–${fmt(r.cpuMax, 0)}`,
      r.arm.id === 'bare' ? '' : fmt(r.added, 1, true),
      r.bareCpu ? fmt(r.cpu / r.bareCpu, 2) : '—',
      r.arm.id === 'floor' || r.arm.id === 'bare' ? '' : fmt(r.overFloor, 1, true),
      r.arm.kind === 'baseline' ? '' : r.gap ? 'n/a' : fmt(r.toBestPeer, 2),
      fmtBytes(r.bytes),
      r.arm.id === 'bare' ? '' : fmtBytes(r.addedBytes, true),
      fmt(r.rest, 1),
      r.gap ? `${fmt(r.spans, 2)} (gap)` : fmt(r.spans, 2),
    ]);
    out.push(table(header, lines));
    if (workload.unit === 'chunk') {
      out.push(`\nper chunk (${per} chunks per stream):`);
      const chunkLines = rows.map((r) => [
        r.arm.label + (r.arm.flags.length ? ` ${r.arm.flags.join(' ')}` : ''),
        fmt(r.cpu / per, 2),
        r.arm.id === 'bare' ? '' : fmt(r.added / per, 2, true),
        r.arm.id === 'floor' || r.arm.id === 'bare' ? '' : fmt(r.overFloor / per, 2, true),
        fmtBytes(r.bytes / per),
        r.arm.id === 'bare' ? '' : fmtBytes(r.addedBytes / per, true),
      ]);
      out.push(table(['arm', 'µs/chunk', 'added', 'vs floor', 'bytes/chunk', 'added bytes'], chunkLines));
    }
    out.push(`\nGC and background threads (the pooled part of µs/${op}):`);
    const gcLines = rows.map((r) => [
      r.arm.label + (r.arm.flags.length ? ` ${r.arm.flags.join(' ')}` : ''),
      fmt(r.gcPause, 1),
      fmt(r.rest - r.gcPause, 1),
      fmt(r.gcPerMiB * 100, 1),
      fmt(r.pausePerGc / 1000, 2),
      fmt(((r.rest * 1000) / r.bytes) * 1024, 0),
    ]);
    out.push(
      table(
        ['arm', `GC pause µs/${op}`, `other threads µs/${op}`, 'GCs per 100 MiB', 'ms per GC', 'GC+bg µs per MiB'],
        gcLines,
      ),
    );
    const again = rows.find((r) => r.arm.id === 'bare-again');
    if (again) {
      out.push(
        `A/A: bare again − bare = ${fmt(again.added, 1, true)} µs/${op}: differences of this size are this run's noise`,
      );
    }
    for (const r of rows) {
      const n = meta.armOps?.get(r.arm.id)?.[name];
      if (n !== undefined && n !== meta.ops[name]) {
        out.push(
          `(fewer ops) ${r.arm.label}: ${n} ${op}s per round (more than 10× slower than bare here: as many as fill bare's window time)`,
        );
      }
    }
    const gaps = rows.filter((r) => r.gap);
    for (const r of gaps) out.push(`(gap) ${r.arm.label}: ${r.gap}; left out of the best-peer comparison`);
  }
  return out.join('\n');
}

/**
 * Issue 9's targets, per workload, for each of our arms: added CPU at most the floor + 20 µs per call (+ 0.5 µs
 * per chunk for streams), and at most half of the best peer's added CPU.
 */
export function formatTargets(summary) {
  const out = ['\n### Targets (issue 9); "within noise" where the margin is under twice this run\'s A/A difference'];
  for (const [name, { workload, rows, bestPeer }] of summary) {
    const floor = rows.find((r) => r.arm.id === 'floor');
    const again = rows.find((r) => r.arm.id === 'bare-again');
    const noise = again ? 2 * Math.abs(again.added) : 0;
    const verdict = (value, limit) => {
      if (value === undefined || limit === undefined) return 'n/a';
      if (Math.abs(value - limit) < noise) return 'within noise';
      return value <= limit ? 'PASS' : 'FAIL';
    };
    const allowance = workload.unit === 'chunk' ? 0.5 * workload.perOp : 20;
    const unit = workload.unit === 'chunk' ? 'stream' : 'call';
    for (const r of rows.filter((row) => row.arm.kind === 'ours')) {
      const peerLimit = bestPeer && bestPeer.added > noise ? 0.5 * bestPeer.added : undefined;
      out.push(
        `${name.padEnd(14)} ${r.arm.label.padEnd(32)} ` +
          `vs floor ${fmt(r.overFloor, 1, true)} µs/${unit} (limit +${allowance}): ` +
          `${floor ? verdict(r.overFloor, allowance) : 'no floor'}; ` +
          (bestPeer
            ? `added ${fmt(r.added, 1)} vs best peer ${fmt(bestPeer.added, 1)} (limit ${fmt(peerLimit, 1)}): ` +
              (peerLimit === undefined ? "best peer's cost within noise" : verdict(r.added, peerLimit))
            : 'no peer in this run'),
      );
    }
  }
  return out.join('\n');
}

/** Least-squares slope of heap used over calls, leaving out the first 20% of the calls (warm-up). */
function slope(points) {
  const last = points.at(-1).calls;
  const pts = points.filter((p) => p.calls >= 0.2 * last);
  const mx = pts.reduce((s, p) => s + p.calls, 0) / pts.length;
  const my = pts.reduce((s, p) => s + p.heapUsed, 0) / pts.length;
  const num = pts.reduce((s, p) => s + (p.calls - mx) * (p.heapUsed - my), 0);
  const den = pts.reduce((s, p) => s + (p.calls - mx) ** 2, 0);
  return num / den;
}

export function formatHeap(series, every) {
  const ids = [...series.keys()];
  const first = series.get(ids[0]);
  const lines = first.map((point, i) => [
    String(point.calls),
    ...ids.map((id) => (series.get(id)[i].heapUsed / 2 ** 20).toFixed(2)),
  ]);
  lines.push(['slope, B per 1,000 calls', ...ids.map((id) => (slope(series.get(id)) * 1000).toFixed(0))]);
  return (
    `\n### Heap used after a full GC (MiB), non-streamed chat over loopback, sampled every ${every} calls\n` +
    table(['calls', ...ids], lines)
  );
}
