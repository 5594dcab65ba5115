// A tiny OTLP/HTTP JSON receiver for the demo: keeps the spans and the latest metric points it is sent.
import { createServer } from 'node:http';

export async function startOtlpReceiver() {
  const spans = [];
  const metrics = new Map(); // name -> { unit, kind, points } from the latest export (cumulative temporality)
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
        if (req.url === '/v1/traces') collectSpans(body, spans);
        if (req.url === '/v1/metrics') collectMetrics(body, metrics);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    spans,
    metrics,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  };
}

function collectSpans(body, spans) {
  for (const resourceSpans of body.resourceSpans ?? []) {
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        spans.push({
          traceId: span.traceId,
          spanId: span.spanId,
          parentSpanId: span.parentSpanId || undefined,
          name: span.name,
          start: BigInt(span.startTimeUnixNano),
          end: BigInt(span.endTimeUnixNano),
          attributes: attributesOf(span.attributes),
          status: span.status?.code ?? 0,
        });
      }
    }
  }
}

function collectMetrics(body, metrics) {
  for (const resourceMetrics of body.resourceMetrics ?? []) {
    for (const scopeMetrics of resourceMetrics.scopeMetrics ?? []) {
      for (const metric of scopeMetrics.metrics ?? []) {
        const kind = ['histogram', 'sum', 'gauge'].find((each) => metric[each]);
        if (!kind) continue;
        const points = metric[kind].dataPoints.map((point) => ({
          attributes: attributesOf(point.attributes),
          count: Number(point.count ?? 0),
          sum: point.sum,
          bounds: point.explicitBounds,
          buckets: point.bucketCounts?.map(Number),
          value: point.asDouble ?? (point.asInt === undefined ? undefined : Number(point.asInt)),
        }));
        metrics.set(metric.name, { unit: metric.unit, kind, points });
      }
    }
  }
}

export function attributesOf(list = []) {
  return Object.fromEntries(list.map(({ key, value }) => [key, anyValue(value)]));
}

function anyValue(value = {}) {
  if ('stringValue' in value) return value.stringValue;
  if ('boolValue' in value) return value.boolValue;
  if ('intValue' in value) return Number(value.intValue);
  if ('doubleValue' in value) return value.doubleValue;
  if ('arrayValue' in value) return (value.arrayValue.values ?? []).map(anyValue);
  return undefined;
}
