// Renders what the demo received: one trace as a tree, and the key metrics as a table.

export function traceTree(spans, root) {
  const children = new Map();
  for (const span of spans) {
    if (span.traceId !== root.traceId || !span.parentSpanId) continue;
    if (!children.has(span.parentSpanId)) children.set(span.parentSpanId, []);
    children.get(span.parentSpanId).push(span);
  }
  const lines = [];
  const walk = (span, prefix, isLast, depth) => {
    const branch = depth === 0 ? '' : isLast ? '└─ ' : '├─ ';
    const label = `${prefix}${branch}${span.name}${httpPath(span)}`;
    const offset = Number(span.start - root.start) / 1e6;
    const duration = Number(span.end - span.start) / 1e6;
    lines.push(
      `${label.padEnd(44)} +${offset.toFixed(1).padStart(7)} ms ${duration.toFixed(1).padStart(8)} ms  ${details(span)}`,
    );
    const kids = (children.get(span.spanId) ?? []).sort((a, b) => (a.start < b.start ? -1 : 1));
    kids.forEach((kid, i) => {
      walk(kid, depth === 0 ? '' : prefix + (isLast ? '   ' : '│  '), i === kids.length - 1, depth + 1);
    });
  };
  walk(root, '', true, 0);
  return lines.join('\n');
}

/** HTTP server spans are named by method only (no route instrumentation): show the path too. */
function httpPath(span) {
  const path = span.attributes['url.path'];
  return typeof path === 'string' && span.name === span.attributes['http.request.method'] ? ` ${path}` : '';
}

function details(span) {
  const a = span.attributes;
  const parts = [];
  if (a['http.response.status_code'] !== undefined) parts.push(`status=${a['http.response.status_code']}`);
  if (a['gen_ai.usage.input_tokens'] !== undefined) parts.push(`in=${a['gen_ai.usage.input_tokens']}`);
  if (a['gen_ai.usage.output_tokens'] !== undefined) parts.push(`out=${a['gen_ai.usage.output_tokens']}`);
  if (a['gen_ai.response.time_to_first_chunk'] !== undefined) {
    parts.push(`ttfc=${(a['gen_ai.response.time_to_first_chunk'] * 1000).toFixed(1)}ms`);
  }
  if (a['gen_ai.response.finish_reasons']) parts.push(`finish=${a['gen_ai.response.finish_reasons'].join(',')}`);
  if (a['ollama.model.cold_start']) parts.push('cold start');
  if (a['error.type']) parts.push(`error.type=${a['error.type']}`);
  return parts.join(' ');
}

/** Approximate quantile from explicit-bucket counts (upper bound of the bucket holding it). */
export function quantile(point, q) {
  if (!point?.buckets || point.count === 0) return undefined;
  const target = q * point.count;
  let seen = 0;
  for (let i = 0; i < point.buckets.length; i++) {
    seen += point.buckets[i];
    if (seen >= target) return i < point.bounds.length ? point.bounds[i] : Number.POSITIVE_INFINITY;
  }
  return undefined;
}

export function metricsTable(metrics) {
  const lines = [];
  const duration = metrics.get('gen_ai.client.operation.duration');
  if (duration) {
    lines.push('GenAI operations (gen_ai.client.operation.duration)');
    for (const point of duration.points) {
      const a = point.attributes;
      const name = `${a['gen_ai.operation.name']} ${a['gen_ai.request.model']}${a['error.type'] ? ` [error.type=${a['error.type']}]` : ''}`;
      const mean = point.count ? (point.sum / point.count) * 1000 : 0;
      lines.push(
        `  ${name.padEnd(46)} calls ${String(point.count).padStart(3)}   mean ${mean.toFixed(1).padStart(8)} ms   p95 ≤ ${fmtSeconds(quantile(point, 0.95))}`,
      );
    }
  }
  const tokens = metrics.get('gen_ai.client.token.usage');
  if (tokens) {
    lines.push('Tokens (gen_ai.client.token.usage)');
    for (const point of tokens.points) {
      const a = point.attributes;
      lines.push(
        `  ${`${a['gen_ai.operation.name']} ${a['gen_ai.request.model']} ${a['gen_ai.token.type']}`.padEnd(46)} total ${String(point.sum).padStart(6)}`,
      );
    }
  }
  for (const [name, label] of [
    ['gen_ai.client.operation.time_to_first_chunk', 'Time to first chunk'],
    ['ollama.load.duration', 'Model load (ollama.load.duration)'],
    ['ollama.eval.tokens_per_second', 'Decode speed (ollama.eval.tokens_per_second)'],
  ]) {
    const metric = metrics.get(name);
    if (!metric) continue;
    for (const point of metric.points) {
      const mean = point.count ? point.sum / point.count : 0;
      const value = metric.unit === 's' ? `${(mean * 1000).toFixed(1)} ms` : `${mean.toFixed(1)} ${metric.unit}`;
      lines.push(`${label}: mean ${value} over ${point.count} (${point.attributes['gen_ai.request.model']})`);
    }
  }
  const up = metrics.get('ollama.up')?.points[0];
  if (up) {
    lines.push(
      `Ollama server (gauges from /api/ps): ollama.up = ${up.value}, version ${up.attributes['ollama.version'] ?? 'unknown'}`,
    );
  }
  const loaded = (metrics.get('ollama.model.loaded')?.points ?? []).filter((point) => point.value > 0);
  if (up) lines.push(`  loaded models (ollama.model.loaded): ${loaded.length || 'none'}`);
  for (const point of loaded) {
    const name = point.attributes['ollama.model.name'];
    const gauge = (metric) =>
      metrics.get(metric)?.points.find((each) => each.attributes['ollama.model.name'] === name)?.value;
    const parts = [
      `memory ${fmtBytes(gauge('ollama.model.memory.size'))}`,
      `VRAM ${fmtBytes(gauge('ollama.model.memory.vram'))}`,
    ];
    const expires = gauge('ollama.model.expires_in');
    if (expires !== undefined) parts.push(`unloaded in ${Math.round(expires)} s`);
    lines.push(`  ${String(name).padEnd(44)} ${parts.join(', ')}`);
  }
  return lines.join('\n');
}

function fmtBytes(value) {
  if (value === undefined) return 'n/a';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let scaled = value;
  let unit = 0;
  while (scaled >= 1024 && unit < units.length - 1) {
    scaled /= 1024;
    unit++;
  }
  return `${scaled.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

function fmtSeconds(value) {
  if (value === undefined) return 'n/a';
  if (!Number.isFinite(value)) return '+Inf';
  return `${(value * 1000).toFixed(0)} ms`;
}
