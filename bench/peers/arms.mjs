// What each arm installs, in its own process, before the client is created. Every arm except `bare` first starts
// the NodeSDK-like set-up (telemetry.mjs), then its instrumentation, in the order an application would:
// `startNodeSdk()` and then the instrumentation library's init.
//
// setup(ctx) returns { around?(fn), wrapClient?(client) }: `around` wraps each operation (the floor's span),
// `wrapClient` changes the client once (fetch wrappers of the A/B arms).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { context, createNoopMeter, propagation, SpanKind, trace } from '@opentelemetry/api';
import { discardingLogExporter, discardingSpanExporter } from './telemetry.mjs';

const require = createRequire(import.meta.url);
const OURS = new URL('../../packages/instrumentation/dist/esm/index.js', import.meta.url);

async function ours(ctx, config) {
  const { instrumentOllama } = await import(OURS.href);
  instrumentOllama(ctx.ollama, config);
  return {};
}

function floor(ctx) {
  const tracer = trace.getTracer('peer-bench-floor');
  return {
    async around(fn) {
      const span = tracer.startSpan(ctx.spanName, { kind: SpanKind.CLIENT });
      try {
        return await context.with(trace.setSpan(context.active(), span), fn);
      } finally {
        span.end();
      }
    },
  };
}

/** A `fetch` wrapper shaped like ours (copies `init` and its headers), adding what `headersFor()` returns. */
function copyingFetch(original, headersFor) {
  return function fetchWithHeaders(url, init) {
    const extra = headersFor();
    return original.call(this, url, { ...init, headers: { ...init?.headers, ...extra } });
  };
}

/** About `bytes` of small short-lived objects (40 B each: a 2-field object literal on Node's 64-bit heap). */
function garbage(bytes) {
  const objects = new Array(Math.round(bytes / 40));
  for (let i = 0; i < objects.length; i++) objects[i] = { i, call: null };
  return objects;
}

const FIXED_TRACEPARENT = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };

/** OpenLIT 1.15.0 with no network export and no content (read from its dist/: index.js, otel/*.js). */
function openlit(ctx) {
  const dist = dirname(require.resolve('openlit'));
  // OpenLIT reuses a global tracer provider only if it has `addSpanProcessor`, which the API's proxy never has, so
  // it always builds its own NodeTracerProvider (SDK 2.x). With OTEL_TRACES_EXPORTER=otlp it gives that provider a
  // BatchSpanProcessor around `createOTLPExporter()`: the production path, with the exporter swapped for ours.
  const Tracing = require(join(dist, 'otel/tracing.js')).default;
  Tracing.createOTLPExporter = () => discardingSpanExporter;
  process.env.OTEL_TRACES_EXPORTER = 'otlp';
  // Events (on by default) go to a logger provider of @opentelemetry/api-logs 0.214, whose global NodeSDK does not
  // set (it registers through @opentelemetry/api), so OpenLIT builds its own: a BatchLogRecordProcessor, here into
  // the discarding exporter.
  const Events = require(join(dist, 'otel/events.js')).default;
  const { BatchLogRecordProcessor } = createRequire(join(dist, 'otel/events.js'))('@opentelemetry/sdk-logs');
  Events.createOTLPProcessor = () => new BatchLogRecordProcessor(discardingLogExporter);
  process.env.OTEL_LOGS_EXPORTER = 'otlp';
  // Metrics (on by default) use the global MeterProvider, which the metrics API hands out as is: ours.
  require('openlit').default.init({
    applicationName: 'peer-bench',
    captureMessageContent: false,
    pricingJson: {}, // otherwise it fetches a price list from GitHub at start-up
    instrumentations: { ollama: ctx.ollama }, // patch this copy of ollama only (ESM), as for the other arms
  });
  if (!Tracing.traceProvider) throw new Error('OpenLIT did not build its tracer provider');
  ctx.sdk.addFlusher(Tracing.traceProvider);
  if (Events.loggerProvider) ctx.sdk.addFlusher(Events.loggerProvider);
  return {};
}

/** Langtrace 6.3.7, spans only (it has no metrics), no network export, no content. */
function langtrace(ctx) {
  // Inverted toggle: `TRACE_PROMPT_COMPLETION_DATA=true` makes addSpanEvent() drop gen_ai.prompt/completion.
  process.env.TRACE_PROMPT_COMPLETION_DATA = 'true';
  require('@langtrase/typescript-sdk').init({
    batch: true,
    custom_remote_exporter: discardingSpanExporter,
    disable_latest_version_check: true, // otherwise it asks the npm registry at start-up
    instrumentations: { ollama: ctx.ollama },
    logging: { disable: true }, // it sets the diag logger to level ALL on import and INFO in init()
  });
  return {};
}

export const ARMS = {
  bare: { label: 'bare ollama-js 0.6.4', kind: 'baseline', sdk: false, setup: () => ({}) },
  'bare-again': { label: 'bare again (A/A check)', kind: 'baseline', sdk: false, setup: () => ({}) },
  sdk: { label: 'SDK only, no instrumentation', kind: 'baseline', setup: () => ({}) },
  floor: { label: 'floor: one SDK span + context', kind: 'baseline', setup: floor },
  openlit: { label: 'OpenLIT 1.15.0', kind: 'peer', setup: openlit },
  langtrace: {
    label: 'Langtrace 6.3.7',
    kind: 'peer',
    setup: langtrace,
    gaps: {
      embed: 'Langtrace 6.3.7 wraps only the legacy embeddings(), not embed()',
      'embed-inproc': 'Langtrace 6.3.7 wraps only the legacy embeddings(), not embed()',
    },
  },
  'ours-defaults': { label: 'ours, defaults', kind: 'ours', setup: (ctx) => ours(ctx, {}) },
  'ours-extras-off': {
    label: 'ours, phases + propagation off',
    kind: 'ours',
    setup: (ctx) => ours(ctx, { serverPhaseSpans: false, propagateContext: false }),
  },
  // --- A/B arms for the investigation (not in the default run) ---
  'ours-no-phases': {
    label: 'ours, serverPhaseSpans: false',
    kind: 'variant',
    setup: (ctx) => ours(ctx, { serverPhaseSpans: false }),
  },
  'ours-no-propagation': {
    label: 'ours, propagateContext: false',
    kind: 'variant',
    setup: (ctx) => ours(ctx, { propagateContext: false }),
  },
  'ours-no-metrics': {
    label: 'ours, defaults, no-op meter',
    kind: 'variant',
    setup: (ctx) => ours(ctx, { meterProvider: { getMeter: () => createNoopMeter() } }),
  },
  'ours-extras-off-no-metrics': {
    label: 'ours, extras off, no-op meter',
    kind: 'variant',
    setup: (ctx) =>
      ours(ctx, {
        serverPhaseSpans: false,
        propagateContext: false,
        meterProvider: { getMeter: () => createNoopMeter() },
      }),
  },
  'bare-copy-init': {
    label: 'bare + fetch wrapper copying init',
    kind: 'variant',
    sdk: false,
    setup: () => ({ wrapClient: (client) => (client.fetch = copyingFetch(client.fetch, () => ({}))) }),
  },
  'bare-traceparent': {
    label: 'bare + fixed traceparent header',
    kind: 'variant',
    sdk: false,
    setup: () => ({ wrapClient: (client) => (client.fetch = copyingFetch(client.fetch, () => FIXED_TRACEPARENT)) }),
  },
  // The same allocation volume as ours adds to a chat (~40 KB), without telemetry: dropped at once, or held until
  // the call completes (as a call's spans and attributes are). Shows what a byte costs on each transport.
  'bare-alloc': {
    label: 'bare + 40 KB garbage per call',
    kind: 'variant',
    sdk: false,
    setup: () => ({
      around(fn) {
        garbage(40_960);
        return fn();
      },
    }),
  },
  'bare-alloc-held': {
    label: 'bare + 40 KB held during the call',
    kind: 'variant',
    sdk: false,
    setup: () => ({
      async around(fn) {
        const held = garbage(40_960);
        const result = await fn();
        held.length = 0;
        return result;
      },
    }),
  },
  'floor-propagation': {
    label: 'floor + propagation.inject header',
    kind: 'variant',
    setup: (ctx) => ({
      ...floor(ctx),
      wrapClient: (client) =>
        (client.fetch = copyingFetch(client.fetch, () => {
          const carrier = {};
          propagation.inject(context.active(), carrier);
          return carrier;
        })),
    }),
  },
};

/** `name` or `name[--node-flag ...]`: an arm run with extra Node/V8 flags, e.g. `bare[--no-async-context-frame]`. */
export function parseArmSpec(spec) {
  const match = /^([\w-]+)(?:\[(.*)\])?$/.exec(spec.trim());
  if (!match || !ARMS[match[1]]) {
    throw new Error(`unknown arm "${spec}"; known: ${Object.keys(ARMS).join(', ')} (optionally name[--flags])`);
  }
  const flags = match[2] ? match[2].split(/[\s,]+/).filter(Boolean) : [];
  return { id: spec.trim(), name: match[1], flags, ...ARMS[match[1]] };
}
